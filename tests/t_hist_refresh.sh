#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# hist --fs loses no bio across its once-a-second housekeeping: under a
# steady stream of small synchronous writes spanning several seconds, the
# device's own sector counter equals the bytes traced to it.  Without btrfs
# BTF (5.10) the BPF side learns each bio's filesystem from the devs map,
# which the tracer refreshes every second; a refresh that emptied the map
# before refilling it dropped the bios queued in between (the cause of
# t_hist_single's rare "device stat bytes written == traced" failure).
# kernels: all
. "$(dirname "$0")/lib.sh"
need_root

sandbox_up --profile single --size 1G --mount-opts commit=300
DEV=$(jq -r '.devices[0]' "$SB_JSON")
NAME=$(basename "$DEV")
sync

sectors() { awk '{print $7}' "/sys/block/$NAME/stat"; }  # sectors written
w0=$(sectors)
tracer_start "$T_TMP/h.json" --fs "$MNT" --json
# About 6 s of 4 KiB O_DIRECT|O_SYNC writes: bios in flight across 5+ refreshes.
end=$((SECONDS + 6))
i=0
while [ $SECONDS -lt $end ]; do
	dd if=/dev/zero of="$MNT/f" bs=4k count=64 seek=$((i % 256 * 64)) oflag=direct,sync \
		conv=notrunc status=none || fail "dd"
	i=$((i + 1))
done
sync
sleep 1
w1=$(sectors)
tracer_stop
J="$T_TMP/h.json"
cat "$J.err"

dev_w=$(jq --arg d "$NAME" '[.groups[] | select(.op=="write" and .dev==$d) | .bytes] | add // 0' "$J")
stat_w=$(( (w1 - w0) * 512 ))
echo "dd runs: $i"
check "device stat bytes written ($stat_w) == traced ($dev_w)" [ "$stat_w" -eq "$dev_w" ]
check "nothing lost" [ "$(jq .lost "$J")" -eq 0 ]
exit 0
