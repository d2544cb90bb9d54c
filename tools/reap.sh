# SPDX-License-Identifier: GPL-2.0
# shellcheck shell=bash
# Sourced by the benchmark scripts (bash): what a run killed with SIGKILL left
# behind (no EXIT trap runs then) is removed by the next run, as 'bbscope
# bench' does for its own.  A script makes its directories with run_dir, so
# they are named after its pid, and calls reap_stale for them at its start.
# Needs B (the bbscope binary) for 'sandbox down'.
#
# reap_stale removes only PARENT/NAME.<pid>.XXXXXX directories of root's,
# mode 0700 (mktemp -d makes them so: nobody else can have written in them),
# whose pid is gone, once no process carrying that run's BBSCOPE_BENCH_PID
# in its environment is left.  In each, in order: the sandbox whose state is
# there (sandbox.json, in it or in its state/), a zram device it hot-added
# (zram.dev: "N BYTES"), the loop devices on its files, then the tree.
# What is still in use stays, with a warning.

# Every process the run starts carries it: a killed run's leftovers are waited for.
export BBSCOPE_BENCH_PID=$$

# run_dir PARENT NAME: make PARENT/NAME.<our pid>.XXXXXX and print its path.
run_dir() { mktemp -d "$1/$2.$$.XXXXXX"; }

_reap_warn() { echo "bbscope: ${SBS_NAME:-$(basename "$0" .sh)}: $*" >&2; }

# _reap_children PID: wait up to 30 s for that run's processes to go; 1 if not.
_reap_children() {
	local i
	for ((i = 0; i < 300; i++)); do
		grep -qsxzF "BBSCOPE_BENCH_PID=$1" /proc/[0-9]*/environ || return 0
		sleep 0.1
	done
	return 1
}

# _reap_one DIR: what is in it, then it.  1 when something is still in use.
_reap_one() {
	local d=$1 state n bytes size dev back
	for state in "$d" "$d/state"; do
		[ -e "$state/sandbox.json" ] || continue
		BBSCOPE_STATE_DIR=$state "$B" sandbox down >/dev/null 2>"$d/.reap.err" || {
			_reap_warn "sandbox down in $state failed: $(tail -1 "$d/.reap.err")"
			return 1
		}
	done
	# zram: the kernel refuses to reset an open device; one of another size is not ours.
	if read -r n bytes 2>/dev/null <"$d/zram.dev" && [[ $n =~ ^[0-9]+$ ]]; then
		size=$(cat "/sys/block/zram$n/disksize" 2>/dev/null)
		if [ -n "$size" ] && { [ "$size" = 0 ] || [ "$size" = "$bytes" ]; }; then
			if ! echo 1 >"/sys/block/zram$n/reset" 2>/dev/null ||
				! echo "$n" >/sys/class/zram-control/hot_remove 2>/dev/null; then
				_reap_warn "cannot remove zram$n"
			fi
		fi
	fi
	if grep -qF " $d/" /proc/mounts; then
		_reap_warn "something is still mounted under $d"
		return 1
	fi
	while read -r dev back; do
		[[ $back == "$d"/* ]] || continue
		losetup -d "$dev" || { _reap_warn "cannot detach $dev"; return 1; }
	done < <(losetup -l -n -O NAME,BACK-FILE 2>/dev/null)
	rm -rf --one-file-system "$d"
}

# reap_stale PARENT NAME: remove PARENT/NAME.<pid>.XXXXXX of runs that are gone.
reap_stale() {
	local parent=$1 name=$2 d pid re
	re="^${name//./\\.}\\.([0-9]+)\\.[A-Za-z0-9]{6}\$"
	for d in "$parent/$name".*; do
		[[ ${d##*/} =~ $re ]] || continue
		pid=${BASH_REMATCH[1]}
		if [ "$pid" = $$ ] || kill -0 "$pid" 2>/dev/null; then
			continue # ours, or a live process's
		fi
		if [ ! -d "$d" ] || [ -L "$d" ] || [ "$(stat -c %u:%a "$d")" != "0:700" ]; then
			continue
		fi
		if ! _reap_children "$pid"; then
			_reap_warn "$d is left: a process of run $pid still runs"
			continue
		fi
		_reap_warn "removing $d, left by run $pid (killed)"
		_reap_one "$d" || _reap_warn "$d is left: it is still in use"
	done
}
