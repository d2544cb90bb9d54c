#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run every test: $OUT/tests/*_test (C unit tests) and tests/t_*.sh (real
# btrfs on loop devices) on this machine's kernel, then the tracing tests
# (those marked "# kernels: all") again on each Debian kernel booted under
# QEMU with this machine's userspace (tools/vm/vm.sh): Debian 11 (5.10),
# 12 (6.1), 13 (6.12) and Debian 13's backports kernel ("bpo", Debian's
# newest: results name its version, 7.3 when this was written).  Each test exits 0 pass, 1 fail, 77 skip
# (liburing's convention).  After each set, the loop devices, dm devices, btrfs mounts
# and BPF links must be as they were before it ("leftovers").
#
# Usage: tests/run.sh [NAME-SUBSTRING...]
#   BBSCOPE_KERNELS   guest kernels (default "5.10 6.1 6.12 bpo"; "" for none)
#   BBSCOPE_HOST=0    skip this machine's tests (make test-kernels)
#   BBSCOPE_GUEST     set by this script inside a guest: its kernel
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-build}
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
export BBSCOPE="$OUT/bbscope" OUT
GUEST=${BBSCOPE_GUEST:-}
KERNELS=${BBSCOPE_KERNELS-5.10 6.1 6.12 bpo}
LOGS=$OUT/test-logs${GUEST:+/$GUEST}
pass=0 fail=0 skip=0

wanted() {  # TEST: in the NAME-SUBSTRING filter (none: all)
	local pat
	[ ${#filters[@]} -eq 0 ] && return 0
	for pat in "${filters[@]}"; do [[ "$1" == *"$pat"* ]] && return 0; done
	return 1
}

# What tests must leave as they found it.
leftovers() {
	echo "loop: $(losetup -a 2>/dev/null | sort)"
	echo "dm: $(dmsetup ls 2>/dev/null | sort)"
	echo "btrfs mounts: $(awk '$3 == "btrfs" { print $2 }' /proc/mounts | sort)"
	echo "bpf links: $(bpftool link list 2>/dev/null | grep -c '^[0-9]*:')"
}

result() {  # PASS|SKIP|FAIL NAME DETAIL
	case $1 in
	PASS) pass=$((pass + 1)) ;;
	SKIP) skip=$((skip + 1)) ;;
	*) fail=$((fail + 1)) ;;
	esac
	printf '%s %-40s %s\n' "$1" "$2" "$3"
}

run_one() {  # TEST
	local t=$1 name log start rc secs tmo
	name=$(basename "$t")
	log=$LOGS/$name.log
	start=$(date +%s)
	# A test may ask for more than 900 s with a "# timeout: SECS" line.
	tmo=$(sed -n 's/^# timeout: \([0-9]*\)$/\1/p' "$t" 2>/dev/null | head -1)
	BBSCOPE_TEST_JOURNAL=$LOGS/$name.journal timeout --kill-after=30 "${tmo:-900}" "$t" >"$log" 2>&1
	rc=$?
	secs=$(($(date +%s) - start))
	case $rc in
	0) result PASS "$name" "$(printf '%4ss' "$secs")" ;;
	77) result SKIP "$name" "$(grep -m1 '^SKIP' "$log" || echo 'no reason given')" ;;
	*) result FAIL "$name" "$(printf '%4ss (exit %d)' "$secs" "$rc")"
	   sed 's/^/    | /' "$log" | tail -40 ;;
	esac
	undo_journal "$LOGS/$name.journal"
}

# A test killed before its EXIT trap finished (SIGKILL) left its journal
# (tests/lib.sh): undo what it lists, newest first, as the trap would have.
# Its processes went with it (timeout signals the whole process group), so
# "kill PID" lines are not replayed: the pid may be another's by now.
undo_journal() {  # FILE
	local j=$1
	[ -s "$j" ] || { rm -f "$j"; return 0; }
	echo "    | killed before its cleanup ended: undoing what it registered ($j)"
	{ head -1 "$j"; tail -n +2 "$j" | tac | grep -v '^kill ' |
		sed 's/.*/{ & ; } >\/dev\/null 2>\&1/'; echo 'rm -rf --one-file-system "$T_TMP"'; } |
		timeout --kill-after=10 120 bash 2>&1 | sed 's/^/    | /'
	rm -f "$j"
}

