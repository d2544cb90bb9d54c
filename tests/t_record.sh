#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# record and report on a real btrfs: record -- COMMAND passes its exit status
# on; hist and record running at once agree (counts, bytes, contexts,
# workqueues), and report rebuilds the recorder's own in-kernel histograms
# bucket for bucket; SIGINT leaves a complete file, SIGKILL one readable up
# to its last chunk, a cut file is read up to its last good chunk with a
# warning; --events prints one line per bio; bad files, an existing -o and a
# full filesystem (ENOSPC) are handled as documented.
. "$(dirname "$0")/lib.sh"
need_root

sandbox_up --profile single --size 1G --mount-opts commit=300 --backing-dir "$T_TMP/backing"
DEV=$(jq -r '.devices[0]' "$SB_JSON")
NAME=$(basename "$DEV")
sync
links_before=$(bpftool link list 2>/dev/null | grep -c 'prog' || true)

# record_start FILE ARGS...: 'bbscope record -o FILE ARGS' in the background,
# stderr to $T_TMP/<name of FILE>.err; returns once it is tracing.  Sets
# REC_PID and REC_ERR.
record_start() {
	local out=$1 i
	shift
	REC_ERR=$T_TMP/$(basename "$out").err
	"$BBSCOPE" record -o "$out" "$@" 2>"$REC_ERR" &
	REC_PID=$!
	at_exit "kill -INT $REC_PID; wait $REC_PID"
	for ((i = 0; i < 200; i++)); do
		grep -q '^bbscope: tracing' "$REC_ERR" 2>/dev/null && return 0
		kill -0 $REC_PID 2>/dev/null || { cat "$REC_ERR"; fail "record exited early"; }
		sleep 0.1
	done
	cat "$REC_ERR"
	fail "record did not start within 20s"
}

workload() {  # writes with fsyncs, then reads back cold
	fio --name=w --filename="$MNT/fio" --size=16M --rw=randwrite --bs=4k --ioengine=psync \
		--fsync=16 --output=/dev/null || fail "fio"
	echo 3 >/proc/sys/vm/drop_caches
	dd if="$MNT/fio" of=/dev/null bs=64k status=none || fail "read back"
	sync
	sleep 1
}

# --- record -- COMMAND
"$BBSCOPE" record -o "$T_TMP/dd.bbt" --fs "$MNT" -- \
	dd if=/dev/urandom of="$MNT/a" bs=1M count=4 conv=fsync status=none 2>"$T_TMP/dd.err"
rc=$?
cat "$T_TMP/dd.err"
check "record -- dd exits 0" [ $rc -eq 0 ]
check "summary: bytes per bio and lost" grep -q 'bytes per bio; lost 0' "$T_TMP/dd.err"
"$BBSCOPE" record -o "$T_TMP/seven.bbt" --fs "$MNT" -- sh -c 'exit 7' 2>/dev/null
check "record passes the command's exit status on (7)" [ $? -eq 7 ]
"$BBSCOPE" record -o "$T_TMP/none.bbt" --fs "$MNT" -- /nonexistent/cmd 2>/dev/null
check "a command that cannot run: 127" [ $? -eq 127 ]
"$BBSCOPE" report --json "$T_TMP/dd.bbt" >"$T_TMP/dd.json" 2>"$T_TMP/dd.rep.err"
check "report exits 0" [ $? -eq 0 ]
check "no warning for a complete trace" [ ! -s "$T_TMP/dd.rep.err" ]
check "trace complete, nothing lost" jq -e '.trace.complete and (.trace.truncated | not) and .lost == 0' "$T_TMP/dd.json"
data_w=$(jq '[.groups[] | select(.op=="write" and .kind=="data") | .bytes] | add // 0' "$T_TMP/dd.json")
check "data write bytes ($data_w) == dd's 4 MiB" [ "$data_w" -eq 4194304 ]
check "names from the trace: dev $NAME, fs $MNT" jq -e --arg d "$NAME" --arg m "$MNT" \
	'[.groups[] | select(.dev != null)] | length > 0 and all(.dev == $d and .fs == $m)' "$T_TMP/dd.json"
