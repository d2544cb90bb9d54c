#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# What a function phase costs per call, fentry/fexit against
# kprobe/kretprobe, from the kernel's own BPF run-time statistics
# (kernel.bpf_stats_enabled): the same workload traced with
# `hist --func csum` in each mode, ROUNDS times, interleaved.  This machine
# refuses both, so it runs in a Debian kernel's guest (tools/vm/vm.sh,
# KERNEL, default 6.12).  Under TCG a guest's absolute times are not the
# host's: read the ratio and the call counts.  JSON on stdout.
#
#   KERNEL=6.12 ROUNDS=3 SIZE=16 tools/bench_func.sh
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-build}
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
KERNEL=${KERNEL:-6.12}
ROUNDS=${ROUNDS:-3}
SIZE=${SIZE:-16} # MiB written with fsync, then read back cold

if [ "${1:-}" != --inside ]; then
	exec tools/vm/vm.sh run "$KERNEL" -t 1500 -- env ROUNDS="$ROUNDS" SIZE="$SIZE" \
		tools/bench_func.sh --inside
fi

# The guest's stderr reaches our stdout: keep it out of the JSON.
exec 2>>"$OUT/bench_func.log"
B=$OUT/bbscope
T=$(mktemp -d)
trap 'umount "$T/mnt" 2>/dev/null; [ -n "${LO:-}" ] && losetup -d "$LO"; rm -rf "$T"' EXIT
sysctl -qw kernel.bpf_stats_enabled=1
truncate -s 1G "$T/img"
LO=$(losetup -f --show "$T/img")
mkfs.btrfs -q -f "$LO" >/dev/null 2>&1
mkdir "$T/mnt"
mount "$LO" "$T/mnt"

# One round in one mode: the function slots' run counts and run times.
round() {  # MODE
	local err=$T/err pid
	BBSCOPE_FUNC_ATTACH=$1 "$B" hist --fs "$T/mnt" --func csum --json >"$T/h.json" 2>"$err" &
	pid=$!
	for ((i = 0; i < 600; i++)); do grep -q '^bbscope: tracing' "$err" && break; sleep 0.1; done
	dd if=/dev/urandom of="$T/mnt/f" bs=1M count="$SIZE" conv=fsync status=none
	echo 3 >/proc/sys/vm/drop_caches
	cat "$T/mnt/f" >/dev/null
	bpftool prog show --json >"$T/progs.json"
	kill -INT $pid
	wait $pid
	jq --arg mode "$1" --slurpfile h "$T/h.json" '
		[.[] | select(.name | test("^(fentry|fexit|kprobe|kretprobe)_[0-9]+$"))] as $p |
		($p | map(select(.name | test("^(fentry|kprobe)_"))) | map(.run_cnt // 0) | add // 0) as $calls |
		($p | map(.run_time_ns // 0) | add // 0) as $ns |
		{mode: $mode, calls: $calls, bpf_ns: $ns,
		 ns_per_call: (if $calls > 0 then $ns / $calls else null end),
		 funcs_calls: ($h[0].funcs | map({(.phase): .calls}) | add)}' "$T/progs.json"
	rm -f "$T/mnt/f"
	sync
}

for ((r = 0; r < ROUNDS; r++)); do
	for mode in fentry kprobe; do round $mode; done
done | jq -s --arg kernel "$(uname -r)" --arg cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)" '
	def median: sort | if length == 0 then null else .[length / 2 | floor] end;
	{kernel: $kernel, machine: {cpu: $cpu, cpus: '"$(nproc)"',
	 note: "QEMU TCG guest: absolute times are the emulator'\''s. bpf_stats time the BPF programs only, not what the kprobe or the fentry trampoline adds around them"},
	 rounds: .,
	 fentry_ns_per_call: ([.[] | select(.mode == "fentry") | .ns_per_call] | median),
	 kprobe_ns_per_call: ([.[] | select(.mode == "kprobe") | .ns_per_call] | median)} |
	.kprobe_over_fentry = (if .fentry_ns_per_call then .kprobe_ns_per_call / .fentry_ns_per_call else null end)'
