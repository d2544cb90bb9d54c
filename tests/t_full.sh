#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Output that cannot be written is a failure: every command, with stdout on
# a device that is always full (a node with /dev/full's numbers, made
# here), exits non-zero and says so on stderr, in text and in JSON, instead
# of exiting 0 as if the report had been read.
. "$(dirname "$0")/lib.sh"
need_root
for t in jq mkfs.btrfs losetup; do
	command -v $t >/dev/null || skip "$t not installed"
done

FULL=$T_TMP/full
mknod "$FULL" c 1 7 || skip "cannot make a device node in $T_TMP"
msg=$( (echo x >"$FULL") 2>&1)
case $msg in
*"No space left"*) ;;
*) skip "$T_TMP does not allow device nodes ($msg)" ;;
esac

# full WHAT CMD...: bbscope CMD with stdout on the full device exits non-zero
# with a line on stderr saying the output could not be written.
full() {
	local what=$1 rc
	shift
	"$BBSCOPE" "$@" >"$FULL" 2>"$T_TMP/err"
	rc=$?
	[ $rc -ne 0 ] || fail "$what: exit 0 with stdout full"
	grep -q "^bbscope: cannot write to standard output" "$T_TMP/err" ||
		fail "$what: exit $rc, but no word of the failed write: $(cat "$T_TMP/err")"
	ok "$what: exit $rc"
}

full "--help" --help
full "csum" csum /etc/hostname
full "csum --help" csum --help

# sandbox up makes its sandbox, then cannot say where: exit 1, still up.
at_exit "\"$BBSCOPE\" sandbox down"
full "sandbox up" sandbox up --backing-dir "$T_TMP/backing" --size 256M
"$BBSCOPE" sandbox status --json >"$T_TMP/sb.json" || fail "sandbox status"
MNT=$(jq -r .mountpoint "$T_TMP/sb.json")
full "sandbox status" sandbox status
full "sandbox status --json" sandbox status --json

head -c 4M /dev/urandom >"$MNT/data" && sync "$MNT/data" || fail "cannot write to $MNT"
"$BBSCOPE" record -o "$T_TMP/t.bbt" --fs "$MNT" -- \
	dd if=/dev/urandom of="$MNT/rec" bs=1M count=2 conv=fsync status=none 2>/dev/null ||
	fail "record"
full "record --json" record -o "$T_TMP/t2.bbt" --json --fs "$MNT" -- true
full "report" report "$T_TMP/t.bbt"
full "report --json" report --json "$T_TMP/t.bbt"
full "report --events" report --events "$T_TMP/t.bbt"
full "report --events --json" report --events --json "$T_TMP/t.bbt"
full "export --fio-iolog --json" export --fio-iolog --json -o "$T_TMP/io.log" "$T_TMP/t.bbt"
full "export --blktrace --json" export --blktrace --json -o "$T_TMP/bt" "$T_TMP/t.bbt"
full "hist" hist -d 0.5
full "hist --json" hist --json -d 0.5
full "verify" verify "$MNT/data"
full "verify --json" verify --json "$MNT/data"
full "verify --parity --json" verify --parity --json "$MNT"
full "replay csum" replay csum --synthetic size=1M --target "$T_TMP/r.img" --mode serial
full "replay csum --json" replay csum --json --synthetic size=1M --target "$T_TMP/r.img" \
	--force --mode async
full "replay parity --json" replay parity --json --synthetic size=1M --profile raid5 \
	--mode batched --targets "$T_TMP/p0,$T_TMP/p1,$T_TMP/p2"
full "bench --json" bench --json --size 16M --rounds 1

# Last: down takes the sandbox away, then cannot print what it was.
full "sandbox down --json" sandbox down --json
"$BBSCOPE" sandbox status >/dev/null 2>&1 && fail "the sandbox is still up"
ok "sandbox down went through"
exit 0
