#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# bbscope bench killed with SIGKILL, which no teardown survives: once with its
# sandbox up (tmpfs store), once writing to an existing btrfs (--fs).  The
# next bench removes what the killed one left (work dir, store, sandbox
# mount and loop devices, its directory on the --fs btrfs) and nothing else:
# not the directories of a live process, nor names that only look like a
# run's, nor a run directory someone else could have written in.  The same
# for the benchmark scripts of 'make bench' (tools/reap.sh): its reaper on
# a made-up killed run (a sandbox, a loop device, a process still running),
# and tools/bench_record.sh killed and run again.
# shellcheck disable=SC2016,SC2317,SC2034 # check ... eval '...' expands when the check runs
. "$(dirname "$0")/lib.sh"
need_root
for tool in fio jq losetup; do
	command -v $tool >/dev/null || skip "$tool is not installed"
done
[ -x "$BBSCOPE" ] || fail "no $BBSCOPE (build it first)"

# bench's work directories go under TMPDIR, its tmpfs stores under /dev/shm.
export TMPDIR=$T_TMP
BENCH=(--size 16M --rounds 1 --json)
mounted_under() { grep -qF " $1/" /proc/mounts; }
loops_under() { losetup -a | grep -F "($1/"; }

# A pid that is gone: a finished child's.
sleep 0 &
DEAD=$!
wait $DEAD
kill -0 $DEAD 2>/dev/null && skip "pid $DEAD was reused at once"

# --- what the reaper must leave alone, and one stale directory it must remove ---
mkdir "$T_TMP/target" && touch "$T_TMP/target/keep"
keep=(
	"bbscope-bench.$$.live01" # a live process's (this shell)
	"bbscope-bench.$DEAD"     # not the pattern: no suffix
	"bbscope-bench.$DEAD.abc" # suffix not six characters
	"bbscope-bench.${DEAD}x.abcdef"
	"bbscope-bench.a1B2c3"              # bench's names before they had the pid
	"bbscope-benchmark.$DEAD.abcdef"
	"bbscope-bench.$DEAD.open01"        # writable by others: not only ours
	"bbscope-bench.$DEAD.user01"        # not root's
)
for d in "${keep[@]}"; do
	mkdir -m 0700 "$T_TMP/$d" || fail "mkdir $d"
	touch "$T_TMP/$d/file"
done
chmod 0777 "$T_TMP/bbscope-bench.$DEAD.open01"
chown -R 65534:65534 "$T_TMP/bbscope-bench.$DEAD.user01"
touch "$T_TMP/bbscope-bench.$DEAD.file01"
ln -s "$T_TMP/target" "$T_TMP/bbscope-bench.$DEAD.link01"
keep+=("bbscope-bench.$DEAD.file01" "bbscope-bench.$DEAD.link01")
mkdir -m 0700 "$T_TMP/bbscope-bench.$DEAD.stale1" && touch "$T_TMP/bbscope-bench.$DEAD.stale1/f"
# and one in the store's parent, of a live process
SHM_LIVE=/dev/shm/bbscope-bench.$$.live02
at_exit "rm -rf $SHM_LIVE"
mkdir -m 0700 "$SHM_LIVE" && touch "$SHM_LIVE/file"

# run_killed WHAT READY ARGS...: start bench ARGS, SIGKILL it once the shell
# test READY (with $W its work dir) holds; sets W and KILLED (its pid).
run_killed() {
	local what=$1 ready=$2 i
	shift 2
	"$BBSCOPE" bench "$@" >"$T_TMP/killed.out" 2>"$T_TMP/killed.err" &
	KILLED=$!
	W=
	for ((i = 0; i < 600; i++)); do
		for W in "$T_TMP/bbscope-bench.$KILLED".*; do [ -d "$W" ] && break; done
		[ -d "$W" ] && eval "$ready" && break
		kill -0 $KILLED 2>/dev/null || { cat "$T_TMP/killed.err"; fail "$what: bench ended early"; }
		sleep 0.1
	done
	[ $i -lt 600 ] || { cat "$T_TMP/killed.err"; fail "$what: bench not ready in 60 s"; }
	kill -KILL $KILLED
	wait $KILLED 2>/dev/null
	ok "$what: bench $KILLED killed with SIGKILL, work dir $W"
	check "$W's name has the bench's pid and a mkdtemp suffix" \
		eval '[[ "$(basename "$W")" =~ ^bbscope-bench\.$KILLED\.[A-Za-z0-9]{6}$ ]]'
}

