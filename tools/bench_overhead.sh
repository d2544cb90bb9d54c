#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Tracing overhead: fio 4 KiB random writes with fsync on a sandbox btrfs
# whose backing files live in tmpfs, run untraced, under `bbscope hist` and
# under bcc's libbpf-tools biolatency, interleaved A/B/C for several rounds.
# Reports median IOPS, the ratios to untraced, and the BPF CPU time per
# traced bio (kernel.bpf_stats_enabled run_time_ns / bios).
# Output: JSON on stdout.  Env: ROUNDS (default 5), SECS per run (default 5).
set -u
cd "$(dirname "$0")/.." || exit 1
B=${BBSCOPE:-$PWD/build/bbscope}
ROUNDS=${ROUNDS:-5}
SECS=${SECS:-5}
export BBSCOPE_STATE_DIR=$(mktemp -d /tmp/bbscope-bench.XXXXXX)
BACK=/dev/shm/bbscope-bench.$$
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

run_fio() {
	fio --name=bench --filename="$mnt/bench" --size=256M --rw=randwrite --bs=4k \
		--ioengine=psync --fsync=1 --time_based --runtime="$SECS" \
		--output-format=json 2>/dev/null | jq '.jobs[0].write.iops'
}

# Sum run_time_ns over BPF programs whose name matches, from bpftool.
bpf_runtime() {
	[ "$1" = '^$' ] && { echo 0; return; }
	bpftool prog show --json 2>/dev/null | jq --arg re "$1" \
		'[.[] | select(.name != null and (.name | test($re))) | .run_time_ns // 0] | add // 0'
}

start_tracer() {  # MODE
	local err=$BBSCOPE_STATE_DIR/tracer.err
	: >"$err"
	case $1 in
	bbscope) "$B" hist --fs "$mnt" -s >/dev/null 2>"$err" & ;;
	biolatency) biolatency >/dev/null 2>"$err" & ;;
	esac
	tracer=$!
	for i in $(seq 100); do
		case $1 in
		bbscope) grep -q '^bbscope: tracing' "$err" && break ;;
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
declare -A iops cpu_ns
# Which BPF programs belong to each tracer (by name), for their run time.
declare -A prog_re=([none]='^$' [bbscope]='^(btf|raw)_' [biolatency]='block_rq|handle_block')
modes="none bbscope biolatency"
command -v biolatency >/dev/null || modes="none bbscope"
for r in $(seq "$ROUNDS"); do
	for m in $modes; do
		[ "$m" = none ] || start_tracer "$m"
		re=${prog_re[$m]}
		rt0=$(bpf_runtime "$re")
		v=$(run_fio)
		rt1=$(bpf_runtime "$re")
		[ "$m" = none ] || stop_tracer
		iops[$m]="${iops[$m]:-} $v"
		cpu_ns[$m]="${cpu_ns[$m]:-} $((rt1 - rt0))"
		echo "round $r $m: $v IOPS" >&2
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
	out=$(jq -c --arg m "$m" --argjson med "$med" --argjson runs "$(echo "${iops[$m]}" | json_list)" \
		--argjson ratio "$ratio" --argjson cpu "$per" \
		'.[$m] = {iops_median: $med, iops_runs: $runs, ratio_to_untraced: $ratio, bpf_ns_per_write: $cpu}' <<<"$out")
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
