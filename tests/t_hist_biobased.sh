#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A btrfs on a bio-based device (zram: no requests, no block_rq_* events).
# The tracer starts before the filesystem exists, so workqueue_queue_work
# (the only place such a bio's completion shows) must be attached on demand
# once BPF sees a bio-based device.  Then: every data byte is traced, device
# and hop phases are measured, queue is not (there is no request), and
# says so with its reason, bio_based.
# kernels: all
. "$(dirname "$0")/lib.sh"
need_root
CTL=/sys/class/zram-control
[ -w $CTL/hot_add ] || skip "no zram (CONFIG_ZRAM, /sys/class/zram-control)"

id=$(cat $CTL/hot_add) || skip "zram hot_add failed"
at_exit "echo $id > $CTL/hot_remove"
ZDEV=/dev/zram$id
echo 512M >/sys/block/zram$id/disksize || fail "zram disksize"

tracer_start "$T_TMP/h.json" --json -v
mkfs.btrfs -q -f "$ZDEV" >/dev/null || fail "mkfs.btrfs $ZDEV"
mkdir -p "$T_TMP/mnt"
mount "$ZDEV" "$T_TMP/mnt" || fail "mount $ZDEV"
at_exit "umount '$T_TMP/mnt'"
sleep 2 # the tracer's once-a-second tick attaches queue_work
dd if=/dev/urandom of="$T_TMP/mnt/file" bs=1M count=8 conv=fsync status=none || fail "dd"
sync
sleep 1
tracer_stop
J=$T_TMP/h.json
cat "$J.err"

check "queue_work was not attached at start (no bio-based btrfs yet)" \
	grep -q 'workqueue_queue_work .*attached when a bio-based device is seen' "$J.err"
G='[.groups[] | select(.dev == "zram'$id'" and .op=="write" and .kind=="data")]'
data_w=$(jq "$G | map(.bytes) | add // 0" "$J")
check "zram data write bytes ($data_w) == file size" [ "$data_w" -eq 8388608 ]
check "no queue phase without requests" jq -e "$G | all(.phases.queue.observable == false)" "$J"
if kernel_write_endio_work; then
	check "device and hop measured for every data write (queue_work attached on demand)" \
		jq -e "$G | length > 0 and all(.phases.device.count == .bios and .phases.hop.count == .bios)" "$J"
	check "queue not observable, with its reason: a bio-based device (issue 22)" \
		jq -e "$G | map(select(.phases.device.count > 0)) | length > 0 and
			all(.phases.queue.reason == \"bio_based\")" "$J"
	check "end_io in task context on a btrfs workqueue" jq -e "$G |
		all(.endio_ctx.task == .bios) and all(.endio_wq | keys | all(startswith(\"btrfs-\")))" "$J"
else
	# zram completes a write inside its submission, and btrfs ends it
	# there: nothing to see between queue and end_io.
	check "data writes counted, with no latency: end_io inline on a bio-based device" \
		jq -e "$G | length > 0 and all(.phases.device.observable == false and
			.phases.hop.reason == \"endio_inline\")" "$J"
fi
check "nothing lost ($(jq -c .lost_detail "$J"))" [ "$(jq .lost "$J")" -eq 0 ]
exit 0