check "the command is in the header" jq -e '.trace.command | startswith("dd if=/dev/urandom")' "$T_TMP/dd.json"

# --- hist and record at once
tracer_start "$T_TMP/h.json" --fs "$MNT" --json
record_start "$T_TMP/both.bbt" --fs "$MNT" --hist-json "$T_TMP/kh.json"
workload
tracer_stop
kill -INT $REC_PID
wait $REC_PID
rc=$?
cat "$REC_ERR"
check "record ends on SIGINT with status 0" [ $rc -eq 0 ]
"$BBSCOPE" report --json "$T_TMP/both.bbt" >"$T_TMP/rep.json" 2>"$T_TMP/rep.err"
check "report of a SIGINT-ed recording: exit 0, no warning" [ $? -eq 0 -a ! -s "$T_TMP/rep.err" ]
check "SIGINT: the trailer is there" jq -e '.trace.complete' "$T_TMP/rep.json"
check "nothing lost (hist, record)" [ "$(jq .lost "$T_TMP/h.json")" -eq 0 -a "$(jq .lost "$T_TMP/rep.json")" -eq 0 ]
# What does not depend on when each tracer read the clock must be equal.
same='[.groups[] | {fs, dev, op, kind, bios, bytes, complete_ctx, endio_ctx, endio_wq,
	stripe_writes, stripe_reads, counts: (.phases | map_values(.count))}]'
jq -S "$same" "$T_TMP/h.json" >"$T_TMP/h.same"
jq -S "$same" "$T_TMP/rep.json" >"$T_TMP/rep.same"
check "hist --json and report --json: same groups, bios, bytes, phase counts, contexts, workqueues" \
	cmp -s "$T_TMP/h.same" "$T_TMP/rep.same"
bios=$(jq '[.groups[].bios] | add' "$T_TMP/rep.json")
check "a real workload ($bios bios)" [ "$bios" -gt 4000 ]
# The recorder's own in-kernel histograms: the same timestamps, so every bucket.
jq -S '{groups, raid56, lost}' "$T_TMP/kh.json" >"$T_TMP/kh.full"
jq -S '{groups, raid56, lost}' "$T_TMP/rep.json" >"$T_TMP/rep.full"
check "record's in-kernel histograms == report's, bucket for bucket" cmp -s "$T_TMP/kh.full" "$T_TMP/rep.full"
# Two tracers time-stamp each event separately (their handlers run one after
# the other), so a few samples sit in a neighbouring bucket: say how many.
jq -n --slurpfile a "$T_TMP/h.json" --slurpfile b "$T_TMP/rep.json" '
	def m: [.groups[] | "\(.fs)|\(.dev)|\(.op)|\(.kind)" as $k | .phases | to_entries[] |
		select(.value.buckets) | .key as $p | .value.buckets[] | {("\($k)|\($p)|\(.[0])"): .[2]}] | add // {};
	($a[0] | m) as $x | ($b[0] | m) as $y | ([$x, $y] | map(keys) | add | unique) as $ks |
	"note: hist vs record (separate BPF instances): \([$ks[] | (($x[.] // 0) - ($y[.] // 0)) | fabs] | add / 2) of \([$x[]] | add) samples in a neighbouring bucket"' -r

# --- report --events
"$BBSCOPE" report --events "$T_TMP/both.bbt" >"$T_TMP/ev.txt" 2>/dev/null
check "--events: a header, one line per bio, a footer" [ "$(wc -l <"$T_TMP/ev.txt")" -eq $((bios + 2)) ]
check "--events lines name comm, dev and op" grep -qE "^[0-9.]+ +fio +[0-9]+ +$NAME +write +data " "$T_TMP/ev.txt"
"$BBSCOPE" report --events --json "$T_TMP/both.bbt" 2>/dev/null | head -100 >"$T_TMP/ev.json"
check "--events --json: one object per bio with phases" jq -se 'length == 100 and all(has("phases") and has("sector"))' "$T_TMP/ev.json"
"$BBSCOPE" report --by op,kind,comm --json "$T_TMP/both.bbt" >"$T_TMP/by.json" 2>/dev/null
check "--by op,kind,comm: fs and dev '*', comm named, bios add up" jq -e --argjson n "$bios" '
	[.groups[] | select(.dev != null)] | all(.fs == "*" and .dev == "*") and
	any(.comm == "fio") and ([.[].bios] | add) == $n' "$T_TMP/by.json"

