#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Data reads after dropping caches are seen, with their end_io phase (the
# checksum verification runs there), and the plain output names the phases.
# kernels: all
. "$(dirname "$0")/lib.sh"
need_root

sandbox_up --profile single --mount-opts commit=300
dd if=/dev/urandom of="$MNT/file" bs=1M count=4 conv=fsync status=none || fail "dd"
sync
echo 3 >/proc/sys/vm/drop_caches

tracer_start "$T_TMP/h.json" --fs "$MNT" --json
cat "$MNT/file" >/dev/null
sleep 0.5
tracer_stop
J="$T_TMP/h.json"

rd=$(jq '[.groups[] | select(.op=="read" and .kind=="data") | .bytes] | add // 0' "$J")
check "data read bytes ($rd) == file size" [ "$rd" -eq 4194304 ]
check "data reads have endio and hop" jq -e '
	[.groups[] | select(.dev != null and .op=="read" and .kind=="data") | .phases] | length > 0 and
	all(.endio.count > 0 and .hop.count > 0)' "$J"
# Read end_io is a work item on every generation (btrfs_end_bio_work,
# end_workqueue_fn before it, simple_end_io_work with the async csum series).
check "data read end_io in task context on a btrfs workqueue" jq -e '
	[.groups[] | select(.dev != null and .op=="read" and .kind=="data")] | length > 0 and
	all(.endio_ctx.task == .bios and (.endio_wq | keys | length > 0 and all(startswith("btrfs-"))))' "$J"
check "hop, endio and total of every data read bio" jq -e '
	[.groups[] | select(.dev != null and .op=="read" and .kind=="data")] |
	all(.phases.hop.count == .bios and .phases.endio.count == .bios and .phases.total.count == .bios)' "$J"
check "no data writes in a read-only workload" jq -e '
	[.groups[] | select(.op=="write" and .kind=="data" and .bios > 0)] | length == 0' "$J"

# The plain output, with an interval and a count.
echo 3 >/proc/sys/vm/drop_caches
"$BBSCOPE" hist --fs "$MNT" -i 1 -c 2 -s >"$T_TMP/plain" 2>"$T_TMP/plain.err" &
pid=$!
# Read once it traces (attach takes about half a second), inside the first interval.
for i in $(seq 100); do grep -q '^bbscope: tracing' "$T_TMP/plain.err" && break; sleep 0.05; done
cat "$MNT/file" >/dev/null
wait $pid || fail "hist -i 1 -c 2 exited non-zero"
check "two intervals printed" [ "$(grep -c '^--- ' "$T_TMP/plain")" -eq 2 ]
check "plain output has the phase table" grep -q 'endio' "$T_TMP/plain"
check "attach message on stderr" grep -q '^bbscope: tracing' "$T_TMP/plain.err"
exit 0
