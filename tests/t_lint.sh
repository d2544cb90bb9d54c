#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make lint: the tree is clang-formatted with its .clang-format and cppcheck
# finds nothing.  A failure names the files and what to run.
. "$(dirname "$0")/lib.sh"
command -v clang-format >/dev/null || skip "clang-format missing"
command -v cppcheck >/dev/null || skip "cppcheck missing"
make -s --no-print-directory check-fmt >"$T_TMP/fmt" 2>&1 ||
	{ grep -o '^[^:]*:' "$T_TMP/fmt" | sort -u | head; fail "not clang-formatted: run 'make fmt'"; }
ok "clang-format clean"
make -s --no-print-directory lint >"$T_TMP/lint" 2>&1 || { cat "$T_TMP/lint"; fail "cppcheck"; }
ok "cppcheck clean"
exit 0
