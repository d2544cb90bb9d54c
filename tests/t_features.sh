#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bbscope features says what the kernel says: btrfs built in or a module
# (/proc/modules), its BTF (/sys/kernel/btf/btrfs), kprobes (the kprobe
# PMU), which programs the tracer loads, and where each op's end_io runs
# (kallsyms: the async csum series' work functions); each phase is either
# observable or comes with a reason.  Where btrfs is a module it is then
# unloaded: hist and features must both refuse in one line that says so.
# Without root, features still answers (exit 0) and says what it could not see.
# kernels: all
. "$(dirname "$0")/lib.sh"
need_root

J=$T_TMP/f.json
"$BBSCOPE" features --json >"$J" 2>"$T_TMP/f.err" || fail "features exited $? ($(cat "$T_TMP/f.err"))"
cat "$J"
check "one JSON object, traceable" jq -e '.traceable == true and (.tracer | type) == "object"' "$J"
if btrfs_is_module; then
	check "btrfs: module" jq -e '.btrfs == "module"' "$J"
else
	check "btrfs: built in" jq -e '.btrfs == "built_in"' "$J"
fi
if kernel_btrfs_btf; then
	check "btrfs BTF: yes" jq -e '.btrfs_btf == true' "$J"
else
	check "btrfs BTF: no" jq -e '.btrfs_btf == false' "$J"
fi
if [ -e /sys/bus/event_source/devices/kprobe ]; then
	check "kprobes: yes" jq -e '.bpf.kprobes == true' "$J"
else
	check "kprobes: no" jq -e '.bpf.kprobes == false' "$J"
fi
if kernel_tp_btf; then
	check "programs: tp_btf" jq -e '.tracer.programs == "tp_btf"' "$J"
else
	check "programs: raw_tp, and why" jq -e '.tracer.programs == "raw_tp" and (.tracer.programs_why | length > 0)' "$J"
fi
check "every phase observable, or a reason and a sentence" jq -e '
	[.tracer.phases[][]] | length > 10 and
	all(.observable == true or ((.reason | length > 0) and (.detail | length > 0)))' "$J"
check "data reads: hop and endio observable on every kernel" jq -e '
	.tracer.phases.read | .hop.observable and .endio.observable' "$J"
if kernel_write_endio_work; then
	check "writes: hop and endio observable (async csum series)" jq -e '
		.tracer.phases.write | .hop.observable and .endio.observable' "$J"
else
	check "writes: hop and endio not observable, end_io inline" jq -e '
		.tracer.phases.write | .hop.reason == "endio_inline" and .endio.reason == "endio_inline"' "$J"
fi
check "the text form too" "$BBSCOPE" features
"$BBSCOPE" features >"$T_TMP/f.txt" || fail "features (text)"
check "... naming the kernel" grep -q "^kernel *$(uname -r)$" "$T_TMP/f.txt"

# Without root: the facts, exit 0, and what could not be seen (issue 19, item 5).
if command -v setpriv >/dev/null; then
	rc=0
	setpriv --reuid=65534 --regid=65534 --clear-groups "$BBSCOPE" features --json \
		>"$T_TMP/nr.json" 2>"$T_TMP/nr.err" || rc=$?
	check "non-root: features --json exits 0 ($rc: $(cat "$T_TMP/nr.err"))" [ $rc -eq 0 ]
	check "non-root: the kernel facts, not traceable, and what it could not see" jq -e '
		.kernel == "'"$(uname -r)"'" and .traceable == false and (.why | length > 0) and
		(.unseen | length > 0) and all(.unseen[]; (.what | length > 0) and (.why | length > 0))' \
		"$T_TMP/nr.json"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$BBSCOPE" features >"$T_TMP/nr.txt" 2>&1
	check "non-root: the text form exits 0 and says what it could not see" \
		eval '[ $? -eq 0 ] && grep -q "^unseen " "$T_TMP/nr.txt"'
fi
check "root: nothing unseen" jq -e '.unseen == []' "$J"

btrfs_is_module || { echo "note: btrfs is built in here: the not-loaded case needs a module"; exit 0; }
awk '$3 == "btrfs" {f=1} END {exit !f}' /proc/mounts && {
	echo "note: a btrfs is mounted here: btrfs stays loaded"
	exit 0
}
rmmod btrfs || { echo "note: btrfs cannot be unloaded here"; exit 0; }
at_exit "modprobe btrfs"
rc=0
"$BBSCOPE" hist -d 1 >"$T_TMP/h.out" 2>"$T_TMP/h.err" || rc=$?
check "btrfs not loaded: hist exits 1 ($rc)" [ "$rc" -eq 1 ]
check "... in one line that names the cause: $(cat "$T_TMP/h.err")" \
	bash -c "[ \$(wc -l <'$T_TMP/h.err') -eq 1 ] && grep -q 'btrfs module is not loaded' '$T_TMP/h.err'"
rc=0
"$BBSCOPE" features --json >"$J" 2>/dev/null || rc=$?
check "btrfs not loaded: features exits 1 ($rc)" [ "$rc" -eq 1 ]
check "... and says why" jq -e '.btrfs == "not_loaded" and .traceable == false and (.why | test("modprobe btrfs"))' "$J"
exit 0
