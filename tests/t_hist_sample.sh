#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# hist --sample N follows one bio in N by a hash of the bio: two tracers on
# the same 4 KiB O_DIRECT reads, one following every bio and one sampling
# one in 4, agree on the data reads' p50 and p90 within the histogram's
# bucket error (bucket edges) widened by the sample's own quantile error,
# their scaled bio count and bytes agree within 20%, and JSON says the
# sampling.
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
# The data reads' busiest device group, per phase: the sampled percentile
# must lie in the unsampled histogram's buckets between the quantiles q -/+
# 3 standard errors of a quantile of the n bios the sample followed (the
# sampling's own error), widened by one bucket each way (x0.8 .. x1.25: a
# bucket is a quarter of its power of two).  The two tracers time the same
# bios with their own clock reads, one after the other, so where the true
# percentile sits on a bucket edge the two can land on either side of it
# (seen: total p50 8361 ns sampled against a band of [7168, 8192]).
grp() {  # FILE PHASE
	jq --arg p "$2" '[.groups[] | select(.op=="read" and .kind=="data" and .dev != null) |
		.phases[$p] | select(. != null and .count > 0)] | max_by(.count)' "$1"
}
for ph in device total; do
	for q in 50 90; do
		s=$(grp "$S" $ph | jq ".p${q}_ns")
		band=$(jq -n --argjson a "$(grp "$A" $ph)" --argjson q $q --argjson n "$(grp "$S" $ph | jq '.count / 4')" '
			($q / 100) as $q | (3 * (($q * (1 - $q)) / $n | sqrt)) as $e |
			def edge($f; $k): [foreach $a.buckets[] as $b (0; . + $b[2]; [., $b])] |
				map(select(.[0] >= $f * $a.count)) | first | .[1][$k];
			"\(edge([$q - $e, 0] | max; 0) * 0.8) \(edge([$q + $e, 1] | min; 1) * 1.25)"' -r)
		check "$ph p$q sampled ($s) within every bio's band [$band]" \
			awk -v s="$s" -v b="$band" 'BEGIN {split(b, x, " "); exit !(s >= x[1] && s <= x[2])}'
	done
done
exit 0
