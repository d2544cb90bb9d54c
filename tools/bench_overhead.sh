#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Tracing overhead: fio 4 KiB random writes with fsync on a sandbox btrfs
# whose backing files live in tmpfs, run untraced, under `bbscope hist` and
# under bcc's libbpf-tools biolatency, interleaved A/B/C for several rounds.
# Reports, as medians:
#   - IOPS and its ratio to untraced (the cost the workload feels);
#   - BPF run time per write and per traced I/O (kernel.bpf_stats_enabled
#     run_time_ns; it adds two clock reads to every event, which weighs on
#     a tracer that handles more events);
#   - CPU time the whole machine was busy per write, and what tracing added
#     to it (paired with the untraced run of the same round; /proc/stat).
# Mode "events" is bbscope with every program returning at once
# (BBSCOPE_EVENTS_ONLY): what attaching to its tracepoints costs by itself,
# the floor under any tracer that follows bios through the same events.
# Output: JSON on stdout.  Env: ROUNDS (default 5), SECS per run (default 5).
set -u
cd "$(dirname "$0")/.." || exit 1
B=${BBSCOPE:-$PWD/build/bbscope}
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-5}
[ "$(id -u)" = 0 ] || { echo "bbscope: bench_overhead needs root" >&2; exit 1; }
. tools/reap.sh
reap_stale /tmp bbscope-bench-overhead # what a run killed with SIGKILL left
reap_stale /dev/shm bbscope-bench-overhead
BBSCOPE_STATE_DIR=$(run_dir /tmp bbscope-bench-overhead) || exit 1
export BBSCOPE_STATE_DIR
BACK=$(run_dir /dev/shm bbscope-bench-overhead) || { rm -rf "$BBSCOPE_STATE_DIR"; exit 1; }
tracer=
cleanup() {
	[ -n "$tracer" ] && kill -INT "$tracer" 2>/dev/null && wait "$tracer" 2>/dev/null
	"$B" sandbox down >/dev/null 2>&1
	sysctl -qw kernel.bpf_stats_enabled=0 2>/dev/null
	rm -rf "$BACK" "$BBSCOPE_STATE_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mnt=$("$B" sandbox up --profile single --size 2G --backing-dir "$BACK" --mount-opts commit=300) ||
	{ echo "bbscope: bench: sandbox up failed" >&2; exit 1; }
fio --name=prep --filename="$mnt/bench" --size=256M --rw=write --bs=1M --end_fsync=1 \
	--output=/dev/null || exit 1
DEVNAME=$(basename "$(BBSCOPE_STATE_DIR=$BBSCOPE_STATE_DIR "$B" sandbox status --json | jq -r '.devices[0]')")
CLK_TCK=$(getconf CLK_TCK)

# Jiffies the machine was busy (user nice system irq softirq steal).
busy() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# I/Os the device completed (reads + writes).
dev_ios() { awk '{print $1 + $5}' "/sys/block/$DEVNAME/stat"; }

run_fio() {
	fio --name=bench --filename="$mnt/bench" --size=256M --rw=randwrite --bs=4k \
		--ioengine=psync --fsync=1 --time_based --runtime="$SECS" \
		--output-format=json 2>/dev/null | jq '.jobs[0].write.iops'
}

# Sum FIELD (run_time_ns, run_cnt) over BPF programs whose name matches, from bpftool.
bpf_stat() {  # FIELD REGEX
	[ "$2" = '^$' ] && { echo 0; return; }
	bpftool prog show --json 2>/dev/null | jq --arg f "$1" --arg re "$2" \
		'[.[] | select(.name != null and (.name | test($re))) | .[$f] // 0] | add // 0'
}

start_tracer() {  # MODE
	local err=$BBSCOPE_STATE_DIR/tracer.err
	: >"$err"
	case $1 in
	bbscope) "$B" hist --fs "$mnt" -s >/dev/null 2>"$err" & ;;
	events) BBSCOPE_EVENTS_ONLY=1 "$B" hist --fs "$mnt" -s >/dev/null 2>"$err" & ;;
	biolatency) biolatency >/dev/null 2>"$err" & ;;
	esac
	tracer=$!
	for i in $(seq 100); do
		case $1 in
		bbscope | events) grep -q '^bbscope: tracing' "$err" && break ;;
		biolatency) bpftool prog show 2>/dev/null | grep -q 'block_rq_\|tp_btf' && break ;;
		esac
		sleep 0.1
	done
	sleep 0.3
}

stop_tracer() {
	kill -INT "$tracer" 2>/dev/null
	wait "$tracer" 2>/dev/null
	tracer=
}

