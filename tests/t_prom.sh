#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# hist --prom serves the live histograms in the Prometheus text format:
# curl scrapes it, promtool validates it, the counts match the workload,
# and it listens on loopback only by default.
. "$(dirname "$0")/lib.sh"
need_root
command -v promtool >/dev/null || skip "promtool missing (Debian package prometheus)"
command -v curl >/dev/null || skip "curl missing"

sandbox_up --profile single --mount-opts commit=300
port=$((20000 + RANDOM % 20000))
tracer_start "$T_TMP/h.out" --fs "$MNT" --prom "127.0.0.1:$port"
dd if=/dev/urandom of="$MNT/file" bs=1M count=4 conv=fsync status=none || fail "dd"
sleep 2.2  # metrics fold in once a second

curl -sf "http://127.0.0.1:$port/metrics" >"$T_TMP/m.txt" || fail "scrape failed"
promtool check metrics <"$T_TMP/m.txt" >"$T_TMP/promtool.out" 2>&1 ||
	{ cat "$T_TMP/promtool.out"; fail "promtool rejects the exposition"; }
ok "promtool check metrics accepts it"

bytes=$(awk '/^bbscope_bytes_total\{.*op="write",kind="data"/ {s += $2} END {print s + 0}' "$T_TMP/m.txt")
check "data write bytes ($bytes) == file size" [ "$bytes" -eq 4194304 ]
for p in queue device hop endio total; do
	check "histogram family bbscope_${p}_seconds present" \
		grep -q "^bbscope_${p}_seconds_bucket{.*le=\"+Inf\"}" "$T_TMP/m.txt"
done
inf=$(awk '/^bbscope_total_seconds_bucket\{.*kind="data".*le="\+Inf"\}/ {s += $2} END {print s + 0}' "$T_TMP/m.txt")
cnt=$(awk '/^bbscope_total_seconds_count\{.*kind="data"/ {s += $2} END {print s + 0}' "$T_TMP/m.txt")
check "+Inf bucket equals _count ($inf == $cnt)" [ "$inf" -eq "$cnt" ]
check "buckets are cumulative" awk '
	/^bbscope_device_seconds_bucket/ { split($0, a, "le="); key = a[1]
		if (key == prev && $2 < last) bad = 1; prev = key; last = $2 }
	END { exit bad }' "$T_TMP/m.txt"
check "lost counters exported" grep -q '^bbscope_lost_total{reason="evicted"}' "$T_TMP/m.txt"
check "skipped runs exported" grep -qE '^bbscope_skipped_runs_total [0-9]+$' "$T_TMP/m.txt"
check "the running kernel: bbscope_kernel_info{release=\"$(uname -r)\"} 1" \
	grep -qx "bbscope_kernel_info{release=\"$(uname -r)\"} 1" "$T_TMP/m.txt"
check "end_io context counters" grep -q '^bbscope_endio_ctx_total{.*ctx="task"}' "$T_TMP/m.txt"

# Scraped again, counters never go down.
sleep 1.1
curl -sf "http://127.0.0.1:$port/metrics" >"$T_TMP/m2.txt" || fail "second scrape failed"
b2=$(awk '/^bbscope_bytes_total\{.*op="write",kind="data"/ {s += $2} END {print s + 0}' "$T_TMP/m2.txt")
check "counters are cumulative across scrapes" [ "$b2" -ge "$bytes" ]

check "loopback only: not reachable on another address" bash -c \
	"! ss -ltn | awk '{print \$4}' | grep -q '^0.0.0.0:$port\$'"
tracer_stop
exit 0
