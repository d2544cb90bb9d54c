#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bbscope replay csum on real targets: every mode writes the whole workload
# to a loop device and to a file, the bytes on the target are the ones whose
# checksums the replay computed (read back and checksummed by 'bbscope
# csum'), the JSON carries the run's keys and the csum/device/total phases,
# and unsafe targets are refused before anything is written.
. "$(dirname "$0")/lib.sh"
need_root
command -v jq >/dev/null || skip "needs jq"
command -v mkfs.btrfs >/dev/null || skip "needs mkfs.btrfs (btrfs-progs)"
command -v mkfs.ext4 >/dev/null || skip "needs mkfs.ext4 (e2fsprogs)"

SIZE=$((64 << 20))
SPEC_SEQ="size=64M,bs=128K,pattern=seq"
SPEC_RAND="size=64M,bs=64K,pattern=rand,seed=3"

# new_loop VAR SIZE: a loop device on a fresh file in $T_TMP, detached at exit.
new_loop() {
	local img=$T_TMP/$1.img dev
	truncate -s "$2" "$img" || fail "truncate $img"
	dev=$(losetup -f --show "$img") || fail "losetup $img"
	at_exit "losetup -d $dev"
	printf -v "$1" '%s' "$dev"
}

# replay ARGS...: run 'bbscope replay csum ARGS', stdout to $T_TMP/out, stderr to $T_TMP/err.
replay() {
	"$BBSCOPE" replay csum "$@" >"$T_TMP/out" 2>"$T_TMP/err"
}

# verify TARGET ALGO [BYTES]: the first BYTES (default $SIZE) of TARGET checksum
# to what the run wrote.
verify() {
	head -c "${3:-$SIZE}" "$1" | "$BBSCOPE" csum --algo "$2" - >"$T_TMP/got" ||
		fail "bbscope csum of $1"
	cmp -s "$T_TMP/want" "$T_TMP/got" || fail "data on $1 differs from what was replayed"
}

check_json() {  # MODE ALGO QD WORKERS
	local j=$T_TMP/out mode=$1 algo=$2 qd=$3 workers=$4
	jq -e --arg m "$mode" --arg c "$algo" --argjson qd "$qd" --argjson w "$workers" \
		--argjson size $SIZE '
		.mode == $m and .algo == $c and .bytes == $size and .qd == $qd and
		.workers == $w and .elapsed_s > 0 and .throughput_bps > 0 and .cpu_s >= 0 and
		(.groups | length) == 2 and
		(.terms | .cpus >= 1 and .submitter_run_ns > 0 and .submitter_runq_wait_ns >= 0 and
			.io_run_ns >= 0 and .idle_cores >= 0 and .other_load_cores >= 0 and
			.sleeps >= 0 and
			if $m == "async" or $m == "offload" then .workers_run_ns > 0
			else .workers_run_ns == 0 end) and
		# each wake-up timed by the kernel (root may load BPF): a
		# submitter that waited a millisecond in all slept and woke (one
		# that reaps while it checksums may never wait), a worker sleeps
		# on its FIFO; the waits are run-queue time, so within the
		# schedstat sum of it
		(.bios as $n | .terms |
			(.sleep_ns * $n < 1e6 or .submitter_wakeups >= 1) and
			.submitter_wake_wait_idle_ns <= .submitter_wake_wait_ns and
			.workers_wake_wait_idle_ns <= .workers_wake_wait_ns and
			.submitter_wakeups * .submitter_wake_wait_ns <=
				1.2 * .submitter_runq_wait_ns * $n + 1e6 and
			if $m == "async" or $m == "offload" then .workers_wakeups >= 1
			else .workers_wakeups == 0 end) and
		(.groups[] | select(.dev != null) | .bytes == $size and .op == "write" and
			.kind == "data" and .phases.device.count == .bios and
			.phases.total.count == .bios) and
		(.groups[] | select(.dev == null) | .phases.csum |
			if $m == "none" then .observable == false else .count > 0 end)
		' "$j" >/dev/null || { cat "$j"; fail "JSON of mode $mode ($algo) lacks keys or phases"; }
}

