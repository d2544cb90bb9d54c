#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bbscope diff (issue 14).  Runs of one workload differ more from run to
# run than the bios inside a run do (here the p50 of total moves by 3x
# between consecutive runs), so a side is several runs, recorded A/B
# interleaved.  The same workload, 8 runs against 8: no phase changes
# (alpha 0.01: Holm bounds the chance of any false "changed" by it).  The
# same workload on a loop device over tmpfs and on zram, 8 against 8: the
# device phase changes, with an interval that excludes zero, groups
# matched by op and kind (other devices).  One run a side: the diff warns
# that it sees only bios.  The same from report --json (histogram buckets).
# Bench results: a verdict only when both sides have more than one round.
# Refused with exit 2: sides of different kinds, a truncated recording, an
# empty file, JSON of neither kind, a FIFO, a bad --alpha, one side.
. "$(dirname "$0")/lib.sh"
need_root
command -v jq >/dev/null || skip "jq is not installed"
RUNS=8

# rec FILE DIR TAG: record the workload (4 MiB in 64 KiB direct writes, fsync'd) on DIR.
rec() {
	"$BBSCOPE" record -o "$1" --fs "$2" -- dd if=/dev/zero of="$2/$3" bs=64K count=64 \
		oflag=direct conv=fsync status=none 2>"$1.err" || { cat "$1.err"; fail "record $1"; }
	rm -f "$2/$3"
}
# diffj ARGS: bbscope diff --json into $D, exit 0 expected.
D=$T_TMP/d.json
diffj() {
	"$BBSCOPE" diff --json "$@" >"$D" 2>"$T_TMP/d.err" || { cat "$T_TMP/d.err"; fail "diff $*"; }
}

sandbox_up --profile single --mount-opts commit=300
CTL=/sys/class/zram-control
ZRAM=
if [ -w $CTL/hot_add ] && id=$(cat $CTL/hot_add); then
	at_exit "echo $id > $CTL/hot_remove"
	echo 256M >/sys/block/zram$id/disksize || fail "zram disksize"
	mkfs.btrfs -q -f /dev/zram$id >/dev/null || fail "mkfs.btrfs on zram"
	mkdir -p "$T_TMP/z"
	mount -o commit=300 /dev/zram$id "$T_TMP/z" || fail "mount zram"
	at_exit "umount '$T_TMP/z'"
	ZRAM=$T_TMP/z
fi
# Warm both, then A, A' (and Z) interleaved, so that a drift of the machine
# falls on every side alike.
rec "$T_TMP/warm.bbt" "$MNT" warm
[ -n "$ZRAM" ] && rec "$T_TMP/warmz.bbt" "$ZRAM" warm
A=() A2=() Z=()
for i in $(seq $RUNS); do
	rec "$T_TMP/a$i.bbt" "$MNT" a && A+=("$T_TMP/a$i.bbt")
	rec "$T_TMP/b$i.bbt" "$MNT" b && A2+=("$T_TMP/b$i.bbt")
	[ -n "$ZRAM" ] && rec "$T_TMP/z$i.bbt" "$ZRAM" z && Z+=("$T_TMP/z$i.bbt")
done

# ---- the same workload, run against run: nothing changed ----
diffj --alpha 0.01 "${A[@]}" vs "${A2[@]}"
check "same workload: by run, matched by device, op and kind" \
	jq -e '.unit == "run" and .matched_by == ["dev","op","kind"] and .a.runs == '$RUNS "$D"
check "same workload: data writes compared on both sides, every run" \
	jq -e '[.groups[] | select(.op == "write" and .kind == "data" and .dev != null)
		| .phases.device | .compared and .runs_a == '$RUNS'] | any' "$D"
changed=$(jq -c '[.groups[] | (.dev // "fs") as $d | .phases | to_entries[]
	| select(.value.significant) | "\($d) \(.key) p=\(.value.p_adjusted)"]' "$D")
check "same workload: no phase changed significantly ($changed)" test "$changed" = "[]"
"$BBSCOPE" diff "${A[@]}" vs "${A2[@]}" >"$T_TMP/d.txt" || fail "diff (text)"
check "same workload: the text shows '~' for the device phase" \
	grep -qE '^  device .* ~ ' "$T_TMP/d.txt"
check "the text names both sides" \
	grep -q "^B: ${A2[0]} and $((RUNS - 1)) more (recordings, $RUNS runs; Linux $(uname -r)" \
	"$T_TMP/d.txt"
"$BBSCOPE" diff "${A[0]}" "${A2[0]}" >"$T_TMP/d1.txt" || fail "diff, one run a side"
check "one run a side: the diff warns that it sees only one run's bios" \
	grep -q '^warning: one run on a side' "$T_TMP/d1.txt"

