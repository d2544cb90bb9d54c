#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# btrfs's raid56 paths in the kernel and replayed in userspace ('bbscope
# replay parity'), side by side, on the same kind of devices: loop devices
# on files in tmpfs.
#
# Kernel: a sandbox btrfs (raid5 on 3 devices, raid6 on 4; backing files in
# /dev/shm), each workload under 'bbscope hist --fs MNT --json':
#   full      FULL_SIZE written sequentially (dd bs=1M conv=fsync)
#   partial   PARTIAL_WRITES random 4 KiB overwrites of a 16 MiB file, fsync
#             after each (fio psync); btrfs COWs them to fresh, consecutive
#             logical addresses: sub-stripe rmw, one rbio per write
#   degraded  unmount, detach one member (only a device the sandbox's state
#             file names), mount -o degraded, drop caches, read the full file
# Userspace: the same number of fresh loop devices on tmpfs files, each mode
# (step, batched, threads) replaying equivalent stripes:
#   full      --synthetic size=FULL_SIZE,bs=1M (merged into full stripes)
#   partial   --synthetic size=PARTIAL_WRITES*4K,bs=4K,pattern=seq --no-plug:
#             consecutive 4 KiB rbios, as the COWed writes land, with the
#             stripe cache as btrfs has it
#   degraded  --degraded 1 over what 'full' wrote, read repair per sector
#
# Per-stripe runtime is the raid56 rmw or recover phase (an rbio's work item,
# its I/O included).  The kernel's recover_rbio_work also runs for rbios that
# only queue behind the stripe lock and return in about a microsecond; their
# real work then runs in recover_rbio_work_locked, which the tracer does not
# time.  The kernel columns therefore use the invocations of at least
# WORKED_NS (4 us) and the JSON keeps both.  Throughput: kernel, what the
# application saw (bytes / wall time, fsyncs included; partial: fio's
# bandwidth); userspace, workload bytes / replay time.
#
# Output: one table (rows kernel, step, batched, threads per profile;
# columns p50, p99, throughput per workload), or with --json one object.
# The sandbox, its degraded mount and every loop device made here are gone
# at exit (checked: losetup -a, /proc/mounts).
#
# Env: PROFILES ("raid5:3 raid6:4"), MODES ("step batched threads"), FULL_SIZE
# (64M), PARTIAL_WRITES (1024), DEV_SIZE (512M), WORKED_NS (4096), THREADS
# (online CPUs).  Sourced (by tools/bench_parity.sh) it only defines its
# functions.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
. tools/reap.sh
B=${BBSCOPE:-$PWD/${OUT:-build}/bbscope}
PROFILES=${PROFILES:-"raid5:3 raid6:4"}
MODES=${MODES:-"step batched threads"}
FULL_SIZE=${FULL_SIZE:-64M}
PARTIAL_WRITES=${PARTIAL_WRITES:-1024}
DEV_SIZE=${DEV_SIZE:-512M}
WORKED_NS=${WORKED_NS:-4096}
THREADS=${THREADS:-$(nproc)}
JSON=0
exec 3>&1
SBS_NAME=${SBS_NAME:-sidebyside_parity}

die() {
	echo "bbscope: $SBS_NAME: $*" >&2
	# fd 3 is the script's stdout: rows are being collected on fd 1.
	[ "$JSON" = 1 ] && jq -cn --arg e "$SBS_NAME: $*" '{error: $e}' >&3
	exit 1
}

# ---- what we make, and its undoing ----

WORK=
TRACER=
UDEVS=() # userspace loop devices attached here
UFILES=()

cleanup() {
	local i back left
	trap - EXIT INT TERM
	[ -n "$TRACER" ] && { kill -INT "$TRACER" 2>/dev/null; wait "$TRACER" 2>/dev/null; }
	if [ -n "$WORK" ] && [ -e "$BBSCOPE_STATE_DIR/sandbox.json" ]; then
		"$B" sandbox down >/dev/null 2>"$WORK/down.err" ||
			echo "bbscope: $SBS_NAME: sandbox down: $(cat "$WORK/down.err")" >&2
	fi
	for i in "${!UDEVS[@]}"; do
		# Only while it is still bound to our file.
		back=$(losetup -n -O BACK-FILE "${UDEVS[i]}" 2>/dev/null | sed 's/ *$//')
		[ "$back" = "${UFILES[i]}" ] && losetup -d "${UDEVS[i]}"
	done
	if [ -n "$WORK" ]; then
		left=$(losetup -a | grep -F "$WORK"; grep -F "$WORK" /proc/mounts)
		[ -n "$left" ] && echo "bbscope: $SBS_NAME: left behind: $left" >&2
		rm -rf "$WORK"
	fi
}

