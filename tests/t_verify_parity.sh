#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bbscope verify --parity and --recover, and verify's checksums, on raid5
# (3 devices) and raid6 (4 devices; 5 devices with raid6 metadata too):
#
#   - clean: every referenced full stripe matches; the others are counted as
#     unreferenced, and the two counts are exactly what this script works out
#     on its own from the chunk and extent trees dumped by btrfs-progs; every
#     member (raid5) and every pair of members (raid6) rebuilds to the bytes
#     on disk; every data block's checksum matches, read from its data strip;
#   - one sector corrupted with dd on the unmounted members in a P strip, a
#     data strip and (raid6) a Q strip, each in its own full stripe, is
#     reported at exactly its strip, kind, devid, device and physical offset,
#     computed here from the chunk tree and the raid56 rotation, not from
#     bbscope's mapper; a P strip corrupted in a full stripe of a deleted
#     file is not reported (unreferenced); the bad data block is also found by
#     the checksum pass and by --recover; the unmounted members (DEVICES
#     form) give the same report as the mount point;
#   - degraded: --parity on the unmounted members with one left out, each
#     in turn.  raid6: every referenced full stripe has a strip on every
#     member and is checked with the parity left, all matching; a data
#     sector corrupted on a present member is the one mismatch, at exactly
#     its strip, whichever other member is missing.  raid5: nothing is left
#     to check with but the data checksums; a stripe is matched through
#     them or skipped as no_redundancy_left, never matched by parity, and
#     the corrupted data sector is found through the checksum of the strip
#     rebuilt from it.
. "$(dirname "$0")/lib.sh"

need_root
for t in jq mkfs.btrfs btrfs filefrag losetup dd mount umount; do
	command -v $t >/dev/null || skip "$t not installed"
done
[ -x "$BBSCOPE" ] || fail "$BBSCOPE not built (make)"
grep -qw btrfs /proc/filesystems || skip "kernel without btrfs"

BS=4096
DEVS=()

# fs_up PROFILE NDEV [METADATA]: a fresh sandbox at $MNT, members in DEVS.
fs_up() {
	local args=(--profile "$1" --devices "$2" --size 256M --backing-dir "$T_TMP/img")
	[ -n "${3:-}" ] && args+=(--metadata "$3")
	at_exit "\"$BBSCOPE\" sandbox down"
	"$BBSCOPE" sandbox up --json "${args[@]}" >"$T_TMP/sb.json" || fail "sandbox up ${args[*]}"
	MNT=$(jq -r .mountpoint "$T_TMP/sb.json")
	mapfile -t DEVS < <(jq -r '.devices[]' "$T_TMP/sb.json")
}

fs_down() {
	"$BBSCOPE" sandbox down >/dev/null || fail "sandbox down"
}