# ---- a real change: the same workload on zram ----
if [ -n "$ZRAM" ]; then
	diffj "${A[@]}" vs "${Z[@]}"
	check "loop against zram: other devices, matched by op and kind" \
		jq -e '.matched_by == ["op","kind"]' "$D"
	DEV='.groups[] | select(.dev == "*" and .op == "write" and .kind == "data") | .phases.device'
	jq -c "$DEV | {runs_a, runs_b, p_adjusted, p50}" "$D"
	check "loop against zram: the device phase changed" jq -e "$DEV | .significant" "$D"
	check "... with a p50 interval that excludes zero" \
		jq -e "$DEV | .p50.change_lo_pct * .p50.change_hi_pct > 0" "$D"
	check "... and the change inside its interval" \
		jq -e "$DEV | .p50.change_lo_pct <= .p50.change_pct and .p50.change_pct <= .p50.change_hi_pct" "$D"
	# The same from histograms (report --json): buckets, not samples.
	for f in "${A[@]}" "${Z[@]}"; do
		"$BBSCOPE" report --json "$f" >"${f%.bbt}.json" || fail "report $f"
	done
	diffj "${A[@]/%.bbt/.json}" vs "${Z[@]/%.bbt/.json}"
	check "histograms: kind and unit" jq -e '.kind == "histograms" and .unit == "run"' "$D"
	check "histograms: the device phase changed too" jq -e "$DEV | .significant" "$D"
	"$BBSCOPE" diff "${A[@]}" vs "${Z[@]}" --html "$T_TMP/d.html" >/dev/null ||
		fail "diff --html"
	check "--html: a page with the paired bars" grep -q '</svg>' "$T_TMP/d.html"
else
	ok "SKIP part: no zram here (CONFIG_ZRAM): the loop-against-zram change is not tested"
fi

# ---- bench results: rounds ----
"$BBSCOPE" bench --size 16M --rounds 2 --json >"$T_TMP/b1.json" 2>"$T_TMP/b1.err" ||
	{ cat "$T_TMP/b1.err"; fail "bench 1"; }
"$BBSCOPE" bench --size 16M --rounds 1 --json >"$T_TMP/b2.json" 2>"$T_TMP/b2.err" ||
	{ cat "$T_TMP/b2.err"; fail "bench 2"; }
diffj "$T_TMP/b1.json" "$T_TMP/b1.json"
check "bench against itself: rows, each with a verdict, none changed" \
	jq -e '(.rows | length > 1) and all(.rows[]; .verdict and (.significant | not) and .median.change_pct == 0)' "$D"
diffj "$T_TMP/b1.json" "$T_TMP/b2.json"
check "one round on a side: no verdict" jq -e 'all(.rows[]; .verdict | not)' "$D"
"$BBSCOPE" diff "$T_TMP/b1.json" "$T_TMP/b2.json" >"$T_TMP/b.txt" 2>&1 || fail "diff bench (text)"
check "... and the text warns" grep -q 'warning: a single round' "$T_TMP/b.txt"

# ---- refused: exit 2 and one line ----
refused() {  # WHAT PATTERN ARGS...
	local what=$1 pat=$2 rc
	shift 2
	"$BBSCOPE" diff "$@" >/dev/null 2>"$T_TMP/r.err"
	rc=$?
	check "$what: exit 2 ($rc: $(head -1 "$T_TMP/r.err"))" test $rc -eq 2
	check "$what: says '$pat' in one line" eval \
		'[ "$(wc -l <"$T_TMP/r.err")" -eq 1 ] && grep -q "$pat" "$T_TMP/r.err"'
}
a=$T_TMP/a1.bbt
"$BBSCOPE" report --json "$a" >"$T_TMP/a.json" || fail "report a"
refused "a recording against histograms" "two of one kind" "$a" "$T_TMP/a.json"
refused "a recording against a bench result" "two of one kind" "$a" "$T_TMP/b1.json"
refused "a side of two kinds" "of one kind" "$a" "$T_TMP/a.json" vs "$a" "$a"
size=$(stat -c %s "$a")
head -c $((size / 2)) "$a" >"$T_TMP/cut.bbt"
refused "a truncated recording" "truncated" "$a" "$T_TMP/cut.bbt"
: >"$T_TMP/empty"
refused "an empty file" "empty" "$T_TMP/empty" "$a"
echo '{"x": 1}' >"$T_TMP/other.json"
refused "JSON of neither kind" "neither histograms" "$T_TMP/other.json" "$T_TMP/a.json"
head -c 100 "$T_TMP/a.json" >"$T_TMP/cut.json"
refused "cut JSON" "not JSON" "$T_TMP/cut.json" "$T_TMP/a.json"
mkfifo "$T_TMP/fifo"
refused "a FIFO" "not a regular file" "$T_TMP/fifo" "$a"
refused "--alpha 2" "between 0 and 1" --alpha 2 "$a" "$a"
refused "one side" "two runs" "$a"
refused "nothing after vs" "two runs" "$a" vs
exit 0
