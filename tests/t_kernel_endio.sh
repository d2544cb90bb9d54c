#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The btrfs_bio::async_csum series, before and after, as bbscope shows it:
# data-write end_io runs inline in the completion's context (softirq for a
# loop device) on kernels before the series (5.10, 6.1, 6.12) and as a
# work item on a btrfs workqueue with it (6.18 here); data-read end_io runs
# on a btrfs workqueue on all of them.  What each kernel does is taken
# from the kernel (its functions in kallsyms), and where kprobes work (the
# guests) bpftrace's kernel stacks of btrfs's data end_io functions are the
# independent witness bbscope must agree with.
# kernels: all
. "$(dirname "$0")/lib.sh"
need_root

sandbox_up --profile single --mount-opts commit=300
sync

# The function each generation's data end_io ends in (the bbio's end_io).
WFN="end_bbio_data_write end_bio_extent_writepage"
RFN="end_bbio_data_read end_bio_extent_readpage"
STACKS=$T_TMP/stacks
witness=0
if command -v bpftrace >/dev/null && [ -e /sys/bus/event_source/devices/kprobe ]; then
	probes=""
	for f in $WFN; do ksym "$f" && probes="$probes kprobe:$f { @w[kstack] = count(); }"; done
	for f in $RFN; do ksym "$f" && probes="$probes kprobe:$f { @r[kstack] = count(); }"; done
	[ -n "$probes" ] || fail "none of $WFN $RFN in this kernel"
	bpftrace_start "$probes" "$STACKS"
	bpftrace_attached 60
	witness=1
else
	echo "note: no kprobes here (or no bpftrace): no kernel-stack witness, kallsyms only"
fi

tracer_start "$T_TMP/h.json" --fs "$MNT" --json
dd if=/dev/urandom of="$MNT/file" bs=1M count=4 conv=fsync status=none || fail "dd"
echo 3 >/proc/sys/vm/drop_caches
cat "$MNT/file" >/dev/null
sleep 1
tracer_stop
J=$T_TMP/h.json
W='[.groups[] | select(.dev != null and .op=="write" and .kind=="data")]'
R='[.groups[] | select(.dev != null and .op=="read" and .kind=="data")]'

if kernel_write_endio_work; then
	check "with the series: data-write end_io on a btrfs workqueue, in task context" \
		jq -e "$W | length > 0 and all(.endio_ctx.task == .bios and
			(.endio_wq | keys | length > 0 and all(startswith(\"btrfs-\"))))" "$J"
	check "... and hop and endio measured" jq -e "$W | all(.phases.hop.count == .bios)" "$J"
else
	check "before the series: data-write end_io inline, in softirq (loop completion)" \
		jq -e "$W | length > 0 and all(.endio_ctx.softirq == .bios and (.endio_wq | length) == 0)" "$J"
	check "... where hop and endio are not observable, and say why" \
		jq -e "$W | all(.phases.hop.reason == \"endio_inline\" and .phases.endio.reason == \"endio_inline\")" "$J"
fi
check "data-read end_io on a btrfs workqueue, in task context, on every kernel" \
	jq -e "$R | length > 0 and all(.endio_ctx.task == .bios and
		(.endio_wq | keys | length > 0 and all(startswith(\"btrfs-endio\"))))" "$J"

[ $witness = 1 ] || exit 0
kill -INT $BT
wait $BT
w_where=$(kstack_where "$STACKS" w)
r_where=$(kstack_where "$STACKS" r)
echo "write end_io stacks: $w_where; read end_io stacks: $r_where"
if kernel_write_endio_work; then
	check "kernel stacks: data-write end_io in work items ($w_where)" [ "$w_where" = "work " ]
else
	check "kernel stacks: data-write end_io in the completion's softirq ($w_where)" \
		[ "$w_where" = "softirq " ]
fi
check "kernel stacks: data-read end_io in work items ($r_where)" [ "$r_where" = "work " ]
exit 0
