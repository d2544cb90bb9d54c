#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Function phases (hist --func) where the kernel allows fentry or kprobes
# (the guests; this machine refuses both).  Data-write checksums: one
# btrfs_csum_one_bio call per data write bio, with fentry and with kprobes
# forced alike.  raid6 small writes: the rmw function's calls, under rmw,
# as many as the rmw spans the tracepoints see; a degraded read: the
# recover functions, under recover.  Where neither is allowed, --func says
# so in one line and everything else is traced as before.
# kernels: all
. "$(dirname "$0")/lib.sh"
need_root

fentry_ok() { [ "$(jq -r .bpf.fentry "$T_TMP/feat.json")" = true ]; }
kprobe_ok() { [ "$(jq -r .bpf.kprobes "$T_TMP/feat.json")" = true ]; }
calls() {  # JSON FUNC [UNDER]: calls of func:FUNC (under UNDER), 0 if none
	jq --arg p "func:$2" --arg u "${3:-}" \
		'[.funcs[]? | select(.phase == $p and ($u == "" or .under == $u)) | .calls] | add // 0' "$1"
}
"$BBSCOPE" features --json >"$T_TMP/feat.json" || fail "features"

sandbox_up --profile single --mount-opts commit=300
write_run() {  # TAG [VAR=VALUE]: 4 MiB fsync'd through hist --func csum
	local tag=$1
	shift
	[ $# -gt 0 ] && export "$@"
	tracer_start "$T_TMP/$tag.json" --fs "$MNT" --func csum --json -v
	dd if=/dev/urandom of="$MNT/$tag" bs=1M count=4 conv=fsync status=none || fail "dd"
	sleep 1
	tracer_stop
	[ $# -gt 0 ] && unset "${1%%=*}"
	cat "$T_TMP/$tag.json.err"
}

if ! fentry_ok && ! kprobe_ok; then
	write_run none
	J=$T_TMP/none.json
	check "one line says --func cannot run here" \
		grep -q "^bbscope: warning: --func: this kernel allows neither fentry" "$J.err"
	check "... every function listed as not traced, with why" jq -e '
		.funcs == [] and (.funcs_not_traced | length > 0) and
		(.funcs_not_traced | map(select(.phase == "func:btrfs_csum_one_bio")) | .[0].reason |
		 test("no fentry or kprobes"))' "$J"
	check "... and the tracepoint phases as before: data bytes == file size" jq -e '
		[.groups[] | select(.op=="write" and .kind=="data") | .bytes] | add == 4194304' "$J"
	echo "SKIP-NOTE: this kernel refuses fentry and kprobes: only the refusal is tested"
	exit 0
fi

KINDS=""
fentry_ok && KINDS="fentry"
kprobe_ok && KINDS="$KINDS kprobe"
for kind in $KINDS; do
	write_run "$kind" BBSCOPE_FUNC_ATTACH=$kind
	J=$T_TMP/$kind.json
	bios=$(jq '[.groups[] | select(.dev != null and .op=="write" and .kind=="data") | .bios] | add // 0' "$J")
	n=$(calls "$J" btrfs_csum_one_bio)
	check "$kind: btrfs_csum_one_bio attached with $kind" \
		jq -e --arg k "$kind" '[.funcs[] | select(.phase == "func:btrfs_csum_one_bio") | .attach] |
			length > 0 and all(. == $k)' "$J"
	check "$kind: one btrfs_csum_one_bio call per data write bio ($n, $bios)" [ "$n" -eq "$bios" -a "$n" -gt 0 ]
	check "$kind: percentiles ordered, self <= total" jq -e '
		[.funcs[] | select(.calls > 0)] | length > 0 and all(.total.p50_ns <= .total.p99_ns and
			.total.p99_ns <= .total.max_ns and .self.max_ns <= .total.max_ns)' "$J"
	check "$kind: absent functions listed with why" jq -e '
		.funcs_not_traced | all(.reason | length > 0)' "$J"
done
# A recording keeps them: report shows the same calls as the data write bios it holds.
"$BBSCOPE" record -o "$T_TMP/f.bbt" --fs "$MNT" --func csum -- \
	dd if=/dev/urandom of="$MNT/rec" bs=1M count=2 conv=fsync status=none 2>"$T_TMP/rec.err" ||
	fail "record --func: $(cat "$T_TMP/rec.err")"
"$BBSCOPE" report --json "$T_TMP/f.bbt" >"$T_TMP/rep.json" || fail "report"
bios=$(jq '[.groups[] | select(.dev != null and .op=="write" and .kind=="data") | .bios] | add // 0' "$T_TMP/rep.json")
n=$(calls "$T_TMP/rep.json" btrfs_csum_one_bio)
check "record --func, report: btrfs_csum_one_bio calls == data write bios ($n, $bios)" \
	[ "$n" -eq "$bios" -a "$n" -gt 0 ]
"$BBSCOPE" report "$T_TMP/f.bbt" >"$T_TMP/rep.txt" || fail "report (text)"
check "... and in the text report" grep -q "func:btrfs_csum_one_bio" "$T_TMP/rep.txt"
"$BBSCOPE" sandbox down >/dev/null || fail "sandbox down"

# raid6 of the test's own loop devices: small writes (rmw), then degraded (recover).
D=$T_TMP/r6
raid6_up "$D"
dd if=/dev/urandom of="$D/f" bs=1M count=4 conv=fsync status=none || fail "dd"
tracer_start "$T_TMP/rmw.json" --fs "$D" --func raid56 --json
for i in $(seq 0 15); do
	dd if=/dev/urandom of="$D/f" bs=4K count=1 seek=$((i * 37)) conv=notrunc,fsync status=none ||
		fail "small write"
done
sleep 1
tracer_stop
J=$T_TMP/rmw.json
if ksym rmw_rbio; then RMW=rmw_rbio; else RMW=finish_rmw; fi
# Without btrfs BTF (5.10) a call's rbio cannot be read: timed, not attributed.
if kernel_btrfs_btf; then UNDER_RMW=rmw UNDER_REC=recover; else UNDER_RMW=fs UNDER_REC=fs; fi
n=$(calls "$J" $RMW $UNDER_RMW)
check "raid6 small writes: $RMW called under $UNDER_RMW ($n)" [ "$n" -gt 0 ]
if kernel_btrfs_btf; then
	spans=$(jq '.raid56.rmw.count // 0' "$J")
	check "... once per rmw the tracepoints saw ($n, $spans)" [ "$n" -eq "$spans" ]
fi
raid6_degrade "$D"
tracer_start "$T_TMP/rec.json" --fs "$D" --func raid56 --json
cat "$D/f" >/dev/null || fail "degraded read"
sleep 1
tracer_stop
J=$T_TMP/rec.json
if ksym recover_rbio; then REC=recover_rbio; else REC=__raid_recover_end_io; fi
n=$(calls "$J" $REC $UNDER_REC)
check "degraded read: $REC called under $UNDER_REC ($n)" [ "$n" -gt 0 ]
exit 0
