#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A real Prometheus (Debian's) scrapes two bbscope endpoints, two "hosts",
# each `hist --prom` on its own loop-backed btrfs under its own workload,
# with the fleet rules loaded (tools/prometheus/bbscope.rules.yml).  Then:
#  - every rule is healthy, and every recording rule returns data;
#  - every query of the dashboard (tools/prometheus/bbscope-dashboard.json,
#    read with jq, its variables set to the two hosts) returns data and no
#    error; queries of families with no data here (the raid56 recover
#    phase without a degraded array; bbscope_bpf_* before the tracer
#    exports them; a phase whose first bio came too late for a rate) must
#    still be valid, and are listed as not checked;
#  - histogram_quantile over both endpoints' buckets agrees with bbscope's
#    own percentile of the two runs merged (each hist's --json, bucket
#    counts added, bbscope's interpolation) within the bucket error: both
#    lie in the same Prometheus bucket, a power of two [2^k, 2^(k+1)] ns,
#    so they differ by at most 2^k ns, half the bucket's upper bound.
# Everything listens on 127.0.0.1 only; every wait is bounded; prometheus,
# the tracers, the workloads and the filesystems go in the exit trap.
. "$(dirname "$0")/lib.sh"
need_root
for t in prometheus promtool curl jq python3; do
	command -v $t >/dev/null || skip "$t missing (Debian packages prometheus, curl, jq)"
done
P=$PWD/tools/prometheus
DASH=$P/bbscope-dashboard.json
WORK_S=${BBSCOPE_FLEET_SECS:-20}
start=$(date +%s)

