#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bbscope diff (issues 14, 22, 19 items 6 and 7).  Runs of one workload
# differ more from run to run than the bios inside a run do, so a side is
# several runs, recorded interleaved (A/B, then B/A: neither side always
# goes first).
#
# Nothing changed: the same workload on one filesystem, 5 runs against 5
# and 8 against 8.  The verdicts' family-wise error is bounded by alpha
# (Westfall-Young over relabellings of the runs: exact, as runs of one
# workload are exchangeable), so each no-change check could fail by
# chance with probability at most its alpha: 0.01 at 5 a side, 0.005 at
# 8 a side, at most 0.015 for the test (1 run in 67), by the union bound.
# A real change: the same workload on a loop device over tmpfs and on
# zram, 5 against 5: the device phase and the completion context change.
# One run a side: the diff warns that it sees only bios.  The same from
# report --json (histogram buckets).  Bench results: a verdict only when
# both sides have more than one round.  Refused with exit 2: sides of
# different kinds, a truncated recording, an empty file, JSON of neither
# kind, a FIFO, a bad --alpha, one side, a run given twice (by name, by a
# link, by a copy), JSON values out of range.
. "$(dirname "$0")/lib.sh"
need_root
command -v jq >/dev/null || skip "jq is not installed"
RUNS=8 ZRUNS=5

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
	if [ $((i % 2)) = 1 ]; then
		rec "$T_TMP/a$i.bbt" "$MNT" a && A+=("$T_TMP/a$i.bbt")
		rec "$T_TMP/b$i.bbt" "$MNT" b && A2+=("$T_TMP/b$i.bbt")
	else
		rec "$T_TMP/b$i.bbt" "$MNT" b && A2+=("$T_TMP/b$i.bbt")
		rec "$T_TMP/a$i.bbt" "$MNT" a && A+=("$T_TMP/a$i.bbt")
	fi
	[ -n "$ZRAM" ] && [ "$i" -le $ZRUNS ] && rec "$T_TMP/z$i.bbt" "$ZRAM" z &&
		Z+=("$T_TMP/z$i.bbt")
done
A5=("${A[@]:0:5}") B5=("${A2[@]:0:5}")

# ---- the same workload, run against run: nothing changed ----
# Verdicts (primary tests): none "changed", 5 a side at alpha 0.01.
changed_list() {
	jq -c '[.groups[] | (.dev // "fs") as $d
		| ((.phases | to_entries[] | select(.value.verdict == "changed")
			| "\($d) \(.key) p=\(.value.p_adjusted)"),
		   (to_entries[] | select(.key | test("_ctx$")) | select(.value.verdict == "changed")
			| "\($d) \(.key) p=\(.value.p_adjusted)"))]' "$D"
}
diffj --alpha 0.01 "${A5[@]}" vs "${B5[@]}"
check "5 v 5, same workload: adjusted by Westfall-Young over all 252 relabellings" \
	jq -e '.adjust == "westfall-young" and .relabellings == 252 and .relabellings_exact' "$D"
changed=$(changed_list)
check "5 v 5, same workload: nothing changed ($changed)" test "$changed" = "[]"
jq -c '.groups[] | select(.op == "write" and .kind == "data") | {dev, d: (.phases.device | {primary, verdict, p_value, p_adjusted, runs_a, runs_b, by_run})}' "$D"
check "5 v 5: device p50 of data writes is primary, with a verdict" \
	jq -e '[.groups[] | select(.op == "write" and .kind == "data" and .dev != null)
		| .phases.device | .primary and (.verdict | type == "string")] | any' "$D"
diffj --alpha 0.005 "${A[@]}" vs "${A2[@]}"
changed=$(changed_list)
check "8 v 8, same workload: nothing changed ($changed)" test "$changed" = "[]"
check "same workload: by run, matched by device, op and kind" \
	jq -e '.unit == "run" and .matched_by == ["dev","op","kind"] and .a.runs == '$RUNS "$D"
check "same workload: data writes compared on both sides, every run" \
	jq -e '[.groups[] | select(.op == "write" and .kind == "data" and .dev != null)
		| .phases.device | .compared and .runs_a == '$RUNS'] | any' "$D"
check "8 v 8: all C(16,8) = 12870 relabellings" \
	jq -e '.relabellings == 12870 and .relabellings_exact' "$D"