# After writing to the members behind btrfs's back: mount as the sandbox does.
fs_remount() {
	local opts=${DEVS[*]/#/device=}
	mount -o "${opts// /,}" "${DEVS[0]}" "$MNT" || fail "remount ${DEVS[0]} on $MNT"
}

fs_umount() {
	umount "$MNT" || fail "umount $MNT"
}

# where FILE OFFSET: btrfs logical address of FILE's byte OFFSET (FIEMAP).
where() {
	filefrag -v -b$BS "$1" | awk -v blk=$(($2 / BS)) -v bs=$BS '
		$1 ~ /^[0-9]+:$/ {
			gsub(/\.\./, " "); gsub(/:/, " ")
			if (blk >= $2 && blk <= $3 && $0 !~ /encoded|inline|unwritten/) {
				printf "%.0f\n", ($4 + blk - $2) * bs; found = 1; exit
			}
		}
		END { exit !found }'
}

# raid56_map LOGICAL: from the chunk tree (btrfs-progs' dump, fs unmounted)
# and btrfs's rotation (full stripe f, data element i: device (f + i) % n,
# P on (f + nd) % n, Q on (f + nd + 1) % n, physical stripe + f * stripe_len):
#   FSTART FSLEN ND I DATA_DEVID DATA_PHYS P_DEVID P_PHYS [Q_DEVID Q_PHYS]
raid56_map() {
	btrfs inspect-internal dump-tree -t chunk "${DEVS[0]}" | awk -v L="$1" '
		function out(k) { printf " %d %.0f", devid[k], phys[k] + f * slen + soff }
		function flush() {
			if (!in_chunk || L < start || L >= start + len || type !~ /RAID[56]/) return
			np = type ~ /RAID6/ ? 2 : 1; nd = n - np
			off = L - start; nr = int(off / slen); soff = off % slen
			f = int(nr / nd); i = nr % nd
			printf "%.0f %.0f %d %d", start + f * nd * slen, nd * slen, nd, i
			out((f + i) % n)
			for (p = 0; p < np; p++) out((f + nd + p) % n)
			printf "\n"
			done = 1
		}
		/CHUNK_ITEM/ { flush(); in_chunk = 1; start = $6 + 0 }
		/length .* stripe_len/ { len = $2; slen = $6; type = $8 }
		/num_stripes/ { n = $2 }
		/stripe [0-9]+ devid/ { devid[$2] = $4; phys[$2] = $6 }
		END { flush(); exit !done }'
}

# stripe_counts: "TOTAL REFERENCED" full stripes of the raid5/6 block groups,
# a full stripe being referenced when an EXTENT_ITEM or METADATA_ITEM of the
# extent tree overlaps it (fs unmounted).
stripe_counts() {
	local nodesize
	nodesize=$(btrfs inspect-internal dump-super "${DEVS[0]}" | awk '$1 == "nodesize" { print $2 }')
	awk -v ns="$nodesize" '
		BEGIN { nc = 0 }
		function flush() {
			if (!in_chunk || type !~ /RAID[56]/) return
			nd = n - (type ~ /RAID6/ ? 2 : 1)
			cs[nc] = start; ce[nc] = start + len; fl[nc] = nd * slen; nc++
			total += len / (nd * slen)
		}
		FNR == NR && /CHUNK_ITEM/ { flush(); in_chunk = 1; start = $6 + 0 }
		FNR == NR && /length .* stripe_len/ { len = $2; slen = $6; type = $8 }
		FNR == NR && /num_stripes/ { n = $2 }
		FNR == NR { next }
		FNR == 1 { flush() }
		/key \([0-9]+ (EXTENT|METADATA)_ITEM [0-9]+\)/ {
			sub(/.*key \(/, ""); s = $1 + 0; e = s + ($2 == "METADATA_ITEM" ? ns : $3 + 0)
			for (c = 0; c < nc; c++) {
				if (s < cs[c] || s >= ce[c]) continue
				for (f = int((s - cs[c]) / fl[c]); f <= int((e - 1 - cs[c]) / fl[c]); f++)
					if (!((c, f) in seen)) { seen[c, f] = 1; ref++ }
			}
		}
		END { printf "%.0f %.0f\n", total, ref }' \
		<(btrfs inspect-internal dump-tree -t chunk "${DEVS[0]}") \
		<(btrfs inspect-internal dump-tree -t extent "${DEVS[0]}")
}

dev_of() {
	btrfs filesystem show "${DEVS[0]}" | awk -v id="$1" '$1 == "devid" && $2 == id { print $NF }'
}

# corrupt DEVID PHYS: overwrite 4 KiB of an unmounted member.
corrupt() {
	local dev
	dev=$(dev_of "$1")
	[ -b "$dev" ] || fail "no device for devid $1"
	dd if=/dev/urandom of="$dev" bs=$BS seek=$(($2 / BS)) count=1 oflag=direct conv=notrunc \
		status=none || fail "dd to $dev"
}

# run_json OUT WANT-RC ARGS...: bbscope verify --json ARGS, exit status checked.
run_json() {
	local out=$1 want=$2 rc
	shift 2
	"$BBSCOPE" verify --json "$@" >"$out" 2>"$out.err"
	rc=$?
	[ $rc -eq "$want" ] || { cat "$out" "$out.err"; fail "verify --json $* exited $rc, want $want"; }
}

# The files: full and partial stripes written in one go, appends synced
# after each 12 KiB (sub-stripe writes: the kernel's read-modify-write), and
# 'gone', written, committed and deleted: its full stripes were written but
# are unreferenced now.  Sets BLOCKS (data blocks) and GONE (gone's logical).
populate() {
	local d=$1 i
	head -c 1M /dev/urandom >"$d/a" && head -c 4K /dev/urandom >>"$d/a" &&
		head -c $((20 * 1024 + 100)) /dev/urandom >"$d/b" &&
		head -c 3M /dev/urandom >"$d/c" || fail "writing test files in $d"
	for ((i = 0; i < 6; i++)); do
		head -c 12K /dev/urandom >>"$d/e" && sync || fail "appending to $d/e"
	done
	head -c 2M /dev/urandom >"$d/gone" && sync || fail "writing $d/gone"
	GONE=$(where "$d/gone" 0) || fail "no extent for gone"
	[ "$(where "$d/gone" $((2 * 1024 * 1024 - BS)))" = $((GONE + 2 * 1024 * 1024 - BS)) ] ||
		fail "gone is not one extent"
	rm "$d/gone" && sync || fail "removing $d/gone"
	BLOCKS=$((257 + 6 + 768 + 18))
}

# clean PROFILE: the checks of a freshly written filesystem (mounted at entry
# and exit).  Sets MATCHED and UNREF (full stripes).
clean() {
	local p=$1 out=$T_TMP/clean.json total ref
	populate "$MNT"

	run_json "$out" 0 "$MNT"
	jq -e --argjson n $BLOCKS '.checked == $n and .matched == $n and .mismatched == 0 and
	       .skipped.raid56 == 0 and .skipped.no_csum == 0 and .skipped.missing_device == 0' \
		"$out" >/dev/null || { cat "$out"; fail "$p: want $BLOCKS data blocks matching"; }
	ok "$p checksums: $(jq -c '{files, checked, matched}' "$out")"

	run_json "$out" 0 --parity "$MNT"
	jq -e '.mode == "parity" and .unit == "stripes" and .mismatched == 0 and
	       .mismatches == [] and .matched > 0 and .checked == .matched and
	       .unreferenced > 0 and .skipped.missing_device == 0 and .skipped.read_error == 0' \
		"$out" >/dev/null || { cat "$out"; fail "$p: want every referenced stripe matching"; }
	MATCHED=$(jq .matched "$out")
	UNREF=$(jq .unreferenced "$out")

	fs_umount
	read -r total ref <<<"$(stripe_counts)"
	[ "$MATCHED" -eq "$ref" ] && [ $((MATCHED + UNREF)) -eq "$total" ] ||
		fail "$p: bbscope says $MATCHED referenced, $UNREF unreferenced; the trees say $ref of $total"
	ok "$p parity: $MATCHED referenced full stripes match, $UNREF unreferenced (of $total)"
	run_json "$out" 0 --parity "${DEVS[@]}"
	jq -e --argjson m "$MATCHED" --argjson u "$UNREF" \
		'.matched == $m and .mismatched == 0 and .unreferenced == $u' "$out" >/dev/null ||
		{ cat "$out"; fail "$p: the unmounted members say otherwise"; }
	ok "$p parity from the unmounted members: the same"
	fs_remount
}

# recover_all PROFILE NDEV NFAIL: rebuild every member (NFAIL 1) or every pair
# of members (NFAIL 2); every chunk spans every device, so each rebuild
# covers NFAIL strips of each referenced full stripe.
recover_all() {
	local p=$1 n=$2 nf=$3 out=$T_TMP/rec.json a b sets=() s
	for ((a = 1; a <= n; a++)); do
		if [ "$nf" = 1 ]; then
			sets+=("--recover $a")
			continue
		fi
		for ((b = a + 1; b <= n; b++)); do sets+=("--recover $a --recover $b"); done
	done
	for s in "${sets[@]}"; do
		# shellcheck disable=SC2086
		run_json "$out" 0 $s "$MNT"
		jq -e --argjson m $((MATCHED * nf)) --argjson u $((UNREF * nf)) \
			'.mode == "recover" and .unit == "strips" and .matched == $m and
			 .mismatched == 0 and .unreferenced == $u' "$out" >/dev/null ||
			{ cat "$out"; fail "$p: $s does not rebuild the bytes on disk"; }
	done
	ok "$p: all ${#sets[@]} rebuilds of $nf member(s) equal the disk"
}

# mm_json KIND MAP [DEGRADED]: the expected mismatch for a corruption of the
# KIND strip (data, p or q) of the block whose raid56_map output is MAP,
# found with (DEGRADED true) or without strips missing.
mm_json() {
	local kind=$1 dg=${3:-false} fstart fslen nd i dd dp pd pp qd qp devid phys strip
	read -r fstart fslen nd i dd dp pd pp qd qp <<<"$2"
	case $kind in
	data) devid=$dd phys=$dp strip=$i ;;
	p) devid=$pd phys=$pp strip=$nd ;;
	q) devid=$qd phys=$qp strip=$((nd + 1)) ;;
	esac
	jq -nc --argjson l "$fstart" --argjson s "$strip" --arg k "$kind" --argjson d "$devid" \
		--arg dev "$(dev_of "$devid")" --argjson ph "$phys" --argjson dg "$dg" \
		'{logical: $l, strip: $s, kind: $k, devid: $d, device: $dev, physical: $ph, sectors: 1,
		  degraded: $dg}'
}

