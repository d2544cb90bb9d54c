#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bbscope sandbox on real loop devices: up/status/down for single, raid1,
# raid1c3, raid1c4, raid5 and raid6 (one checksum type each; raid1c3 and
# raid1c4 on their default device counts), the refusals (up twice, down with
# nothing up, bad values, not root), unwinding after a failed mkfs or mount,
# a busy mount point, and that down never touches a loop device that is not
# the sandbox's.  Everything is looked for by our own backing dir, so loop
# devices and mounts of other users of this machine are never looked at.
# shellcheck disable=SC2016 # check ... eval '...' expands when the check runs
. "$(dirname "$0")/lib.sh"

need_root
for tool in jq losetup mkfs.btrfs btrfs setpriv; do
	command -v $tool >/dev/null || skip "$tool is not installed"
done
[ -x "$BBSCOPE" ] || fail "no $BBSCOPE (build it first)"

BACKING=$T_TMP/backing
STATE=$BBSCOPE_STATE_DIR
mkdir -p "$STATE"
STATE=$(realpath "$STATE")

# Loop devices whose backing file is under $BACKING, as losetup -a lists them.
our_loops() { losetup -a | grep -F "($BACKING/"; }
mounted_at() { awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/mounts; }
quiet() { "$@" >/dev/null; }
one_line_err() { [ "$(wc -l <"$1")" -eq 1 ] && grep -q '^bbscope: ' "$1"; }
# How btrfs filesystem df names a profile.
label() { [ "$1" = single ] && echo single || echo "${1^^}"; }

# expect_fail RC PATTERN ARGS...: 'bbscope sandbox ARGS' exits RC with one
# error line on stderr matching PATTERN.
expect_fail() {
	local rc=$1 pat=$2 got
	shift 2
	"$BBSCOPE" sandbox "$@" >"$T_TMP/out" 2>"$T_TMP/err"
	got=$?
	[ $got -eq "$rc" ] || { cat "$T_TMP/err"; fail "sandbox $* exited $got, not $rc"; }
	one_line_err "$T_TMP/err" || { cat "$T_TMP/err"; fail "sandbox $*: not one error line"; }
	grep -q -e "$pat" "$T_TMP/err" || { cat "$T_TMP/err"; fail "sandbox $*: no '$pat'"; }
	ok "sandbox $* -> exit $rc: $(cat "$T_TMP/err")"
}

# Nothing of a sandbox is left: no loop device on our files, no mount, no
# backing file or dir (the sandbox made it), no mount dir, no state.
check_clean() {
	local what=$1
	check "$what: no loop device on our files" test -z "$(our_loops)"
	check "$what: nothing mounted at the mount point" eval '! mounted_at "$STATE/mnt"'
	check "$what: backing dir gone" test ! -e "$BACKING"
	check "$what: mount dir gone" test ! -e "$STATE/mnt"
	check "$what: state file gone" test ! -e "$STATE/sandbox.json"
}

# Write data through the filesystem and read it back from the devices
# (O_DIRECT skips the page cache, so btrfs reads and verifies checksums).
check_usable() {
	local what=$1
	head -c 8M /dev/urandom >"$T_TMP/data"
	if ! cp "$T_TMP/data" "$MNT/data" || ! sync "$MNT/data"; then
		fail "$what: cannot write to $MNT"
	fi
	check "$what: data reads back from disk" \
		eval 'dd if="$MNT/data" iflag=direct bs=1M status=none | cmp -s - "$T_TMP/data"'
	check "$what: scrub finds no errors" btrfs scrub start -B -q "$MNT"
}

