#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Output paths (host/outfile.h): a path that is not a regular file is
# written into (a device node, a FIFO, '-') or refused, never unlinked or
# renamed over; temporaries are never predictable names and never followed
# through a planted symlink; derived names (PREFIX.N, DIR/<dev>.blktrace.N)
# are never followed; a dangling symlink gets a clear message; report and
# export refuse a FIFO as input instead of blocking in open().
# Device nodes are made here (mknod), never /dev/null itself.
. "$(dirname "$0")/lib.sh"
need_root
command -v jq >/dev/null || skip "jq not installed"

TRACE=$PWD/tests/fuzz/real-dd.bbt
[ -f "$TRACE" ] || fail "$TRACE missing"
ND=$T_TMP/nd
mknod "$ND" c 1 3 || skip "cannot make a device node in $T_TMP"
echo x >"$ND" 2>/dev/null || skip "$T_TMP does not allow device nodes"

still_node() { [ -c "$ND" ] && [ "$(stat -c %t:%T "$ND")" = 1:3 ]; }

# run WHAT RC CMD...: bbscope CMD exits RC (stderr kept in $T_TMP/err).
run() {
	local what=$1 want=$2 rc
	shift 2
	timeout 20 "$BBSCOPE" "$@" >"$T_TMP/out" 2>"$T_TMP/err"
	rc=$?
	[ $rc -eq "$want" ] || { cat "$T_TMP/err"; fail "$what: exit $rc, not $want"; }
}

# ---- 1. a device node is written into, never replaced ----
run "report --html NODE" 0 report --html "$ND" "$TRACE"
check "report --html NODE: still the device node" still_node
run "export --fio-iolog NODE --force" 0 export --fio-iolog -o "$ND" --force "$TRACE"
check "export --fio-iolog NODE: still the device node" still_node
run "replay csum --csum-out NODE" 0 replay csum --synthetic size=1M --target "$T_TMP/r.img" \
	--mode serial --csum-out "$ND"
check "replay csum --csum-out NODE: still the device node" still_node
run "report --html -" 0 report --html - "$TRACE"
check "report --html -: the page on stdout" grep -q '^<!DOCTYPE html>' "$T_TMP/out"

# A FIFO: written into when someone reads it, refused (not waited on) otherwise.
mkfifo "$T_TMP/fifo"
cat "$T_TMP/fifo" >"$T_TMP/from-fifo" &
CAT=$!
at_exit "kill $CAT"
sleep 0.2
run "report --html FIFO with a reader" 0 report --html "$T_TMP/fifo" "$TRACE"
wait $CAT
check "the reader got the page" grep -q '</html>' "$T_TMP/from-fifo"
check "the FIFO is still a FIFO" test -p "$T_TMP/fifo"
run "report --html FIFO without a reader" 2 report --html "$T_TMP/fifo" "$TRACE"
check "FIFO without a reader: says so" grep -q 'FIFO that no process reads' "$T_TMP/err"
mkdir "$T_TMP/dir"
run "report --html DIR" 2 report --html "$T_TMP/dir" "$TRACE"
check "a directory: says so" grep -q 'is a directory' "$T_TMP/err"

# ---- 2. temporaries: no predictable name, no planted symlink followed ----
echo precious >"$T_TMP/victim"
for tmp in rep.html.tmp io.log.tmp sums.tmp hist.json.tmp; do
	ln -s victim "$T_TMP/$tmp"
done
run "report --html beside a planted .tmp" 0 report --html "$T_TMP/rep.html" "$TRACE"
run "export --fio-iolog beside a planted .tmp" 0 export --fio-iolog -o "$T_TMP/io.log" "$TRACE"
run "replay csum --csum-out beside a planted .tmp" 0 replay csum --synthetic size=1M \
	--target "$T_TMP/r2.img" --mode serial --csum-out "$T_TMP/sums"
check "victim untouched" test "$(cat "$T_TMP/victim")" = precious
check "the page is a regular file" test -f "$T_TMP/rep.html" -a ! -L "$T_TMP/rep.html"
check "the iolog is written" grep -q '^fio version 3 iolog' "$T_TMP/io.log"
check "the checksum list is written" test -s "$T_TMP/sums"
check "no temporary left behind" test -z "$(find "$T_TMP" -maxdepth 1 -name '.*.??????')"

# Derived names are never followed: --rebuilt-out PREFIX.N, DIR/<dev>.blktrace.N.
ln -s victim "$T_TMP/rb.1"
P="--synthetic size=1M --profile raid5 --mode step --targets $T_TMP/p0,$T_TMP/p1,$T_TMP/p2"
# shellcheck disable=SC2086
run "replay parity (targets)" 0 replay parity $P
# shellcheck disable=SC2086
run "replay parity --rebuilt-out over a planted PREFIX.1" 1 replay parity $P --force \
	--degraded 1 --rebuilt-out "$T_TMP/rb"
check "rebuilt-out: says it is a symlink" grep -q 'rb.1: is a symbolic link' "$T_TMP/err"
check "victim untouched by --rebuilt-out" test "$(cat "$T_TMP/victim")" = precious
mkdir "$T_TMP/bt"
dev=$("$BBSCOPE" report --json "$TRACE" | jq -r '[.groups[].dev | select(.)][0]')
ln -s ../victim "$T_TMP/bt/$dev.blktrace.0"
run "export --blktrace --force over a planted file" 2 export --blktrace -o "$T_TMP/bt" --force \
	"$TRACE"
check "victim untouched by --blktrace" test "$(cat "$T_TMP/victim")" = precious

