#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# What cannot work is refused up front, with a reason and exit status 2
# (issue 13, items 3 and 4 and the small ones): bench --size larger than its
# backing can hold, before anything is made; replay csum --target under /dev
# that does not exist; hist --dev of a device that is not there; verify of
# a block device, and verify --parity with no raid56 block group; a
# recording whose first chunk is corrupt.  Also: "needs root" is exit 1 for
# every command, and -c takes any 64-bit count.
. "$(dirname "$0")/lib.sh"
need_root
for t in jq mkfs.btrfs losetup setpriv; do
	command -v $t >/dev/null || skip "$t not installed"
done

# refused WHAT PATTERN ARGS...: bbscope ARGS exits 2 with PATTERN on stderr.
refused() {
	local what=$1 pat=$2 rc
	shift 2
	"$BBSCOPE" "$@" >"$T_TMP/out" 2>"$T_TMP/err"
	rc=$?
	[ $rc -eq 2 ] || { cat "$T_TMP/err"; fail "$what: exit $rc, not 2"; }
	grep -q -e "$pat" "$T_TMP/err" || { cat "$T_TMP/err"; fail "$what: no '$pat'"; }
	ok "$what: $(head -1 "$T_TMP/err")"
}

# ---- 3. bench --size checked against its backing, before anything is made ----
runs() { ls -d /tmp/bbscope-bench.* /dev/shm/bbscope-bench.* /var/tmp/bbscope-bench.* 2>/dev/null | wc -l; }
before=$(runs)
for backing in tmpfs file zram; do
	refused "bench --size 1T --backing $backing" 'needs about .* available' \
		bench --size 1T --backing $backing --rounds 1
done
check "bench --size 1T made nothing" test "$(runs)" -eq "$before"

# ---- 4. replay csum --target under /dev that does not exist ----
NODEV=/dev/bbscope-test-nonexistent-$$
at_exit "rm -f $NODEV"
refused "replay csum --target $NODEV" 'no such device' \
	replay csum --synthetic size=1M --target "$NODEV" --mode serial
check "nothing was created in /dev" test ! -e "$NODEV"
# A file system mounted below /dev (/dev/shm) is not /dev: a new file there is a target.
if [ -d /dev/shm ] && [ "$(stat -c %d /dev/shm)" != "$(stat -c %d /dev)" ]; then
	SHM=$(mktemp -d /dev/shm/bbscope-test.XXXXXX)
	at_exit "rm -rf $SHM"
	"$BBSCOPE" replay csum --synthetic size=1M --target "$SHM/t.img" --mode serial \
		>/dev/null 2>"$T_TMP/err"
	check "replay csum --target on /dev/shm works ($(head -1 "$T_TMP/err"))" test $? -eq 0
fi

# ---- small ones ----
refused "hist --dev 999:999" 'no such block device' hist --dev 999:999 -d 0.1
"$BBSCOPE" hist -c 9223372036854775807 -d 0.2 >/dev/null 2>"$T_TMP/err" ||
	{ cat "$T_TMP/err"; fail "hist -c 9223372036854775807"; }
ok "hist -c 9223372036854775807 is a count"

at_exit "rm -f /tmp/bbscope-test-nr-$$.bbt"
for cmd in "verify /tmp" "verify --parity /tmp" "hist -d 0.1" "record -o /tmp/bbscope-test-nr-$$.bbt -d 0.1" \
	"sandbox up" "bench"; do
	# shellcheck disable=SC2086
	setpriv --reuid=65534 --regid=65534 --clear-groups "$BBSCOPE" $cmd >/dev/null 2>"$T_TMP/err"
	rc=$?
	check "not root: $cmd exits 1 ($rc: $(head -1 "$T_TMP/err"))" test $rc -eq 1
done

# verify of a btrfs member device, unmounted.
truncate -s 256M "$T_TMP/m.img"
LOOP=$(losetup -f --show "$T_TMP/m.img") || fail "losetup"
at_exit "losetup -d $LOOP"
mkfs.btrfs -q -f "$LOOP" >/dev/null 2>&1 || fail "mkfs.btrfs"
refused "verify $LOOP (an unmounted btrfs)" 'is a block device' verify "$LOOP"

# verify --parity on a filesystem with no raid56 block group.
sandbox_up --profile single --size 256M
refused "verify --parity (single)" 'no raid5 or raid6 block group' verify --parity "$MNT"

# A bit flipped in the first chunk after the header.
python3 - tests/fuzz/real-dd.bbt "$T_TMP/flip.bbt" <<'EOF'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
hlen = struct.unpack_from("<I", d, 16 + 8)[0]
off = 16 + 16 + hlen  # the first chunk after the header
clen = struct.unpack_from("<I", d, off + 8)[0]
d[off + 16 + clen // 2] ^= 0x10
open(sys.argv[2], "wb").write(d)
EOF
refused "report: a flipped bit in the first chunk" 'corrupt: CRC mismatch' report "$T_TMP/flip.bbt"
refused "report --json: the same" 'corrupt: CRC mismatch' report --json "$T_TMP/flip.bbt"
refused "export: the same" 'corrupt: CRC mismatch' export --fio-iolog -o "$T_TMP/f.log" \
	"$T_TMP/flip.bbt"
exit 0
