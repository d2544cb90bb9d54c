#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Names that are not UTF-8 never vanish from JSON (issue 13, item 6): a
# mount point, a command and a file name with a byte 0xff.  hist --json and
# report --json keep their groups, report --events --json prints an object
# per bio, verify --json lists every mismatch it counts; each such string is
# the text with U+FFFD, and KEY_raw has the bytes (docs/json.md, "Strings").
# Also: report --json's trace.warning for a recording with no trailer.
. "$(dirname "$0")/lib.sh"
need_root
for t in jq btrfs filefrag btrfs-map-logical; do
	command -v $t >/dev/null || skip "$t missing"
done

export BBSCOPE_STATE_DIR=$T_TMP/$'st\xff'
SB_JSON=$T_TMP/sandbox.json
at_exit "\"$BBSCOPE\" sandbox down"
"$BBSCOPE" sandbox up --json --backing-dir "$T_TMP/backing" --profile single --size 256M \
	>"$SB_JSON" || fail "sandbox up"
# jq -r would print the text: the mount point is the state dir's, made here.
MNT=$BBSCOPE_STATE_DIR/mnt
mountpoint -q "$MNT" || fail "nothing mounted at $MNT"
check "the mount point is not UTF-8: mountpoint_raw" \
	jq -e '.mountpoint_raw | endswith("st\\xff/mnt")' "$SB_JSON"
DEV=$(jq -r '.devices[0]' "$SB_JSON")
DD=$T_TMP/$'d\xff'
cp "$(command -v dd)" "$DD" || fail "cp dd"

# ---- hist --json ----
tracer_start "$T_TMP/h.json" --json --fs "$MNT"
"$DD" if=/dev/urandom of="$MNT/a" bs=64K count=16 conv=fsync status=none || fail "dd"
tracer_stop
check "hist --json: groups are there" jq -e '.groups | length > 0' "$T_TMP/h.json"
check "hist --json: fs has U+FFFD, fs_raw the byte" jq -e '[.groups[] |
	(.fs | contains("st\ufffd")) and (.fs_raw | endswith("st\\xff/mnt"))] | all' "$T_TMP/h.json"

# ---- record, report --json, --events --json, --by comm ----
"$BBSCOPE" record -o "$T_TMP/t.bbt" --fs "$MNT" -- \
	"$DD" if=/dev/urandom of="$MNT/b" bs=64K count=16 conv=fsync status=none ||
	fail "record"
"$BBSCOPE" report --json "$T_TMP/t.bbt" >"$T_TMP/r.json" || fail "report --json"
check "report --json: groups are there" jq -e '.groups | length > 0' "$T_TMP/r.json"
check "report --json: fs_raw has the byte" \
	jq -e '[.groups[].fs_raw | endswith("st\\xff/mnt")] | all' "$T_TMP/r.json"
check "report --json: trace.command_raw has the byte" \
	jq -e '.trace.command_raw | test("d\\\\xff if=")' "$T_TMP/r.json"
"$BBSCOPE" report --events --json "$T_TMP/t.bbt" >"$T_TMP/ev.json" || fail "report --events"
check "report --events --json: no empty line" eval '! grep -q "^$" "$T_TMP/ev.json"'
check "report --events --json: every line an object" jq -e -s 'length > 0 and all(.[]; type == "object")' \
	"$T_TMP/ev.json"
check "report --events --json: the comm's byte kept" \
	jq -e -s '[.[] | select(.comm_raw == "d\\xff")] | length > 0' "$T_TMP/ev.json"
"$BBSCOPE" report --json --by comm "$T_TMP/t.bbt" >"$T_TMP/c.json" || fail "report --by comm"
check "report --by comm --json: a group for the comm" \
	jq -e '[.groups[] | select(.comm_raw == "d\\xff")] | length > 0' "$T_TMP/c.json"

# ---- verify --json: two mismatches, both listed ----
# A file named with 0xff and its reflink clone share one extent; one block of
# it is overwritten on the device: two files, two mismatches.
BAD=$MNT/$'bad\xff'
head -c 64K /dev/urandom >"$BAD" && cp --reflink=always "$BAD" "$MNT/clone" && sync ||
	fail "cannot write the files"
logical=$(filefrag -v -b4096 "$BAD" | awk '$1 == "0:" { gsub(/\.\./, " "); print $4 * 4096; exit }')
[ -n "$logical" ] || fail "no extent for $BAD"
umount "$MNT" || fail "umount"
phys=$(btrfs-map-logical -l "$logical" "$DEV" 2>/dev/null | awk '/mirror 1/ { print $6; exit }')
[ -n "$phys" ] || fail "no physical address for logical $logical"
dd if=/dev/urandom of="$DEV" bs=4096 seek=$((phys / 4096)) count=1 conv=notrunc oflag=direct \
	status=none || fail "corrupt"
mount "$DEV" "$MNT" || fail "remount"
"$BBSCOPE" verify --json "$MNT" >"$T_TMP/v.json"
check "verify: exit 1 on mismatches" test $? -eq 1
check "verify --json: 2 mismatches counted, 2 listed" \
	jq -e '.mismatched == 2 and (.mismatches | length) == 2' "$T_TMP/v.json"
check "verify --json: the path's byte kept" \
	jq -e '[.mismatches[] | select(.path_raw | endswith("/bad\\xff"))] | length == 1' \
	"$T_TMP/v.json"

# ---- item 8: trace.warning is said in JSON as in text ----
check "no trailer: trace.warning says so" jq -e '.trace.warning | test("no trailer")' \
	<("$BBSCOPE" report --json tests/fuzz/no-trailer.bbt 2>/dev/null)
exit 0
