#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The fallbacks see what the fast path sees.  Three runs of the same fsync'd
# write: the default (tp_btf programs, contexts from the preempt count),
# BBSCOPE_ATTACH=raw_tp (probe reads, hash maps: kernels without tp_btf) and
# BBSCOPE_CTX=tracepoints (contexts from the irq/softirq tracepoints).  Each
# must trace the file's bytes exactly, agree with the device's counters,
# see end_io in task context and put completions in the same context.
# kernels: all
. "$(dirname "$0")/lib.sh"
need_root

sandbox_up --profile single --size 1G --mount-opts commit=300
NAME=$(basename "$(jq -r '.devices[0]' "$SB_JSON")")
sectors() { awk '{print $7}' "/sys/block/$NAME/stat"; }
sync

run() {  # TAG [VAR=VALUE]: trace one 8 MiB write in that mode
	local tag=$1 w0 w1
	shift
	[ $# -gt 0 ] && export "$@"
	w0=$(sectors)
	tracer_start "$T_TMP/$tag.json" --fs "$MNT" --json -v
	dd if=/dev/urandom of="$MNT/$tag" bs=1M count=8 conv=fsync status=none || fail "dd"
	sync
	sleep 1
	w1=$(sectors)
	tracer_stop
	[ $# -gt 0 ] && unset "${1%%=*}"
	echo $(( (w1 - w0) * 512 )) >"$T_TMP/$tag.stat"
}
run default
run raw BBSCOPE_ATTACH=raw_tp
run irqtp BBSCOPE_CTX=tracepoints

if kernel_tp_btf; then
	ATTACH=tp_btf
else
	ATTACH=raw_tp # btrfs is a module, or no bpf_rdonly_cast (before 6.2)
fi
check "default: $ATTACH programs" grep -q "block_bio_queue *$ATTACH\$" "$T_TMP/default.json.err"
check "raw: raw_tp programs" grep -q 'block_bio_queue *raw_tp$' "$T_TMP/raw.json.err"
check "irqtp: softirq tracepoints attached" grep -q "softirq_entry *$ATTACH\$" "$T_TMP/irqtp.json.err"

# The context most data write completions ran in.
main_ctx() {
	jq -r '[.groups[] | select(.dev != null and .op=="write" and .kind=="data") | .complete_ctx]
		| reduce .[] as $c ({}; .hardirq += $c.hardirq | .softirq += $c.softirq | .task += $c.task)
		| to_entries | max_by(.value) | .key' "$1"
}
ctx0=$(main_ctx "$T_TMP/default.json")
for tag in default raw irqtp; do
	J=$T_TMP/$tag.json
	data_w=$(jq '[.groups[] | select(.op=="write" and .kind=="data") | .bytes] | add // 0' "$J")
	check "$tag: data write bytes ($data_w) == file size" [ "$data_w" -eq 8388608 ]
	dev_w=$(jq --arg d "$NAME" '[.groups[] | select(.op=="write" and .dev==$d) | .bytes] | add // 0' "$J")
	check "$tag: device stat bytes ($(cat "$T_TMP/$tag.stat")) == traced ($dev_w)" \
		[ "$(cat "$T_TMP/$tag.stat")" -eq "$dev_w" ]
	if kernel_write_endio_work; then
		check "$tag: data write end_io in task context only" jq -e '
			[.groups[] | select(.dev != null and .op=="write" and .kind=="data")] | length > 0 and
			all(.endio_ctx.task == .bios and .endio_ctx.hardirq == 0 and .endio_ctx.softirq == 0)' "$J"
		check "$tag: every device phase observed" jq -e '
			[.groups[] | select(.dev != null and .op=="write" and .kind=="data") | .phases] | length > 0 and
			all(.queue.count > 0 and .device.count > 0 and .hop.count > 0 and .endio.count > 0)' "$J"
		check "$tag: end_io on btrfs workqueues" jq -e '
			[.groups[] | select(.kind=="data") | .endio_wq | keys[]] | length > 0 and all(startswith("btrfs-"))' "$J"
	else
		check "$tag: data write end_io inline, in its completion's context" jq -e '
			[.groups[] | select(.dev != null and .op=="write" and .kind=="data")] | length > 0 and
			all(.endio_ctx == .complete_ctx)' "$J"
	fi
	check "$tag: completions mostly in $ctx0 context, as by default ($(main_ctx "$J"))" \
		[ "$(main_ctx "$J")" = "$ctx0" ]
	check "$tag: nothing lost" [ "$(jq .lost "$J")" -eq 0 ]
done

rc=0
out=$(BBSCOPE_ATTACH=kprobe "$BBSCOPE" hist -d 1 2>&1) || rc=$?
check "a bad BBSCOPE_ATTACH is refused as bad usage, exit 2 ($rc)" [ "$rc" -eq 2 ]
check "... in one line that names it: $out" \
	bash -c '[ "$(printf "%s\n" "$1" | wc -l)" -eq 1 ] && grep -q BBSCOPE_ATTACH <<<"$1"' _ "$out"
exit 0