# run_next WHAT ARGS...: the next bench, which must clean up first.
run_next() {
	local what=$1 rc
	shift
	"$BBSCOPE" bench "$@" >"$T_TMP/next.json" 2>"$T_TMP/next.err"
	rc=$?
	[ $rc -eq 0 ] || { cat "$T_TMP/next.err"; fail "$what: the next bench exited $rc"; }
	check "$what: the next bench says it removed $W" \
		grep -qF "removing $W, left by bench $KILLED (killed)" "$T_TMP/next.err"
	check "$what: the next bench measured" jq -e '.kernel.throughput_bps > 0' "$T_TMP/next.json"
}

# --- killed with its sandbox up: mounted, loop devices on files in /dev/shm ---
run_killed sandbox '[ -e "$W/state/sandbox.json" ] && grep -q "warming up" "$T_TMP/killed.err"' \
	"${BENCH[@]}"
STORE=$(readlink "$W/store")
LOOPS=$(loops_under "$STORE" | cut -d: -f1)
# Undo it ourselves should the test fail before bench does.
at_exit "BBSCOPE_STATE_DIR=$W/state \"$BBSCOPE\" sandbox down; rm -rf \"$W\" \"$STORE\""
check "sandbox: the store is /dev/shm/bbscope-bench.$KILLED.*" \
	eval '[[ "$STORE" == /dev/shm/bbscope-bench.$KILLED.* ]] && [ -d "$STORE" ]'
check "sandbox: SIGKILL left the sandbox mounted" mounted_under "$W/state"
check "sandbox: SIGKILL left loop devices on the store's files" test -n "$LOOPS"

run_next sandbox "${BENCH[@]}"
check "sandbox: the killed run's work dir is gone" test ! -e "$W"
check "sandbox: the killed run's store is gone" test ! -e "$STORE"
check "sandbox: nothing mounted under the work dir" eval '! mounted_under "$W"'
check "sandbox: no loop device on the store's files" eval '[ -z "$(loops_under "$STORE")" ]'
for dev in $LOOPS; do
	check "sandbox: $dev is not backed by the killed run's file" \
		eval '! losetup -n -O BACK-FILE "$dev" 2>/dev/null | grep -qF "$STORE/"'
done
check "the stale directory of a gone pid is gone" test ! -e "$T_TMP/bbscope-bench.$DEAD.stale1"
for d in "${keep[@]}"; do
	check "left alone: $d" test -e "$T_TMP/$d" -o -L "$T_TMP/$d"
done
check "left alone: what a look-alike link points to" test -e "$T_TMP/target/keep"
check "left alone: $SHM_LIVE" test -e "$SHM_LIVE/file"
check "the next run left no directory of its own" eval '[ -z "$(ls "$T_TMP" |
	grep -E "^bbscope-bench\.[0-9]+\.[A-Za-z0-9]{6}$" | grep -vE "^bbscope-bench\.($$|$DEAD)\.")" ]'

# --- killed writing to an existing btrfs: its directory there goes too ---
sandbox_up --backing-dir "$T_TMP/backing"
run_killed --fs '[ -L "$W/datadir" ] && grep -q "warming up" "$T_TMP/killed.err"' \
	--fs "$MNT" "${BENCH[@]}"
DATADIR=$(readlink "$W/datadir")
check "--fs: the run's directory is $MNT/bbscope-bench.$KILLED.*" \
	eval '[[ "$DATADIR" == "$(realpath "$MNT")"/bbscope-bench.$KILLED.* ]] && [ -d "$DATADIR" ]'
run_next --fs --fs "$MNT" "${BENCH[@]}"
check "--fs: the killed run's work dir is gone" test ! -e "$W"
check "--fs: the killed run's directory on the btrfs is gone" test ! -e "$DATADIR"
check "--fs: the btrfs holds no run directory" \
	eval '[ -z "$(ls -d "$MNT"/bbscope-bench.* 2>/dev/null)" ]'
check "--fs: the btrfs is still mounted" mounted_under "$(dirname "$MNT")"

# --- tools/reap.sh, on what a killed script run would leave ---
P=$T_TMP/reap
mkdir "$P"
S1=$P/bbscope-sbs.$DEAD.Ab3dE6
mkdir -m 0700 "$S1" "$S1/u"
at_exit "BBSCOPE_STATE_DIR=$S1/state \"$BBSCOPE\" sandbox down"
BBSCOPE_STATE_DIR=$S1/state "$BBSCOPE" sandbox up --backing-dir "$S1/backing" --size 128M \
	>/dev/null || fail "sandbox up in $S1"
