#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo: btrfs's write path in the kernel beside its userspace
# reproductions, on this machine, in a few minutes.
#
# 'bbscope bench' brings up a throwaway sandbox btrfs on tmpfs-backed loop
# devices, records a buffered write workload on it (every bio, traced),
# replays the recorded writes in userspace through btrfs's checksum
# pipelines (none, serial, async, offload), measures the model's memory,
# checksum and device bandwidths, prints the side-by-side table with the
# async_csum model's prediction beside the measurement, writes the charts to
# one HTML page, and tears everything down (also on failure and Ctrl-C).
#
# Env: CSUM (sha256: slow enough that btrfs checksums on a worker, where the
# tracer sees it), SIZE (1G), ROUNDS (3), PROFILE (single), HTML (where the
# page goes, default $OUT/bbscope-demo.html), BBSCOPE (the binary).
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-build}
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
B=${BBSCOPE:-$OUT/bbscope}
CSUM=${CSUM:-sha256}
SIZE=${SIZE:-1G}
ROUNDS=${ROUNDS:-3}
PROFILE=${PROFILE:-single}
HTML=${HTML:-$OUT/bbscope-demo.html}

[ "$(id -u)" = 0 ] || { echo "bbscope: the demo needs root (loop devices, mount, BPF)" >&2; exit 1; }
[ -x "$B" ] || { echo "bbscope: $B missing: run 'make' first" >&2; exit 1; }

echo "== bbscope bench: a $PROFILE $CSUM sandbox btrfs on tmpfs, $SIZE of writes, $ROUNDS rounds"
echo "   (kernel: recorded with 'bbscope record'; userspace: 'bbscope replay csum' of the"
echo "    same writes; progress on stderr; about half a minute a round on 2 cores)"
echo
"$B" bench --profile "$PROFILE" --csum "$CSUM" --size "$SIZE" --rounds "$ROUNDS" --html "$HTML" --force
rc=$?
echo
if [ $rc -ne 0 ]; then
	echo "== bench failed (exit $rc); everything it made was torn down"
	exit $rc
fi
echo "== the charts (throughput, latency, model beside measurement, per-phase histograms,"
echo "   latency-over-time heatmap) are in one self-contained page:"
echo "   $HTML"
echo "== torn down: no sandbox, loop device or mount is left"