setup() {
	[ "$(id -u)" = 0 ] || die "needs root (loop devices, mount, BPF)"
	[ -x "$B" ] || die "$B missing (make, or set BBSCOPE)"
	local c
	for c in jq fio losetup blkdiscard btrfs; do
		command -v $c >/dev/null || die "needs $c"
	done
	reap_stale /dev/shm bbscope-sbs # what a run killed with SIGKILL left
	WORK=$(run_dir /dev/shm bbscope-sbs) || die "mktemp in /dev/shm"
	export BBSCOPE_STATE_DIR=$WORK/state
	trap cleanup EXIT
	trap 'exit 130' INT TERM
	mkdir -p "$WORK/u" "$WORK/out"
	head -c "$(numfmt --from=iec "$FULL_SIZE")" /dev/urandom >"$WORK/src" || die "random data"
}

# ---- the kernel ----

tracer_start() { # OUT
	local i
	"$B" hist --fs "$MNT" --json >"$1" 2>"$1.err" &
	TRACER=$!
	for ((i = 0; i < 200; i++)); do
		grep -q '^bbscope: tracing' "$1.err" 2>/dev/null && return 0
		kill -0 "$TRACER" 2>/dev/null || die "tracer exited: $(cat "$1.err")"
		sleep 0.1
	done
	die "tracer did not start: $(cat "$1.err")"
}

tracer_stop() {
	kill -INT "$TRACER"
	wait "$TRACER" || die "tracer failed"
	TRACER=
}

now_ns() { date +%s%N; }