truncate -s 16M "$S1/u/t0.img"
ULOOP=$(losetup -f --show "$S1/u/t0.img") || fail "losetup $S1/u/t0.img"
at_exit "losetup -j \"$S1/u/t0.img\" -n -O NAME | xargs -r -n1 losetup -d"
# A process of the killed run, still going for a moment: waited for.
BBSCOPE_BENCH_PID=$DEAD sleep 2 &
ORPHAN=$!
rkeep=("bbscope-sbs.$$.Ab3dE6" "bbscope-sbs.$DEAD.wide01" "bbscope-sbs.$DEAD" "bbscope-sbsx.$DEAD.Ab3dE6")
for d in "${rkeep[@]}"; do
	mkdir -m 0700 "$P/$d" && touch "$P/$d/file"
done
chmod 0755 "$P/bbscope-sbs.$DEAD.wide01"
(
	B=$BBSCOPE
	. tools/reap.sh
	reap_stale "$P" bbscope-sbs
) 2>"$T_TMP/reap.err"
cat "$T_TMP/reap.err"
check "reap.sh: waited for the killed run's process" eval '! kill -0 $ORPHAN 2>/dev/null'
check "reap.sh: the killed run's dir is gone" test ! -e "$S1"
check "reap.sh: its sandbox is unmounted" eval '! mounted_under "$S1"'
check "reap.sh: no loop device on its files (sandbox and its own)" \
	eval '[ -z "$(loops_under "$S1")" ]'
check "reap.sh: $ULOOP is detached" \
	eval '! losetup -n -O BACK-FILE "$ULOOP" 2>/dev/null | grep -qF "$S1/"'
for d in "${rkeep[@]}"; do
	check "reap.sh: left alone: $d" test -e "$P/$d/file"
done

# --- tools/bench_record.sh killed with SIGKILL, then run again ---
ROUNDS=1 SECS=1 tools/bench_record.sh >/dev/null 2>"$T_TMP/rec1.err" &
KILLED=$!
for ((i = 0; i < 600; i++)); do
	for RW in "/tmp/bbscope-bench-record.$KILLED".*; do [ -d "$RW" ] && break; done
	# sandbox.json is written before the mount: wait for both, or a kill
	# in between leaves nothing mounted to check (seen under load).
	[ -e "$RW/sandbox.json" ] && mounted_under "$RW" && break
	kill -0 $KILLED 2>/dev/null || { cat "$T_TMP/rec1.err"; fail "bench_record.sh ended early"; }
	sleep 0.1
done
[ -e "$RW/sandbox.json" ] && mounted_under "$RW" ||
	{ cat "$T_TMP/rec1.err"; fail "bench_record.sh: no mounted sandbox in 60 s"; }
RBACK=$(jq -r .backing_dir "$RW/sandbox.json")
at_exit "BBSCOPE_STATE_DIR=$RW \"$BBSCOPE\" sandbox down; rm -rf \"$RW\" \"$RBACK\""
kill -KILL $KILLED
wait $KILLED 2>/dev/null
ok "bench_record.sh $KILLED killed with SIGKILL: state $RW, backing $RBACK"
check "bench_record.sh: its backing dir is /dev/shm/bbscope-bench-record.$KILLED.*" \
	eval '[[ "$RBACK" == /dev/shm/bbscope-bench-record.$KILLED.* ]]'
check "bench_record.sh: SIGKILL left the sandbox mounted" mounted_under "$RW"
ROUNDS=1 SECS=1 tools/bench_record.sh >"$T_TMP/rec2.json" 2>"$T_TMP/rec2.err" ||
	{ cat "$T_TMP/rec2.err"; fail "bench_record.sh after a killed one"; }
check "bench_record.sh: the next run measured" jq -e '.median.records_per_s > 0' "$T_TMP/rec2.json"
check "bench_record.sh: the next run says it removed $RW" grep -qF "removing $RW," "$T_TMP/rec2.err"
check "bench_record.sh: the killed run's state dir is gone" test ! -e "$RW"
check "bench_record.sh: the killed run's backing dir is gone" test ! -e "$RBACK"
check "bench_record.sh: nothing mounted under it" eval '! mounted_under "$RW"'
check "bench_record.sh: no loop device on its files" eval '[ -z "$(loops_under "$RBACK")" ]'
exit 0