new_loop LOOP 160M

# ---- every mode, on a loop device and on a file, data verified ----
i=0
for mode in none serial async offload; do
	for target in loop file; do
		i=$((i + 1))
		# Alternate the algorithms, patterns and shapes across the runs.
		case $((i % 4)) in
		0) algo=crc32c spec=$SPEC_SEQ qd=16 workers=1 ;;
		1) algo=sha256 spec=$SPEC_RAND qd=4 workers=2 ;;
		2) algo=xxhash spec=$SPEC_RAND qd=1 workers=1 ;;
		3) algo=blake2 spec=$SPEC_SEQ qd=32 workers=2 ;;
		esac
		case $mode in none | serial) want_workers=0 ;; *) want_workers=$workers ;; esac
		if [ $target = loop ]; then
			tgt=$LOOP
			# Zeroes first: what is read back must come from this run.
			dd if=/dev/zero of="$LOOP" bs=1M count=64 oflag=direct status=none ||
				fail "zero $LOOP"
		else
			tgt=$T_TMP/target.$i
		fi
		rm -f "$T_TMP/want" # --csum-out replaces a file only with --force
		replay --synthetic "$spec" --target "$tgt" --mode $mode --algo $algo --qd $qd \
			--workers $workers --csum-out "$T_TMP/want" --json ||
			{ cat "$T_TMP/err"; fail "replay $mode on $target"; }
		check_json $mode $algo $qd $want_workers
		[ $target = file ] && { [ "$(stat -c %s "$tgt")" = $SIZE ] ||
			fail "created file is $(stat -c %s "$tgt") bytes, not $SIZE"; }
		verify "$tgt" $algo
		ok "$mode on $target ($algo, $spec, qd $qd): $SIZE bytes written and read back"
	done
done

# Plain text: the tracer's table with the three phases.
replay --synthetic size=8M --target "$LOOP" --mode async -s || fail "plain replay"
for p in csum device total; do
	grep -Eq "^ +$p +[0-9]+ " "$T_TMP/out" || { cat "$T_TMP/out"; fail "no $p row"; }
done
ok "plain output has csum, device and total rows"
replay --synthetic size=8M --target "$LOOP" --mode none -s || fail "plain replay (none)"
grep -Eq "^ +csum +not observable" "$T_TMP/out" || { cat "$T_TMP/out"; fail "none shows csum"; }
ok "mode none: csum not observable"

# ---- a recording: its data writes, at its pace with --timing ----
WT=${WORKLOAD_TEST:-$OUT/tests/workload_test}
[ -x "$WT" ] || fail "$WT missing (make OUT=$OUT)"
"$WT" --write-trace "$T_TMP/rec.trace" >/dev/null || fail "writing a test recording"
# 64 data writes of 64 KiB, queued 5 ms apart: 315 ms from first to last.
for timing in fast recorded scale=0.5; do
	rm -f "$T_TMP/want"
	replay --trace "$T_TMP/rec.trace" --target "$T_TMP/trace.$timing" --mode async \
		--timing $timing --csum-out "$T_TMP/want" --json ||
		{ cat "$T_TMP/err"; fail "replay --trace --timing $timing"; }
	jq -e '.bytes == 4194304 and .bios == 64' "$T_TMP/out" >/dev/null ||
		fail "--trace: $(jq -c '{bytes, bios}' "$T_TMP/out")"
	verify "$T_TMP/trace.$timing" crc32c 4194304
	elapsed=$(jq .elapsed_s "$T_TMP/out")
	case $timing in
	fast) lo=0 hi=0.2 ;;
	recorded) lo=0.315 hi=1.5 ;;
	scale=0.5) lo=0.1575 hi=0.3 ;;
	esac
	awk -v e="$elapsed" -v lo=$lo -v hi=$hi 'BEGIN { exit !(e >= lo && e < hi) }' ||
		fail "--timing $timing took ${elapsed}s, want [$lo, $hi)"
	ok "--trace with --timing $timing: 64 bios, 4 MiB, ${elapsed}s"
