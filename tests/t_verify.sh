#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bbscope verify: every block of freshly written files matches, for every
# checksum algorithm and data profile (raid5 too: its data strips, once);
# holes, prealloc, inline and nodatasum are skipped with their reason;
# compressed extents are checked as
# stored; and one 4 KiB block corrupted on an unmounted member device is
# reported at exactly its path, file offset, logical address, devid, device
# and physical offset, all of which this script computes on its own (FIEMAP
# for the logical address, the chunk tree dumped by btrfs-progs for the
# device offsets), not from bbscope's mapper.
. "$(dirname "$0")/lib.sh"

need_root
for t in jq mkfs.btrfs btrfs filefrag fallocate chattr losetup; do
	command -v $t >/dev/null || skip "$t not installed"
done
[ -x "$BBSCOPE" ] || fail "$BBSCOPE not built (make)"
grep -qw btrfs /proc/filesystems || skip "kernel without btrfs"

BS=4096
DEVS=()
OWN_MNT=
OWN_LOOPS=() # "device backing-file" of loop devices we attached and still hold

# Detach only what is still ours: a loop device number we gave back may have
# been taken by someone else since.
own_detach() {
	local l dev img
	for l in "${OWN_LOOPS[@]}"; do
		read -r dev img <<<"$l"
		[ "$(losetup -nO BACK-FILE "$dev" 2>/dev/null)" = "$img" ] && losetup -d "$dev"
	done
	OWN_LOOPS=()
}
at_exit own_detach

# fs_up PROFILE NDEV CSUM [MOUNT-OPTS]: a fresh btrfs at $MNT, members in
# DEVS.  The sandbox makes it; data profiles the sandbox does not offer
# (raid1c3, raid1c4) get loop devices of our own, undone at exit.
fs_up() {
	local profile=$1 ndev=$2 csum=$3 opts=${4:-} args i img dev
	args=(--profile "$profile" --devices "$ndev" --csum "$csum" --size 256M
	      --backing-dir "$T_TMP/img")
	[ -n "$opts" ] && args+=(--mount-opts "$opts")
	if "$BBSCOPE" sandbox up --json "${args[@]}" >"$T_TMP/sb.json" 2>"$T_TMP/sb.err"; then
		at_exit "\"$BBSCOPE\" sandbox down"
		MNT=$(jq -r .mountpoint "$T_TMP/sb.json")
		mapfile -t DEVS < <(jq -r '.devices[]' "$T_TMP/sb.json")
		OWN_MNT=
		return
	fi
	grep -q "bad --profile" "$T_TMP/sb.err" || { cat "$T_TMP/sb.err"; fail "sandbox up ${args[*]}"; }
	DEVS=()
	for ((i = 0; i < ndev; i++)); do
		img=$T_TMP/own-$profile-$i.img
		truncate -s 256M "$img" || fail "truncate $img"
		dev=$(losetup -f --show "$img") || fail "losetup $img"
		OWN_LOOPS+=("$dev $img")
		DEVS+=("$dev")
	done
	mkfs.btrfs -q -f -d "$profile" -m "$profile" --csum "$csum" "${DEVS[@]}" >/dev/null ||
		fail "mkfs.btrfs -d $profile"
	MNT=$T_TMP/own-$profile
	mkdir -p "$MNT"
	at_exit "umount $MNT"
	mount ${opts:+-o "$opts"} "${DEVS[0]}" "$MNT" || fail "mount $profile"
	OWN_MNT=$MNT
}

fs_down() {
	if [ -n "$OWN_MNT" ]; then
		umount "$OWN_MNT" || fail "umount $OWN_MNT"
		own_detach
	else
		"$BBSCOPE" sandbox down >/dev/null || fail "sandbox down"
	fi
}

# Remount after writing to a member device behind btrfs's back.
fs_remount() {
	mount ${1:+-o "$1"} "${DEVS[0]}" "$MNT" || fail "remount ${DEVS[0]} on $MNT"
}