# kernel_summary HIST_JSON PHASE BYTES NS [BPS]: one workload's kernel figures.
kernel_summary() {
	jq -c --arg ph "$2" --argjson bytes "$3" --argjson ns "$4" --argjson bps "${5:-null}" \
		--argjson worked "$WORKED_NS" '
		# Percentile from buckets, interpolated as bbs_hist_percentile() does.
		def pct($b; $p): ($b | map(.[2]) | add // 0) as $t |
			if $t == 0 then null else
			(reduce $b[] as $x ({seen: 0, v: null};
				if .v == null and .seen + $x[2] >= $p * $t then
					.v = ($x[0] + ($x[1] - $x[0]) * (($p * $t - .seen) / $x[2]))
				else . end | .seen += $x[2]) | .v | floor) end;
		.raid56 as $r | ($r[$ph].buckets // []) as $all |
		[$all[] | select(.[0] >= $worked)] as $w |
		{ count: ($w | map(.[2]) | add // 0), p50_ns: pct($w; 0.5), p99_ns: pct($w; 0.99),
		  throughput_bps: ($bps // ($bytes / ($ns / 1e9))), bytes: $bytes,
		  elapsed_s: ($ns / 1e9), stripe_writes: $r.stripe_writes,
		  stripe_reads: $r.stripe_reads,
		  all_invocations: { count: ($r[$ph].count // 0), p50_ns: $r[$ph].p50_ns,
				     p99_ns: $r[$ph].p99_ns } }' "$1"
}

# kernel_profile PROFILE N: the three workloads on a sandbox; one JSON row.
kernel_profile() {
	local profile=$1 n=$2 o=$WORK/out/k.$1 bytes t0 t1 full partial degraded status victim
	local devs first
	bytes=$(numfmt --from=iec "$FULL_SIZE")
	"$B" sandbox up --profile "$profile" --devices "$n" --size "$DEV_SIZE" \
		--backing-dir "$WORK/backing" --mount-opts commit=300 --json >"$o.sb" ||
		die "sandbox up $profile: $(cat "$o.sb")"
	MNT=$(jq -r .mountpoint "$o.sb")

	tracer_start "$o.full"
	t0=$(now_ns)
	dd if="$WORK/src" of="$MNT/full" bs=1M conv=fsync status=none || die "dd full"
	t1=$(now_ns)
	tracer_stop
	full=$(kernel_summary "$o.full" rmw "$bytes" $((t1 - t0)))

	dd if="$WORK/src" of="$MNT/part" bs=1M count=16 conv=fsync status=none || die "dd part"
	sync
	tracer_start "$o.partial"
	t0=$(now_ns)
	fio --name=partial --filename="$MNT/part" --size=16M --rw=randwrite --bs=4k --fsync=1 \
		--io_size=$((PARTIAL_WRITES * 4))k --ioengine=psync --randseed=1 \
		--output-format=json >"$o.fio" 2>"$o.fio.err" || die "fio: $(cat "$o.fio.err")"
	t1=$(now_ns)
	tracer_stop
	partial=$(kernel_summary "$o.partial" rmw $((PARTIAL_WRITES * 4096)) $((t1 - t0)) \
		"$(jq '.jobs[0].write.bw_bytes' "$o.fio")")

	# Degraded: only a member the sandbox's own state names, backed in our dir.
	sync
	status=$("$B" sandbox status --json) || die "sandbox status"
	mapfile -t devs < <(jq -r '.devices[]' <<<"$status")
	victim=${devs[1]}
	first=${devs[0]}
	losetup -n -O BACK-FILE "$victim" | grep -qF "$WORK/backing/" ||
		die "$victim is not backed by the sandbox's files"
	umount "$MNT" || die "umount $MNT"
	btrfs device scan --forget "$victim" 2>/dev/null
	losetup -d "$victim" || die "losetup -d $victim"
	mount -o degraded "$first" "$MNT" || die "mount -o degraded $first"
	sync
	echo 3 >/proc/sys/vm/drop_caches
	tracer_start "$o.degraded"
	t0=$(now_ns)
	cat "$MNT/full" >/dev/null || die "degraded read"
	t1=$(now_ns)
	tracer_stop
	degraded=$(kernel_summary "$o.degraded" recover "$bytes" $((t1 - t0)))
	# 'down' unmounts the degraded mount, detaches the members still attached
	# (it warns about the one we detached) and removes every backing file.
	"$B" sandbox down >/dev/null 2>"$o.down" || die "sandbox down: $(cat "$o.down")"
	jq -cn --arg p "$profile" --argjson full "$full" --argjson partial "$partial" \
		--argjson degraded "$degraded" --arg victim "$victim" \
		'{profile: $p, who: "kernel", full: $full, partial: $partial,
		  degraded: ($degraded + {missing: $victim})}'
}

# ---- userspace ----

# user_targets N BYTES: N loop devices on fresh tmpfs files; sets TARGETS.
user_targets() {
	local i f dev list=
	for ((i = 0; i < $1; i++)); do
		f=$WORK/u/t$i.img
		truncate -s "$2" "$f" || die "truncate $f"
		dev=$(losetup -f --show "$f") || die "losetup $f"
		UDEVS+=("$dev")
		UFILES+=("$f")
		list+=${list:+,}$dev
	done
	TARGETS=$list
}

# user_release: detach the userspace loop devices, remove their files.
user_release() {
	local i
	for i in "${!UDEVS[@]}"; do
		losetup -d "${UDEVS[i]}"
		rm -f "${UFILES[i]}"
	done
	UDEVS=()
	UFILES=()
}

# replay_summary OUT PHASE: one workload's userspace figures.
replay_summary() {
	jq -c --arg ph "$2" '.raid56 as $r |
		{ count: $r[$ph].count, p50_ns: $r[$ph].p50_ns, p99_ns: $r[$ph].p99_ns,
		  throughput_bps, bytes, elapsed_s, stripe_writes: $r.stripe_writes,
		  stripe_reads: $r.stripe_reads, cpu_s, parity_busy_s,
		  stripe_cache_hits }' "$1"
}

# replay_mode PROFILE MODE ARGS...: one replay, JSON to $WORK/out/u.last.
replay_mode() {
	local profile=$1 mode=$2 extra=
	shift 2
	[ "$mode" = threads ] && extra="--threads $THREADS"
	"$B" replay parity --profile "$profile" --targets "$TARGETS" --mode "$mode" $extra \
		--force --json "$@" >"$WORK/out/u.last" 2>"$WORK/out/u.err" ||
		die "replay parity $profile $mode $*: $(cat "$WORK/out/u.err")"
}

# fresh: discard the targets (punches holes in the tmpfs files), as new devices.
fresh() {
	local d
	for d in ${TARGETS//,/ }; do
		blkdiscard -f "$d" 2>/dev/null || die "blkdiscard $d"
	done
}

# user_profile PROFILE N: every mode's three workloads; one JSON row per mode.
user_profile() {
	local profile=$1 n=$2 nd bytes mode full partial degraded
	bytes=$(numfmt --from=iec "$FULL_SIZE")
	[ "$profile" = raid5 ] && nd=$((n - 1)) || nd=$((n - 2))
	user_targets "$n" $((bytes / nd + (1 << 20)))
	for mode in $MODES; do
		fresh
		replay_mode "$profile" "$mode" --synthetic "size=$FULL_SIZE,bs=1M"
		full=$(replay_summary "$WORK/out/u.last" rmw)
		replay_mode "$profile" "$mode" --synthetic "size=$FULL_SIZE,bs=128K" --degraded 1
		degraded=$(replay_summary "$WORK/out/u.last" recover)
		replay_mode "$profile" "$mode" --no-plug \
			--synthetic "size=$((PARTIAL_WRITES * 4))K,bs=4K,pattern=seq"
		partial=$(replay_summary "$WORK/out/u.last" rmw)
		jq -cn --arg p "$profile" --arg m "$mode" --argjson full "$full" \
			--argjson partial "$partial" --argjson degraded "$degraded" \
			'{profile: $p, who: $m, full: $full, partial: $partial,
			  degraded: ($degraded + {missing: "target 1"})}'
	done
	user_release
}

# ---- output ----

print_table() { # ROWS_FILE
	jq -r '
		def us: if . == null then "-" else (. / 1000 | if . < 10 then (. * 10 | round / 10)
			else round end | tostring) end;
		def mbs: if . == null then "-" else (. / 1e6 | round | tostring) end;
		def cell: [(.p50_ns | us), (.p99_ns | us), (.throughput_bps | mbs)];
		def pad($n): tostring | (" " * ($n - length)) + .;
		def row: map(pad(9)) | join("");
		"per-stripe runtime (raid56 rmw / recover per rbio), p50 and p99 in us; throughput in MB/s",
		"",
		("" | pad(17)) + " |" + ("full-stripe write" | pad(27)) + " |" +
			("4 KiB writes + fsync (rmw)" | pad(27)) + " |" + ("degraded read" | pad(27)),
		("profile  who" + ("" | pad(5))) + " |" + (["p50", "p99", "MB/s"] | row) + " |" +
			(["p50", "p99", "MB/s"] | row) + " |" + (["p50", "p99", "MB/s"] | row),
		(.[] | "\(.profile)  \(.who)" as $h | ($h + (" " * (17 - ($h | length)))) + " |" +
			(.full | cell | row) + " |" + (.partial | cell | row) + " |" +
			(.degraded | cell | row))
	' "$1"
}

main() {
	local spec profile n rows
	for a in "$@"; do
		case $a in
		--json) JSON=1 ;;
		-h | --help)
			sed -n '3,/^set -u/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
			exit 0
			;;
		*) die "unknown argument '$a' (--json, --help)" ;;
		esac
	done
	setup
	rows=$WORK/out/rows
	: >"$rows"
	for spec in $PROFILES; do
		profile=${spec%:*}
		n=${spec#*:}
		kernel_profile "$profile" "$n" >>"$rows"
		user_profile "$profile" "$n" >>"$rows"
	done
	jq -s . "$rows" >"$rows.json"
	if [ "$JSON" = 1 ]; then
		jq -c --arg kernel "$(uname -r)" --arg full "$FULL_SIZE" \
			--argjson pw "$PARTIAL_WRITES" --argjson worked "$WORKED_NS" \
			--argjson threads "$THREADS" '
			{ bench: "sidebyside_parity", kernel: $kernel,
			  params: { full_size: $full, partial_writes: $pw, worked_ns: $worked,
				    threads: $threads,
				    backing: "loop devices on files in /dev/shm (tmpfs), kernel and userspace" },
			  rows: . }' "$rows.json"
	else
		print_table "$rows.json"
		echo
		echo "kernel rmw/recover: invocations of at least $WORKED_NS ns (the rest queued on" \
			"the stripe lock; --json has both)"
		jq -r '.[] | select(.who == "kernel") | "\(.profile) kernel: stripe reads full \(.full.stripe_reads), partial \(.partial.stripe_reads), degraded \(.degraded.stripe_reads); recover invocations \(.degraded.all_invocations.count), of which worked \(.degraded.count)"' \
			"$rows.json"
		jq -r '.[] | select(.who != "kernel") | "\(.profile) \(.who): stripe reads full \(.full.stripe_reads), partial \(.partial.stripe_reads) (cache hits \(.partial.stripe_cache_hits)), degraded \(.degraded.stripe_reads); recovers \(.degraded.count)"' \
			"$rows.json"
	fi
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	main "$@"
fi
