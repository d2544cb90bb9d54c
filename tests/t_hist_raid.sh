#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# raid1 writes every data byte twice; raid6 on 4 devices under small random
# writes shows rmw runtimes and per-device stripe writes; a read of raid6
# mounted degraded shows recover runtimes (two work items on 6.1, one
# later) and the strips it read.
# kernels: all
. "$(dirname "$0")/lib.sh"
need_root

sandbox_up --profile raid1 --devices 2 --mount-opts commit=300
sync
tracer_start "$T_TMP/r1.json" --fs "$MNT" --json
dd if=/dev/urandom of="$MNT/file" bs=1M count=4 conv=fsync status=none || fail "dd"
sleep 1
tracer_stop
J="$T_TMP/r1.json"
data_w=$(jq '[.groups[] | select(.op=="write" and .kind=="data") | .bytes] | add // 0' "$J")
check_traced "raid1 data write bytes, 2 x file size" "$data_w" $((2 * 4194304)) "$J"
check "raid1 data written to both devices" jq -e '
	[.groups[] | select(.dev != null and .op=="write" and .kind=="data") | .dev] | unique | length == 2' "$J"
"$BBSCOPE" sandbox down >/dev/null || fail "sandbox down"

sandbox_up --profile raid6 --devices 4 --mount-opts commit=300
dd if=/dev/urandom of="$MNT/file" bs=1M count=16 conv=fsync status=none || fail "dd"
sync
tracer_start "$T_TMP/r6.json" --fs "$MNT" --json
for i in $(seq 1 64); do
	dd if=/dev/urandom of="$MNT/file" bs=4K count=1 seek=$((RANDOM % 4096)) \
		conv=notrunc,fsync status=none || fail "small write $i"
done
sleep 1
tracer_stop
J="$T_TMP/r6.json"
if kernel_btrfs_btf; then
	check "raid56.rmw observed" jq -e '.raid56.rmw.count > 0' "$J"
	check "rmw percentiles ordered" jq -e '.raid56.rmw | .p50_ns <= .p99_ns and .p99_ns <= .max_ns' "$J"
else
	check "raid56.rmw not observable: no btrfs BTF" jq -e '.raid56.rmw.reason == "no_btrfs_btf"' "$J"
fi
check "raid56 stripe writes counted" jq -e '.raid56.stripe_writes > 0' "$J"
check "stripe writes on all 4 devices" jq -e '
	[.groups[] | select(.stripe_writes > 0) | .dev] | unique | length == 4' "$J"
check "every strip write is one of the stripe writes counted" jq -e '
	([.groups[] | select(.dev != null and .op=="write") | .stripe_writes] | add) == .raid56.stripe_writes' "$J"
"$BBSCOPE" sandbox down >/dev/null || fail "sandbox down"

# Degraded: four loop devices of the test's own, the last one taken away.
D=$T_TMP/deg
raid6_up "$D"
dd if=/dev/urandom of="$D/file" bs=1M count=4 conv=fsync status=none || fail "dd"
raid6_degrade "$D"
tracer_start "$T_TMP/dg.json" --fs "$D" --json
cat "$D/file" >/dev/null || fail "degraded read"
sleep 1
tracer_stop
J="$T_TMP/dg.json"
rd=$(jq '[.groups[] | select(.dev != null and .op=="read" and .kind=="data") | .stripe_reads] | add // 0' "$J")
check "degraded raid6 read: strips read ($rd)" [ "$rd" -gt 0 ]
if kernel_btrfs_btf; then
	check "raid56.recover observed" jq -e '.raid56.recover.count > 0' "$J"
	check "recover percentiles ordered" jq -e '.raid56.recover | .p50_ns <= .p99_ns and .p99_ns <= .max_ns' "$J"
else
	check "raid56.recover not observable: no btrfs BTF" jq -e '.raid56.recover.reason == "no_btrfs_btf"' "$J"
fi
exit 0
