#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# csum is observable where the kernel makes it so: with sha256, writeback
# that is not synchronous offloads checksums to btrfs workers
# (run_one_async_start); with crc32c checksums run inline in the submitter
# and csum must be reported as not observable, never as zero.
# kernels: all
. "$(dirname "$0")/lib.sh"
need_root

writeback() {  # FILE: 16 MiB through sync_file_range(WRITE): WB_SYNC_NONE, no REQ_SYNC
	fio --name=wb --filename="$1" --size=16M --bs=1M --rw=write --ioengine=psync \
		--sync_file_range=write:4 --output=/dev/null || fail "fio"
}

sandbox_up --profile single --csum sha256 --mount-opts commit=300
tracer_start "$T_TMP/s.json" --fs "$MNT" --json
writeback "$MNT/f"
sync
sleep 1
tracer_stop
J="$T_TMP/s.json"
if kernel_btrfs_btf; then
	check "sha256: data csum observed" jq -e '
		[.groups[] | select(.dev==null and .kind=="data") | .phases.csum.count // 0] | add > 0' "$J"
	check "sha256: csum percentiles ordered" jq -e '
		.groups[] | select(.dev==null and .kind=="data") | .phases.csum |
		.p50_ns <= .p99_ns and .p99_ns <= .max_ns and .p50_ns > 0' "$J"
else
	check "sha256: csum not observable without btrfs BTF" jq -e '
		[.groups[] | select(.dev==null) | .phases.csum] |
		all(.observable == false and .reason == "no_btrfs_btf")' "$J"
fi
"$BBSCOPE" sandbox down >/dev/null || fail "sandbox down"

sandbox_up --profile single --csum crc32c --mount-opts commit=300
tracer_start "$T_TMP/c.json" --fs "$MNT" --json
writeback "$MNT/f"
sync
sleep 1
tracer_stop
J="$T_TMP/c.json"
check "crc32c: data was written" jq -e '[.groups[] | select(.kind=="data" and .op=="write") | .bytes] | add > 0' "$J"
check "crc32c: csum reported not observable" jq -e '
	[.groups[] | select(.dev==null) | .phases.csum] | all(.observable == false)' "$J"
if kernel_btrfs_btf; then
	check "crc32c: ... because it ran inline in the submitter" jq -e '
		[.groups[] | select(.dev==null and .op=="write") | .phases.csum] | length > 0 and
		all(.reason == "csum_inline")' "$J"
fi
exit 0