# The files every filesystem gets, and what verify must say about them.
#   big    4 MiB random (incompressible), written in two halves: 1024 blocks
#   clone  reflink of big: the same extents again (checked again: another file)
#   comp   2 MiB of text with compression zstd: fewer on-disk blocks than 512
#   pre    fallocated 1 MiB: 256 prealloc blocks
#   sparse 1 MiB with one 4 KiB block at 512 KiB: 255 hole blocks, 1 checked
#   small  6 bytes: inline, 1 block
#   nocow  chattr +C before writing 256 KiB: 64 nodatasum blocks
populate() {
	local d=$1
	head -c 2M /dev/urandom >"$d/big" && head -c 2M /dev/urandom >>"$d/big" &&
	cp --reflink=always "$d/big" "$d/clone" &&
	touch "$d/comp" && btrfs property set "$d/comp" compression zstd &&
	yes "bbscope verify: compressible line of text" | head -c 2M >"$d/comp" &&
	fallocate -l 1M "$d/pre" &&
	truncate -s 1M "$d/sparse" &&
	dd if=/dev/urandom of="$d/sparse" bs=4K seek=128 count=1 conv=notrunc status=none &&
	printf 'hello\n' >"$d/small" &&
	touch "$d/nocow" && chattr +C "$d/nocow" &&
	head -c 256K /dev/urandom >"$d/nocow" || fail "writing test files in $d"
}

# verify_json OUT PATH...: run verify --json, check the exit status and JSON.
verify_json() {
	local out=$1 want=$2 rc
	shift 2
	"$BBSCOPE" verify --json "$@" >"$out" 2>"$out.err"
	rc=$?
	[ $rc -eq "$want" ] || { cat "$out" "$out.err"; fail "verify $* exited $rc, want $want"; }
	jq -e 'type == "object" and (.files|type) == "number" and (.checked|type) == "number"
	       and (.matched|type) == "number" and (.mismatched|type) == "number"
	       and (.skipped|type) == "object" and (.mismatches|type) == "array"' \
		"$out" >/dev/null || { cat "$out"; fail "verify --json output is not the contract"; }
}

# clean_case PROFILE NDEV CSUM COPIES [MOUNT-OPTS]: everything matches, with
# exact counts (raid5/6 has one copy: the data strip).
clean_case() {
	local profile=$1 ndev=$2 csum=$3 copies=$4 opts=${5:-} out comp data
	fs_up "$profile" "$ndev" "$csum" "$opts"
	populate "$MNT"
	out=$T_TMP/clean-$profile-$csum.json

	# The compressed file alone: its on-disk blocks, which must be fewer than
	# its 512 file blocks if the csums covered the compressed bytes.
	verify_json "$out" 0 "$MNT/comp"
	comp=$(jq '.checked' "$out")
	[ $((comp % copies)) -eq 0 ] && [ "$comp" -gt 0 ] && [ "$comp" -lt $((512 * copies)) ] ||
		fail "$profile/$csum: comp checked $comp blocks (want 1..511 per copy)"
	comp=$((comp / copies))

	verify_json "$out" 0 "$MNT"
	data=$((1024 + 1024 + comp + 1))
	jq -e --argjson n $((data * copies)) \
		'.checked == $n and .matched == $n and .mismatched == 0 and
		 .mismatches == [] and .skipped.raid56 == 0' "$out" >/dev/null ||
		{ cat "$out"; fail "$profile/$csum: want $data blocks x $copies copies all matching"; }
	jq -e '.files == 7 and .skipped.hole == 255 and .skipped.prealloc == 256 and
	       .skipped.inline == 1 and .skipped.nodatasum == 64 and .skipped.no_csum == 0 and
	       .skipped.missing_device == 0 and .skipped.read_error == 0' "$out" >/dev/null ||
		{ cat "$out"; fail "$profile/$csum: skipped counts"; }
	ok "$profile $csum${opts:+ -o $opts}: $(jq -c '{files, checked, matched, skipped}' "$out")"
}

# where FILE OFFSET [encoded]: the btrfs logical address of FILE's byte
# OFFSET, from FIEMAP (filefrag's "physical" is btrfs's logical address).
# With "encoded", the start of the compressed extent holding OFFSET.
where() {
	filefrag -v -b$BS "$1" | awk -v blk=$(($2 / BS)) -v bs=$BS -v enc="${3:-}" '
		$1 ~ /^[0-9]+:$/ {
			gsub(/\.\./, " "); gsub(/:/, " ")
			# ext lstart lend pstart pend len ... flags
			if (blk >= $2 && blk <= $3) {
				if (enc != "") {
					if ($0 !~ /encoded/) exit 1
					printf "%.0f\n", $4 * bs; found = 1; exit
				}
				if ($0 ~ /encoded|inline|unwritten/) exit 1
				printf "%.0f\n", ($4 + blk - $2) * bs; found = 1; exit
			}
		}
		END { exit !found }'
}