# ---- two hosts: a sandbox, a tracer with its endpoint, each ----
# host_up NAME SANDBOX-ARGS...: sets MNT_NAME, PORT_NAME, PID_NAME.
host_up() {
	local n=$1 sd=$T_TMP/state-$1 url i
	shift
	mkdir -p "$sd"
	at_exit "BBSCOPE_STATE_DIR='$sd' '$BBSCOPE' sandbox down"
	BBSCOPE_STATE_DIR=$sd "$BBSCOPE" sandbox up --json --backing-dir "$T_TMP/backing-$n" \
		--size 256M --mount-opts commit=300 "$@" >"$T_TMP/sb-$n.json" || fail "sandbox up $n"
	printf -v "MNT_$n" %s "$(jq -r .mountpoint "$T_TMP/sb-$n.json")"
	local mnt=MNT_$n
	"$BBSCOPE" hist --fs "${!mnt}" --prom 127.0.0.1:0 --json >"$T_TMP/h-$n.json" \
		2>"$T_TMP/h-$n.err" &
	printf -v "PID_$n" %s $!
	at_exit "kill -INT $!; wait $!"
	for ((i = 0; i < 200; i++)); do
		grep -q '^bbscope: tracing' "$T_TMP/h-$n.err" 2>/dev/null && break
		kill -0 $! 2>/dev/null || { cat "$T_TMP/h-$n.err"; fail "tracer $n exited early"; }
		sleep 0.1
	done
	url=$(sed -n 's/^bbscope: serving Prometheus metrics on //p' "$T_TMP/h-$n.err")
	[[ $url =~ ^http://127\.0\.0\.1:([0-9]+)/metrics$ ]] || fail "tracer $n: no URL ($url)"
	printf -v "PORT_$n" %s "${BASH_REMATCH[1]}"
}
host_up a --profile single
host_up b --profile raid5 --algo sha256
ok "$(($(date +%s) - start)) s: two hosts: $MNT_a (single) on :$PORT_a, $MNT_b (raid5, sha256) on :$PORT_b"

# ---- prometheus on a free loopback port, its own storage ----
for ((i = 0; i < 20; i++)); do
	PPORT=$((20000 + RANDOM % 20000))
	ss -ltn | awk '{print $4}' | grep -q ":$PPORT\$" || break
done
cat >"$T_TMP/prometheus.yml" <<EOF
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
rule_files:
  - $P/bbscope.rules.yml
scrape_configs:
  - job_name: bbscope
    static_configs:
      - targets: ['127.0.0.1:$PORT_a', '127.0.0.1:$PORT_b']
EOF
promtool check config "$T_TMP/prometheus.yml" >/dev/null || fail "promtool check config"
prometheus --config.file="$T_TMP/prometheus.yml" --storage.tsdb.path="$T_TMP/prom" \
	--web.listen-address="127.0.0.1:$PPORT" --log.level=warn >"$T_TMP/prom.log" 2>&1 &
PROM_PID=$!
at_exit "kill $PROM_PID; wait $PROM_PID"
API=http://127.0.0.1:$PPORT/api/v1
for ((i = 0; i < 100; i++)); do
	curl -sf --max-time 2 "http://127.0.0.1:$PPORT/-/ready" >/dev/null && break
	kill -0 $PROM_PID 2>/dev/null || { cat "$T_TMP/prom.log"; fail "prometheus exited"; }
	sleep 0.2
done
curl -sf --max-time 2 "http://127.0.0.1:$PPORT/-/ready" >/dev/null || fail "prometheus not ready in 20 s"

# q EXPR [TIME]: the instant query's JSON answer in $T_TMP/q.json; fails on an error.
q() {
	curl -s --max-time 10 "$API/query" --data-urlencode "query=$1" ${2:+--data-urlencode "time=$2"} \
		>"$T_TMP/q.json" || fail "query failed: $1"
	jq -e '.status == "success"' "$T_TMP/q.json" >/dev/null ||
		fail "query error: $1: $(jq -r .error "$T_TMP/q.json" 2>/dev/null)"
}
# Both targets up, both scraped at least twice, before the workloads start:
# so the rates cover every bio of the workloads.
for ((i = 0; i < 50; i++)); do
	q 'count(count_over_time(up{job="bbscope"}[1m]) >= 2 and up{job="bbscope"} == 1)'
	[ "$(jq -r '.data.result[0].value[1] // 0' "$T_TMP/q.json")" = 2 ] && break
	sleep 0.2
done
check "$(($(date +%s) - start)) s: prometheus scrapes both endpoints" [ "$i" -lt 50 ]

# ---- the workloads: host a small synchronous writes and direct reads;
# host b larger writes (raid5 rmw) and direct reads ----
workload() { # MNT BS COUNT
	local end=$((SECONDS + WORK_S)) n=0
	while [ $SECONDS -lt $end ]; do
		dd if=/dev/urandom of="$1/f$((n % 4))" bs="$2" count="$3" conv=fsync status=none
		dd if="$1/f$((n % 4))" of=/dev/null bs="$2" iflag=direct status=none
		n=$((n + 1))
	done
}
workload "$MNT_a" 4k 64 &
WA=$!
at_exit "kill $WA"
workload "$MNT_b" 64k 32 &
WB=$!
at_exit "kill $WB"
wait $WA $WB
sleep 3.5 # folded in once a second, scraped once a second, rules evaluated once a second
T_END=$(date +%s.%N)
ok "$(($(date +%s) - start)) s: workloads ran ${WORK_S}s on both hosts"

# One scrape of each endpoint: which families exist.
curl -sf --max-time 5 "http://127.0.0.1:$PORT_a/metrics" >"$T_TMP/scrape.txt" || fail "scrape a"
curl -sf --max-time 5 "http://127.0.0.1:$PORT_b/metrics" >>"$T_TMP/scrape.txt" || fail "scrape b"
curl -sf --max-time 10 "$API/rules" >"$T_TMP/rules.json" || fail "GET /api/v1/rules"

# Stop the tracers: each prints its whole run as JSON (hist without -i),
# the same bios as the last scrape (the workloads ended, the filesystems
# are idle: commit=300).
kill -INT "$PID_a" "$PID_b"
wait "$PID_a" || fail "tracer a exited with $?"
wait "$PID_b" || fail "tracer b exited with $?"

# The checks, in one process (this machine is shared: one curl and jq per
# query cost minutes).
python3 - "$API" "$T_END" "$DASH" "$T_TMP" "127.0.0.1:$PORT_a" "127.0.0.1:$PORT_b" \
	"$MNT_a" "$MNT_b" <<'EOF' || exit 1
import json, math, re, sys, urllib.parse, urllib.request

api, t_end, dash_file, tmp, inst_a, inst_b, mnt_a, mnt_b = sys.argv[1:]
scrape = open(tmp + "/scrape.txt").read()
exposed_names = set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)", scrape, re.M))
not_checked = []


def ok(msg):
    print("ok: " + msg, flush=True)


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def query(expr, time=None):
    """Evaluated at T_END, before the tracers stopped, after the last bio."""
    data = {"query": expr, "time": time or t_end}
    req = urllib.request.Request(api + "/query", urllib.parse.urlencode(data).encode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            ans = json.load(r)
    except urllib.error.HTTPError as e:
        ans = json.load(e)
    if ans.get("status") != "success":
        fail("query error: %s: %s" % (expr, ans.get("error")))
    return ans["data"]["result"]


usable_cache = {}


def usable(base):
    """Prometheus held two samples of family base 3 s before T_END: a rate
    of it has data then, and so has a rule over it (evaluated every second)
    by T_END.  (A family appears when its first bio does.)"""
    if base not in usable_cache:
        sel = '{__name__=~"%s(_bucket)?"}' % base
        usable_cache[base] = bool(query("count_over_time(%s[5m]) >= 2" % sel,
                                        "%.3f" % (float(t_end) - 3)))
    return usable_cache[base]


def raw_missing(expr):
    """The bbscope families (not recorded series) expr reads that have no data."""
    miss = []
    for m in sorted(set(re.findall(r"(?<![:\w])bbscope_[a-z0-9_]+", expr))):
        base = re.sub(r"_(bucket|count|sum)$", "", m)
        if not usable(base):
            miss.append(base)
    return miss


# What two btrfs hosts under reads and writes must show, so that nothing
# above passes for want of data: the device phases (read end_io runs as a
# work item on every kernel), raid5's rmw, the counters, the kernel.
need = ["bbscope_%s_seconds" % p for p in ("queue", "device", "hop", "endio", "total", "rmw")]
need += ["bbscope_%s_total" % c for c in ("bios", "bytes", "endio_ctx", "complete_ctx", "lost")]
need += ["bbscope_kernel_info"]
if [n for n in need if not usable(n)]:
    fail("no data in Prometheus of: " + ", ".join(n for n in need if not usable(n)))
ok("Prometheus has data of every family a workload makes: " + ", ".join(need))

# ---- every rule healthy, every recording rule returns data ----
rules = [r for g in json.load(open(tmp + "/rules.json"))["data"]["groups"] for r in g["rules"]]
# A recorded series can have data when one of the rules recording it reads
# only families some endpoint exposes.
recorded = {}
for r in rules:
    if r["type"] == "recording":
        recorded[r["name"]] = recorded.get(r["name"], False) or not raw_missing(r["query"])


def missing(expr, phase=None):
    """What expr needs that no endpoint here exposes: families, recorded
    series of such families, the phase's family."""
    miss = raw_missing(expr)
    miss += [n for n, can in recorded.items() if n in expr and not can]
    if phase and 'phase="' in expr and not usable("bbscope_%s_seconds" % phase):
        miss.append("phase " + phase)
    return miss


bad = ["%s: %s" % (r["name"], r.get("lastError")) for r in rules if r["health"] != "ok"]
if bad:
    fail("unhealthy rules: " + "; ".join(bad))
ok("prometheus loaded %d rules, all healthy" % len(rules))
nrec = 0
for r in rules:
    if r["type"] != "recording":
        continue
    res = query(r["query"])
    miss = raw_missing(r["query"])
    if miss:
        not_checked.append("rule %s: no data of %s" % (r["name"], ", ".join(miss)))
        continue
    if not res:
        fail("rule %s returns no data: %s" % (r["name"], r["query"]))
    nrec += 1
for name in sorted({r["name"] for r in rules if r["type"] == "recording"}):
    if not query(name) and not any(x.startswith("rule %s:" % name) for x in not_checked):
        fail("recorded %s: no series" % name)
ok("%d recording rule expressions return data, and their recorded series exist" % nrec)

# ---- every dashboard query, its variables as Grafana would set them:
# both hosts, both filesystems, each phase ----
dash = json.load(open(dash_file))


def walk(o):
    if isinstance(o, dict):
        if "expr" in o:
            yield o["expr"]
        for v in o.values():
            yield from walk(v)
    elif isinstance(o, list):
        for v in o:
            yield from walk(v)


def promql_re(s):  # a regex as a PromQL string holds it
    return re.escape(s).replace("\\", "\\\\")


var = {"instance": promql_re(inst_a) + "|" + promql_re(inst_b),
       "fs": promql_re(mnt_a) + "|" + promql_re(mnt_b),
       "__rate_interval": "10s", "__interval": "2s"}
phases = [o["value"] for v in dash["templating"]["list"] if v["name"] == "phase" for o in v["options"]]
if not phases:
    fail("the dashboard has no phase variable")
exprs = list(walk(dash["panels"]))
ndash = 0
for expr in exprs:
    for ph in phases if "$phase" in expr or "${phase}" in expr else [None]:
        e = expr
        for k, v in dict(var, phase=ph or "").items():
            e = e.replace("${%s}" % k, v).replace("$" + k, v)
        if "$" in e:
            fail("dashboard query with an unknown variable: " + expr)
        res = query(e)
        miss = missing(e, ph)
        if miss:
            not_checked.append("dashboard %s%s: no data of %s" % (
                expr, " [phase %s]" % ph if ph else "", ", ".join(miss)))
        elif not res:
            fail("dashboard query returns no data: " + e)
        else:
            ndash += 1
for v in dash["templating"]["list"]:
    if v["type"] != "query":
        continue
    qv = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
    m = re.fullmatch(r"label_values\((.*),\s*([a-z_]+)\)", qv)
    if not m:
        fail("variable %s: not label_values(): %s" % (v["name"], qv))
    sel = m.group(1).replace("$instance", var["instance"])
    if not query("count by (%s) (%s)" % (m.group(2), sel)):
        fail("variable %s: no values: %s" % (v["name"], qv))
    ndash += 1
ok("%d dashboard queries (%d expressions, per phase, and the variables) return data"
   % (ndash, len(exprs)))

# ---- the aggregated quantile against bbscope's own merge ----
runs = []
for n in "ab":
    lines = [l for l in open("%s/h-%s.json" % (tmp, n)) if l.strip()]
    if not lines:
        fail("tracer %s printed no JSON" % n)
    runs.append(json.loads(lines[-1]))


def pct(p, buckets, max_ns):
    """model/hist.c bbs_hist_percentile: the first bucket reaching rank p * total,
    its samples spread evenly over its width, below hi, at most max."""
    total = sum(c for _, _, c in buckets)
    rank, seen = p * total, 0
    for lo, hi, c in sorted(buckets):
        if seen + c >= rank:
            v = lo + int((hi - lo) * ((rank - seen) / c))
            return min(v if v < hi else hi - 1, max_ns)
        seen += c
    return max_ns


# This percentile is bbscope's: it gives every group's own p50/p90/p99.
nself = 0
for run in runs:
    for g in run["groups"]:
        for name, ph in g["phases"].items():
            if "buckets" not in ph:
                continue
            for p, key in ((0.5, "p50_ns"), (0.9, "p90_ns"), (0.99, "p99_ns")):
                if pct(p, ph["buckets"], ph["max_ns"]) != ph[key]:
                    fail("percentile of %s %s %s %s: %d, bbscope says %d" % (
                        g["fs"], g["op"], g["kind"], name, pct(p, ph["buckets"], ph["max_ns"]),
                        ph[key]))
                nself += 1
ok("the percentile here reproduces bbscope's own p50/p90/p99 (%d of them)" % nself)

ncmp = 0
for op in ("read", "write"):
    for ph in ("device", "hop", "total"):
        merged, count, max_ns = {}, 0, 0
        for run in runs:
            for g in run["groups"]:
                h = g["phases"].get(ph, {})
                if g["dev"] is None or g["op"] != op or g["kind"] != "data" or "buckets" not in h:
                    continue
                count += h["count"]
                max_ns = max(max_ns, h["max_ns"])
                for lo, hi, c in h["buckets"]:
                    merged[(lo, hi)] = merged.get((lo, hi), 0) + c
        if not count:
            # Write end_io runs inline at completion on kernels before the
            # async csum series: no write hop there.
            if op == "write" and ph == "hop":
                print("  write data hop: no bios (end_io inline here), not compared")
                continue
            fail("%s data %s: no bios in bbscope's JSON" % (op, ph))
        sel = 'job="bbscope",op="%s",kind="data"' % op
        res = query("sum(bbscope_%s_seconds_count{%s})" % (ph, sel), t_end)
        pcount = int(float(res[0]["value"][1])) if res else 0
        if pcount != count:
            fail("%s data %s: Prometheus counts %d bios, bbscope %d" % (op, ph, pcount, count))
        buckets = [(lo, hi, c) for (lo, hi), c in merged.items()]
        for p in (0.5, 0.9, 0.99):
            b = pct(p, buckets, max_ns)
            res = query("histogram_quantile(%g, sum by (le) (bbscope_%s_seconds_bucket{%s}))"
                        % (p, ph, sel), t_end)
            a = float(res[0]["value"][1]) * 1e9
            # The Prometheus bucket holding bbscope's value: [0, 2^10] or [2^k, 2^(k+1)] ns.
            k = int(math.log2(b)) if b >= 1024 else 10
            lo, hi = (0 if b < 1024 else 2 ** k), 2 ** (k + 1) if b >= 1024 else 1024
            good = lo - 1e-3 <= a <= hi + 1e-3
            print("  %-5s data %-6s q%-4g %d bios: promql %9.0f ns  bbscope %9d ns  diff %+8.0f ns"
                  " (%+5.1f%%)  bucket [%d, %d] ns: bound %d ns"
                  % (op, ph, p, count, a, b, a - b, 100 * (a - b) / b if b else 0, lo, hi, hi - lo))
            if not good:
                fail("%s data %s q%g: promql %.0f ns outside bbscope's bucket [%d, %d]" % (
                    op, ph, p, a, lo, hi))
            ncmp += 1
ok("%d aggregated quantiles over both hosts agree with bbscope's merged percentiles within"
   " the bucket, on the same bios" % ncmp)

res = query('job_op_kind_phase:bbscope_seconds:p99_5m{op="read",kind="data",phase="hop"}', t_end)
print("  recorded job_op_kind_phase:bbscope_seconds:p99_5m{read,data,hop} (rates over 5m): %s s"
      % (res[0]["value"][1] if res else "none"))
for x in not_checked:
    print("  not checked (valid PromQL, no data here): " + x)
if "bbscope_bpf_seconds_total" in exposed_names and "bbscope_bpf_runs_total" in exposed_names:
    ok("bbscope_bpf_* exposed: their rules and panels were checked for data")
else:
    print("  note: this bbscope exposes no bbscope_bpf_seconds_total/bbscope_bpf_runs_total:"
          " their rules and panels are checked as valid PromQL only")
EOF
ok "done in $(($(date +%s) - start)) s"
exit 0
