# SPDX-License-Identifier: GPL-2.0
# Shared shell helpers for tests/t_*.sh.  Source it first thing.
#
# Everything a test makes is registered with at_exit and undone by the EXIT
# trap in reverse order, whether the test passes, fails or is interrupted.
# Tests only ever touch the sandbox they made (BBSCOPE_STATE_DIR is private).
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-build}
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
BBSCOPE=${BBSCOPE:-$OUT/bbscope}
T_TMP=$(mktemp -d /tmp/bbscope-test.XXXXXX)
export BBSCOPE_STATE_DIR=$T_TMP/state
_at_exit=()
# No trap runs after SIGKILL (run.sh's timeout kills a test whose own
# cleanup overran).  run.sh names a journal per test: each at_exit command
# is written there as it is registered, and the trap removes the journal
# once it has run them all; run.sh undoes what a journal still lists
# (tests/run.sh, undo_journal).  Not passed on: a script this test runs
# that sources lib.sh too keeps no journal of its own.
_journal=${BBSCOPE_TEST_JOURNAL:-}
unset BBSCOPE_TEST_JOURNAL
[ -n "$_journal" ] && printf 'export BBSCOPE_STATE_DIR=%q T_TMP=%q\n' "$BBSCOPE_STATE_DIR" "$T_TMP" >"$_journal"