# --- SIGHUP (a closed terminal, a service's stop): a finished file, as SIGINT
# (issue 19; before, the default action killed it: exit 129, no trailer).
record_start "$T_TMP/hup.bbt" --fs "$MNT"
dd if=/dev/urandom of="$MNT/hup" bs=64k count=16 conv=fsync status=none || fail "dd"
kill -HUP $REC_PID
wait $REC_PID
rc=$?
check "record ends on SIGHUP with status 0 ($rc)" [ $rc -eq 0 ]
"$BBSCOPE" report --json "$T_TMP/hup.bbt" >"$T_TMP/hup.json" 2>"$T_TMP/hup.rep.err"
check "SIGHUP: report exits 0, no warning" [ $? -eq 0 -a ! -s "$T_TMP/hup.rep.err" ]
check "SIGHUP: the trailer is there" jq -e '.trace.complete' "$T_TMP/hup.json"

# --- SIGKILL: readable up to the last chunk
record_start "$T_TMP/kill.bbt" --fs "$MNT"
fio --name=k --filename="$MNT/fio2" --size=16M --rw=randwrite --bs=4k --ioengine=psync --fsync=16 \
	--time_based --runtime=60 --output=/dev/null &
fio_pid=$!
# Kill once the file holds more than 1000 bios (its chunks are readable as
# they land), not after a fixed time: a loaded machine records fewer a second.
for _ in $(seq 120); do
	sleep 0.5
	n=$("$BBSCOPE" report --json "$T_TMP/kill.bbt" 2>/dev/null | jq '.trace.bios // 0' 2>/dev/null)
	[ "${n:-0}" -gt 1000 ] && break
done
kill -KILL $REC_PID
kill $fio_pid 2>/dev/null
wait $REC_PID 2>/dev/null
wait $fio_pid
"$BBSCOPE" report --json "$T_TMP/kill.bbt" >"$T_TMP/kill.json" 2>"$T_TMP/kill.err"
rc=$?
cat "$T_TMP/kill.err"
check "SIGKILL-ed trace: report exits 0" [ $rc -eq 0 ]
check "SIGKILL-ed trace: warns there is no trailer" grep -q 'warning: .*no trailer' "$T_TMP/kill.err"
check "SIGKILL-ed trace: bios up to the kill" jq -e '.trace.bios > 1000 and (.trace.complete | not) and (.trace.truncated | not)' "$T_TMP/kill.json"
size=$(stat -c %s "$T_TMP/kill.bbt")
head -c $((size - 100)) "$T_TMP/kill.bbt" >"$T_TMP/cut.bbt"
"$BBSCOPE" report -s "$T_TMP/cut.bbt" >/dev/null 2>"$T_TMP/cut.err"
rc=$?
cat "$T_TMP/cut.err"
check "a cut trace: exit 0" [ $rc -eq 0 ]
check "a cut trace: a warning naming how much was read" \
	grep -q "warning: .*truncated.*read [0-9]* of $((size - 100)) bytes" "$T_TMP/cut.err"
"$BBSCOPE" report --json "$T_TMP/cut.bbt" >"$T_TMP/cut.json" 2>/dev/null
check "a cut trace: JSON trace.warning says it, as the text does" \
	jq -e '.trace.truncated and (.trace.warning | test("truncated"))' "$T_TMP/cut.json"

