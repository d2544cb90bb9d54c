#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make demo: a throwaway btrfs, a workload, live tracing, teardown.
set -u
cd "$(dirname "$0")/.." || exit 1
B=${BBSCOPE:-$PWD/build/bbscope}
export BBSCOPE_STATE_DIR=${BBSCOPE_STATE_DIR:-/run/bbscope-demo}
[ "$(id -u)" = 0 ] || { echo "bbscope: the demo needs root (loop devices, mount, BPF)" >&2; exit 1; }

tracer=
cleanup() {
	[ -n "$tracer" ] && kill -INT "$tracer" 2>/dev/null && wait "$tracer" 2>/dev/null
	"$B" sandbox down >/dev/null 2>&1
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== bringing up a sandbox btrfs (raid1 on 2 loop devices, sha256 checksums)"
mnt=$("$B" sandbox up --profile raid1 --devices 2 --csum sha256) || exit 1
echo "   mounted at $mnt"

echo "== tracing btrfs bios on $mnt while fio writes and reads"
"$B" hist --fs "$mnt" >"$BBSCOPE_STATE_DIR/demo.hist" 2>"$BBSCOPE_STATE_DIR/demo.err" &
tracer=$!
for i in $(seq 100); do grep -q '^bbscope: tracing' "$BBSCOPE_STATE_DIR/demo.err" && break; sleep 0.1; done
if command -v fio >/dev/null; then
	fio --name=demo-write --directory="$mnt" --rw=randwrite --bs=16k --size=64M \
	    --ioengine=psync --end_fsync=1 --group_reporting --output-format=terse >/dev/null
	sync
	echo 3 >/proc/sys/vm/drop_caches
	fio --name=demo-write --directory="$mnt" --rw=read --bs=128k --size=64M \
	    --ioengine=psync --group_reporting --output-format=terse >/dev/null
else
	dd if=/dev/urandom of="$mnt/demo" bs=1M count=64 conv=fsync status=none
	echo 3 >/proc/sys/vm/drop_caches
	cat "$mnt/demo" >/dev/null
fi
sleep 1
kill -INT "$tracer"
wait "$tracer"
tracer=
cat "$BBSCOPE_STATE_DIR/demo.hist"
echo "== tearing down"
