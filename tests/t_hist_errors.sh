#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Bad input and faults: non-root, a path that is not btrfs, an unknown
# device, bad option values.  One line on stderr, non-zero exit, no links.
. "$(dirname "$0")/lib.sh"
need_root

links_before=$(bpftool link list 2>/dev/null | grep -c 'prog' || true)

expect_fail() {  # CODE WHAT CMD...
	local code=$1 what=$2
	shift 2
	"$@" >"$T_TMP/out" 2>"$T_TMP/err"
	local rc=$?
	[ $rc -eq "$code" ] || fail "$what: exit $rc, want $code ($(cat "$T_TMP/err"))"
	[ "$(wc -l <"$T_TMP/err")" -eq 1 ] || fail "$what: want one line on stderr, got: $(cat "$T_TMP/err")"
	grep -q '^bbscope: ' "$T_TMP/err" || fail "$what: message must start with 'bbscope: '"
	ok "$what: $(cat "$T_TMP/err")"
}

expect_fail 2 "--fs on tmpfs" "$BBSCOPE" hist --fs /dev/shm -d 1
expect_fail 2 "--fs missing path" "$BBSCOPE" hist --fs /nonexistent/x -d 1
expect_fail 2 "--dev unknown" "$BBSCOPE" hist --dev nosuchdev0 -d 1
expect_fail 2 "-i garbage" "$BBSCOPE" hist -i abc
expect_fail 2 "-c zero" "$BBSCOPE" hist -c 0
expect_fail 2 "unknown command" "$BBSCOPE" frobnicate
expect_fail 2 "--json error is JSON on stdout" "$BBSCOPE" hist --json --dev nosuchdev0
check "JSON error object" jq -e '.error | test("nosuchdev0")' "$T_TMP/out"

if command -v setpriv >/dev/null; then
	expect_fail 1 "non-root hist" setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$BBSCOPE" hist -d 1
else
	echo "note: setpriv missing, non-root case not run"
fi

# Issue 19, item 8: messages that say the real cause.
expect_fail 2 "--evict-after too large" "$BBSCOPE" hist --evict-after 99999999999 -d 1
check "--evict-after: the upper limit said" grep -q 'from 1 to 1000000000' "$T_TMP/err"
expect_fail 2 "--duration too large" "$BBSCOPE" hist --duration 1e10
check "--duration: the upper limit said" grep -q 'up to 1000000000' "$T_TMP/err"
expect_fail 2 "--prom twice" "$BBSCOPE" hist --prom 127.0.0.1:0 --prom 127.0.0.1:0 -d 1
# Out of fds: this process's limit, not the host refusing tp_btf programs.
(ulimit -n 16 && "$BBSCOPE" hist -d 1 >"$T_TMP/out" 2>"$T_TMP/err")
rc=$?
cat "$T_TMP/err"
check "ulimit -n 16: exit 1 ($rc)" [ $rc -eq 1 ]
check "ulimit -n 16: the fd limit named, not the host blamed" \
	eval 'grep -q "ulimit -n" "$T_TMP/err" && ! grep -q "do not load here" "$T_TMP/err"'

# SIGTERM and SIGHUP end a run cleanly with its last interval, exit 0;
# SIGHUP as issue 19 found it: to hist --prom.
for sig in HUP; do
	"$BBSCOPE" hist --json --prom 127.0.0.1:0 >"$T_TMP/$sig.json" 2>"$T_TMP/$sig.err" &
	pid=$!
	for i in $(seq 100); do grep -q '^bbscope: tracing' "$T_TMP/$sig.err" && break; sleep 0.1; done
	kill -$sig $pid
	wait $pid
	check "SIG$sig exits 0" [ $? -eq 0 ]
	check "SIG$sig prints the last interval" jq -e 'has("groups")' "$T_TMP/$sig.json"
done

"$BBSCOPE" hist --json >"$T_TMP/term.json" 2>"$T_TMP/term.err" &
pid=$!
for i in $(seq 100); do grep -q '^bbscope: tracing' "$T_TMP/term.err" && break; sleep 0.1; done
kill -TERM $pid
wait $pid
check "SIGTERM exits 0" [ $? -eq 0 ]
check "SIGTERM prints the last interval" jq -e 'has("groups")' "$T_TMP/term.json"

links_after=$(bpftool link list 2>/dev/null | grep -c 'prog' || true)
check "no BPF link left behind" [ "$links_after" -eq "$links_before" ]
exit 0
