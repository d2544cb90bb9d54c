#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# record -- COMMAND when the recording ends first (issue 13, item 11): after
# --duration, after ENOSPC, after SIGTERM, the command and what it started
# are signalled and waited for, never left running; the exit status is the
# command's (1 when the recording failed); a command that ignores SIGTERM
# is killed after the grace period.
. "$(dirname "$0")/lib.sh"
need_root
command -v pgrep >/dev/null || skip "pgrep missing (procps)"

sandbox_up --profile single --size 256M
# Marks no other process on this machine carries.
MARK=$((40000 + RANDOM % 10000))
left() { pgrep -f "sleep $1" >/dev/null; }

# ---- --duration ends the recording: the command (sh and its sleep) is stopped ----
"$BBSCOPE" record -o "$T_TMP/d.bbt" --fs "$MNT" -d 0.5 -- \
	sh -c "sleep $MARK.1; echo done" >/dev/null 2>"$T_TMP/err"
rc=$?
check "--duration: exit status is the command's, killed by SIGTERM ($rc)" test $rc -eq 143
check "--duration: nothing of the command is left running" eval '! left $MARK.1'
check "--duration: the recording is complete" eval \
	'"$BBSCOPE" report --json "$T_TMP/d.bbt" 2>/dev/null | jq -e .trace.complete >/dev/null'

# ---- SIGTERM to record: the command gets it too ----
"$BBSCOPE" record -o "$T_TMP/t.bbt" --fs "$MNT" -- sh -c "sleep $MARK.2" >/dev/null 2>&1 &
REC=$!
at_exit "kill $REC"
for ((i = 0; i < 100; i++)); do left $MARK.2 && break; sleep 0.1; done
kill -TERM $REC
wait $REC
rc=$?
check "SIGTERM: exit status is the command's ($rc)" test $rc -eq 143
check "SIGTERM: nothing of the command is left running" eval '! left $MARK.2'

# ---- a command that ignores SIGTERM is killed after the grace period ----
"$BBSCOPE" record -o "$T_TMP/i.bbt" --fs "$MNT" -d 0.3 -- \
	sh -c "trap '' TERM; sleep $MARK.3" >/dev/null 2>"$T_TMP/err"
rc=$?
check "ignored SIGTERM: killed (exit $rc)" test $rc -eq 137
check "ignored SIGTERM: says so" grep -q 'did not exit 5 s after SIGTERM: killing it' "$T_TMP/err"
check "ignored SIGTERM: nothing left running" eval '! left $MARK.3'

# ---- ENOSPC: the recording fails (exit 1), the command is stopped ----
mkdir -p "$T_TMP/tiny"
mount -t tmpfs -o size=64k bbscope-tiny "$T_TMP/tiny" || fail "mount a 64k tmpfs"
at_exit "umount '$T_TMP/tiny'"
"$BBSCOPE" record -o "$T_TMP/tiny/t.bbt" --fs "$MNT" -- sh -c \
	"dd if=/dev/zero of='$MNT/enospc' bs=4k count=8192 oflag=direct status=none; sleep $MARK.4" \
	>/dev/null 2>"$T_TMP/err" &
REC=$!
at_exit "kill $REC"
for ((i = 0; i < 300; i++)); do kill -0 $REC 2>/dev/null || break; sleep 0.1; done
check "ENOSPC: record ended by itself" eval '! kill -0 $REC 2>/dev/null'
wait $REC
rc=$?
check "ENOSPC: exit 1 ($rc)" test $rc -eq 1
check "ENOSPC: says so" grep -q 'No space left on device; recording stopped' "$T_TMP/err"
check "ENOSPC: nothing of the command is left running" eval '! left $MARK.4'
exit 0