"$BBSCOPE" diff "${A[@]}" vs "${A2[@]}" >"$T_TMP/d.txt" || fail "diff (text)"
check "same workload: the text shows '~' for the device phase, and why" \
	grep -qE '^  device .* ~ .*\((no change|too few runs to tell)\)$' "$T_TMP/d.txt"
"$BBSCOPE" diff "${A[@]:0:3}" vs "${A2[@]:0:3}" >"$T_TMP/d3.txt" || fail "diff 3 v 3"
check "3 v 3: the smallest p is 0.1: 'too few runs to tell'" \
	grep -qE '^  device .* ~ .*\(too few runs to tell\)$' "$T_TMP/d3.txt"
check "the text names both sides" \
	grep -q "^B: ${A2[0]} and $((RUNS - 1)) more (recordings, $RUNS runs; Linux $(uname -r)" \
	"$T_TMP/d.txt"
"$BBSCOPE" diff "${A[0]}" "${A2[0]}" >"$T_TMP/d1.txt" || fail "diff, one run a side"
check "one run a side: the diff warns that it sees only one run's bios" \
	grep -q '^warning: one run on a side' "$T_TMP/d1.txt"

# ---- a real change: the same workload on zram ----
if [ -n "$ZRAM" ]; then
	diffj "${A5[@]}" vs "${Z[@]}"
	check "loop against zram: other devices, matched by op and kind" \
		jq -e '.matched_by == ["op","kind"]' "$D"
	G='.groups[] | select(.dev == "*" and .op == "write" and .kind == "data")'
	DEV="$G | .phases.device"
	jq -c "$DEV | {runs_a, runs_b, p_adjusted, p50}" "$D"
	jq -c "$G | .complete_ctx" "$D"
	check "loop against zram, 5 v 5: the device phase changed" \
		jq -e "$DEV | .significant and .verdict == \"changed\"" "$D"
	check "loop against zram, 5 v 5: the completion context changed" \
		jq -e "$G | .complete_ctx.verdict == \"changed\"" "$D"
	check "... with a p50 interval that excludes zero" \
		jq -e "$DEV | .p50.change_lo_pct * .p50.change_hi_pct > 0" "$D"
	check "... and the change inside its interval" \
		jq -e "$DEV | .p50.change_lo_pct <= .p50.change_pct and .p50.change_pct <= .p50.change_hi_pct" "$D"
	# The same from histograms (report --json): buckets, not samples.
	for f in "${A5[@]}" "${Z[@]}"; do
		"$BBSCOPE" report --json "$f" >"${f%.bbt}.json" || fail "report $f"
	done
	diffj "${A5[@]/%.bbt/.json}" vs "${Z[@]/%.bbt/.json}"
	# A phase zram cannot have: not observable, with its reason (issue 22, item 4).
	check "report --json of zram: queue not observable, reason bio_based" \
		jq -e '[.groups[] | select(.op == "write" and .kind == "data" and .dev != null)
			| .phases.queue.reason == "bio_based"] | any' "${Z[0]%.bbt}.json"
	"$BBSCOPE" report "${Z[0]}" >"$T_TMP/zr.txt" || fail "report zram"
	check "report of zram: 'queue not observable: a bio-based device'" \
		grep -q '^    queue    not observable: a bio-based device' "$T_TMP/zr.txt"
	check "diff loop against zram (histograms): queue not observable in B, with why" \
		jq -e "$G | .phases.queue.not_observable_b == \"bio_based\"" "$D"
	"$BBSCOPE" diff "${A5[@]}" vs "${Z[@]}" >"$T_TMP/dz.txt" || fail "diff loop zram (text)"
	check "diff loop against zram (text): queue not observable in B, not 'only in A'" \
		grep -qE '^  queue .*\(not observable in B: a bio-based device' "$T_TMP/dz.txt"
	check "histograms: kind and unit" jq -e '.kind == "histograms" and .unit == "run"' "$D"
	jq -c '.groups[] | {dev, op, kind, p: [.phases | to_entries[] | select(.value.primary) | [.key, .value.p_value, .value.p_adjusted, .value.p50.a, .value.p50.b]], c: .complete_ctx.p_value, e: .endio_ctx.p_value}' "$D"
	check "histograms: the device phase changed too" jq -e "$DEV | .significant" "$D"
	"$BBSCOPE" diff "${A5[@]}" vs "${Z[@]}" --html "$T_TMP/d.html" >/dev/null ||
		fail "diff --html"
	check "--html: a page with the paired bars" grep -q '</svg>' "$T_TMP/d.html"
