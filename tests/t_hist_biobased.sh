#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A btrfs on a bio-based device (zram: no requests, no block_rq_* events).
# bio_endio's block_bio_complete is such a bio's completion; on zram it
# comes inside the bio's own submission.  workqueue_queue_work, which fires
# for every work item on the system, is a fallback for kernels without it,
# so it is not attached.  Then: every data byte is traced, device and total
# are measured for every write (superblocks too), queue is not (there is
# no request: its reason says bio_based), and hop only where btrfs ends
# writes in a work item.
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
sleep 2 # a tick: the tracer would attach queue_work now, were it needed
dd if=/dev/urandom of="$T_TMP/mnt/file" bs=1M count=8 conv=fsync status=none || fail "dd"
sync
sleep 1
tracer_stop
J=$T_TMP/h.json
cat "$J.err"

check "queue_work not attached: block_bio_complete shows bio-based completions" \
	grep -q 'workqueue_queue_work .*not needed: block_bio_complete shows bio-based completions' "$J.err"
G='[.groups[] | select(.dev == "zram'$id'" and .op=="write" and .kind=="data")]'
data_w=$(jq "$G | map(.bytes) | add // 0" "$J")
check_traced "zram data write bytes, the file size" "$data_w" 8388608 "$J"
check "no queue phase without requests" jq -e "$G | all(.phases.queue.observable == false)" "$J"
check "queue not observable, with its reason: a bio-based device" \
	jq -e "$G | length > 0 and all(.phases.queue.reason == \"bio_based\")" "$J"
S='[.groups[] | select(.dev == "zram'$id'" and .op=="write" and .kind=="super")]'
check "device and total measured for every data and superblock write" \
	jq -e "[$G, $S] | all(length > 0 and all(.phases.device.count == .bios and
		.phases.total.count == .bios))" "$J"
if kernel_write_endio_work; then
	# A bio whose end_io work start the kernel skipped is counted at the
	# work's end, with no hop (bpf/handlers.bpf.h, endio_missed).
	check "hop measured for every data write (less those of skipped runs: $(jq .skipped_runs "$J"))" \
		jq -e "$G | all(.phases.hop.count == .bios or
			(.phases.hop.count < .bios and $(jq .skipped_runs "$J") > 0))" "$J"
	check "end_io in task context on a btrfs workqueue" jq -e "$G |
		all(.endio_ctx.task == .bios) and all(.endio_wq | keys | all(startswith(\"btrfs-\")))" "$J"
else
	# zram completes a write inside its submission, and btrfs ends it
	# there, in the submitting task: no hop, no endio to time.
	check "data write end_io inline, in the submitting task: no hop" jq -e "$G |
		all(.endio_ctx.task == .bios and .phases.hop.reason == \"endio_inline\")" "$J"
fi
check "nothing lost ($(jq -c .lost_detail "$J"))" [ "$(jq .lost "$J")" -eq 0 ]
exit 0
