#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# export: blkparse and btt read the blktrace files unchanged, and btt's D2C
# and Q2C means agree with report's device and queue+device means within 5%
# over the same bios; fio accepts the iolog and replays as many I/Os as it
# holds, reads and writes alike.
. "$(dirname "$0")/lib.sh"
need_root
command -v blkparse >/dev/null && command -v btt >/dev/null || skip "blkparse/btt not installed"
command -v fio >/dev/null || skip "fio not installed"

sandbox_up --profile single --size 1G --mount-opts commit=300 --backing-dir "$T_TMP/backing"
DEV=$(jq -r '.devices[0]' "$SB_JSON")
NAME=$(basename "$DEV")
SIZE=$(jq -r '.size_bytes' "$SB_JSON")
sync

T=$T_TMP/t.bbt
"$BBSCOPE" record -o "$T" --fs "$MNT" -- sh -c "
	fio --name=w --filename='$MNT/fio' --size=32M --rw=randwrite --bs=4k --ioengine=psync \
		--fsync=16 --output=/dev/null &&
	echo 3 >/proc/sys/vm/drop_caches &&
	dd if='$MNT/fio' of=/dev/null bs=64k status=none && sync" 2>"$T_TMP/rec.err"
rc=$?
cat "$T_TMP/rec.err"
check "record the workload" [ $rc -eq 0 ]
"$BBSCOPE" report --json "$T" >"$T_TMP/rep.json" || fail "report"
check "nothing lost" [ "$(jq .lost "$T_TMP/rep.json")" -eq 0 ]

# --- blktrace
"$BBSCOPE" export --blktrace -o "$T_TMP/bt" "$T" 2>"$T_TMP/exp.err"
rc=$?
cat "$T_TMP/exp.err"
check "export --blktrace" [ $rc -eq 0 ]
check "one file per CPU, named <dev>.blktrace.<cpu>" [ -e "$T_TMP/bt/$NAME.blktrace.0" ]
"$BBSCOPE" export --blktrace -o "$T_TMP/bt" "$T" 2>/dev/null
check "existing blktrace files refused without --force" [ $? -eq 2 ]
blkparse -i "$NAME" -D "$T_TMP/bt" -d "$T_TMP/bt/bp.bin" -o "$T_TMP/bp.txt" >"$T_TMP/bp.out" 2>&1
check "blkparse reads them" [ $? -eq 0 ]
check "blkparse: no bad magic, no skips" sh -c "! grep -qiE 'bad magic|Bad fs action' '$T_TMP/bp.out' '$T_TMP/bp.txt' &&
	grep -q 'Skips: 0 forward' '$T_TMP/bp.txt'"
check "blkparse: queue with RWBS and comm" grep -qE " Q +WS [0-9]+ \+ 8 \[fio\]" "$T_TMP/bp.txt"
check "blkparse: issue and complete" sh -c "grep -qE ' D +W' '$T_TMP/bp.txt' && grep -qE ' C +W' '$T_TMP/bp.txt'"
check "blkparse: metadata flagged M" grep -qE " Q +W[FS]*M " "$T_TMP/bp.txt"
# btt leaves *_fp.dat files in its working directory: keep them in $T_TMP.
(cd "$T_TMP/bt" && btt -i bp.bin >"$T_TMP/btt.out" 2>&1)
check "btt reads blkparse's dump" [ $? -eq 0 ]
# The "All Devices" rows: ALL MIN AVG MAX N, seconds.
btt_row() { awk -v r="$1" '$1 == r { print $3, $5; exit }' "$T_TMP/btt.out"; }
read -r d2c d2c_n <<<"$(btt_row D2C)"
read -r q2c q2c_n <<<"$(btt_row Q2C)"
[ -n "$d2c" ] && [ -n "$q2c" ] || { cat "$T_TMP/btt.out"; fail "no D2C/Q2C rows in btt's output"; }
# report: means over this device's groups, weighted by count.
dev_mean=$(jq --arg d "$NAME" '[.groups[] | select(.dev == $d) | .phases.device | select(.count)] |
	(map(.mean_ns * .count) | add) / (map(.count) | add) / 1e9' "$T_TMP/rep.json")
qd_mean=$(jq --arg d "$NAME" '[.groups[] | select(.dev == $d) | .phases | select(.queue.count)] |
	(map((.queue.mean_ns + .device.mean_ns) * .queue.count) | add) / (map(.queue.count) | add) / 1e9' "$T_TMP/rep.json")
dev_n=$(jq --arg d "$NAME" '[.groups[] | select(.dev == $d) | .phases.device.count // 0] | add' "$T_TMP/rep.json")
echo "btt D2C $d2c s (N $d2c_n), Q2C $q2c s (N $q2c_n); report device $dev_mean s, queue+device $qd_mean s (N $dev_n)"
within5() { awk -v a="$1" -v b="$2" 'BEGIN { d = (a - b) / b; exit !(d < 0.05 && d > -0.05) }'; }
check "btt's D2C and report's device mean within 5%" within5 "$d2c" "$dev_mean"
check "btt's Q2C and report's queue+device mean within 5%" within5 "$q2c" "$qd_mean"
check "btt saw every bio ($d2c_n == $dev_n)" [ "$d2c_n" -eq "$dev_n" -a "$q2c_n" -eq "$dev_n" ]

# --- fio iolog
"$BBSCOPE" export --fio-iolog -o "$T_TMP/t.iolog" "$T" 2>"$T_TMP/iolog.err"
rc=$?
cat "$T_TMP/iolog.err"
check "export --fio-iolog" [ $rc -eq 0 ]
check "iolog version 3" [ "$(head -1 "$T_TMP/t.iolog")" = "fio version 3 iolog" ]
nio=$(grep -cE '^[0-9]+ /dev/[^ ]+ (read|write) [0-9]+ [0-9]+$' "$T_TMP/t.iolog")
want=$(jq '[.groups[] | select(.dev != null and .kind == "data") | .bios] | add' "$T_TMP/rep.json")
check "one I/O per data bio ($nio == $want)" [ "$nio" -eq "$want" ]
truncate -s "$SIZE" "$T_TMP/scratch.img"
fio --name=replay --read_iolog="$T_TMP/t.iolog" --replay_redirect="$T_TMP/scratch.img" \
	--ioengine=psync --replay_no_stall=1 --output-format=json >"$T_TMP/fio.json" 2>"$T_TMP/fio.err"
rc=$?
cat "$T_TMP/fio.err"
check "fio accepts the iolog" [ $rc -eq 0 ]
check "fio: no complaint about the iolog" sh -c "! grep -qi 'iolog' '$T_TMP/fio.err'"
done_ios=$(jq '.jobs[0] | .read.total_ios + .write.total_ios' "$T_TMP/fio.json")
reads=$(grep -cE ' read [0-9]+ [0-9]+$' "$T_TMP/t.iolog")
check "fio issued every I/O ($done_ios == $nio, $reads reads)" [ "$done_ios" -eq "$nio" ]
check "reads replayed as reads" [ "$(jq '.jobs[0].read.total_ios' "$T_TMP/fio.json")" -eq "$reads" ]
exit 0
