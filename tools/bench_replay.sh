#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# btrfs's write-with-checksum pipelines replayed in userspace ('bbscope replay
# csum'), beside the async_csum series' model:
#
#   serial  1 / (1/m + 1/c + 1/d)          async  1 / (1/m + max(1/c, 1/d))
#
# (the formula is tools/bench_model's, the C one bbscope bench uses)
#
# m: memory bandwidth, one core: tools/csum_perf's cold memcpy (or, without
#    it, dd copying a cold tmpfs file of random data to a user buffer)
# c: checksum bandwidth, one core, in place: bytes / time spent in checksums
#    by the serial runs (the submitting thread sums one bio at a time)
# d: device bandwidth: mode none's throughput on the same target and queue
#    depth
#
# Targets: a zram device hot-added here (and removed at the end) and a file
# on tmpfs.  Every (target, algorithm, queue depth, mode) is run REPS times,
# interleaved (the mode order rotates each round), on the same data; each
# result is the median with min, max and spread.  Beside each run the CPU
# time other processes used meanwhile (/proc/stat minus ours) is kept: these
# machines are shared.  Notes explain every predicted/measured gap over 10%.
#
# Output: one JSON object on stdout.  Not a test: nothing passes or fails on
# a number.  Env: REPS (5), SIZE (1G), BS (128K), QDS ("16 1"),
# CSUMS ("crc32c sha256"), TARGETS ("zram tmpfs"), WORKERS (1), IDLE_POLL (0).
set -u
cd "$(dirname "$0")/.." || exit 1
B=${BBSCOPE:-$PWD/${OUT:-build}/bbscope}
REPS=${REPS:-5}
SIZE=${SIZE:-1G}
BS=${BS:-128K}
QDS=${QDS:-"16 1"}
CSUMS=${CSUMS:-"crc32c sha256"}
TARGETS=${TARGETS:-"zram tmpfs"}
WORKERS=${WORKERS:-1}
CSUM_PERF=${CSUM_PERF:-$PWD/${OUT:-build}/tools/csum_perf}
MODEL=${MODEL:-$PWD/${OUT:-build}/tools/bench_model}
M_SOURCE="tools/csum_perf --quick: cold memcpy median (one core; each 4 KiB block of a buffer twice the LLC copied into an L1-resident block, read as a checksum reads it)"
MODES="none serial async offload"

die() { echo "bbscope: bench_replay: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "needs root (zram, O_DIRECT on devices)"
[ -x "$B" ] || die "$B missing (make, or set BBSCOPE)"
[ -x "$MODEL" ] || die "$MODEL missing (make)"
command -v jq >/dev/null || die "needs jq"
[ -x /usr/bin/time ] || die "needs /usr/bin/time (package time)"

# IDLE_POLL=1: hold a PM QoS request of 0 us on /dev/cpu_dma_latency for the
# run, so idle vCPUs poll instead of halting and wake-ups cost microseconds,
# not tens.  Machine-wide while held (off by default: these machines are
# shared); released when the script exits.
IDLE_POLL=${IDLE_POLL:-0}
if [ "$IDLE_POLL" = 1 ]; then
	exec 9>/dev/cpu_dma_latency || die "cannot open /dev/cpu_dma_latency"
	printf '\x00\x00\x00\x00' >&9 || die "cannot set a PM QoS request"
fi

. tools/reap.sh
reap_stale /dev/shm bbscope-bench-replay # what a run killed with SIGKILL left
WORK=$(run_dir /dev/shm bbscope-bench-replay) || die "mktemp"
ZRAM=
cleanup() {
	if [ -n "$ZRAM" ]; then
		echo 1 >"/sys/block/zram$ZRAM/reset" 2>/dev/null
		echo "$ZRAM" >/sys/class/zram-control/hot_remove 2>/dev/null ||
			echo "bbscope: bench_replay: could not remove zram$ZRAM" >&2
	fi
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bytes=$(numfmt --from=iec "$SIZE") || die "SIZE=$SIZE"
HZ=$(getconf CLK_TCK)

declare -A TGT
for t in $TARGETS; do
	case $t in
	zram)
		[ -e /sys/class/zram-control/hot_add ] || modprobe zram num_devices=0 ||
			die "no zram in this kernel"
		ZRAM=$(cat /sys/class/zram-control/hot_add) || die "zram hot_add"
		# for the next run, should this one be killed (tools/reap.sh)
		echo "$ZRAM $((bytes + (64 << 20)))" >"$WORK/zram.dev"
		for i in $(seq 50); do [ -b "/dev/zram$ZRAM" ] && break; sleep 0.1; done
		# lz4 gives up fastest on random data; else the kernel's default.
		grep -qw lz4 "/sys/block/zram$ZRAM/comp_algorithm" &&
			echo lz4 >"/sys/block/zram$ZRAM/comp_algorithm"
		echo $((bytes + (64 << 20))) >"/sys/block/zram$ZRAM/disksize" || die "zram disksize"
		ZALGO=$(sed 's/.*\[\(.*\)\].*/\1/' "/sys/block/zram$ZRAM/comp_algorithm")
		TGT[zram]=/dev/zram$ZRAM
		;;
	tmpfs) TGT[tmpfs]=$WORK/target ;;
	*) die "unknown target '$t' (zram, tmpfs)" ;;
	esac
