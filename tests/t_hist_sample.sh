#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# hist --sample N follows one bio in N by a hash of the bio: two tracers on
# the same 4 KiB O_DIRECT reads, one following every bio and one sampling
# one in 4, agree on the data reads' percentiles within the histogram's
# bucket error (a quarter of a power of two), their scaled bio count and
# bytes agree within 20%, and every output says the sampling.
# kernels: all
. "$(dirname "$0")/lib.sh"
need_root
command -v fio >/dev/null || skip "fio not installed"

sandbox_up --profile single --size 1G --mount-opts commit=300
fio --name=prep --filename="$MNT/f" --size=64M --rw=write --bs=1M --end_fsync=1 \
	--output=/dev/null || fail "fio prep"
sync

tracer_start "$T_TMP/all.json" --fs "$MNT" --json
ALL_PID=$TRACER_PID
tracer_start "$T_TMP/s.json" --fs "$MNT" --json --sample 4
fio --name=r --filename="$MNT/f" --size=64M --rw=randread --bs=4k --direct=1 \
	--ioengine=psync --number_ios="${SAMPLE_IOS:-6000}" --output=/dev/null || fail "fio"
sleep 1
tracer_stop
TRACER_PID=$ALL_PID
tracer_stop

A=$T_TMP/all.json S=$T_TMP/s.json
check "unsampled says sample 1" jq -e '.sample == 1' "$A"
check "sampled says sample 4" jq -e '.sample == 4' "$S"
reads() { jq '[.groups[] | select(.op=="read" and .kind=="data")] | {bios: (map(.bios) | add // 0), bytes: (map(.bytes) | add // 0)}' "$1"; }
ab=$(reads "$A" | jq .bios) sb=$(reads "$S" | jq .bios)
check "scaled bios ($sb) within 20% of every bio ($ab)" \
	awk -v a="$ab" -v s="$sb" 'BEGIN {exit !(a > 1000 && s > 0.8 * a && s < 1.2 * a)}'
ay=$(reads "$A" | jq .bytes) sy=$(reads "$S" | jq .bytes)
check "scaled bytes ($sy) within 20% of every bio's ($ay)" \
	awk -v a="$ay" -v s="$sy" 'BEGIN {exit !(s > 0.8 * a && s < 1.2 * a)}'
# The data reads' device-group histograms, merged across groups by taking the largest.
pct() {  # FILE PHASE KEY
	jq --arg p "$2" --arg k "$3" '[.groups[] | select(.op=="read" and .kind=="data" and .dev != null) |
		.phases[$p] | select(. != null and .count > 0) | {c: .count, v: .[$k]}] | max_by(.c) | .v // 0' "$1"
}
for ph in device total; do
	for k in p50_ns p90_ns; do
		a=$(pct "$A" $ph $k) s=$(pct "$S" $ph $k)
		check "$ph $k sampled ($s) within a bucket of every bio's ($a)" \
			awk -v a="$a" -v s="$s" 'BEGIN {d = a > s ? a - s : s - a; m = a > s ? a : s; exit !(a > 0 && d <= 0.25 * m)}'
	done
done
exit 0
