#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Full-stripe write throughput of btrfs raid5/6: 'bbscope replay parity' in
# each mode (step: parity one 4 KiB vertical sector per call, as the kernel's
# generate_pq_vertical(); batched: one 64 KiB strip per call; threads: batched
# on THREADS threads) against the kernel writing the same bytes through a
# sandbox btrfs, all on loop devices backed by files in /dev/shm.
#
# Kernel run: dd of SIZE (bs=1M, conv=fsync) into a fresh file on the
# sandbox (raid5 on 3 devices, raid6 on 4), the previous file removed and
# synced first; throughput = SIZE / wall time.  Replay run: --synthetic
# size=SIZE,bs=1M (all full stripes) on N fresh loop devices (discarded
# between runs); throughput_bps of the replay.  Every round runs the kernel
# and each mode once, the mode order rotating; each figure is the median of
# REPS rounds with min and max.
#
# Two kinds of ratio: of throughput (what a writer sees: the devices and
# the CPU work together), and of parity generation alone (a full stripe's
# data bytes / the median time to generate its P/Q, in the replay: step vs
# batched without the I/O; the median, because a run's sum of generation
# times takes in every preemption of a shared machine).
#
# Output: one JSON object on stdout.  Not a test: nothing passes or fails on
# a number.  Env: REPS (5), SIZE (256M), PROFILES ("raid5:3 raid6:4"), MODES,
# THREADS (online CPUs).
set -u
SBS_NAME=bench_parity
. "$(dirname "$0")/sidebyside_parity.sh" || exit 1
REPS=${REPS:-5}
SIZE=${SIZE:-256M}
FULL_SIZE=$SIZE # the random source setup() makes

# kernel_once BYTES: one kernel full-stripe write on the sandbox; KBPS = bytes/s.
kernel_once() {
	local bytes=$1 t0 t1
	rm -f "$MNT/full"
	sync
	t0=$(now_ns)
	dd if="$WORK/src" of="$MNT/full" bs=1M conv=fsync status=none || die "dd"
	t1=$(now_ns)
	KBPS=$(awk -v b="$bytes" -v ns=$((t1 - t0)) 'BEGIN { printf "%.0f", b / (ns / 1e9) }')
}

bench_profile() { # PROFILE N
	local profile=$1 n=$2 nd bytes rep i mode modes k
	bytes=$(numfmt --from=iec "$SIZE")
	[ "$profile" = raid5 ] && nd=$((n - 1)) || nd=$((n - 2))
	"$B" sandbox up --profile "$profile" --devices "$n" \
		--size $((bytes / nd + (384 << 20))) --backing-dir "$WORK/backing" \
		--mount-opts commit=300 --json >"$WORK/out/sb" || die "sandbox up: $(cat "$WORK/out/sb")"
	MNT=$(jq -r .mountpoint "$WORK/out/sb")
	user_targets "$n" $((bytes / nd + (1 << 20)))
	read -r -a modes <<<"$MODES"
	for ((rep = 0; rep < REPS; rep++)); do
		kernel_once "$bytes"
		jq -cn --arg p "$profile" --argjson rep "$rep" --argjson bps "$KBPS" \
			'{profile: $p, who: "kernel", rep: $rep, throughput_bps: $bps}' >>"$WORK/out/samples"
		for ((i = 0; i < ${#modes[@]}; i++)); do
			k=$(((i + rep) % ${#modes[@]}))
			mode=${modes[k]}
			fresh
			replay_mode "$profile" "$mode" --synthetic "size=$SIZE,bs=1M"
			jq -c --arg p "$profile" --arg m "$mode" --argjson rep "$rep" '
				{ profile: $p, who: $m, rep: $rep, throughput_bps, cpu_s, elapsed_s,
				  parity_bps: (if .parity.p50_ns > 0 then
						.bytes / .full_stripes / (.parity.p50_ns / 1e9)
					       else null end),
				  rmw_p50_ns: .raid56.rmw.p50_ns, full_stripes }' \
				"$WORK/out/u.last" >>"$WORK/out/samples"
		done
	done
	"$B" sandbox down >/dev/null 2>"$WORK/out/down" || die "sandbox down: $(cat "$WORK/out/down")"
	user_release
}

for a in "$@"; do
	case $a in
	-h | --help)
		sed -n '3,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
		exit 0
		;;
	*) die "unknown argument '$a' (--help)" ;;
	esac
done
JSON=1
setup
: >"$WORK/out/samples"
for spec in $PROFILES; do
	bench_profile "${spec%:*}" "${spec#*:}"
done

jq -s --arg kernel "$(uname -r)" --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //')" \
	--argjson cores "$(nproc)" --arg size "$SIZE" --argjson reps "$REPS" \
	--argjson threads "$THREADS" --arg date "$(date -u +%FT%TZ)" '
	def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
		else (.[length / 2 - 1] + .[length / 2]) / 2 end;
	def stats: { median: median, min: min, max: max };
	def gbps: if . == null then null else . / 1e9 * 1000 | round / 1000 end;
	def r3: if . == null then null else . * 1000 | round / 1000 end;
	. as $all |
	[ $all[] | .profile ] | unique | map(. as $p |
		[ $all[] | select(.profile == $p) ] as $s |
		([ $s[] | .who ] | unique) as $whos |
		(reduce $whos[] as $w ({}; .[$w] = {
			throughput_gbps: ([ $s[] | select(.who == $w) | .throughput_bps ] | stats | map_values(gbps)),
			parity_gbps: ([ $s[] | select(.who == $w) | .parity_bps | select(. != null) ] |
				if length == 0 then null else stats | map_values(gbps) end),
			cpu_s: ([ $s[] | select(.who == $w) | .cpu_s | select(. != null) ] |
				if length == 0 then null else median | r3 end),
			rmw_p50_us: ([ $s[] | select(.who == $w) | .rmw_p50_ns | select(. != null) ] |
				if length == 0 then null else median / 1000 | r3 end) })) as $m |
		def t($w): $m[$w].throughput_gbps.median;
		def g($w): $m[$w].parity_gbps.median;
		{ profile: $p, results: $m,
		  ratios: {
			throughput: {
				batched_over_step: (t("batched") / t("step") | r3),
				threads_over_batched: (t("threads") / t("batched") | r3),
				step_over_kernel: (t("step") / t("kernel") | r3),
				batched_over_kernel: (t("batched") / t("kernel") | r3),
				threads_over_kernel: (t("threads") / t("kernel") | r3) },
			parity_generation: {
				batched_over_step: (g("batched") / g("step") | r3),
				threads_over_step: (g("threads") / g("step") | r3) } } }) as $results |
	{ bench: "parity",
	  machine: { kernel: $kernel, cpu: $cpu, cores: $cores, date: $date },
	  params: { size: $size, reps: $reps, threads: $threads,
		    backing: "loop devices on files in /dev/shm (tmpfs), kernel and userspace",
		    kernel_run: "dd bs=1M conv=fsync of a new file on a sandbox btrfs: SIZE / wall time",
		    replay_run: "replay parity --synthetic size=SIZE,bs=1M: full stripes only",
		    parity_gbps: "data bytes of a full stripe / median time to generate its P/Q (replay only; cold data: the pool is larger than the LLC)" },
	  results: $results,
	  samples: $all }' "$WORK/out/samples"