done

# ---- refusals: nothing written, one-line error, JSON error with --json ----
# The first 64 KiB: a replay writes there first; btrfs never does (its
# superblock is at 64 KiB), and ext4 is not mounted here.
marker() { dd if="$1" bs=64K count=1 status=none | md5sum; }

# refused WHAT PATTERN ARGS...: the replay must fail, say PATTERN, leave the target alone.
refused() {
	local what=$1 pattern=$2
	shift 2
	if replay "$@"; then
		fail "$what: accepted"
	fi
	[ "$(wc -l <"$T_TMP/err")" = 1 ] || { cat "$T_TMP/err"; fail "$what: not one line"; }
	grep -q "$pattern" "$T_TMP/err" || { cat "$T_TMP/err"; fail "$what: says '$(cat "$T_TMP/err")'"; }
	if replay "$@" --json; then
		fail "$what: accepted with --json"
	fi
	jq -e 'keys == ["error"]' "$T_TMP/out" >/dev/null && [ "$(wc -l <"$T_TMP/out")" = 1 ] ||
		{ cat "$T_TMP/out"; fail "$what: --json output is not one error object"; }
	ok "$what refused: $(cat "$T_TMP/err")"
}

mkfs.btrfs -q -f "$LOOP" >/dev/null || fail "mkfs.btrfs"
before=$(marker "$LOOP")
refused "btrfs signature" "btrfs signature" --synthetic size=8M --target "$LOOP" --mode serial
mkdir -p "$T_TMP/mnt"
mount "$LOOP" "$T_TMP/mnt" || fail "mount btrfs"
at_exit "umount $T_TMP/mnt"
refused "mounted btrfs (even with --force)" "mounted on" --synthetic size=8M --target "$LOOP" \
	--mode serial --force
umount "$T_TMP/mnt" || fail "umount"
[ "$(marker "$LOOP")" = "$before" ] || fail "a refused replay wrote to $LOOP"

mkfs.ext4 -q -F "$LOOP" || fail "mkfs.ext4"
before=$(marker "$LOOP")
refused "ext4 signature" "ext4 signature" --synthetic size=8M --target "$LOOP" --mode async
refused "too-small device" "too small" --synthetic size=256M --target "$LOOP" --mode none --force
[ "$(marker "$LOOP")" = "$before" ] || fail "a refused replay wrote to $LOOP"
replay --synthetic size=8M --target "$LOOP" --mode serial --force --json ||
	{ cat "$T_TMP/err"; fail "--force over an ext4 signature"; }
grep -q "overwriting its ext4 signature" "$T_TMP/err" || fail "no warning about the signature"
[ "$(jq .bytes "$T_TMP/out")" = $((8 << 20)) ] || fail "--force run wrote $(jq .bytes "$T_TMP/out")"
ok "--force overrides the ext4 signature"

echo keep >"$T_TMP/existing"
refused "existing file" "exists" --synthetic size=8M --target "$T_TMP/existing" --mode none
[ "$(cat "$T_TMP/existing")" = keep ] || fail "a refused replay touched the existing file"
replay --synthetic size=8M --target "$T_TMP/existing" --mode none --force ||
	{ cat "$T_TMP/err"; fail "--force over an existing file"; }
ok "--force overwrites an existing file"
refused "loop backing file" "backs" --synthetic size=8M --target "$T_TMP/LOOP.img" --mode none \
	--force
refused "bad spec" "not a multiple of bs" --synthetic size=100K,bs=64K --target "$T_TMP/x" \
	--mode none
[ ! -e "$T_TMP/x" ] || fail "a refused replay created its target"
exit 0