# chunk_map DEV LOGICAL: every copy of LOGICAL as "devid physical", one a line
# in stripe order, from the chunk tree as btrfs-progs dumps it (single, dup,
# raid0, raid1*, raid10).
chunk_map() {
	btrfs inspect-internal dump-tree -t chunk "$1" | awk -v L="$2" '
		# mawk prints big numbers as %.6g: print offsets with %.0f.
		function out(i, off) { printf "%d %.0f\n", devid[i], phys[i] + off }
		function flush() {
			if (!in_chunk || L < start || L >= start + len) return
			off = L - start; nr = int(off / slen); soff = off % slen
			if (type ~ /RAID10/) {
				factor = int(n / subs); first = (nr % factor) * subs
				for (i = first; i < first + subs; i++)
					out(i, int(nr / factor) * slen + soff)
			} else if (type ~ /RAID0/) {
				out(nr % n, int(nr / n) * slen + soff)
			} else {
				for (i = 0; i < n; i++) out(i, off)
			}
			done = 1
		}
		/CHUNK_ITEM/ { flush(); in_chunk = 1; start = $6 + 0 }
		/length .* stripe_len/ { len = $2; slen = $6; type = $8 }
		/num_stripes/ { n = $2; subs = $4 }
		/stripe [0-9]+ devid/ { devid[$2] = $4; phys[$2] = $6 }
		END { flush(); exit !done }'
}

# corrupt BLOCK-LOGICAL COPY: overwrite copy COPY (0-based stripe) of the
# 4 KiB block at BLOCK-LOGICAL on its member device; the filesystem must be
# unmounted.  Sets DEVID, PHYS and DEV to where it went.
corrupt() {
	local line
	line=$(chunk_map "${DEVS[0]}" "$1" | sed -n "$(($2 + 1))p")
	[ -n "$line" ] || fail "logical $1 has no copy $2 in the chunk tree"
	read -r DEVID PHYS <<<"$line"
	DEV=$(btrfs filesystem show "${DEVS[0]}" |
		awk -v id="$DEVID" '$1 == "devid" && $2 == id { print $NF }')
	[ -b "$DEV" ] || fail "no device for devid $DEVID"
	dd if=/dev/urandom of="$DEV" bs=$BS seek=$((PHYS / BS)) count=1 oflag=direct conv=notrunc \
		status=none || fail "dd to $DEV"
}

