#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The fleet rules (tools/prometheus/bbscope.rules.yml) pass promtool's
# checks and its unit tests on synthetic series (bbscope.rules.test.yml:
# quantiles, rates, context shares, each alert's firing and silence, and
# the guide's kernel-update query); the dashboard is JSON whose every query
# is checked against a real server by t_prom_fleet.sh.  No root, no BPF.
. "$(dirname "$0")/lib.sh"
for t in promtool jq; do
	command -v $t >/dev/null || skip "$t missing (Debian packages prometheus, jq)"
done
P=tools/prometheus

promtool check rules "$P/bbscope.rules.yml" >"$T_TMP/check.out" 2>&1 ||
	{ cat "$T_TMP/check.out"; fail "promtool check rules"; }
ok "promtool check rules: $(grep -o '[0-9]* rules found' "$T_TMP/check.out")"
promtool test rules "$P/bbscope.rules.test.yml" >"$T_TMP/test.out" 2>&1 ||
	{ cat "$T_TMP/test.out"; fail "promtool test rules"; }
ok "promtool test rules"

# A broken expectation must fail: the unit tests really compare.
cp "$P/bbscope.rules.yml" "$T_TMP/"
sed 's/value: 1577254912/value: 1577254913/' "$P/bbscope.rules.test.yml" >"$T_TMP/broken.test.yml"
check "promtool test rules fails on a wrong p99" eval '! promtool test rules "$T_TMP/broken.test.yml" 2>&1'

check "the dashboard is JSON" jq -e '.panels | length > 0' "$P/bbscope-dashboard.json"
n=$(jq '[.. | objects | select(has("expr")) | .expr] | length' "$P/bbscope-dashboard.json")
check "the dashboard has queries ($n)" [ "$n" -gt 10 ]
exit 0