at_exit() {
	_at_exit+=("$*")
	[ -z "$_journal" ] || printf '%s\n' "$*" >>"$_journal"
}
_run_exit() {
	local i
	trap - EXIT INT TERM
	for ((i = ${#_at_exit[@]} - 1; i >= 0; i--)); do
		eval "${_at_exit[i]}" >/dev/null 2>&1 || true
	done
	rm -rf "$T_TMP"
	[ -z "$_journal" ] || rm -f "$_journal"
}
trap _run_exit EXIT
trap 'exit 130' INT TERM

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
ok() { echo "ok: $*"; }
need_root() { [ "$(id -u)" = 0 ] || skip "needs root (loop devices, mount, BPF)"; }

# check "what" EXPR... : evaluate a shell test, fail with a message.
check() {
	local what=$1
	shift
	if "$@" >/dev/null; then ok "$what"; else fail "$what ($*)"; fi
}

# sandbox_up ARGS...: bring up a sandbox, tear it down at exit.  Sets MNT and
# SB_JSON (the --json description).
sandbox_up() {
	SB_JSON=$T_TMP/sandbox.json
	at_exit "\"$BBSCOPE\" sandbox down"
	"$BBSCOPE" sandbox up --json --backing-dir "$T_TMP/backing" "$@" >"$SB_JSON" || fail "sandbox up $*"
	MNT=$(jq -r .mountpoint "$SB_JSON")
	[ -d "$MNT" ] || fail "sandbox mount point '$MNT' missing"
}

# tracer_start FILE ARGS...: run 'bbscope hist ARGS' in the background with
# stdout to FILE; returns once it says it is tracing.  Sets TRACER_PID.
tracer_start() {
	local out=$1 i
	shift
	"$BBSCOPE" hist "$@" >"$out" 2>"$out.err" &
	TRACER_PID=$!
	at_exit "kill -INT $TRACER_PID; wait $TRACER_PID"
	for ((i = 0; i < 200; i++)); do
		grep -q '^bbscope: tracing' "$out.err" 2>/dev/null && return 0
		kill -0 $TRACER_PID 2>/dev/null || { cat "$out.err"; fail "tracer exited early"; }
		sleep 0.1
	done
	cat "$out.err"
	fail "tracer did not start within 20s"
}

# wait_bounded PID SECS WHAT: wait for the child PID and return its status.
# One still running after SECS is a hang: print what it and its children
# wait on in the kernel, kill it, and fail (t_hist_csum@6.1 once hung for
# the whole 900 s of its timeout with an empty log, under make test's load;
# not reproduced in 6 runs alone).
wait_bounded() {
	local pid=$1 secs=$2 what=$3 i st=
	for ((i = 0; i < secs * 10; i++)); do
		st=$(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)
		[ -z "$st" ] || [ "$st" = Z ] && break
		sleep 0.1
	done
	if [ -n "$st" ] && [ "$st" != Z ]; then
		echo "hang: $what (pid $pid) has not ended in ${secs}s:"
		ps -eo pid,ppid,stat,wchan:32,etime,args | awk -v p="$pid" 'NR == 1 || $1 == p || $2 == p'
		head -20 "/proc/$pid/stack" 2>/dev/null
		kill -KILL "$pid" 2>/dev/null
		wait "$pid"
		fail "$what hung"
	fi
	wait "$pid"
}

# tracer_stop: SIGINT the tracer and wait; it prints its last interval.
tracer_stop() {
	kill -INT "$TRACER_PID" 2>/dev/null
	wait_bounded "$TRACER_PID" 120 "the tracer, after SIGINT"
	local rc=$?
	[ $rc -eq 0 ] || fail "tracer exited with $rc"
}

# ---- What the running kernel does, from the kernel itself (kallsyms, BTF
# files), never from bbscope: what the tracing tests expect of it.  Tests
# marked "# kernels: all" also run in the Debian kernels' guests
# (tools/vm/vm.sh), where BBSCOPE_GUEST names the kernel.

# ksym NAME: the kernel (or a loaded module) has a function NAME.
ksym() { grep -qE "^[0-9a-f]+ [tT] $1([[:space:].]|\$)" /proc/kallsyms; }

# btrfs is a module (its symbols carry "[btrfs]").
btrfs_is_module() { grep -q '\[btrfs\]$' /proc/kallsyms; }

# The btrfs_bio::async_csum series: every btrfs end_io, writes' too, is a
# work item (simple_end_io_work).  Before it, writes end inline.
kernel_write_endio_work() { ksym simple_end_io_work; }

# btrfs's types are readable: module BTF, or btrfs built in (vmlinux BTF).
kernel_btrfs_btf() { [ -e /sys/kernel/btf/btrfs ] || ! btrfs_is_module; }

# The tracer can use its tp_btf programs: btrfs built in, bpf_rdonly_cast (6.2).
kernel_tp_btf() { ! btrfs_is_module && ksym bpf_rdonly_cast; }

# Where the kernel's data write end_io runs, for what hist reports: "task"
# on the series, else the completion's context (softirq for loop devices).
kernel_write_endio_ctx() { if kernel_write_endio_work; then echo task; else echo softirq; fi; }

# raid6_up DIR: a raid6 btrfs on four loop devices of the test's own (no
# sandbox: one of them is taken away later), mounted on DIR.  Sets DEVS.
raid6_up() {
	local i dev
	DEVS=()
	for i in 0 1 2 3; do
		truncate -s 256M "$T_TMP/raid6-$i.img"
		dev=$(losetup -f --show "$T_TMP/raid6-$i.img") || fail "losetup"
		at_exit "losetup -d $dev"
		DEVS+=("$dev")
	done
	mkfs.btrfs -q -f -d raid6 -m raid1c3 "${DEVS[@]}" >/dev/null 2>&1 || fail "mkfs raid6"
	mkdir -p "$1"
	mount "${DEVS[0]}" "$1" || fail "mount raid6"
	at_exit "umount '$1'"
}

# dm_up NAME TABLE: a device-mapper device from a table (dmsetup, no udev:
# it makes the node itself), removed at exit.  Sets DM_DEV (/dev/mapper/NAME)
# and DM_KNAME (the kernel's name, dm-N: /sys/block/dm-N).
dm_up() {
	DM_DISABLE_UDEV=1 dmsetup create "$1" --table "$2" >/dev/null || fail "dmsetup create $1 ($2)"
	at_exit "DM_DISABLE_UDEV=1 dmsetup remove $1"
	DM_DEV=/dev/mapper/$1
	DM_KNAME=dm-$(dmsetup info -c --noheadings -o minor "$1" | tr -d ' ')
	[ -b "$DM_DEV" ] && [ -d "/sys/block/$DM_KNAME" ] || fail "dm device $1: no $DM_DEV or /sys/block/$DM_KNAME"
}

# raid6_degrade DIR: unmount, take the last device away, mount read-only degraded.
raid6_degrade() {
	umount "$1" || fail "umount"
	losetup -d "${DEVS[3]}" || fail "losetup -d"
	btrfs device scan --forget >/dev/null 2>&1
	btrfs device scan "${DEVS[@]:0:3}" >/dev/null 2>&1
	mount -o degraded,ro "${DEVS[0]}" "$1" || fail "mount -o degraded"
	echo 3 >/proc/sys/vm/drop_caches
}

# kstack_where FILE MAP: where bpftrace's stacks of @MAP in FILE ran, each
# of "work", "softirq" or "other" once, space-separated.  FILE holds blocks
# "@MAP[ stack lines ]: N", one per distinct stack.  A stack run from a work
# item has process_one_work; one from a completion's softirq runs under
# handle_softirqs (__do_softirq, __softirqentry_text_start before 6.9).
# bpftrace prints the innermost frame first, so the first of the two marks
# names the context: a softirq that interrupted a kworker has both, softirq
# nearer the top (seen as "softirq work" on 6.12 before this was so).
kstack_where() {
	awk -v m="@$2[" 'index($0, m) == 1 { on = 1; w = ""; next }
		on && w == "" && /process_one_work/ { w = "work" }
		on && w == "" && /handle_softirqs|__do_softirq|__softirqentry_text_start/ { w = "softirq" }
		on && /^\]: / { print (w == "" ? "other" : w); on = 0 }' "$1" | sort -u | tr '\n' ' '
}

# bpftrace_start PROGRAM OUT: bpftrace runs PROGRAM in the background, its
# output in OUT; it is stopped (SIGINT, so it prints its maps) and waited for
# at exit.  Sets BT to its pid.  bpftrace_attached SECS: waits until it says
# it has attached, failing if it exits or takes longer (a TCG guest takes tens
# of seconds to attach many kprobes).
bpftrace_start() {
	BT_OUT=$2
	bpftrace -e "$1" >"$BT_OUT" 2>&1 &
	BT=$!
	at_exit "kill -INT $BT; wait $BT"
}
bpftrace_attached() {
	local i
	for ((i = 0; i < $1 * 10; i++)); do
		grep -q '^Attaching' "$BT_OUT" && return 0
		kill -0 "$BT" 2>/dev/null || fail "bpftrace exited: $(cat "$BT_OUT")"
		sleep 0.1
	done
	fail "bpftrace did not attach in $1 s"
}

# check_traced WHAT TRACED EXPECTED JSON: TRACED == EXPECTED, unless the
# kernel skipped runs of bbscope's programs that no copy made up for (JSON
# skipped_runs > 0: its recursion_misses, seen on 7.x's raw tracepoints;
# where copies are attached, the copies' own): then a bio may be missing,
# which bbscope says, and TRACED may only fall short, never exceed.
check_traced() {
	local skipped
	skipped=$(jq '.skipped_runs // 0' "$4")
	jq -c --arg what "$1" '{what: $what, skipped_runs, rescued_runs, prog_skips: (.bpf_cost.progs //
		{} | map_values(.skipped_runs // 0) | with_entries(select(.value > 0)))}' "$4"
	if [ "$skipped" -gt 0 ] && [ "$2" -ne "$3" ]; then
		check "$1 ($2) <= $3: short only where the kernel skipped $skipped runs (skipped_runs)" \
			[ "$2" -le "$3" ]
	else
		check "$1 ($2) == $3" [ "$2" -eq "$3" ]
	fi
}