done

busy_jiffies() { awk '/^cpu /{ print $2 + $3 + $4 + $7 + $8 + $9; exit }' /proc/stat; }

# run TARGET CSUM QD MODE REP: one replay, one JSON line in samples.
run() {
	local target=$1 csum=$2 qd=$3 mode=$4 rep=$5 s0 s1 t0 t1 out
	s0=$(busy_jiffies)
	t0=$(date +%s%N)
	out=$(/usr/bin/time -f '%U %S' -o "$WORK/time" "$B" replay csum \
		--synthetic "size=$SIZE,bs=$BS" --target "${TGT[$target]}" --force --mode "$mode" \
		--algo "$csum" --qd "$qd" --workers "$WORKERS" --json 2>"$WORK/err") ||
		die "replay $mode $csum qd $qd on $target: $(cat "$WORK/err")"
	t1=$(date +%s%N)
	s1=$(busy_jiffies)
	jq -c --arg target "$target" --argjson rep "$rep" --argjson busy $(((s1 - s0))) \
		--argjson hz "$HZ" --argjson wall "$(((t1 - t0) / 1000))" \
		--argjson proc "$(awk '{ print $1 + $2 }' "$WORK/time")" '
		def phase(p): [.groups[].phases[p] | select(.count?) | .mean_ns] | first;
		{ target: $target, algo, qd, mode, rep: $rep, throughput_bps, elapsed_s, cpu_s,
		  csum_busy_s, csum_wait_mean_ns, csum_mean_ns: phase("csum"), device_mean_ns: phase("device"),
		  total_mean_ns: phase("total"),
		  others_cores: ((($busy / $hz) - $proc) / ($wall / 1e6) | if . < 0 then 0 else . end) }' \
		<<<"$out" >>"$WORK/samples" || die "bad JSON from replay"
}

# m, once a round: csum_perf's cold memcpy (one core, a 1 GiB-class buffer
# read as a checksum reads it), with its cold checksum rates for reference;
# without csum_perf, dd from a cold tmpfs file of random data (copy_to_user).
memcpy_once() {
	local t0 t1 line
	if [ -x "$CSUM_PERF" ]; then
		line=$("$CSUM_PERF" --quick --json 2>/dev/null | jq -c '.results | {
			m_bps: (.memcpy.cold.median * 1e9),
			c_ref_bps: (with_entries(select(.value.cold?.median != null and .key != "memcpy"
				and .key != "read")) | map_values(.cold.median * 1e9)) }' 2>/dev/null)
		if [ -n "$line" ]; then
			echo "$line" >>"$WORK/mem"
			return
		fi
	fi
	[ -e "$WORK/msrc" ] || "$B" replay csum --synthetic "size=$SIZE,bs=$BS" \
		--target "$WORK/msrc" --mode none >/dev/null || die "making the memcpy source"
	t0=$(date +%s%N)
	dd if="$WORK/msrc" of=/dev/null bs=1M status=none || die "dd"
	t1=$(date +%s%N)
	echo "$bytes $t0 $t1" | awk '{ printf "{\"m_bps\": %.0f}\n", $1 / (($3 - $2) / 1e9) }' \
		>>"$WORK/mem"
	M_SOURCE="dd of a cold tmpfs file of random data, 1 MiB reads (copy_to_user, one core): csum_perf was not found"
}

