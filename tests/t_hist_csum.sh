#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# csum is observable where the kernel makes it so: writeback that is not
# synchronous offloads checksums to btrfs workers (run_one_async_start)
# when the algorithm is slow (sha256); a fast crc32c runs inline in the
# submitter on 6.12 and later, and csum must then be reported as not
# observable, never as zero.  6.1 offloads data checksums whatever the
# algorithm.  The witness is the kernel's own btrfs_work_sched tracepoint,
# counted by bpftrace: bbscope must see exactly those offloaded checksums.
# kernels: all
. "$(dirname "$0")/lib.sh"
need_root

writeback() {  # FILE: 16 MiB through sync_file_range(WRITE): WB_SYNC_NONE, no REQ_SYNC
	fio --name=wb --filename="$1" --size=16M --bs=1M --rw=write --ioengine=psync \
		--sync_file_range=write:4 --output=/dev/null || fail "fio"
}

# witness_start FILE: count the checksums run as work items, by the kernel's
# tracepoints (where bpftrace and tracefs are); witness_stop prints the count.
# Those are run_one_async_start (offloaded to btrfs's workers) and, where the
# async csum series is in (csum_one_bio_work: 6.18 here and 7.x; queued for a write bio
# that is not offloaded, such as the WB_SYNC_ALL writeback of `sync`),
# csum_one_bio_work: bbscope makes a csum span of each.
ksym_addr() { awk -v f="$1" '$3 == f || index($3, f ".") == 1 { print $1; exit }' /proc/kallsyms; }
START=$(ksym_addr run_one_async_start)
CSUMWORK=$(ksym_addr csum_one_bio_work)
WITNESS=
witness_start() {
	local probe
	WITNESS=
	command -v bpftrace >/dev/null && [ -n "$START" ] && [ "$START" != 0000000000000000 ] || return 0
	if [ -e /sys/bus/event_source/devices/kprobe ]; then
		probe="kprobe:run_one_async_start${CSUMWORK:+, kprobe:csum_one_bio_work} { @n = count(); }"
	else
		mountpoint -q /sys/kernel/tracing || mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null
		probe="tracepoint:btrfs:btrfs_work_sched /args->func == 0x$START/ { @n = count(); }"
		[ -n "$CSUMWORK" ] && probe="$probe tracepoint:workqueue:workqueue_execute_start
			/args->function == 0x$CSUMWORK/ { @n = count(); }"
	fi
	ulimit -l unlimited 2>/dev/null
	bpftrace_start "$probe" "$1"
	WITNESS=$BT
	bpftrace_attached 60
}
witness_stop() {  # FILE: sets n_kernel (bpftrace prints "@n: N" at exit, nothing for 0)
	n_kernel=
	[ -n "$WITNESS" ] || return 0
	kill -INT $WITNESS
	wait_bounded "$WITNESS" 120 "the bpftrace witness, after SIGINT"
	n_kernel=$(awk '/^@n: / { n = $2 } END { print n + 0 }' "$1")
}
csum_count() { jq '[.groups[] | select(.dev==null) | .phases.csum.count // 0] | add // 0' "$1"; }
# seen_all WHAT JSON: bbscope saw every checksum the witness counted; fewer only
# where the kernel skipped runs of its programs (7.x), never more.  Skipped
# runs a copy made up for count here too: on 7.3 one checksum in 13 went
# unseen with no copy acting and none skipped (twice, unloaded; exact under
# load, with one run rescued), so the shortfall is not all skips': cause
# not found, and this check stays as lenient as before the copies.
seen_all() {
	local n skipped
	n=$(csum_count "$2")
	skipped=$(jq '(.skipped_runs // 0) + ([.bpf_cost.progs // {} | .[] | .skipped_runs // 0] |
		add // 0)' "$2")
	jq -c "{skipped_runs, rescued_runs, csum: [.groups[] | select(.dev==null) | .phases.csum.count // 0],
		prog_skips: (.bpf_cost.progs // {} | map_values(.skipped_runs // 0) |
			with_entries(select(.value > 0)))}" "$2"
	if [ "$n" -eq "$n_kernel" ] || { [ "$skipped" -gt 0 ] && [ "$n" -lt "$n_kernel" ]; }; then
		ok "$1: $n of the kernel's $n_kernel checksums seen ($skipped runs skipped)"
	else
		fail "$1: $n checksums seen, the kernel ran $n_kernel ($skipped runs skipped)"
	fi
}

sandbox_up --profile single --csum sha256 --mount-opts commit=300
witness_start "$T_TMP/w.s"
tracer_start "$T_TMP/s.json" --fs "$MNT" --json
writeback "$MNT/f"
sync
sleep 1
tracer_stop
J="$T_TMP/s.json"
witness_stop "$T_TMP/w.s"
if kernel_btrfs_btf; then
	check "sha256: data csum observed" jq -e '
		[.groups[] | select(.dev==null and .kind=="data") | .phases.csum.count // 0] | add > 0' "$J"
	check "sha256: csum percentiles ordered" jq -e '
		.groups[] | select(.dev==null and .kind=="data") | .phases.csum |
		.p50_ns <= .p99_ns and .p99_ns <= .max_ns and .p50_ns > 0' "$J"
	[ -z "$n_kernel" ] ||
		seen_all "sha256: as many as the kernel ran as work items" "$J"
else
	check "sha256: csum not observable without btrfs BTF" jq -e '
		[.groups[] | select(.dev==null) | .phases.csum] |
		all(.observable == false and .reason == "no_btrfs_btf")' "$J"
fi
"$BBSCOPE" sandbox down >/dev/null || fail "sandbox down"

sandbox_up --profile single --csum crc32c --mount-opts commit=300
witness_start "$T_TMP/w.c"
tracer_start "$T_TMP/c.json" --fs "$MNT" --json
writeback "$MNT/f"
sync
sleep 1
tracer_stop
J="$T_TMP/c.json"
witness_stop "$T_TMP/w.c"
check "crc32c: data was written" jq -e '[.groups[] | select(.kind=="data" and .op=="write") | .bytes] | add > 0' "$J"
if ! kernel_btrfs_btf; then
	check "crc32c: csum not observable without btrfs BTF" jq -e '
		[.groups[] | select(.dev==null) | .phases.csum] | all(.observable == false)' "$J"
elif [ -n "$n_kernel" ]; then
	seen_all "crc32c: as many as the kernel ran as work items" "$J"
	if [ "$n_kernel" -eq 0 ]; then
		check "crc32c: ... none: csum not observable, it ran inline in the submitter" jq -e '
			[.groups[] | select(.dev==null and .op=="write") | .phases.csum] | length > 0 and
			all(.observable == false and .reason == "csum_inline")' "$J"
	fi
else
	echo "note: no bpftrace witness here"
fi
exit 0