# without DEVID: the members but devid DEVID's device, in OTHERS.
without() {
	local gone d
	gone=$(dev_of "$1")
	OTHERS=()
	for d in "${DEVS[@]}"; do [ "$d" = "$gone" ] || OTHERS+=("$d"); done
	[ ${#OTHERS[@]} -eq $((${#DEVS[@]} - 1)) ] || fail "devid $1 is none of ${DEVS[*]}"
}

# save_block DEVID PHYS, restore_block: keep 4 KiB of an unmounted member
# before corrupting it, and put it back.
save_block() {
	dd if="$(dev_of "$1")" of="$T_TMP/saved" bs=$BS skip=$(($2 / BS)) count=1 iflag=direct \
		status=none || fail "saving devid $1 physical $2"
	SAVED="$1 $2"
}

restore_block() {
	local devid phys
	read -r devid phys <<<"$SAVED"
	dd if="$T_TMP/saved" of="$(dev_of "$devid")" bs=$BS seek=$((phys / BS)) count=1 \
		oflag=direct conv=notrunc status=none || fail "restoring devid $devid physical $phys"
}

# degraded6 PROFILE NDEV: raid6 with each member missing in turn, clean and
# with a data sector corrupted (restored afterwards).  Mounted at entry and exit.
degraded6() {
	local p=$1 n=$2 out=$T_TMP/deg.json x l map fstart fslen nd i dd dp rest want rc
	l=$(where "$MNT/c" $((1536 * 1024 + 12288))) || fail "no extent at c:1.5M+12K"
	fs_umount
	for ((x = 1; x <= n; x++)); do
		without $x
		run_json "$out" 0 --parity "${OTHERS[@]}"
		jq -e --argjson m "$MATCHED" --argjson u "$UNREF" \
			'.matched == $m and .degraded_matched == $m and .mismatched == 0 and
			 .degraded_mismatched == 0 and .degraded_by_csum == 0 and .unreferenced == $u and
			 .skipped.missing_device == 0 and .skipped.no_redundancy_left == 0 and
			 .skipped.read_error == 0 and .mismatches == []' "$out" >/dev/null ||
			{ cat "$out"; fail "$p without devid $x: want $MATCHED stripes matching degraded"; }
	done
	ok "$p: with any one member missing, all $MATCHED referenced full stripes match degraded"
	"$BBSCOPE" verify --parity "${OTHERS[@]}" >"$out" || fail "$p: plain degraded run failed"
	grep -q "checked degraded $MATCHED: matched $MATCHED, mismatched 0" "$out" &&
		grep -q "^skipped stripes: none" "$out" ||
		{ cat "$out"; fail "$p: plain output does not count the degraded stripes"; }

	map=$(raid56_map "$l") || fail "$p: c:1.5M+12K not in a raid56 chunk"
	read -r fstart fslen nd i dd dp rest <<<"$map"
	save_block "$dd" "$dp"
	corrupt "$dd" "$dp"
	want=$(mm_json data "$map" true)
	for ((x = 1; x <= n; x++)); do
		without $x
		if [ "$x" = "$dd" ]; then
			# The bad sector is the one missing: its rebuild from P is right.
			run_json "$out" 0 --parity "${OTHERS[@]}"
			jq -e --argjson m "$MATCHED" '.degraded_matched == $m and .mismatched == 0' \
				"$out" >/dev/null || { cat "$out"; fail "$p without devid $x: want clean"; }
			continue
		fi
		run_json "$out" 1 --parity "${OTHERS[@]}"
		jq -e --argjson m $((MATCHED - 1)) --argjson want "[$want]" \
			'.matched == $m and .degraded_matched == $m and .mismatched == 1 and
			 .degraded_mismatched == 1 and .skipped.missing_device == 0 and
			 [.mismatches[] | del(.profile)] == $want' "$out" >/dev/null ||
			{ echo "want: $want"; cat "$out"; fail "$p without devid $x: want the bad data strip"; }
	done
	ok "$p: a data sector corrupted on devid $dd found degraded at its strip, any other member missing"
	"$BBSCOPE" verify --parity "${OTHERS[@]}" >"$out"
	rc=$?
	want="^mismatch: full stripe logical $fstart (raid6, degraded): strip $i (data) devid $dd "
	want+=".* physical $dp: 1 sector disagrees"
	[ $rc -eq 1 ] && grep -q "$want" "$out" ||
		{ cat "$out"; fail "$p: plain output does not report the degraded mismatch (exit $rc)"; }
	restore_block
	fs_remount
}

# degraded5 PROFILE NDEV: raid5 with each member missing in turn, then a
# corrupted data sector (restored afterwards).  Mounted at entry and exit.
degraded5() {
	local p=$1 n=$2 out=$T_TMP/deg.json x l map fstart fslen nd i dd dp pd pp other
	l=$(where "$MNT/c" $((1536 * 1024 + 12288))) || fail "no extent at c:1.5M+12K"
	fs_umount
	for ((x = 1; x <= n; x++)); do
		without $x
		run_json "$out" 0 --parity "${OTHERS[@]}"
		jq -e --argjson m "$MATCHED" --argjson u "$UNREF" \
			'.mismatched == 0 and .degraded_mismatched == 0 and .unreferenced == $u and
			 .matched == .degraded_matched and .degraded_by_csum == .degraded_matched and
			 .degraded_matched > 0 and .skipped.no_redundancy_left > 0 and
			 .degraded_matched + .skipped.no_redundancy_left == $m and
			 .skipped.missing_device == 0 and .skipped.read_error == 0' "$out" >/dev/null ||
			{ cat "$out"; fail "$p without devid $x: want checksum matches, no_redundancy_left"; }
	done
	ok "$p: any one member missing: stripes match through data checksums or are skipped" \
		"($(jq -c '{degraded_by_csum, skipped}' "$out"))"
	"$BBSCOPE" verify --parity "${OTHERS[@]}" | grep -q "^skipped stripes: no_redundancy_left [1-9]" ||
		fail "$p: plain output does not give the skip reason"

	map=$(raid56_map "$l") || fail "$p: c:1.5M+12K not in a raid56 chunk"
	read -r fstart fslen nd i dd dp pd pp <<<"$map"
	other=$((n * (n + 1) / 2 - dd - pd))
	save_block "$dd" "$dp"
	corrupt "$dd" "$dp"
	# The other data strip missing: rebuilt from P and the bad sector, it fails its checksum.
	without $other
	run_json "$out" 1 --parity "${OTHERS[@]}"
	jq -e --argjson want "[$(mm_json data "$map" true)]" \
		'.mismatched == 1 and .degraded_mismatched == 1 and .degraded_by_csum > 0 and
		 [.mismatches[] | del(.profile)] == $want' "$out" >/dev/null ||
		{ cat "$out"; fail "$p without devid $other: want the bad data strip, through checksums"; }
	# P missing: nothing checks that full stripe; the bad sector missing: P rebuilds it right.
	for x in "$pd" "$dd"; do
		without "$x"
		run_json "$out" 0 --parity "${OTHERS[@]}"
		jq -e '.mismatched == 0 and .skipped.no_redundancy_left > 0' "$out" >/dev/null ||
			{ cat "$out"; fail "$p without devid $x: want no mismatch"; }
	done
	ok "$p: a corrupted data sector found degraded, through the checksum of the strip rebuilt from it"
	restore_block
	fs_remount
}

# corrupted PROFILE: corrupt P, data (and Q) of three full stripes, and P
# of a full stripe of the deleted file; expect exactly the first ones.
corrupted() {
	local p=$1 raid6=$2 out=$T_TMP/bad.json la lc lq mp md mq mu want nbad
	local fstart fslen nd i dd dp pd pp rest want_dev
	la=$(where "$MNT/a" $((512 * 1024))) || fail "no extent at a:512K"
	lc=$(where "$MNT/c" $((2 * 1024 * 1024 + 8192))) || fail "no extent at c:2M+8K"
	lq=$(where "$MNT/c" $((1024 * 1024 + 4096))) || fail "no extent at c:1M+4K"
	fs_umount

	mp=$(raid56_map "$la") && md=$(raid56_map "$lc") && mq=$(raid56_map "$lq") &&
		mu=$(raid56_map $((GONE + 1024 * 1024))) || fail "$p: logical not in a raid56 chunk"
	# The stripe of gone must lie wholly inside what gone was.
	read -r fstart fslen rest <<<"$mu"
	[ "$fstart" -ge "$GONE" ] && [ $((fstart + fslen)) -le $((GONE + 2 * 1024 * 1024)) ] ||
		fail "$p: no full stripe wholly inside the deleted file"
	[ "$(printf '%s\n' "${mp%% *}" "${md%% *}" "${mq%% *}" "$fstart" | sort -u | wc -l)" = 4 ] ||
		fail "$p: test blocks share a full stripe"

	read -r fstart fslen nd i dd dp pd pp rest <<<"$mp"
	corrupt "$pd" "$pp"
	read -r fstart fslen nd i dd dp pd pp rest <<<"$md"
	corrupt "$dd" "$dp"
	want_dev="$dd $(dev_of "$dd") physical $dp"
	read -r fstart fslen nd i dd dp pd pp rest <<<"$mu"
	corrupt "$pd" "$pp"
	want=$(mm_json p "$mp"; mm_json data "$md")
	nbad=2
	if [ "$raid6" = 1 ]; then
		read -r fstart fslen nd i dd dp pd pp qd qp <<<"$mq"
		corrupt "$qd" "$qp"
		want+=$'\n'$(mm_json q "$mq")
		nbad=3
	fi
	want=$(jq -sc 'sort_by(.logical)' <<<"$want")
	fs_remount

	run_json "$T_TMP/bad-mnt.json" 1 --parity "$MNT"
	jq -e --argjson want "$want" --argjson m $((MATCHED - nbad)) --argjson u "$UNREF" \
		--argjson n $nbad \
		'.mismatched == $n and .matched == $m and .unreferenced == $u and
		 ([.mismatches[] | del(.profile)] | sort_by(.logical)) == $want' \
		"$T_TMP/bad-mnt.json" >/dev/null ||
		{ echo "want: $want"; cat "$T_TMP/bad-mnt.json"; fail "$p: want exactly the corrupted strips"; }
	ok "$p parity: $nbad corrupted strips found at exactly their place, the deleted file's not"
	"$BBSCOPE" verify --parity "$MNT" | grep -q "(data) devid $want_dev: 1 sector disagrees" ||
		fail "$p: plain output does not name the bad data strip (devid $want_dev)"

	# The checksum pass finds the bad data block, at the same place.
	read -r fstart fslen nd i dd dp rest <<<"$md"
	run_json "$out" 1 "$MNT"
	jq -e --arg path "$MNT/c" --argjson l "$lc" --argjson d "$dd" --argjson ph "$dp" \
		--argjson n $BLOCKS \
		'.checked == $n and .mismatched == 1 and
		 (.mismatches[0] | .path == $path and .file_offset == 2105344 and .logical == $l and
		  .devid == $d and .physical == $ph and .mirror == 1)' "$out" >/dev/null ||
		{ cat "$out"; fail "$p: checksums: want c:2M+8K at devid $dd physical $dp"; }
	ok "$p checksums: the corrupted data block found at devid $dd physical $dp"

	# Rebuilding its member disagrees with the disk right there.
	run_json "$out" 1 --recover "$dd" "$MNT"
	jq -e --argjson want "$(mm_json data "$md")" \
		'any(.mismatches[]; del(.profile) == $want)' "$out" >/dev/null ||
		{ cat "$out"; fail "$p: --recover $dd does not find the bad data strip"; }
	ok "$p: --recover $dd finds the bad data strip"

	# The unmounted members say the same.
	fs_umount
	run_json "$out" 1 --parity "${DEVS[@]}"
	[ "$(jq -c 'del(.block_groups)' "$out")" = "$(jq -c 'del(.block_groups)' "$T_TMP/bad-mnt.json")" ] ||
		{ cat "$out" "$T_TMP/bad-mnt.json"; fail "$p: the unmounted members report otherwise"; }
	ok "$p parity from the unmounted members: the same mismatches"
	fs_remount
}

# raid5 on 3 devices, with the usage errors first.
fs_up raid5 3
out=$T_TMP/err.json
run_json "$out" 2 --recover 9 "$MNT"
jq -e '.error | test("no member devid 9")' "$out" >/dev/null || fail "error JSON: $(cat "$out")"
run_json "$out" 2 --recover 1 --recover 2 "$MNT"
jq -e '.error | test("raid5 rebuilds one member")' "$out" >/dev/null || fail "error: $(cat "$out")"
run_json "$out" 2 --parity --recover 1 "$MNT"
run_json "$out" 2 --parity "${DEVS[0]}"
jq -e '.error | test("mounted\\?")' "$out" >/dev/null || fail "error: $(cat "$out")"
"$BBSCOPE" verify --parity "$MNT" "$MNT" 2>"$out.err"
rc=$?
check "two mount points exit 2" [ $rc -eq 2 ]
check "with a one-line error" [ "$(wc -l <"$out.err")" -eq 1 ]

clean raid5
recover_all raid5 3 1
degraded5 raid5 3
corrupted raid5 0
fs_down

fs_up raid6 4
clean raid6
recover_all raid6 4 2
degraded6 raid6 4
corrupted raid6 1
fs_down

fs_up raid6 5 raid6
clean "raid6 (5 devices, raid6 metadata)"
recover_all "raid6 (5 devices, raid6 metadata)" 5 2
fs_down
echo "PASS"