echo "bbscope: bench_replay: $TARGETS x $CSUMS x qd $QDS x $MODES, $REPS rounds of $SIZE" >&2
# Warm-up: the tmpfs file's pages are allocated and zram holds data, once.
for t in $TARGETS; do
	"$B" replay csum --synthetic "size=$SIZE,bs=$BS" --target "${TGT[$t]}" --force \
		--mode none >/dev/null || die "warm-up on $t"
done

set -- $MODES
for ((rep = 0; rep < REPS; rep++)); do
	memcpy_once
	for t in $TARGETS; do
		for c in $CSUMS; do
			for q in $QDS; do
				# Rotate the mode order each round.
				for ((k = 0; k < 4; k++)); do
					i=$(((k + rep) % 4 + 1))
					run "$t" "$c" "$q" "${!i}" $rep
				done
			done
		done
	done
	echo "bbscope: bench_replay: round $((rep + 1))/$REPS done" >&2
done

JQ_DEFS='
def median: sort | if length == 0 then null
	else (if length % 2 == 1 then .[length / 2 | floor]
	      else (.[length / 2 - 1] + .[length / 2]) / 2 end) end;'

# The model's inputs per (target, algorithm, queue depth): m over all rounds,
# c from the serial runs, d from mode none; then its predictions, with and
# without m, from tools/bench_model.
jq -rn --slurpfile s "$WORK/samples" --slurpfile mem "$WORK/mem" "$JQ_DEFS"'
($mem | map(.m_bps) | median) as $m |
[ $s[] ] | group_by([.target, .algo, .qd])[] | . as $g |
  ([ $g[] | select(.mode == "none") | .throughput_bps ] | median) as $d |
  ([ $g[] | select(.mode == "serial" and .csum_busy_s > 0) |
     (.throughput_bps * .elapsed_s / .csum_busy_s) ] | median) as $c |
  "\($g[0].target)/\($g[0].algo)/\($g[0].qd) \($m) \($c) \($d)"' >"$WORK/inputs" ||
	die "bad samples"
while read -r key m c d; do
	with=$("$MODEL" "$m" "$c" "$d") && without=$("$MODEL" inf "$c" "$d") ||
		die "no model for $key (m $m, c $c, d $d)"
	jq -cn --arg k "$key" --argjson w "$with" --argjson wo "$without" \
		'{ ($k): { with: $w, without: $wo } }'
done <"$WORK/inputs" >"$WORK/model"

jq -n --slurpfile s "$WORK/samples" --slurpfile mem "$WORK/mem" --slurpfile model "$WORK/model" \
	--arg kernel "$(uname -r)" \
	--arg cpu "$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)" \
	--argjson cores "$(nproc)" \
	--argjson mem_kib "$(awk '/^MemTotal/ { print $2 }' /proc/meminfo)" \
	--arg llc "$(cat /sys/devices/system/cpu/cpu0/cache/index3/size 2>/dev/null || echo unknown)" \
	--arg liburing "$(dpkg-query -W -f='${Version}' liburing2 2>/dev/null || echo unknown)" \
	--arg rev "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
	--arg zalgo "${ZALGO:-}" --arg date "$(date -u +%FT%TZ)" \
	--arg m_source "$M_SOURCE" --arg idle_poll "$IDLE_POLL" --arg size "$SIZE" --arg bs "$BS" --argjson reps "$REPS" --argjson workers "$WORKERS" \
	--arg zdev "${TGT[zram]:-}" --argjson quiet 0.25 "$JQ_DEFS"'
def stats: { median: median, min: min, max: max,
	     spread: (if median > 0 then ((max - min) / median) else null end), n: length };
def gb: if . == null then null else . / 1e9 * 1000 | round / 1000 end;
def r3: if . == null then null else . * 1000 | round / 1000 end;
def abs: if . < 0 then -. else . end;