sysctl -qw kernel.bpf_stats_enabled=1
declare -A iops cpu_ns busy_us added_us ios_per_write events
# Which BPF programs belong to each tracer (by name), for their run time.
declare -A prog_re=([none]='^$' [bbscope]='^(btf|raw)_' [events]='^(btf|raw)_'
	[biolatency]='block_rq|handle_block')
modes="none events bbscope biolatency"
command -v biolatency >/dev/null || modes="none events bbscope"
for r in $(seq "$ROUNDS"); do
	for m in $modes; do
		[ "$m" = none ] || start_tracer "$m"
		re=${prog_re[$m]}
		rt0=$(bpf_stat run_time_ns "$re")
		rc0=$(bpf_stat run_cnt "$re")
		b0=$(busy)
		d0=$(dev_ios)
		v=$(run_fio)
		b1=$(busy)
		d1=$(dev_ios)
		rt1=$(bpf_stat run_time_ns "$re")
		rc1=$(bpf_stat run_cnt "$re")
		[ "$m" = none ] || stop_tracer
		writes=$(awk -v v="$v" -v s="$SECS" 'BEGIN {print v * s}')
		bu=$(awk -v b=$((b1 - b0)) -v w="$writes" -v hz="$CLK_TCK" 'BEGIN {printf "%.2f", b * 1e6 / hz / w}')
		[ "$m" = none ] && base_busy=$bu
		iops[$m]="${iops[$m]:-} $v"
		cpu_ns[$m]="${cpu_ns[$m]:-} $((rt1 - rt0))"
		busy_us[$m]="${busy_us[$m]:-} $bu"
		added_us[$m]="${added_us[$m]:-} $(awk -v a="$bu" -v b="$base_busy" 'BEGIN {printf "%.2f", a - b}')"
		events[$m]="${events[$m]:-} $(awk -v n=$((rc1 - rc0)) -v w="$writes" 'BEGIN {printf "%.1f", n / w}')"
		ios_per_write[$m]="${ios_per_write[$m]:-} $(awk -v d=$((d1 - d0)) -v w="$writes" 'BEGIN {printf "%.3f", d / w}')"
		echo "round $r $m: $v IOPS, busy $bu us/write" >&2
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
json_list() { tr ' ' '\n' | grep -v '^$' | paste -sd, | sed 's/^/[/; s/$/]/'; }

out="{}"
base=$(echo "${iops[none]}" | median)
for m in $modes; do
	med=$(echo "${iops[$m]}" | median)
	cpu=$(echo "${cpu_ns[$m]}" | median)
	ratio=$(awk -v a="$med" -v b="$base" 'BEGIN {printf "%.4f", a / b}')
	# BPF time per fio write (each write brings its fsync's metadata and flush along)
	per=$(awk -v c="$cpu" -v i="$med" -v s="$SECS" 'BEGIN {printf "%.1f", (i > 0) ? c / (i * s) : 0}')
	ipw=$(echo "${ios_per_write[$m]}" | median)
	per_io=$(awk -v p="$per" -v n="$ipw" 'BEGIN {printf "%.1f", (n > 0) ? p / n : 0}')
	out=$(jq -c --arg m "$m" --argjson med "$med" --argjson runs "$(echo "${iops[$m]}" | json_list)" \
		--argjson ratio "$ratio" --argjson cpu "$per" --argjson per_io "$per_io" \
		--argjson ipw "$ipw" --argjson ev "$(echo "${events[$m]}" | median)" --argjson busy "$(echo "${busy_us[$m]}" | median)" \
		--argjson added "$(echo "${added_us[$m]}" | median)" \
		--argjson added_runs "$(echo "${added_us[$m]}" | json_list)" \
		'.[$m] = {iops_median: $med, iops_runs: $runs, ratio_to_untraced: $ratio,
			  bpf_ns_per_write: $cpu, bpf_events_per_write: $ev, device_ios_per_write: $ipw, bpf_ns_per_device_io: $per_io,
			  busy_us_per_write: $busy, busy_us_per_write_added: $added,
			  busy_us_per_write_added_runs: $added_runs}' <<<"$out")
done
cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
jq -n --argjson modes "$out" --arg cpu "$cpu_model" --argjson cores "$(nproc)" \
	--argjson rounds "$ROUNDS" --argjson secs "$SECS" --arg kernel "$(uname -r)" '{
	benchmark: "tracing_overhead",
	workload: "fio randwrite 4k psync fsync=1, btrfs single on a tmpfs-backed loop device",
	machine: {cpu: $cpu, cores: $cores, kernel: $kernel},
	rounds: $rounds, seconds_per_run: $secs, interleaved: true,
	modes: $modes
}'