run_set() {  # TEST...: run them, then check for leftovers
	local before t
	mkdir -p "$LOGS"
	before=$(leftovers)
	for t in "$@"; do run_one "$t"; done
	if [ "$(leftovers)" = "$before" ]; then
		result PASS "leftovers${GUEST:+@$GUEST}" ""
	else
		result FAIL "leftovers${GUEST:+@$GUEST}" "loop devices, dm devices, btrfs mounts or BPF links left"
		diff <(echo "$before") <(leftovers) | sed 's/^/    | /'
	fi
}

# One guest: boot it and run the marked tests inside, lines into guest-K.out.
capture_guest() {  # KERNEL
	local k=$1 line
	{ tools/vm/vm.sh run "$k" -t 1500 -- env BBSCOPE_GUEST="$(tools/vm/vm.sh label "$k")" BBSCOPE_KERNELS= \
		tests/run.sh "${filters[@]}"; echo "rc $?"; } 2>&1 |
		while IFS= read -r line; do
			case $line in
			"PASS "* | "SKIP "* | "FAIL "* | "    | "* | "rc "*) echo "$line" ;;
			*" passed, "*" failed"* | "") ;;
			*) echo "    | $line" ;;
			esac
		done >"$OUT/guest-$k.out"
}

# Fold a finished guest's lines in here, as NAME@KERNEL.
fold_guest() {  # KERNEL
	local k=$1 line st name rest rc=1 seen=0 want=$((${#guest_tests[@]} + 1)) label
	label=$(tools/vm/vm.sh label "$k")
	while IFS= read -r line; do
		case $line in
		PASS* | SKIP* | FAIL*)
			read -r st name rest <<<"$line"
			[[ $name == leftovers* ]] || name="$name@$label"
			seen=$((seen + 1))
			result "$st" "$name" "$rest" ;;
		"rc "*) rc=${line#rc } ;;
		*) echo "$line" ;;
		esac
	done <"$OUT/guest-$k.out"
	# A guest that did not boot, did not finish, or did not find its tests
	# is a failure, never a skip: every test it should have run reports.
	if [ "$seen" -lt "$want" ] || { [ "$rc" -ne 0 ] && [ "$rc" -ne 1 ]; }; then
		result FAIL "boot@$label" "the guest reported $seen of $want results (exit $rc; see above)"
	fi
}

# The guests, BBSCOPE_VM_JOBS at a time (default: the CPUs; each guest's
# TCG runs on one host thread), folded in in order once all are done.
run_guests() {
	local jobs=${BBSCOPE_VM_JOBS:-$(nproc)} running=0 k
	tools/vm/vm.sh fetch $KERNELS >/dev/null || true
	for k in $KERNELS; do
		capture_guest "$k" &
		running=$((running + 1))
		if [ $running -ge "$jobs" ]; then
			wait -n
			running=$((running - 1))
		fi
	done
	wait
	for k in $KERNELS; do fold_guest "$k"; done
}

filters=("$@")
host_tests=() guest_tests=()
for t in "$OUT"/tests/*_test tests/t_*.sh; do
	[ -e "$t" ] && wanted "$t" || continue
	host_tests+=("$t")
	grep -q '^# kernels: all$' "$t" 2>/dev/null && guest_tests+=("$t")
done

if [ -n "$GUEST" ]; then
	run_set "${guest_tests[@]}"
else
	[ "${BBSCOPE_HOST:-1}" = 0 ] || run_set "${host_tests[@]}"
	[ ${#guest_tests[@]} -gt 0 ] && [ -n "$KERNELS" ] && run_guests
fi
echo
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
