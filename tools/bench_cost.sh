#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Cost per I/O: fio 4 KiB random reads and writes (O_DIRECT and buffered)
# on btrfs over zram (bio-based) and over a loop device on tmpfs
# (request-based), untraced and under `bbscope hist`, `hist --prom` and
# `record`, with libbpf-tools' biolatency in the same rounds (on zram it
# traces nothing: the no-op control), interleaved, medians.  Per run:
#   - IOPS and its ratio to the untraced run of the same round;
#   - from kernel.bpf_stats_enabled (bpftool prog show --json), per BPF
#     program: runs per fio I/O and ns per run, and their total per I/O;
#   - workqueue_* runs per I/O that serve no btrfs bio: work items run minus
#     the btrfs end_io work items the tracer itself counted (hist --json's
#     endio_wq, modes hist and sample only);
#   - at a fixed rate (fio rate_iops), the CPU time per I/O the machine
#     spent in the kernel (/proc/stat system + irq + softirq: the syscalls,
#     the block layer, btrfs, its workers, the tracepoints and BPF programs)
#     plus the tracer's own user time (/proc/PID/stat utime: its drains),
#     minus the untraced run's of the same round (cpu_us_per_io_added).
#     User time elsewhere is left out: at a fixed rate fio waits for its next
#     I/O by spinning in user space (a 20,000 I/O/s psync run: usr 39%,
#     sys 3% of a core per job), which soaks up whatever the tracer adds.
#   - the same counted by task, at both rates (task_cpu_us_per_io[_added]):
#     fio's system time, every kworker's run time, irq + softirq, and the
#     tracer's own time; other processes of a shared machine drop out.
# The machine may be shared: bpf_stats ns per run is what to compare
# across changes; IOPS and CPU are noisy and reported with their runs.
# Env: ROUNDS (default 3), SECS per run (default 1), FULL=1 for every
# workload on both devices and the modes prom and record (default: a short
# subset, read_direct on both and fsync16k on loop, a few minutes),
# RATE (default 4000) I/Os per second for the CPU runs, SAMPLE (default 16)
# for the mode "sample" (hist --sample), JOBS fio jobs (default 2);
# PLAN ("zram:read_direct loop:fsync16k ...") and MODES ("none hist ...")
# to choose; BBSCOPE_B, a second bbscope build: mode hist_b, A/B in the
# same rounds (and sample_b, its --sample); mode events (not by default):
# every program returns at once (BBSCOPE_EVENTS_ONLY), the floor of the
# events and bpf_stats alone; KINDS ("max rate", default): "max" alone
# skips the fixed-rate CPU runs (bpf_stats only).
set -u
cd "$(dirname "$0")/.." || exit 1
B=${BBSCOPE:-$PWD/build/bbscope}
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-1}
FULL=${FULL:-0}
RATE=${RATE:-4000}
SAMPLE=${SAMPLE:-16}
JOBS=${JOBS:-2}
KINDS=${KINDS:-max rate}
[ "$(id -u)" = 0 ] || { echo "bbscope: bench_cost needs root" >&2; exit 1; }
. tools/reap.sh
reap_stale /tmp bbscope-bench-cost
reap_stale /dev/shm bbscope-bench-cost
BBSCOPE_STATE_DIR=$(run_dir /tmp bbscope-bench-cost) || exit 1
export BBSCOPE_STATE_DIR
BACK=$(run_dir /dev/shm bbscope-bench-cost) || { rm -rf "$BBSCOPE_STATE_DIR"; exit 1; }
WORK=$BBSCOPE_STATE_DIR
tracer= zdev= zmnt=
cleanup() {
	[ -n "$tracer" ] && kill -INT "$tracer" 2>/dev/null && wait "$tracer" 2>/dev/null
	[ -n "$zmnt" ] && umount "$zmnt" 2>/dev/null
	[ -n "$zdev" ] && echo "$zdev" >/sys/class/zram-control/hot_remove 2>/dev/null
	"$B" sandbox down >/dev/null 2>&1
	sysctl -qw kernel.bpf_stats_enabled=0 2>/dev/null
	rm -rf "$BACK" "$BBSCOPE_STATE_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Targets: name -> mount point, device name (for /sys/block/*/stat).
declare -A tmnt tdev
lmnt=$("$B" sandbox up --profile single --size 1G --backing-dir "$BACK" --mount-opts commit=300) ||
	{ echo "bbscope: bench: sandbox up failed" >&2; exit 1; }
tmnt[loop]=$lmnt
tdev[loop]=$(basename "$("$B" sandbox status --json | jq -r '.devices[0]')")
if [ -w /sys/class/zram-control/hot_add ] && zdev=$(cat /sys/class/zram-control/hot_add) &&
	echo 1G >"/sys/block/zram$zdev/disksize" && mkfs.btrfs -q -f "/dev/zram$zdev" >/dev/null &&
	zmnt=$WORK/zram && mkdir -p "$zmnt" && mount -o commit=300 "/dev/zram$zdev" "$zmnt"; then
	tmnt[zram]=$zmnt
	tdev[zram]=zram$zdev
else
	echo "bench_cost: no zram device (zram module?): loop device only" >&2
	zmnt=
fi
targets=$(for t in zram loop; do [ -n "${tmnt[$t]:-}" ] && echo $t; done)
for t in $targets; do
	fio --name=prep --filename="${tmnt[$t]}/bench" --size=256M --rw=write --bs=1M \
		--end_fsync=1 --output=/dev/null || exit 1
done
CLK_TCK=$(getconf CLK_TCK)

# Workloads: name -> fio arguments.
declare -A wl=(
	[read_direct]="--rw=randread --bs=4k --direct=1"
	[write_direct]="--rw=randwrite --bs=4k --direct=1"
	[read_buffered]="--rw=randread --bs=4k --direct=0 --invalidate=1 --fadvise_hint=0"
	[write_buffered]="--rw=randwrite --bs=4k --direct=0"
	[fsync16k]="--rw=randwrite --bs=16k --fsync=1"
)
if [ -n "${PLAN:-}" ]; then
	plan=$PLAN
elif [ "$FULL" = 1 ]; then
	plan=$(for t in $targets; do for w in read_direct write_direct read_buffered write_buffered fsync16k; do echo "$t:$w"; done; done)
else
	plan=$(for t in $targets; do echo "$t:read_direct"; done; echo "loop:fsync16k")
fi
modes="none hist"
[ "$FULL" = 1 ] && modes="$modes prom record"
"$B" hist --help 2>&1 | grep -q -- --sample && modes="$modes sample"
command -v biolatency >/dev/null && modes="$modes biolatency"
# A/B of two builds in the same rounds: BBSCOPE_B adds mode hist_b.
BB=${BBSCOPE_B:-}
[ -n "$BB" ] && modes="$modes hist_b"
modes=${MODES:-$modes}

# Clock ticks: the machine's kernel time, plus the tracer's user time (PID,
# empty untraced; its comm may hold blanks, so fields count from the ")").
busy() {  # [PID]
	local u=0
	[ -n "${1:-}" ] && u=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12}')
	awk -v u="${u:-0}" '/^cpu / {printf "%d\n", $4 + $7 + $8 + u}' /proc/stat
}
dev_ios() { awk '{print $1 + $5}' "/sys/block/$1/stat"; }
# The workload's own CPU, in ns, counted by task rather than machine-wide
# (other processes on a shared machine drop out): every kworker's run time
# (schedstat: the end_io and other btrfs work items), the machine's irq and
# softirq time, and the tracer's user + system time (PID, empty untraced).
# fio's system time is added per run (run_fio).
task_ns() {  # [PID]
	local kw irq tr=0
	kw=$(grep -l '^kworker' /proc/[0-9]*/comm 2>/dev/null | sed 's/comm$/schedstat/' |
		xargs cat 2>/dev/null | awk '{s += $1} END {printf "%d\n", s}')
	irq=$(awk -v hz="$CLK_TCK" '/^cpu / {printf "%d\n", ($7 + $8) * 1e9 / hz}' /proc/stat)
	[ -n "${1:-}" ] && tr=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null |
		awk -v hz="$CLK_TCK" '{printf "%d\n", ($12 + $13) * 1e9 / hz}')
	echo $((${kw:-0} + irq + ${tr:-0}))
}
# name run_cnt run_time_ns, one line per BPF program the tracer (pid) holds:
# other bbscope instances on the machine run the same programs.
prog_stats() {  # MODE PID
	local ids
	[ "$1" = none ] && return
	ids=$(grep -h '^prog_id:' /proc/"$2"/fdinfo/* 2>/dev/null | awk '{print $2}' | sort -un | paste -sd, -)
	[ -n "$ids" ] || return
	bpftool prog show --json 2>/dev/null | jq -r --argjson ids "[$ids]" \
		'.[] | select(.id as $i | $ids | index($i)) | "\(.name) \(.run_cnt // 0) \(.run_time_ns // 0)"' |
		awk '{c[$1] += $2; t[$1] += $3} END {for (n in c) print n, c[n], t[n]}' | sort
}

start_tracer() {  # MODE MNT
	local err=$WORK/tracer.err
	: >"$err"
	case $1 in
	hist) "$B" hist --fs "$2" --json >"$WORK/hist.json" 2>"$err" & ;;
	events) BBSCOPE_EVENTS_ONLY=1 "$B" hist --fs "$2" -s >/dev/null 2>"$err" & ;;
	hist_b) "$BB" hist --fs "$2" --json >"$WORK/hist.json" 2>"$err" & ;;
	sample) "$B" hist --fs "$2" --sample "$SAMPLE" --json >"$WORK/hist.json" 2>"$err" & ;;
	sample_b) "$BB" hist --fs "$2" --sample "$SAMPLE" --json >"$WORK/hist.json" 2>"$err" & ;;
	prom) "$B" hist --fs "$2" --prom 127.0.0.1:0 -s >/dev/null 2>"$err" & ;;
	record) "$B" record --fs "$2" -o "$WORK/rec.bbt" --force >/dev/null 2>"$err" & ;;
	biolatency) biolatency >/dev/null 2>"$err" & ;;
	esac
	tracer=$!
	for _ in $(seq 100); do
		case $1 in
		biolatency) bpftool prog show 2>/dev/null | grep -q 'block_rq_\|block_io' && break ;;
		*) grep -q '^bbscope: tracing\|recording' "$err" && break ;;
		esac
		sleep 0.1
	done
	sleep 0.2
}

stop_tracer() {
	kill -INT "$tracer" 2>/dev/null
	wait "$tracer" 2>/dev/null
	tracer=
}

# Prints the I/Os done and fio's system time in ns (its processes' rusage,
# from the shell's `times`: at a fixed rate fio spins in user space between
# I/Os, so its user time says nothing of the I/O's cost and is left out).
run_fio() {  # MNT WORKLOAD [RATE]
	local rate=() t ios
	[ -n "${3:-}" ] && rate=(--rate_iops="$3")
	# shellcheck disable=SC2086
	t=$( (fio --name=bench --filename="$1/bench" --size=256M ${wl[$2]} --ioengine=psync \
		--numjobs="$JOBS" --group_reporting --time_based --runtime="$SECS" "${rate[@]}" \
		--output-format=json --output="$WORK/fio.json" >/dev/null 2>&1
		times) | tail -1)
	ios=$(jq '.jobs[0] | .read.total_ios + .write.total_ios' "$WORK/fio.json" 2>/dev/null)
	# times: "0m1.234s 0m0.456s", the children's user and system time.
	echo "${ios:-0} $(awk '{split($2, a, /[ms]/); printf "%d\n", (a[1] * 60 + a[2]) * 1e9}' <<<"$t")"
}

sysctl -qw kernel.bpf_stats_enabled=1
results=$WORK/results.jsonl
: >"$results"
for r in $(seq "$ROUNDS"); do
	for tw in $plan; do
		t=${tw%%:*} w=${tw#*:}
		for kind in $KINDS; do
			[ "$kind" = rate ] && [ "$w" != read_direct ] && continue
			base_busy=
			base_ios=
			base_task=
			for m in $modes; do
				[ "$m" = none ] || start_tracer "$m" "${tmnt[$t]}"
				prog_stats "$m" "$tracer" >"$WORK/s0"
				b0=$(busy "$([ "$m" = none ] || echo "$tracer")")
				k0=$(task_ns "$([ "$m" = none ] || echo "$tracer")")
				d0=$(dev_ios "${tdev[$t]}")
				read -r ios fsys < <(run_fio "${tmnt[$t]}" "$w" "$([ "$kind" = rate ] && echo "$RATE")")
				b1=$(busy "$([ "$m" = none ] || echo "$tracer")")
				k1=$(task_ns "$([ "$m" = none ] || echo "$tracer")")
				d1=$(dev_ios "${tdev[$t]}")
				prog_stats "$m" "$tracer" >"$WORK/s1"
				[ "$m" = none ] || stop_tracer
				endio=0
				if [ "$m" = hist ] || [ "$m" = hist_b ] || [ "$m" = sample ] || [ "$m" = sample_b ]; then
					endio=$(jq '[.. | objects | .endio_wq? // empty | to_entries[] | .value] | add // 0' \
						"$WORK/hist.json" 2>/dev/null || echo 0)
				fi
				progs=$(join -a2 -e0 -o 2.1,1.2,1.3,2.2,2.3 "$WORK/s0" "$WORK/s1" |
					jq -Rn '[inputs | split(" ") | {name: .[0], runs: ((.[3]|tonumber) - (.[1]|tonumber)),
						ns: ((.[4]|tonumber) - (.[2]|tonumber))}]')
				cpu_us=$(awk -v b=$((b1 - b0)) -v n="${ios:-0}" -v hz="$CLK_TCK" \
					'BEGIN {printf "%.3f", (n > 0) ? b * 1e6 / hz / n : 0}')
				task_us=$(awk -v k=$((k1 - k0 + fsys)) -v n="${ios:-0}" \
					'BEGIN {printf "%.3f", (n > 0) ? k / 1e3 / n : 0}')
				[ "$m" = none ] && base_busy=$cpu_us base_ios=$ios base_task=$task_us
				jq -cn --arg t "$t" --arg w "$w" --arg k "$kind" --arg m "$m" --argjson r "$r" \
					--argjson ios "${ios:-0}" --argjson dios $((d1 - d0)) --argjson secs "$SECS" \
					--argjson progs "$progs" --argjson cpu "$cpu_us" --argjson bcpu "${base_busy:-0}" \
					--argjson bios "${base_ios:-0}" --argjson endio "${endio:-0}" \
					--argjson task "$task_us" --argjson btask "${base_task:-0}" \
					'{target: $t, workload: $w, kind: $k, mode: $m, round: $r, ios: $ios, device_ios: $dios,
					  iops: ($ios / $secs), ratio: (if $bios > 0 then $ios / $bios else null end),
					  cpu_us_per_io: $cpu, cpu_us_per_io_added: ($cpu - $bcpu),
					  task_cpu_us_per_io: $task, task_cpu_us_per_io_added: ($task - $btask),
					  btrfs_endio_work: $endio, progs: $progs}' >>"$results"
				echo "round $r $t $w $kind $m: $ios I/Os, cpu $cpu_us us/io, tasks $task_us us/io" >&2
			done
		done
	done
done

# Medians per target, workload, kind, mode; per program: runs/io, ns/run.
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
jq -s --arg cpu "$cpu_model" --argjson cores "$(nproc)" --arg kernel "$(uname -r)" \
	--argjson rounds "$ROUNDS" --argjson secs "$SECS" --argjson rate "$RATE" --argjson jobs "$JOBS" \
	--argjson sample "$SAMPLE" '
	def median: sort | if length == 0 then null elif length % 2 == 1 then .[length / 2 | floor]
		else (.[length / 2 - 1] + .[length / 2]) / 2 end;
	def r1: if . == null then null else (. * 10 | round) / 10 end;
	def r3: if . == null then null else (. * 1000 | round) / 1000 end;
	{benchmark: "bpf_cost_per_io",
	 workload: "fio psync \($jobs) jobs, 256 MiB file, btrfs single on zram and on a tmpfs-backed loop device",
	 machine: {cpu: $cpu, cores: $cores, kernel: $kernel},
	 rounds: $rounds, seconds_per_run: $secs, rate_iops: $rate, sample: $sample, interleaved: true,
	 note: "bpf_stats ns per run is robust to a shared machine; iops, ratio and cpu_us are noisy (runs listed)",
	 results: (group_by([.target, .workload, .kind, .mode]) | map(
		. as $g | ($g | map(.ios) | median) as $ios |
		{target: $g[0].target, workload: $g[0].workload, kind: $g[0].kind, mode: $g[0].mode,
		 iops_median: ($g | map(.iops) | median | r1), iops_runs: ($g | map(.iops)),
		 ratio_to_untraced: ($g | map(.ratio) | map(select(. != null)) | median | r3),
		 cpu_us_per_io: ($g | map(.cpu_us_per_io) | median | r3),
		 cpu_us_per_io_added: ($g | map(.cpu_us_per_io_added) | median | r3),
		 cpu_us_per_io_added_runs: ($g | map(.cpu_us_per_io_added | r3)),
		 task_cpu_us_per_io: ($g | map(.task_cpu_us_per_io) | median | r3),
		 task_cpu_us_per_io_added: ($g | map(.task_cpu_us_per_io_added) | median | r3),
		 task_cpu_us_per_io_added_runs: ($g | map(.task_cpu_us_per_io_added | r3)),
		 device_ios_per_io: ($g | map(if .ios > 0 then .device_ios / .ios else 0 end) | median | r3),
		 bpf_ns_per_io: ($g | map(if .ios > 0 then ([.progs[].ns] | add // 0) / .ios else 0 end) | median | r1),
		 bpf_runs_per_io: ($g | map(if .ios > 0 then ([.progs[].runs] | add // 0) / .ios else 0 end) | median | r3),
		 foreign_workqueue_runs_per_io: (if ($g[0].mode | test("^(hist|hist_b|sample|sample_b)$")) then
			($g | map(if .ios > 0 then (([.progs[] | select(.name | test("workqueue_execute_start")) | .runs] | add // 0)
				- .btrfs_endio_work) / .ios else 0 end) | median | r3) else null end),
		 progs: ([$g[].progs[].name] | unique | map(. as $n |
			{key: $n, value: {
			  runs_per_io: ($g | map(. as $x | if $x.ios > 0 then ([$x.progs[] | select(.name == $n) | .runs] | add // 0) / $x.ios else 0 end) | median | r3),
			  ns_per_run: ($g | map([.progs[] | select(.name == $n) | select(.runs > 0) | .ns / .runs] | add) | map(select(. != null)) | median | r1),
			  ns_per_io: ($g | map(. as $x | if $x.ios > 0 then ([$x.progs[] | select(.name == $n) | .ns] | add // 0) / $x.ios else 0 end) | median | r1)}}) | from_entries)}))}' "$results"