($model | add) as $models |
[ $s[] ] as $all |
[ $all | group_by([.target, .algo, .qd])[] |
  . as $g | $g[0] as $k |
  $models["\($k.target)/\($k.algo)/\($k.qd)"] as $p |
  $p.with.mem_bps as $m | $p.with.csum_bps as $c | $p.with.dev_bps as $d |
  ([ $g[] | select(.mode == "serial") | .throughput_bps ] | median) as $ser |
  ([ $g[] | select(.mode == "async") | .throughput_bps ] | median) as $asy |
  ([ $g[] | select(.mode == "offload") | .throughput_bps ] | median) as $off |
  ([ $g[] | .others_cores ] | median) as $others |
  ([ $g[] | select(.mode == "async") | .csum_wait_mean_ns ] | median / 1000) as $wait_us |
  ([ $g[] | select(.mode == "none") | .device_mean_ns / 1000 ] | min) as $dev_lo |
  ([ $g[] | select(.mode == "none") | .device_mean_ns / 1000 ] | median) as $dev_none |
  ([ $g[] | select(.mode == "serial") | .device_mean_ns / 1000 ] | median) as $dev_ser |
  ([ $g[] | select(.mode == "async") | .device_mean_ns / 1000 ] | median) as $dev_asy |
  ([ $g[] | select(.mode == "none") | .device_mean_ns / 1000 ] | max) as $dev_hi |
  $p.with.serial_bps as $ps | $p.with.async_bps as $pa |
  $p.without.serial_bps as $ps0 | $p.without.async_bps as $pa0 |
  (($asy / $ser) / ($pa / $ps) - 1) as $gap |
  { target: $k.target, algo: $k.algo, qd: $k.qd,
    modes: ([ $g | group_by(.mode)[] | { key: .[0].mode, value: {
	throughput_gbps: ([ .[].throughput_bps / 1e9 ] | stats | map_values(r3)),
	quiet_throughput_gbps: ([ .[] | select(.others_cores < $quiet) | .throughput_bps / 1e9 ] |
		if length == 0 then null else stats | map_values(r3) end),
	cpu_s: ([ .[].cpu_s ] | median | r3),
	cores_used: ([ .[] | .cpu_s / .elapsed_s ] | median | r3),
	csum_mean_us: ([ .[].csum_mean_ns | select(. != null) ] | median |
		if . == null then null else . / 1000 | r3 end),
	csum_wait_mean_us: ([ .[].csum_wait_mean_ns | select(. != null) ] | median |
		if . == null then null else . / 1000 | r3 end),
	device_mean_us: ([ .[].device_mean_ns ] | median / 1000 | r3),
	total_mean_us: ([ .[].total_mean_ns ] | median / 1000 | r3),
	others_cores: ([ .[].others_cores ] | median | r3) } } ] | from_entries),
    inputs_gbps: { m: ($m | gb), c: ($c | gb), d: ($d | gb) },
    seed_model: { serial_gbps: ($ps | gb), async_gbps: ($pa | gb),
		  async_over_serial: ($pa / $ps | r3) },
    without_m: { serial_gbps: ($ps0 | gb), async_gbps: ($pa0 | gb),
		 async_over_serial: ($pa0 / $ps0 | r3) },
    measured: { serial_gbps: ($ser | gb), async_gbps: ($asy | gb),
		offload_gbps: ($off | gb), none_gbps: ($d | gb),
		async_over_serial: ($asy / $ser | r3),
		offload_over_serial: ($off / $ser | r3) },
    speedup_gap: ($gap | r3),
    notes: ([
	(if ($gap | abs) <= 0.10 then
		"measured async/serial within 10% of the seed model" else empty end),
	(if ($gap | abs) > 0.10 and $ser > 1.1 * $ps0 then
		"serial ran \($ser / $ps0 * 100 - 100 | round)% above a strictly serial pipeline (1/(1/c+1/d) = \($ps0 | gb) GB/s): the device worked on another core while the submitter checksummed later bios, " +
		(if $k.target == "zram" then "because io_uring does not issue zram writes non-blocking and hands each to an io-wq worker thread (an iou-wrk thread does the copies; under btrfs, submit_bio() runs zram in the submitter: the case the model describes)"
		 else "because io_uring hands a tmpfs write that would block (O_DIRECT on tmpfs is a page-cache copy) to an io-wq worker thread" end) +
		(if $k.qd > 1 then "; with \($k.qd) bios in flight the serial shape already overlaps checksums and device work across bios, so async has little left to win" else "" end)
	 else empty end),
	(if ($gap | abs) > 0.10 and $asy < 0.9 * $pa0 then
		"async reached \($asy / $pa0 * 100 | round)% of min(c, d) = \($pa0 | gb) GB/s: " +
		(if $k.qd == 1 then "a bio waited a median \($wait_us | r3) us for its checksum to start (the worker waking up) and its completion wakes the submitter through the eventfd; at queue depth 1 every bio pays both wake-ups in full"
		 else "a bio waited a median \($wait_us | r3) us for its checksum to start, queued behind other bios on the one worker, and the worker, the device work and the submitter share \($cores) cores" end)
	 else empty end),
	(if ($gap | abs) > 0.10 and $asy > 1.1 * $pa then
		"async ran \($asy / $pa * 100 - 100 | round)% above the seed model (\($pa | gb) GB/s): " +
		(if $pa0 > 1.05 * $pa then "its 1/m term is the page-cache copy of btrfs, a stage the replay does not have (it writes from registered buffers); " else "" end) +
		"d comes from mode none, and the device ran faster beside checksums than alone (device time per bio: none \($dev_none | r3) us, async \($dev_asy | r3) us): " +
		(if $k.qd == 1 then "at queue depth 1 each write of mode none waits for an idle vCPU to wake, which a busy checksum worker avoids"
		 else "mode none submits \($k.qd) writes at once and they queue behind each other" +
			(if $k.target == "tmpfs" then " (likely on the inode lock of the file: the ones that miss it inline go to io-wq), while between checksums they arrive spaced out" else "" end) end)
	 else empty end),
	(if ($gap | abs) > 0.10 and $ser < 0.9 * $ps0 then
		"serial ran \($ps0 / $ser * 100 - 100 | round)% below 1/(1/c+1/d) = \($ps0 | gb) GB/s: its device time per bio (\($dev_ser | r3) us) exceeds mode none (\($dev_none | r3) us)" +
		(if $k.qd == 1 then ", the wake-ups of the io-wq worker and of the submitter after each checksum" else "" end)
	 else empty end),
	(if ($gap | abs) > 0.10 and $c > 2 * $d then
		"c is \($c / $d | r3)x d: checksums are a small part of each bio, so the most async can win is a factor 1 + d/c = \(1 + $d / $c | r3)"
	 else empty end),
	(if $dev_hi > 1.5 * $dev_lo then
		"mode none: device time per bio ranged \($dev_lo | r3) to \($dev_hi | r3) us across rounds" +
		(if $k.qd == 1 then "; at queue depth 1 every write waits for a wake-up, tens of microseconds when the other vCPU is idle (haltpoll guest), a few when it is busy, so these numbers depend on background load (IDLE_POLL=1 removes that)" else "" end)
	 else empty end),
	(if $others > 0.25 then
		"shared machine: other processes used a median \($others | r3) of \($cores) cores during these runs"
	 else empty end),
	(if ($gap | abs) > 0.10 and ($ser <= 1.1 * $ps0) and ($ser >= 0.9 * $ps0) and
	    ($asy >= 0.9 * $pa0) and
	    ($asy <= 1.1 * $pa) and ($c <= 2 * $d) and ($dev_hi <= 1.5 * $dev_lo) then
		"gap not explained by the diagnostics recorded here (serial overlap, wake-up waits, background load)"
	 else empty end)
    ]) }
] as $results |
{ bench: "replay_csum",
  machine: { kernel: $kernel, cpu: $cpu, cores: $cores, mem_gib: ($mem_kib / 1048576 | r3),
	     llc: $llc, liburing: $liburing, bbscope_rev: $rev, date: $date },
  params: { size: $size, bs: $bs, reps: $reps, workers: $workers, idle_poll: ($idle_poll == "1"),
	    targets: { zram: (if $zdev != "" then { device: $zdev, comp_algorithm: $zalgo }
			      else null end),
		       tmpfs: "a file on /dev/shm (O_DIRECT on tmpfs is a page-cache copy: inline in the submitting thread, or in an io-wq worker when it would block)" },
	    m_source: $m_source,
	    c_source: "bytes / checksum time of the serial runs (one core, in the pipeline)",
	    d_source: "mode none throughput, same target and queue depth",
	    quiet: "quiet_throughput_gbps: only the runs during which other processes used under 0.25 cores" },
  memcpy_gbps: ([ $mem[].m_bps / 1e9 ] | stats | map_values(r3)),
  csum_perf_cold_gbps: ([ $mem[].c_ref_bps | select(. != null) ] |
	if length == 0 then null else (.[0] | keys) as $ks |
	. as $all | reduce $ks[] as $k ({}; .[$k] = ([ $all[][$k] / 1e9 ] | median | r3)) end),
  results: $results,
  samples: $all }'
