#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# hist on a single-device btrfs: data write bytes equal the file size,
# metadata is counted apart, the device's own counters agree with what was
# traced, data write end_io runs where this kernel runs it (a btrfs
# workqueue with the async csum series, else inline at completion, when hop
# and endio are reported not observable), percentiles are ordered, and the
# tracer leaves no BPF link behind.
# kernels: all
. "$(dirname "$0")/lib.sh"
need_root

sandbox_up --profile single --size 1G --mount-opts commit=300
DEV=$(jq -r '.devices[0]' "$SB_JSON")
NAME=$(basename "$DEV")
sync

links_before=$(bpftool link list 2>/dev/null | grep -c 'prog' || true)
sectors() { awk '{print $7}' "/sys/block/$NAME/stat"; }  # sectors written
w0=$(sectors)

tracer_start "$T_TMP/h.json" --fs "$MNT" --json
dd if=/dev/urandom of="$MNT/file" bs=1M count=8 conv=fsync status=none || fail "dd"
sync
sleep 1
w1=$(sectors)
tracer_stop
J="$T_TMP/h.json"
cat "$J.err"

check "one JSON object at the end" [ "$(wc -l <"$J")" -eq 1 ]
check "interval_s and lost keys" jq -e 'has("interval_s") and has("lost") and has("groups") and has("raid56")' "$J"

data_w=$(jq '[.groups[] | select(.op=="write" and .kind=="data") | .bytes] | add // 0' "$J")
check "data write bytes ($data_w) == file size (8388608)" [ "$data_w" -eq 8388608 ]

meta_w=$(jq '[.groups[] | select(.op=="write" and .kind=="metadata") | .bios] | add // 0' "$J")
check "metadata writes counted apart ($meta_w bios)" [ "$meta_w" -gt 0 ]

dev_w=$(jq --arg d "$NAME" '[.groups[] | select(.op=="write" and .dev==$d) | .bytes] | add // 0' "$J")
stat_w=$(( (w1 - w0) * 512 ))
check "device stat bytes written ($stat_w) == traced ($dev_w)" [ "$stat_w" -eq "$dev_w" ]

if kernel_write_endio_work; then
	check "data write end_io in task context only" jq -e '
		[.groups[] | select(.dev != null and .op=="write" and .kind=="data")] | length > 0 and
		all(.endio_ctx.task == .bios and .endio_ctx.hardirq == 0 and .endio_ctx.softirq == 0)' "$J"
	check "end_io ran on a btrfs workqueue" jq -e '
		[.groups[] | select(.kind=="data") | .endio_wq | keys[]] | length > 0 and
		all(startswith("btrfs-"))' "$J"
	check "every device phase observed for data writes" jq -e '
		[.groups[] | select(.dev != null and .op=="write" and .kind=="data") | .phases] | length > 0 and
		all(.queue.count > 0 and .device.count > 0 and .hop.count > 0 and .endio.count > 0 and .total.count > 0)' "$J"
else
	check "data write end_io inline, in its completion's context" jq -e '
		[.groups[] | select(.dev != null and .op=="write" and .kind=="data")] | length > 0 and
		all(.endio_ctx == .complete_ctx and (.endio_wq | length) == 0)' "$J"
	check "hop and endio of data writes not observable: end_io inline" jq -e '
		[.groups[] | select(.dev != null and .op=="write" and .kind=="data") | .phases] | length > 0 and
		all(.queue.count > 0 and .device.count > 0 and .total.count > 0 and
		    .hop.reason == "endio_inline" and .endio.reason == "endio_inline")' "$J"
fi
check "p50 <= p90 <= p99 <= max, mean <= max, buckets sum to count" jq -e '
	[.groups[].phases[] | select(.count)] | length > 0 and
	all(.p50_ns <= .p90_ns and .p90_ns <= .p99_ns and .p99_ns <= .max_ns and .mean_ns <= .max_ns
	    and ([.buckets[][2]] | add) == .count)' "$J"
check "total >= device for every data group" jq -e '
	[.groups[] | select(.dev != null and .kind=="data") | .phases] | all(.total.max_ns >= .device.max_ns)' "$J"
check "csum not observable with crc32c (inline checksums)" jq -e '
	[.groups[] | select(.dev==null) | .phases.csum.observable] | all(. == false)' "$J"
if kernel_btrfs_btf; then
	check "ordered extents observed" jq -e '
		[.groups[] | select(.dev==null and .op=="write") | .phases.ordered.count] | add > 0' "$J"
else
	check "no ordered extent samples without btrfs BTF, and the reason where shown" jq -e '
		[.groups[] | select(.dev==null and .op=="write") | .phases.ordered] |
		all(.observable == false and .reason == "no_btrfs_btf")' "$J"
fi
check "nothing lost" [ "$(jq .lost "$J")" -eq 0 ]

links_after=$(bpftool link list 2>/dev/null | grep -c 'prog' || true)
check "no BPF link left behind ($links_before -> $links_after)" [ "$links_after" -eq "$links_before" ]
exit 0