# exercise PROFILE NDEVS CSUM META SIZE [UP ARGS...]: up, check everything
# the JSON says against the kernel and the tools, use it, status, down.
exercise() {
	local profile=$1 ndevs=$2 csum=$3 meta=$4 size=$5 what=$1 fsid dev i
	shift 5
	sandbox_up --backing-dir "$BACKING" --profile "$profile" --csum "$csum" "$@"
	check "$what: JSON has the documented keys" quiet jq -e '(keys | sort) == ["algo",
		"backing_dir", "devices", "fsid", "metadata_profile", "mountpoint", "profile",
		"size_bytes"]' "$SB_JSON"
	check "$what: JSON values" quiet jq -e --arg mnt "$STATE/mnt" --arg p "$profile" \
		--arg m "$meta" --arg c "$csum" --arg b "$BACKING" --argjson n "$ndevs" \
		--argjson size "$size" '.mountpoint == $mnt and .profile == $p and
		.metadata_profile == $m and .algo == $c and .backing_dir == $b and
		.size_bytes == $size and (.devices | length) == $n and
		all(.devices[]; test("^/dev/loop[0-9]+$")) and (.fsid | test(
		"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"))' "$SB_JSON"
	fsid=$(jq -r .fsid "$SB_JSON")
	check "$what: mounted at $MNT" mounted_at "$MNT"
	i=0
	for dev in $(jq -r '.devices[]' "$SB_JSON"); do
		check "$what: $dev is backed by dev$i.img" \
			test "$(losetup -n -O BACK-FILE "$dev")" = "$BACKING/dev$i.img"
		check "$what: dev$i.img is sparse, $size bytes" eval \
			'[ "$(stat -c "%s" "$BACKING/dev$i.img")" = "$size" ] &&
			 [ "$(du -B1 "$BACKING/dev$i.img" | cut -f1)" -lt "$size" ]'
		i=$((i + 1))
	done
	dev=$(jq -r '.devices[0]' "$SB_JSON")
	btrfs filesystem show "$MNT" >"$T_TMP/show"
	check "$what: btrfs filesystem show: fsid and $ndevs devices" \
		eval 'grep -q "uuid: $fsid" "$T_TMP/show" && grep -q "Total devices $ndevs " "$T_TMP/show"'
	btrfs filesystem df "$MNT" >"$T_TMP/df"
	check "$what: data profile is $profile" grep -q "^Data, $(label "$profile"):" "$T_TMP/df"
	check "$what: metadata profile is $meta" grep -q "^Metadata, $(label "$meta"):" "$T_TMP/df"
	# dump-super says xxhash64 for xxhash.
	btrfs inspect-internal dump-super "$dev" >"$T_TMP/super"
	check "$what: csum type is $csum" \
		grep -Eq "^csum_type[[:space:]]+[0-9]+ \(${csum}[0-9]*\)" "$T_TMP/super"
	check_usable "$what"
	check "$what: status exits 0" quiet "$BBSCOPE" sandbox status
	check "$what: status --json has the same fsid" \
		test "$("$BBSCOPE" sandbox status --json | jq -r .fsid)" = "$fsid"
	check "$what: down" "$BBSCOPE" sandbox down
	check_clean "$what"
}

# --- refusals that need no sandbox ---
expect_fail 1 'no sandbox is up' down
expect_fail 1 'no sandbox is up' status
check "down --json: the error is JSON on stdout" eval \
	'"$BBSCOPE" sandbox down --json 2>/dev/null | jq -e ".error == \"no sandbox is up\"" >/dev/null'
expect_fail 2 --profile up --profile raid7
expect_fail 2 --profile up --profile ''
expect_fail 2 --size up --size 64M
expect_fail 2 --size up --size lots
expect_fail 2 --devices up --devices 0
expect_fail 2 --devices up --devices 17
expect_fail 2 --devices up --devices two
expect_fail 2 --devices up --profile raid1 --devices 1
expect_fail 2 --devices up --profile raid6 --devices 2
expect_fail 2 'too few for --profile raid1c3: it needs at least 3' up --profile raid1c3 --devices 2
expect_fail 2 'too few for --profile raid1c4: it needs at least 4' up --profile raid1c4 --devices 3
expect_fail 2 --csum up --csum md5
expect_fail 2 --algo up --algo md5
# The alias names btrfs-progs accepts: blake2b passes, and --size is what is refused.
expect_fail 2 'too small' up --csum blake2b --size 64M
expect_fail 2 --metadata up --metadata raid1c3 --profile raid1
expect_fail 2 --frobnicate up --frobnicate
check "bad value with --json: the error is JSON on stdout" eval '"$BBSCOPE" sandbox up --json \
	--profile raid7 2>/dev/null | jq -e ".error | test(\"--profile\")" >/dev/null'
check "--help: usage on stdout, exit 0" eval '"$BBSCOPE" sandbox up --help | grep -q "^usage: "'
for sub in up down; do
	setpriv --reuid=65534 --regid=65534 --clear-groups "$BBSCOPE" sandbox $sub \
		>/dev/null 2>"$T_TMP/err"
	rc=$?
	check "not root: $sub exits 1" test $rc -eq 1
	check "not root: $sub says why in one line" eval 'one_line_err "$T_TMP/err" &&
		grep -q "sandbox needs root" "$T_TMP/err"'
done
check "refusals made nothing" eval '[ ! -e "$BACKING" ] && [ -z "$(ls -A "$STATE")" ]'

# --- a failed mkfs or mount unwinds everything ---
# dup data needs ~240M per device: mkfs.btrfs refuses 128M, after we attached.
expect_fail 1 'mkfs.btrfs failed (exit 1): minimum size' up --backing-dir "$BACKING" \
	--profile dup --size 128M