# --- files that are not traces, and an existing -o
expect_refused() {  # WHAT FILE
	"$BBSCOPE" report "$2" >/dev/null 2>"$T_TMP/refused.err"
	local rc=$?
	[ $rc -eq 2 ] && [ "$(wc -l <"$T_TMP/refused.err")" -eq 1 ] ||
		fail "$1: exit $rc, $(cat "$T_TMP/refused.err")"
	ok "$1 refused: $(cat "$T_TMP/refused.err")"
}
printf 'GIF89a this is not a trace' >"$T_TMP/bad.bbt"
expect_refused "bad magic" "$T_TMP/bad.bbt"
{ printf 'BBSTRACE\x02\x00\x00\x00\x00\x00\x00\x00'; tail -c +17 "$T_TMP/dd.bbt"; } >"$T_TMP/v2.bbt"
expect_refused "format version 2" "$T_TMP/v2.bbt"
grep -q 'version 2' "$T_TMP/refused.err" || fail "the version is named"
: >"$T_TMP/empty.bbt"
expect_refused "empty file" "$T_TMP/empty.bbt"
"$BBSCOPE" report --json "$T_TMP/bad.bbt" >"$T_TMP/bad.json" 2>/dev/null
check "--json: the error is JSON" jq -e '.error | test("magic")' "$T_TMP/bad.json"

sum=$(md5sum <"$T_TMP/dd.bbt")
"$BBSCOPE" record -o "$T_TMP/dd.bbt" -d 1 2>"$T_TMP/exists.err"
check "-o an existing file: exit 2" [ $? -eq 2 ]
check "-o an existing file: untouched" [ "$(md5sum <"$T_TMP/dd.bbt")" = "$sum" ]
check "-o an existing file: says --force" grep -q 'exists (use --force' "$T_TMP/exists.err"
"$BBSCOPE" record -o "$T_TMP/dd.bbt" --force --fs "$MNT" -d 0.5 2>/dev/null
check "--force overwrites it" [ $? -eq 0 -a "$(md5sum <"$T_TMP/dd.bbt")" != "$sum" ]
"$BBSCOPE" record -o "$T_TMP/badopt.bbt" --duration -1 2>/dev/null
check "a bad option creates no file" [ $? -eq 2 -a ! -e "$T_TMP/badopt.bbt" ]

# --- ENOSPC: a 64 KiB tmpfs fills up
mkdir -p "$T_TMP/tiny"
mount -t tmpfs -o size=64k bbscope-tiny "$T_TMP/tiny" || fail "mount a 64k tmpfs"
at_exit "umount '$T_TMP/tiny'"
record_start "$T_TMP/tiny/t.bbt" --fs "$MNT"
dd if=/dev/zero of="$MNT/enospc" bs=4k count=8192 oflag=direct status=none || fail "dd"
for ((i = 0; i < 50; i++)); do kill -0 $REC_PID 2>/dev/null || break; sleep 0.1; done
kill -INT $REC_PID 2>/dev/null
wait $REC_PID
rc=$?
cat "$REC_ERR"
check "ENOSPC: record stops with a non-zero status ($rc)" [ $rc -ne 0 ]
check "ENOSPC: a clear message" grep -q '^bbscope: cannot write .*No space left on device; recording stopped' "$REC_ERR"
nw=$(sed -n 's/.*(\([0-9]*\) records not written).*/\1/p' "$REC_ERR")
check "ENOSPC: the summary's lost counts the $nw records not written" \
	grep -qE "lost [1-9][0-9]* \(.*not written $nw," "$REC_ERR"
"$BBSCOPE" report --json "$T_TMP/tiny/t.bbt" >"$T_TMP/tiny.json" 2>"$T_TMP/tiny.rep.err"
rc=$?
cat "$T_TMP/tiny.rep.err"
check "ENOSPC: the file is readable" [ $rc -eq 0 ]
check "ENOSPC: no half chunk left behind" jq -e '.trace.truncated | not' "$T_TMP/tiny.json"
check "ENOSPC: report says the recording stopped early" grep -q 'No space left on device' "$T_TMP/tiny.rep.err"

links_after=$(bpftool link list 2>/dev/null | grep -c 'prog' || true)
check "no BPF link left behind ($links_before -> $links_after)" [ "$links_after" -eq "$links_before" ]
exit 0
