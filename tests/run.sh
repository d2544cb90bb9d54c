#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Run every test: build/tests/*_test (C unit tests) and tests/t_*.sh (real
# btrfs on loop devices).  Each exits 0 pass, 1 fail, 77 skip (liburing's
# convention).  Usage: tests/run.sh [NAME-SUBSTRING...]
set -u
cd "$(dirname "$0")/.." || exit 1
OUT=${OUT:-build}
export BBSCOPE="$PWD/$OUT/bbscope" OUT
pass=0 fail=0 skip=0 failed=()

tests=()
for t in "$OUT"/tests/*_test tests/t_*.sh; do
	[ -e "$t" ] || continue
	if [ $# -gt 0 ]; then
		keep=0
		for pat in "$@"; do [[ "$t" == *"$pat"* ]] && keep=1; done
		[ $keep = 1 ] || continue
	fi
	tests+=("$t")
done

for t in "${tests[@]}"; do
	name=$(basename "$t")
	log="$OUT/test-logs/$name.log"
	mkdir -p "$OUT/test-logs"
	start=$(date +%s)
	timeout --kill-after=10 900 "$t" >"$log" 2>&1
	rc=$?
	secs=$(( $(date +%s) - start ))
	case $rc in
	0) pass=$((pass + 1)); printf 'PASS %-40s %4ss\n' "$name" "$secs" ;;
	77) skip=$((skip + 1)); printf 'SKIP %-40s %s\n' "$name" "$(grep -m1 '^SKIP' "$log" || echo 'no reason given')" ;;
	*) fail=$((fail + 1)); failed+=("$name"); printf 'FAIL %-40s %4ss (exit %d)\n' "$name" "$secs" "$rc"
	   sed 's/^/    | /' "$log" | tail -40 ;;
	esac
done
echo
echo "$pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
