#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# btrfs on stacked bio-based devices: dm-crypt and dm-linear (LVM's target)
# over a loop device.  Before the btrfs_bio::async_csum series btrfs ends a
# write inline, at the completion of its bio; on device-mapper that is
# dm's completion of the original bio, once all its clones are done below
# (dec_pending, __dm_io_complete), and block_bio_complete shows it.  So
# every data, metadata and superblock write has device and total phases,
# its bytes are what the dm device itself counted, and its end_io context
# is where bpftrace's kernel stacks of btrfs's write end_io functions ran.
# kernels: all
. "$(dirname "$0")/lib.sh"
need_root
modprobe -q dm_crypt 2>/dev/null
grep -qw device-mapper /proc/misc || skip "this kernel has no device-mapper (CONFIG_BLK_DEV_DM)"
command -v dmsetup >/dev/null || skip "no dmsetup (Debian package dmsetup)"
dmsetup targets | grep -q '^crypt ' || skip "this kernel has no dm-crypt target (CONFIG_DM_CRYPT)"

# The functions each generation's write end_io ends in (data, metadata).
WFN="end_bbio_data_write end_bio_extent_writepage"
MFN="end_bbio_meta_write end_bio_extent_buffer_writepage"
STACKS=$T_TMP/stacks
probes=""
for f in $WFN; do ksym "$f" && probes="$probes kprobe:$f { @w[kstack] = count(); }"; done
for f in $MFN; do ksym "$f" && probes="$probes kprobe:$f { @m[kstack] = count(); }"; done
witness=0
if [ -n "$probes" ] && command -v bpftrace >/dev/null && [ -e /sys/bus/event_source/devices/kprobe ]; then
	# Started first: it takes a while to attach in a guest, meanwhile the devices are made.
	bpftrace_start "$probes" "$STACKS"
	witness=1
else
	echo "note: no kprobes here (or no bpftrace): no kernel-stack witness"
fi

# dm_btrfs KIND TABLE-TARGET: a btrfs on a dm device of that target over a
# loop device of its own, mounted on $T_TMP/KIND.  Sets DM_KNAME.
dm_btrfs() {
	local img=$T_TMP/$1.img loop sz
	truncate -s 256M "$img"
	loop=$(losetup -f --show "$img") || fail "losetup"
	at_exit "losetup -d $loop"
	sz=$(blockdev --getsz "$loop")
	dm_up "bbscope-test-$$-$1" "0 $sz ${2/LOOP/$loop}"
	mkfs.btrfs -q -f "$DM_DEV" >/dev/null || fail "mkfs.btrfs on $1"
	mkdir -p "$T_TMP/$1"
	mount -o commit=300 "$DM_DEV" "$T_TMP/$1" || fail "mount $DM_DEV"
	at_exit "umount '$T_TMP/$1'"
}
KEY=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
dm_btrfs crypt "crypt aes-xts-plain64 $KEY 0 LOOP 0"
CRYPT=$DM_KNAME
dm_btrfs linear "linear LOOP 0"
LINEAR=$DM_KNAME

# Sectors written, as the dm device counts them (/sys/block/dm-N/stat, field 7).
written() { awk '{ print $7 }' "/sys/block/$1/stat"; }
sync
c0=$(written "$CRYPT") l0=$(written "$LINEAR")
tracer_start "$T_TMP/h.json" --json
if [ $witness = 1 ]; then
	bpftrace_attached 120
fi
for d in crypt linear; do
	dd if=/dev/urandom of="$T_TMP/$d/file" bs=1M count=4 conv=fsync status=none || fail "dd on $d"
done
sync
sleep 1
tracer_stop
c1=$(written "$CRYPT") l1=$(written "$LINEAR")
J=$T_TMP/h.json

jq -c '.groups[] | select(.dev != null) | {dev, op, kind, bios, bytes,
	device: .phases.device.count, total: .phases.total.count, endio_ctx}' "$J"
ctx=$(kernel_write_endio_ctx)
for d in "crypt $CRYPT $(((c1 - c0) * 512))" "linear $LINEAR $(((l1 - l0) * 512))"; do
	set -- $d
	# One jq per device (a guest is slow): what the checks below compare.
	# (A here-string, not process substitution: a guest has no /dev/fd.)
	read -r data all dm super queue endio <<<"$(jq -r --arg dev "$2" --arg ctx "$ctx" '
		[.groups[] | select(.dev == $dev and .op == "write")] as $w
		| [$w[] | select(.kind != "super")] as $dm
		| [$w[] | select(.kind == "super")] as $s
		| def phased: length > 0 and all(.phases.device.count == .bios and
			.phases.total.count == .bios);
		[($w | map(select(.kind == "data") | .bytes) | add // 0), ($w | map(.bytes) | add // 0),
		 ($dm | length == 2 and phased), ($s | length == 1 and phased),
		 ($w | all(.phases.queue.observable == false)),
		 ($dm | all(.endio_ctx[$ctx] == .bios))] | @tsv' "$J")"
	check "dm-$1 ($2): data write bytes ($data) == file size" [ "$data" -eq 4194304 ]
	check_traced "dm-$1: write bytes of every kind, against what $2 counted" "$all" "$3" "$J"
	check "dm-$1: every data and metadata write has device and total" [ "$dm" = true ]
	check "dm-$1: every superblock write has device and total" [ "$super" = true ]
	check "dm-$1: no queue phase (no requests on a bio-based device)" [ "$queue" = true ]
	check "dm-$1: data and metadata write end_io in $ctx context" [ "$endio" = true ]
done
check "nothing lost ($(jq -c .lost_detail "$J"))" [ "$(jq .lost "$J")" -eq 0 ]

[ $witness = 1 ] || exit 0
kill -INT $BT
wait $BT
w_where=$(kstack_where "$STACKS" w)
m_where=$(kstack_where "$STACKS" m)
echo "write end_io stacks: data $w_where; metadata $m_where"
want=$([ "$ctx" = task ] && echo work || echo softirq)
check "kernel stacks: data write end_io in $want ($w_where), as bbscope says ($ctx)" [ "$w_where" = "$want " ]
check "kernel stacks: metadata write end_io in $want ($m_where), as bbscope says ($ctx)" [ "$m_where" = "$want " ]
exit 0