else
	ok "SKIP part: no zram here (CONFIG_ZRAM): the loop-against-zram change is not tested"
fi

refused() {  # WHAT PATTERN ARGS...
	local what=$1 pat=$2 rc
	shift 2
	"$BBSCOPE" diff "$@" >/dev/null 2>"$T_TMP/r.err"
	rc=$?
	check "$what: exit 2 ($rc: $(head -1 "$T_TMP/r.err"))" test $rc -eq 2
	check "$what: says '$pat' in one line" eval \
		'[ "$(wc -l <"$T_TMP/r.err")" -eq 1 ] && grep -q "$pat" "$T_TMP/r.err"'
}
# ---- bench results: rounds ----
"$BBSCOPE" bench --size 16M --rounds 2 --json >"$T_TMP/b1.json" 2>"$T_TMP/b1.err" ||
	{ cat "$T_TMP/b1.err"; fail "bench 1"; }
"$BBSCOPE" bench --size 16M --rounds 1 --json >"$T_TMP/b2.json" 2>"$T_TMP/b2.err" ||
	{ cat "$T_TMP/b2.err"; fail "bench 2"; }
refused "bench against itself" "one run" "$T_TMP/b1.json" "$T_TMP/b1.json"
diffj "$T_TMP/b1.json" "$T_TMP/b2.json"
check "one round on a side: no verdict" jq -e 'all(.rows[]; .verdict | not)' "$D"
"$BBSCOPE" diff "$T_TMP/b1.json" "$T_TMP/b2.json" >"$T_TMP/b.txt" 2>&1 || fail "diff bench (text)"
check "... and the text warns" grep -q 'warning: a single round' "$T_TMP/b.txt"

# ---- refused: exit 2 and one line ----
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

# ---- each run counts once (issue 19, item 6) ----
refused "a run twice on a side" "one run (the same file)" "$a" "$a" vs "${A2[0]}" "${A2[1]}"
ln -s "$a" "$T_TMP/link.bbt"
refused "a run and a link to it" "one run (the same file)" "$a" "$T_TMP/link.bbt" vs "${A2[@]:0:2}"
cp "$a" "$T_TMP/copy.bbt"
refused "a run and its copy" "the same recording" "$a" "$T_TMP/copy.bbt" vs "${A2[@]:0:2}"
refused "a run on both sides" "one run" "$a" "${A[1]}" vs "$a" "${A2[1]}"
cp "$T_TMP/a.json" "$T_TMP/acopy.json"
refused "histograms and their copy" "the same bytes" "$T_TMP/a.json" "$T_TMP/acopy.json" vs \
	"${A2[0]}" "${A2[1]}"

# ---- every JSON number range-checked (issue 19, item 7) ----
"$BBSCOPE" report --json "${A[1]}" >"$T_TMP/a1.json" || fail "report a1"
badj() {  # WHAT PATTERN JQ-FILTER: histograms changed by the filter, refused
	jq -c "$3" "$T_TMP/a.json" >"$T_TMP/bad.json" || fail "jq $3"
	refused "$1" "$2" "$T_TMP/bad.json" "$T_TMP/a1.json"
}
P='.groups |= map(if .phases.device.buckets then .phases.device'
badj "a negative bucket count" "is negative" "$P.buckets[0][2] = -3 else . end)"
badj "a bucket count of 1e18" "out of range" "$P.buckets[0][2] = 1e18 else . end)"
badj "a fractional bucket count" "out of range" "$P.buckets[0][2] = 1.5 else . end)"
badj "a null bucket bound" "is null" "$P.buckets[0][0] = null else . end)"
badj "a bucket ending before it starts" "ends before" "$P.buckets[0] |= [.[1], .[0], .[2]] else . end)"
badj "a count of -1" "count is negative" "$P.count = -1 else . end)"
badj "a context count as a string" "a string" '.groups[0].complete_ctx.task = "x"'
badj "negative bios" "is negative" '.groups[0].bios = -1'
bench_bad() {  # WHAT PATTERN ROUNDS
	jq -c ".kernel.throughput_rounds_bps = $3" "$T_TMP/b1.json" >"$T_TMP/badb.json"
	refused "$1" "$2" "$T_TMP/badb.json" "$T_TMP/b2.json"
}
bench_bad "throughput rounds of null" "is null" '[null, null]'
bench_bad "throughput rounds of strings" "a string" '["nan", "x"]'
bench_bad "negative throughput rounds" "is negative" '[-1, -5]'
exit 0
