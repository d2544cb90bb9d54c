#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bbscope csum against the checksums btrfs itself stored, for each of the
# four checksum algorithms: every sector of a 1 MiB file of random data and
# of a 10000-byte file (its last sector partial, checksummed zero-padded) must
# carry exactly what 'bbscope csum' prints for it.
#
# The expected values come from the trees on disk: the fs tree maps each
# file offset to a btrfs logical address (EXTENT_DATA: disk bytenr + extent
# offset), the csum tree ('dump-tree --csum-items', which prints the stored
# bytes in on-disk order as "[logical] 0x...") maps that address to its
# checksum.  Files below max_inline (2048 by default) are stored inline in
# the fs tree and have no data checksums, so both files are >= 8 KiB.
. "$(dirname "$0")/lib.sh"
need_root
for t in btrfs jq blockdev; do
	command -v $t >/dev/null || skip "$t not installed"
done
[ -x "$BBSCOPE" ] || fail "no $BBSCOPE (build first)"

SECTOR=4096
declare -A CSUM INO # logical address -> stored checksum (hex); file -> inode

# dump DEV TREE: the tree as btrfs-progs prints it, read from the device, to
# $T_TMP/TREE.tree.  BLKFLSBUF first: the block device's page cache may hold
# blocks read earlier that btrfs has since rewritten (it writes with bios).
dump() {
	blockdev --flushbufs "$1" || fail "blockdev --flushbufs $1"
	btrfs inspect-internal dump-tree --csum-items -t "$2" "$1" >"$T_TMP/$2.tree" ||
		fail "dump-tree -t $2 $1"
}

# load_csums DEV: fill CSUM from the csum tree.  Several "[logical] 0xhex"
# pairs may share a line.  (Bash arithmetic here and below, not awk: mawk
# loses integers beyond 2^31.)
load_csums() {
	local logical hex
	CSUM=()
	dump "$1" csum
	while read -r logical hex; do
		CSUM[$logical]=$hex
	done < <(grep -o '\[[0-9]*\] 0x[0-9a-f]*' "$T_TMP/csum.tree" | tr -d '[]' | sed 's/ 0x/ /')
}

# expected DEV INO: "<file offset> <stored checksum>" for every sector of
# inode INO's extents, as 'bbscope csum' prints them.
expected() {
	local pos disk off num b l
	dump "$1" fs
	while read -r pos disk off num; do
		[ "$disk" = inline ] && fail "inode $2 has an inline extent (no data checksums)"
		[ "$disk" = 0 ] && continue # a hole
		for ((b = 0; b < num; b += SECTOR)); do
			l=$((disk + off + b))
			echo "$((pos + b)) ${CSUM[$l]:-no-checksum-stored-for-logical-$l}"
		done
	done < <(awk -v ino="$2" '
		$0 ~ "key \\(" ino " EXTENT_DATA [0-9]+\\)" {
			pos = $0
			sub(/.*EXTENT_DATA /, "", pos)
			sub(/\).*/, "", pos)
			item = 1
			next
		}
		item && /inline extent data/ { print pos, "inline"; item = 0 }
		item && /extent data disk byte/ { disk = $5 }
		item && /extent data offset/ { print pos, disk, $4, $6; item = 0 }
	' "$T_TMP/fs.tree")
}

for algo in crc32c xxhash sha256 blake2; do
	sandbox_up --csum "$algo" --size 256M
	DEV=$(jq -r '.devices[0]' "$SB_JSON")
	[ -b "$DEV" ] || fail "sandbox device '$DEV' is not a block device"
	head -c 1048576 /dev/urandom >"$MNT/random" || fail "write $MNT/random"
	head -c 10000 /dev/urandom >"$MNT/partial" || fail "write $MNT/partial"
	sync

	for f in random partial; do
		"$BBSCOPE" csum --algo "$algo" "$MNT/$f" >"$T_TMP/$f.got" ||
			fail "bbscope csum --algo $algo $f"
		INO[$f]=$(stat -c %i "$MNT/$f")
	done
	if [ "$algo" = crc32c ]; then
		"$BBSCOPE" csum "$MNT/random" "$MNT/partial" >"$T_TMP/both.got" ||
			fail "bbscope csum with two files"
		{
			echo "==> $MNT/random <=="
			cat "$T_TMP/random.got"
			echo
			echo "==> $MNT/partial <=="
			cat "$T_TMP/partial.got"
		} >"$T_TMP/both.want"
		check "two files: crc32c by default, '==> FILE <==' before each (as head)" \
			cmp -s "$T_TMP/both.got" "$T_TMP/both.want"
	fi

	# Commit and stop all writes (atime included) so the trees on disk are final.
	mount -o remount,ro "$MNT" || fail "remount $MNT read-only"
	load_csums "$DEV"
	check "$algo: the csum tree holds checksums (${#CSUM[@]} sectors)" [ ${#CSUM[@]} -ge 259 ]

	for f in random partial; do
		expected "$DEV" "${INO[$f]}" >"$T_TMP/$f.want"
	done
	check "$algo: 1 MiB file is 256 sectors" [ "$(wc -l <"$T_TMP/random.got")" -eq 256 ]
	check "$algo: 10000-byte file is 3 sectors" [ "$(wc -l <"$T_TMP/partial.got")" -eq 3 ]
	for f in random partial; do
		if ! diff -u "$T_TMP/$f.want" "$T_TMP/$f.got" >"$T_TMP/$f.diff"; then
			head -20 "$T_TMP/$f.diff"
			fail "$algo: bbscope csum differs from what btrfs stored for $f"
		fi
		ok "$algo: $f: all $(wc -l <"$T_TMP/$f.got") sectors equal what btrfs stored"
	done
	"$BBSCOPE" sandbox down >/dev/null || fail "sandbox down"
done
