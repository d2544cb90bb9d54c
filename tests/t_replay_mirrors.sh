#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# replay csum --trace of a recording on a mirrored filesystem replays one
# copy of each data write: the tracer records the btrfs logical address of
# mirrored data writes (orig and clone bios point at their stripe of the
# btrfs_io_context), and the replay drops the copies that share it.
. "$(dirname "$0")/lib.sh"
need_root
command -v jq >/dev/null || skip "needs jq"

for profile in raid1 dup; do
	sandbox_up --profile $profile --size 1G --mount-opts commit=300
	sync
	"$BBSCOPE" record -o "$T_TMP/$profile.bbt" --fs "$MNT" -- \
		dd if=/dev/urandom of="$MNT/file" bs=1M count=4 oflag=direct status=none ||
		fail "record -- dd on $profile"
	"$BBSCOPE" report --json "$T_TMP/$profile.bbt" >"$T_TMP/rep.json" || fail "report"
	dev_w=$(jq '[.groups[] | select(.dev != null and .op=="write" and .kind=="data") | .bytes] | add // 0' \
		"$T_TMP/rep.json")
	check "$profile: the device data writes are both copies ($dev_w)" [ "$dev_w" -eq $((8 << 20)) ]
	"$BBSCOPE" replay csum --trace "$T_TMP/$profile.bbt" --target "$T_TMP/$profile.img" \
		--mode none --json >"$T_TMP/out" 2>"$T_TMP/err" || { cat "$T_TMP/err"; fail "replay on $profile"; }
	check "$profile: replay wrote one copy ($(jq .bytes "$T_TMP/out"))" \
		jq -e ".bytes == $((4 << 20))" "$T_TMP/out"
	"$BBSCOPE" sandbox down >/dev/null || fail "sandbox down"
done
exit 0
