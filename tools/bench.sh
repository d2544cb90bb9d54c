#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make bench: every benchmark, JSON results in build/bench/.  Not a test:
# nothing here passes or fails on a number; read the ratios.
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-build}
mkdir -p "$OUT/bench"
[ "$(id -u)" = 0 ] || { echo "bbscope: bench needs root (loop devices, mount, BPF)" >&2; exit 1; }
rc=0
run() {  # NAME CMD...
	local name=$1
	shift
	echo "== $name" >&2
	if "$@" >"$OUT/bench/$name.json.tmp"; then
		mv "$OUT/bench/$name.json.tmp" "$OUT/bench/$name.json"
		jq -C . "$OUT/bench/$name.json" 2>/dev/null | head -60
	else
		rm -f "$OUT/bench/$name.json.tmp"
		echo "bbscope: bench $name failed" >&2
		rc=1
	fi
}
[ -x "$OUT/tools/csum_perf" ] && run csum "$OUT/tools/csum_perf"
[ -x "$OUT/tools/parity_perf" ] && run parity "$OUT/tools/parity_perf"
run overhead tools/bench_overhead.sh
# BPF cost per I/O: 4 KiB reads/writes on zram and loop, bpf_stats per program
run cost tools/bench_cost.sh
run record tools/bench_record.sh
[ -x tools/bench_replay.sh ] && run replay tools/bench_replay.sh
[ -x tools/bench_parity.sh ] && run parity_replay tools/bench_parity.sh
# fentry against kprobe per traced call, in a Debian kernel guest (QEMU)
run func tools/bench_func.sh
echo "results in $OUT/bench/" >&2
exit $rc
