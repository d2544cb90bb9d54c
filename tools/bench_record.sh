#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# How fast can `bbscope record` record?  fio 4 KiB random writes (O_DIRECT,
# libaio, queue depth QD) on a sandbox btrfs whose backing files and the
# trace itself live in tmpfs, recorded for SECS seconds, ROUNDS times.
# Reports per round and as medians: records (bios + spans) per second, bios
# per second, lost (target 0), bytes per bio on disk (file size / bios),
# and the recorder's CPU time (getrusage of the record process: user + sys)
# per second and per record.
# Output: JSON on stdout.  Env: ROUNDS (3), SECS (10), QD (32), BUFFER_MB (16).
set -u
cd "$(dirname "$0")/.." || exit 1
B=${BBSCOPE:-$PWD/build/bbscope}
ROUNDS=${ROUNDS:-3}
SECS=${SECS:-10}
QD=${QD:-32}
BUFFER_MB=${BUFFER_MB:-16}
. tools/reap.sh
[ "$(id -u)" = 0 ] || { echo "bbscope: bench_record needs root" >&2; exit 1; }
# What a run killed with SIGKILL left: its state (and sandbox) first, then its files.
reap_stale /tmp bbscope-bench-record
reap_stale /dev/shm bbscope-bench-record
BBSCOPE_STATE_DIR=$(run_dir /tmp bbscope-bench-record) || exit 1
export BBSCOPE_STATE_DIR
BACK=$(run_dir /dev/shm bbscope-bench-record) || { rm -rf "$BBSCOPE_STATE_DIR"; exit 1; }
rec=
cleanup() {
	[ -n "$rec" ] && kill -INT "$rec" 2>/dev/null && wait "$rec" 2>/dev/null
	"$B" sandbox down >/dev/null 2>&1
	rm -rf "$BACK" "$BBSCOPE_STATE_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mnt=$("$B" sandbox up --profile single --size 2G --backing-dir "$BACK" --mount-opts commit=300) ||
	{ echo "bbscope: bench: sandbox up failed" >&2; exit 1; }
fio --name=prep --filename="$mnt/bench" --size=512M --rw=write --bs=1M --end_fsync=1 \
	--output=/dev/null || exit 1

rounds="[]"
for r in $(seq "$ROUNDS"); do
	trace=$BACK/trace.$r.bbt
	err=$BBSCOPE_STATE_DIR/rec.err
	"$B" record -o "$trace" --fs "$mnt" --buffer-mb "$BUFFER_MB" --json \
		>"$BBSCOPE_STATE_DIR/rec.json" 2>"$err" &
	rec=$!
	for i in $(seq 100); do grep -q '^bbscope: tracing' "$err" && break; sleep 0.1; done
	iops=$(fio --name=bench --filename="$mnt/bench" --size=512M --rw=randwrite --bs=4k \
		--direct=1 --ioengine=libaio --iodepth="$QD" --time_based --runtime="$SECS" \
		--output-format=json 2>/dev/null | jq '.jobs[0].write.iops')
	kill -INT "$rec"
	wait "$rec"
	rec=
	s=$BBSCOPE_STATE_DIR/rec.json
	[ -s "$s" ] || { cat "$err" >&2; exit 1; }
	round=$(jq -c --argjson iops "$iops" '{
		fio_iops: $iops,
		duration_s: .duration_s,
		bios: .bios, spans: .spans, stripes: .stripes,
		records_per_s: ((.bios + .spans + .stripes) / .duration_s | floor),
		bios_per_s: (.bios / .duration_s | floor),
		lost: .lost, lost_detail: .lost_detail,
		file_bytes: .bytes,
		bytes_per_bio: (.bytes_per_bio * 100 | round / 100),
		cpu_user_s: .cpu_user_s, cpu_sys_s: .cpu_sys_s,
		cpu_percent: ((.cpu_user_s + .cpu_sys_s) / .duration_s * 1000 | round / 10),
		cpu_ns_per_record: ((.cpu_user_s + .cpu_sys_s) * 1e9 / (.bios + .spans + .stripes) | round)
	}' "$s")
	echo "round $r: $round" >&2
	rounds=$(jq -c --argjson x "$round" '. + [$x]' <<<"$rounds")
	rm -f "$trace"
done

cpu_model=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')
jq -n --argjson rounds "$rounds" --arg cpu "$cpu_model" --argjson cores "$(nproc)" \
	--arg kernel "$(uname -r)" --argjson secs "$SECS" --argjson qd "$QD" \
	--argjson mb "$BUFFER_MB" '
	def median: sort | if length % 2 == 1 then .[length / 2 | floor]
		else (.[length / 2 - 1] + .[length / 2]) / 2 end;
	{
		benchmark: "record_throughput",
		workload: "fio randwrite 4k O_DIRECT libaio qd \($qd), btrfs single on a tmpfs-backed loop device, trace on tmpfs",
		machine: {cpu: $cpu, cores: $cores, kernel: $kernel},
		seconds_per_round: $secs, ring_buffer_mb: $mb,
		median: {
			records_per_s: ($rounds | map(.records_per_s) | median),
			bios_per_s: ($rounds | map(.bios_per_s) | median),
			lost: ($rounds | map(.lost) | max),
			bytes_per_bio: ($rounds | map(.bytes_per_bio) | median),
			cpu_percent: ($rounds | map(.cpu_percent) | median),
			cpu_ns_per_record: ($rounds | map(.cpu_ns_per_record) | median)
		},
		rounds: $rounds
	}'
