#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# sandbox up killed by SIGKILL at any moment of its run leaves a record of
# what it made: status says so, and down (or the next up) removes every loop
# device, backing file, mount and directory it left.  An empty state dir
# goes with down.  A backing dir that is not UTF-8 works, and its name
# comes back byte for byte in the JSON (issue 13, items 5 and 6).
. "$(dirname "$0")/lib.sh"
need_root
for tool in jq losetup mkfs.btrfs; do
	command -v $tool >/dev/null || skip "$tool is not installed"
done

BACKING=$T_TMP/backing
STATE=$BBSCOPE_STATE_DIR
at_exit "\"$BBSCOPE\" sandbox down"
our_loops() { losetup -a | grep -F "($BACKING/"; }
mounted_at() { awk -v m="$1" '$2 == m { found = 1 } END { exit !found }' /proc/mounts; }

# Nothing left: no loop device on our files (a mkfs.btrfs the killed up
# started may still hold them for a moment), no mount, no file, no state.
check_clean() {
	local what=$1 i
	for ((i = 0; i < 100; i++)); do
		[ -z "$(our_loops)" ] && break
		sleep 0.1
	done
	check "$what: no loop device on our files" test -z "$(our_loops)"
	check "$what: nothing mounted" eval '! mounted_at "$STATE/mnt"'
	check "$what: backing dir gone" test ! -e "$BACKING"
	check "$what: state dir gone" test ! -e "$STATE"
}

# Kill up after DELAY seconds (with KILL), then clean up with CLEANER
# ("down", or "up" followed by down).
killed_up() {
	local delay=$1 cleaner=$2 pid rc complete=0
	"$BBSCOPE" sandbox up --backing-dir "$BACKING" --size 256M >/dev/null 2>&1 &
	pid=$!
	sleep "$delay"
	kill -KILL $pid 2>/dev/null
	wait $pid 2>/dev/null
	rc=$?
	if [ $rc -eq 0 ]; then
		ok "up finished before ${delay}s"
	elif [ -e "$STATE/sandbox.json" ] && jq -e '.complete' "$STATE/sandbox.json" >/dev/null 2>&1; then
		# Killed between recording that it had finished and exiting.
		ok "killed after ${delay}s: up had recorded that it finished"
		complete=1
	elif [ -e "$STATE/sandbox.json" ]; then
		"$BBSCOPE" sandbox status >/dev/null 2>"$T_TMP/err"
		check "killed after ${delay}s: status says up did not finish" \
			grep -q 'did not finish' "$T_TMP/err"
	fi
	if [ "$cleaner" = up ] && [ $complete -eq 1 ]; then
		# The sandbox is up: the next up must say so, not take it over.
		! "$BBSCOPE" sandbox up --backing-dir "$BACKING" --size 256M >/dev/null 2>"$T_TMP/err" &&
			grep -q 'already up' "$T_TMP/err" ||
			{ cat "$T_TMP/err"; fail "killed after ${delay}s: the next up did not refuse a finished sandbox"; }
		ok "killed after ${delay}s: the next up refuses the finished sandbox"
	elif [ "$cleaner" = up ] && [ $rc -ne 0 ]; then
		"$BBSCOPE" sandbox up --backing-dir "$BACKING" --size 256M >/dev/null 2>"$T_TMP/err" ||
			{ cat "$T_TMP/err"; fail "killed after ${delay}s: the next up failed"; }
		ok "killed after ${delay}s: the next up works"
	fi
	"$BBSCOPE" sandbox down >/dev/null 2>"$T_TMP/err"
	rc=$?
	# Killed before the state dir was locked: nothing to take down (exit 1).
	[ $rc -eq 0 ] || grep -q 'no sandbox is up' "$T_TMP/err" ||
		{ cat "$T_TMP/err"; fail "killed after ${delay}s: down exited $rc"; }
	check_clean "killed after ${delay}s ($cleaner)"
}

# Where the kills land depends on this machine's speed: one whole up is
# timed, then kills spread over that time land in every step of it (files,
# loop devices, mkfs, mount, state), each once cleaned by down and once by
# the next up.
start=$(date +%s%N)
"$BBSCOPE" sandbox up --backing-dir "$BACKING" --size 256M >/dev/null || fail "up"
took=$((($(date +%s%N) - start) / 1000)) # us
if "$BBSCOPE" sandbox up --backing-dir "$BACKING" --size 256M >/dev/null 2>"$T_TMP/err"; then
	fail "a second up took over the sandbox that is up"
fi
check "a second up refuses while one is up" grep -q 'already up' "$T_TMP/err"
"$BBSCOPE" sandbox down >/dev/null || fail "down"
check_clean "a whole up and down (${took} us)"
for k in 0 1 2 3 4 5 6 7 8 9 10 11; do
	delay=$(awk -v t=$took -v k=$k 'BEGIN { printf "%.4f", t * k / 10 / 1e6 }')
	killed_up "$delay" down
	killed_up "$delay" up
done

# A backing dir whose name is not UTF-8: up works, the JSON keeps the bytes.
BACKING=$T_TMP/$'b\xff'
"$BBSCOPE" sandbox up --json --backing-dir "$BACKING" --size 256M >"$T_TMP/up.json" 2>"$T_TMP/err" ||
	{ cat "$T_TMP/err"; fail "up --backing-dir with a byte that is not UTF-8"; }
check "non-UTF-8 backing dir: JSON says so with U+FFFD" \
	jq -e '.backing_dir | endswith("b\ufffd")' "$T_TMP/up.json"
check "non-UTF-8 backing dir: backing_dir_raw keeps the byte" \
	jq -e '.backing_dir_raw | endswith("/b\\xff")' "$T_TMP/up.json"
check "status reads the state back" eval '"$BBSCOPE" sandbox status >/dev/null'
check "down" eval '"$BBSCOPE" sandbox down >/dev/null'
check_clean "non-UTF-8 backing dir"
exit 0