# A symlink the user named is written through (the link stays a link).
ln -s rep.html "$T_TMP/link.html"
run "report --html LINK --force" 0 report --html "$T_TMP/link.html" --force "$TRACE"
check "the link is still a link" test -L "$T_TMP/link.html"

# ---- 12. report and export refuse a FIFO as input, at once ----
mkfifo "$T_TMP/in.fifo"
run "report FIFO" 2 report "$T_TMP/in.fifo"
check "report FIFO: not a regular file" grep -q 'not a regular file' "$T_TMP/err"
run "export FIFO" 2 export --fio-iolog -o "$T_TMP/x.log" "$T_TMP/in.fifo"
check "export FIFO: not a regular file" grep -q 'not a regular file' "$T_TMP/err"

# ---- record: a device node, a dangling symlink, a FIFO ----
run "record -o NODE --force" 0 record -o "$ND" --force -d 0.3
check "record -o NODE: still the device node" still_node
run "record --hist-json NODE" 0 record -o "$T_TMP/t.bbt" --hist-json "$ND" -d 0.3
check "record --hist-json NODE: still the device node" still_node
run "record --hist-json beside a planted .tmp" 0 record -o "$T_TMP/t2.bbt" \
	--hist-json "$T_TMP/hist.json" -d 0.3
check "victim untouched by --hist-json" test "$(cat "$T_TMP/victim")" = precious
check "hist.json is JSON" jq -e .groups "$T_TMP/hist.json"
ln -s nowhere "$T_TMP/dangling"
run "record -o DANGLING" 2 record -o "$T_TMP/dangling" -d 0.3
check "a dangling symlink: a clear message" \
	grep -q "dangling: is a symbolic link to 'nowhere', which does not exist" "$T_TMP/err"
run "record -o FIFO" 2 record -o "$T_TMP/fifo" -d 0.3
check "record -o FIFO: refused, it cannot seek" grep -q 'FIFO' "$T_TMP/err"
# ---- issue 19, item 4: one policy for every command's output ----
# No existing file replaced without --force: report, diff, replay, record.
echo old >"$T_TMP/page.html"
run "report --html EXISTING" 2 report --html "$T_TMP/page.html" "$TRACE"
check "report --html EXISTING: says --force" grep -q -- 'use --force' "$T_TMP/err"
check "report --html EXISTING: the file kept" grep -qx old "$T_TMP/page.html"
run "report --html EXISTING --force" 0 report --html "$T_TMP/page.html" --force "$TRACE"
check "report --html --force: the page" grep -q '</html>' "$T_TMP/page.html"
echo old >"$T_TMP/page.html"
B2=$PWD/tests/fuzz/valid-small.bbt
run "diff --html EXISTING" 2 diff "$TRACE" "$B2" --html "$T_TMP/page.html"
check "diff --html EXISTING: the file kept" grep -qx old "$T_TMP/page.html"
run "diff --html EXISTING --force" 0 diff "$TRACE" "$B2" --html "$T_TMP/page.html" --force
echo old >"$T_TMP/csums"
run "replay csum --csum-out EXISTING" 2 replay csum --synthetic size=1M \
	--target "$T_TMP/r2.img" --mode serial --csum-out "$T_TMP/csums"
check "replay --csum-out EXISTING: the file kept" grep -qx old "$T_TMP/csums"
run "record --hist-json EXISTING" 2 record -o "$T_TMP/t3.bbt" --hist-json "$T_TMP/csums" -d 0.3
check "record --hist-json EXISTING: refused before recording" test ! -e "$T_TMP/t3.bbt"

# A symlink another user planted in a sticky world-writable directory is
# not followed, --force or not, whatever fs.protected_symlinks says.
STICKY=$T_TMP/sticky
mkdir -m 1777 "$STICKY"
echo precious >"$T_TMP/victim2"
ln -s "$T_TMP/victim2" "$STICKY/page.html"
chown -h 65534:65534 "$STICKY/page.html"
for cmd in "report --html $STICKY/page.html --force $TRACE" \
	"diff $TRACE $B2 --html $STICKY/page.html --force" \
	"export --fio-iolog -o $STICKY/page.html --force $TRACE"; do
	run "${cmd%% *} through a planted symlink" 2 $cmd
	check "${cmd%% *}: says why" grep -q 'sticky world-writable' "$T_TMP/err"
	check "${cmd%% *}: victim untouched" test "$(cat "$T_TMP/victim2")" = precious
done
# The caller's own link there is followed (with --force).
ln -s "$T_TMP/victim2" "$STICKY/mine.html"
run "report --html through the caller's own symlink" 0 report --html "$STICKY/mine.html" --force "$TRACE"
check "the caller's own link written through" grep -q '</html>' "$T_TMP/victim2"
# A 4 KiB path: the message is whole, its reason at the end not cut (item 8).
LONG=$T_TMP/$(printf 'a%.0s' $(seq 4180))
run "export -o a 4 KiB path" 1 export --fio-iolog -o "$LONG" "$TRACE"
check "the long path's reason is not cut" grep -q 'File name too long$' "$T_TMP/err"
# What a record killed before its header leaves, an empty file, is no
# recording: the next record replaces it without --force; a non-empty one stays.
: >"$T_TMP/empty.bbt"
run "record -o EMPTY" 0 record -o "$T_TMP/empty.bbt" -d 0.3
check "record -o EMPTY: a recording now" test -s "$T_TMP/empty.bbt"
run "record -o NONEMPTY" 2 record -o "$T_TMP/empty.bbt" -d 0.3
exit 0