check_clean "failed mkfs"
expect_fail 1 'cannot mount' up --backing-dir "$BACKING" --profile raid1 --size 256M \
	--mount-opts no_such_option
check_clean "failed mount"

# --- one sandbox per profile; a loop device of our own lives through them ---
truncate -s 64M "$T_TMP/foreign.img"
FOREIGN=$(losetup -f --show "$T_TMP/foreign.img") || fail "cannot attach foreign.img"
at_exit "losetup -d $FOREIGN"

exercise single 1 crc32c dup $((1 << 30))
exercise raid1 2 xxhash raid1 $((256 << 20)) --size 256M
exercise raid1c3 3 crc32c raid1c3 $((256 << 20)) --size 256M
exercise raid1c4 4 xxhash raid1c4 $((256 << 20)) --size 256M
exercise raid5 3 sha256 raid1 $((256 << 20)) --size 256M
exercise raid6 4 blake2 raid1c3 $((256 << 20)) --size 256M
check "a loop device down did not make is still attached" \
	test "$(losetup -n -O BACK-FILE "$FOREIGN")" = "$T_TMP/foreign.img"

# --- up twice; mount options; an existing backing dir is kept ---
mkdir "$BACKING"
MNT=$("$BBSCOPE" sandbox up --backing-dir "$BACKING" --mount-opts noatime,compress=zstd) ||
	fail "sandbox up (plain)"
at_exit "\"$BBSCOPE\" sandbox down"
check "up prints the mount point" test "$MNT" = "$STATE/mnt"
check "--mount-opts: flags and btrfs options both applied" eval \
	'awk -v m="$MNT" "\$2 == m { print \$4 }" /proc/mounts | grep -q "noatime.*compress=zstd"'
expect_fail 1 'already up' up --backing-dir "$T_TMP/second"
check "the refused up made nothing" test ! -e "$T_TMP/second"
check "the refused up left the first one alone" test "$(our_loops | wc -l)" -eq 1
check_usable "after a refused up"
check "down" "$BBSCOPE" sandbox down
check "a backing dir down did not make is kept, empty" \
	eval '[ -d "$BACKING" ] && [ -z "$(ls -A "$BACKING")" ]'
rmdir "$BACKING"
check_clean "up twice"

# --- a busy mount point: down fails, keeps the state, and works later ---
sandbox_up --backing-dir "$BACKING"
bash -c 'cd "$1" && exec sleep 120' busy "$MNT" &
BUSY=$!
at_exit "kill $BUSY"
for ((i = 0; i < 50; i++)); do
	[ "$(readlink /proc/$BUSY/cwd)" = "$MNT" ] && break
	sleep 0.1
done
expect_fail 1 "cannot unmount $MNT: Device or resource busy (a process is using it)" down
check "busy: still mounted" mounted_at "$MNT"
check "busy: state kept" quiet "$BBSCOPE" sandbox status
check "busy: loop device kept" test "$(our_loops | wc -l)" -eq 1
kill $BUSY
wait $BUSY 2>/dev/null
check "down once the process is gone" "$BBSCOPE" sandbox down
check_clean "busy"

# --- a sandbox device reused by someone else is left alone ---
# Its filesystem was unmounted and the device detached behind bbscope's back,
# then the same loop number was given to another file.
sandbox_up --backing-dir "$BACKING"
DEV=$(jq -r '.devices[0]' "$SB_JSON")
umount "$MNT" || fail "cannot unmount $MNT behind the sandbox's back"
losetup -d "$DEV" || fail "cannot detach $DEV behind the sandbox's back"
btrfs device scan --forget "$DEV" 2>/dev/null
truncate -s 64M "$T_TMP/other.img"
at_exit "losetup -j \"$T_TMP/other.img\" -n -O NAME | xargs -r -n1 losetup -d"
if losetup "$DEV" "$T_TMP/other.img" 2>/dev/null; then
	"$BBSCOPE" sandbox down 2>"$T_TMP/err"
	rc=$?
	check "reused: down exits 0" test $rc -eq 0
	check "reused: down says it leaves $DEV alone" grep -q "$DEV is backed by .*leaving it alone" \
		"$T_TMP/err"
	check "reused: $DEV still backed by the other file" \
		test "$(losetup -n -O BACK-FILE "$DEV")" = "$T_TMP/other.img"
	check_clean "reused"
	losetup -d "$DEV"
else
	# Someone else took the number first: down must leave theirs alone too.
	check "reused by another process: down" "$BBSCOPE" sandbox down
	check_clean "reused"
fi

exit 0