# corrupt_case PROFILE NDEV CSUM COPY [MOUNT-OPTS]: overwrite copy COPY of
# big's block at 72 KiB on the unmounted members, remount, expect exactly
# that one mismatch in big (and the same one in its clone, which shares the
# extent).  With compression, also the first block of comp's first
# compressed extent: one mismatch at file offset 0, "compressed": true.
corrupt_case() {
	local profile=$1 ndev=$2 csum=$3 copy=$4 opts=${5:-} out foff=$((8192 + 65536))
	local logical clogical= nbad=2 devid phys dev cdevid cphys cdev loc want
	fs_up "$profile" "$ndev" "$csum" "$opts"
	populate "$MNT"
	sync
	logical=$(where "$MNT/big" $foff) || fail "$profile: no plain extent at big:$foff"
	if [[ "$opts" == *compress* ]]; then
		clogical=$(where "$MNT/comp" 0 encoded) || fail "$profile: comp is not compressed"
	fi
	umount "$MNT" || fail "umount $MNT"
	if [ -n "$clogical" ]; then
		corrupt "$clogical" "$copy"
		nbad=3
		cdev=$DEV cdevid=$DEVID cphys=$PHYS
	fi
	corrupt "$logical" "$copy"
	devid=$DEVID phys=$PHYS dev=$DEV
	fs_remount "$opts"

	out=$T_TMP/corrupt-$profile.json
	loc="devid $devid $dev physical $phys"
	want="$MNT/big:$foff logical $logical $loc"
	verify_json "$out" 1 "$MNT/big"
	jq -e --arg path "$MNT/big" --argjson foff $foff --argjson logical "$logical" \
		--argjson devid "$devid" --arg dev "$dev" --argjson phys "$phys" \
		'.mismatched == 1 and (.mismatches | length) == 1 and
		 .matched == .checked - 1 and
		 (.mismatches[0] | .path == $path and .file_offset == $foff and
		  .logical == $logical and .devid == $devid and .device == $dev and
		  .physical == $phys)' "$out" >/dev/null ||
		{ cat "$out"; fail "$profile: want one mismatch at $want"; }
	# The plain output says the same.
	"$BBSCOPE" verify "$MNT/big" |
		grep -q "^mismatch: $MNT/big file_offset $foff logical $logical: $loc " ||
		fail "$profile: plain output does not name the mismatch at $want"
	# The whole directory: clone shares the bad extent, so it is bad there too.
	verify_json "$out" 1 "$MNT"
	jq -e --arg big "$MNT/big" --arg clone "$MNT/clone" --argjson logical "$logical" \
		--argjson phys "$phys" --argjson n $nbad \
		'.mismatched == $n and .matched == .checked - $n and
		 ([.mismatches[] | select(.compressed | not) | .path] | sort) == [$big, $clone] and
		 all(.mismatches[] | select(.compressed | not); .logical == $logical and .physical == $phys)' \
		"$out" >/dev/null || { cat "$out"; fail "$profile: want the bad block in big and clone"; }
	if [ -n "$clogical" ]; then
		jq -e --arg path "$MNT/comp" --argjson logical "$clogical" --argjson devid "$cdevid" \
			--arg dev "$cdev" --argjson phys "$cphys" \
			'[.mismatches[] | select(.compressed)] | length == 1 and
			 (.[0] | .path == $path and .file_offset == 0 and .logical == $logical and
			  .devid == $devid and .device == $dev and .physical == $phys)' "$out" >/dev/null ||
			{ cat "$out"; fail "$profile: want the bad compressed block of comp"; }
		ok "$profile $csum: corrupted compressed block found at devid $cdevid $cdev physical $cphys"
	fi
	verify_json "$out" 0 "$MNT/sparse" "$MNT/small"
	ok "$profile $csum: corrupted copy $copy found at devid $devid $dev physical $phys"
	fs_down
}

# Errors: one line, exit 2, JSON when asked.
out=$T_TMP/err.json
"$BBSCOPE" verify --json /nonexistent >"$out" 2>/dev/null
rc=$?
check "missing path exits 2 with a JSON error" [ $rc -eq 2 ]
jq -e '.error | test("cannot access /nonexistent")' "$out" >/dev/null ||
	fail "error JSON: $(cat "$out")"
"$BBSCOPE" verify /proc 2>"$out.err"
rc=$?
check "a non-btrfs path exits 2" [ $rc -eq 2 ]
check "with a one-line error" [ "$(wc -l <"$out.err")" -eq 1 ]
if command -v setpriv >/dev/null; then
	setpriv --reuid=65534 --regid=65534 --clear-groups "$BBSCOPE" verify / 2>"$out.err"
	rc=$?
	check "not root exits 1, as every command does" [ $rc -eq 1 ]
	grep -q "needs root" "$out.err" || fail "not-root error: $(cat "$out.err")"
fi

# Every algorithm on single.
for csum in crc32c xxhash sha256 blake2; do
	clean_case single 1 $csum 1
	fs_down
done
# Every profile with one algorithm, raid1 also with another and compress=zstd.
clean_case dup 1 crc32c 2 && fs_down
clean_case raid0 2 crc32c 1 && fs_down
clean_case raid1 2 crc32c 2 && fs_down
clean_case raid1 2 sha256 2 compress=zstd && fs_down
clean_case raid1c3 3 crc32c 3 && fs_down
clean_case raid1c4 4 crc32c 4 && fs_down
clean_case raid10 4 crc32c 2 && fs_down
clean_case raid5 3 crc32c 1 && fs_down

# One bad block: single, each copy of raid1 (the second one on its own
# device), and raid10 (striped and mirrored).
corrupt_case single 1 crc32c 0
corrupt_case raid1 2 xxhash 1 compress=zstd
corrupt_case raid10 4 blake2 0
echo "PASS"
