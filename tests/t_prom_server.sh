#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# hist --prom serves like a server (issue 13, items 7, 9 and 10): scrapes
# are answered while idle clients hold connections, several at once;
# connections are bounded and the endpoint lives through a flood of them;
# label values are escaped (a mount point with '"', '\' and a newline that
# would forge a metric line), and promtool accepts the result; the port is
# checked, port 0 prints the one it got; with -i the terminal shows each
# interval while the endpoint counts from the start.  Bytes that cannot be
# an HTTP request are answered 400 at once (issue 19, item 9).
# Traffic goes to 127.0.0.1 only; every loop is bounded.
. "$(dirname "$0")/lib.sh"
need_root
for t in promtool curl python3 jq; do
	command -v $t >/dev/null || skip "$t missing"
done

# A mount point that would break the exposition if it were not escaped.
export BBSCOPE_STATE_DIR="$T_TMP/q\"b\\s
x_total 999 #"
sandbox_up --profile single --size 256M --mount-opts commit=300

# ---- 10. the port: checked, and :0 says which it got ----
"$BBSCOPE" hist --prom 127.0.0.1:99999 -d 1 >/dev/null 2>"$T_TMP/err"
rc=$?
check "--prom :99999 is refused (exit $rc)" test $rc -eq 2
check "--prom :99999 says what a port is" grep -q '0 to 65535' "$T_TMP/err"

# bbscope raises its soft fd limit to the hard one: let that be enough for
# the 1,000 stalled connections below (root may raise it).
hard=$(ulimit -Hn)
[ "$hard" = unlimited ] || [ "$hard" -ge 4096 ] || ulimit -n 4096 || skip "cannot raise the fd limit to 4096"
ulimit -Sn 1024 # as most shells start: bbscope must raise it itself
tracer_start "$T_TMP/h.out" --fs "$MNT" --prom 127.0.0.1:0 -i 1 --json
URL=$(sed -n 's/^bbscope: serving Prometheus metrics on //p' "$T_TMP/h.out.err")
check "--prom :0 prints the URL it listens on ($URL)" eval \
	'[[ "$URL" =~ ^http://127\.0\.0\.1:[0-9]+/metrics$ ]] && [[ "$URL" != *:0/* ]]'
PORT=${URL##*:}
PORT=${PORT%%/*}

dd if=/dev/urandom of="$MNT/file" bs=1M count=4 conv=fsync status=none || fail "dd"
sleep 2.5 # folded in once a second

# ---- 9. idle clients do not hold scrapes back; several scrapes at once ----
python3 - "$PORT" 20 6 >"$T_TMP/idle.out" 2>&1 <<'EOF' &
import socket, sys, time
port, n, secs = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
conns = [socket.create_connection(("127.0.0.1", port)) for _ in range(n)]
for c in conns[: n // 2]:
    c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # a request never finished
print("holding", len(conns), flush=True)
time.sleep(secs)
EOF
IDLE=$!
at_exit "kill $IDLE"
for ((i = 0; i < 50; i++)); do
	grep -q holding "$T_TMP/idle.out" && break
	sleep 0.1
done
check "20 idle connections are open" grep -q 'holding 20' "$T_TMP/idle.out"
pids=()
for i in 1 2 3 4; do
	curl -sf --max-time 5 "$URL" >"$T_TMP/m$i.txt" &
	pids+=($!)
done
for i in 1 2 3 4; do
	wait "${pids[i - 1]}" || fail "scrape $i with idle clients connected failed"
done
ok "4 concurrent scrapes answered while 20 idle clients hold connections"
kill $IDLE 2>/dev/null
wait $IDLE 2>/dev/null

# ---- 7. label values escaped: promtool accepts it, nothing forged ----
promtool check metrics <"$T_TMP/m1.txt" >"$T_TMP/promtool.out" 2>&1 ||
	{ cat "$T_TMP/promtool.out"; fail "promtool rejects the exposition"; }
ok "promtool check metrics accepts a mount point with '\"', '\\' and a newline"
check "no forged line" eval '! grep -q "^x_total" "$T_TMP/m1.txt"'
check "the fs label is escaped" grep -qF 'q\"b\\s\nx_total 999 #/mnt"' "$T_TMP/m1.txt"
bytes=$(awk '/^bbscope_bytes_total\{.*op="write",kind="data"/ {s += $NF} END {print s + 0}' \
	"$T_TMP/m1.txt")
check "endpoint: data write bytes ($bytes) == file size" [ "$bytes" -eq 4194304 ]

# A flood past the connection limit: refused or queued, never fatal.
python3 - "$PORT" 120 >"$T_TMP/flood.out" 2>&1 <<'EOF'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
conns = []
for _ in range(n):
    try:
        conns.append(socket.create_connection(("127.0.0.1", port), timeout=2))
    except OSError:
        pass
print("opened", len(conns), flush=True)
EOF
check "the tracer lives through a flood of connections" kill -0 "$TRACER_PID"
curl -sf --max-time 5 "$URL" >"$T_TMP/m5.txt" || fail "scrape after the flood"
ok "scrape after the flood: $(wc -l <"$T_TMP/m5.txt") lines"

# ---- issue 19, items 3 and 9: loopback unless named; /metrics only ----
"$BBSCOPE" hist --prom :0 -d 1 >/dev/null 2>"$T_TMP/colon.err" || fail "hist --prom :0"
check "--prom :PORT listens on 127.0.0.1" grep -q '^bbscope: serving Prometheus metrics on http://127\.0\.0\.1:' "$T_TMP/colon.err"
check "--prom :PORT: no warning" eval '! grep -q warning "$T_TMP/colon.err"'
for a in 0.0.0.0:0 '[::]:0'; do
	"$BBSCOPE" hist --prom "$a" -d 1 >/dev/null 2>"$T_TMP/any.err" || fail "hist --prom $a"
	check "--prom $a: said on stderr" grep -q '^bbscope: warning: .* listens beyond this host' "$T_TMP/any.err"
done
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$PORT/nope")
check "/nope: 404 ($code)" [ "$code" = 404 ]

# ---- issue 19, item 9: bytes that cannot be HTTP get a 400 at once ----
# With or without a newline after them (libmicrohttpd alone waited for one,
# then for its 3 s request timeout, and answered nothing); a slow but valid
# client, a byte every 40 ms, is still served.
python3 - "$PORT" >"$T_TMP/garbage.out" 2>&1 <<'EOF'
import socket, sys, time
port = int(sys.argv[1])
cases = [("tls-hello", b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03"),
         ("binary", b"\x00\xff\x01"), ("letters", b"garbage"),
         ("bad-line", b"GET\r\n\r\n"), ("bad-version", b"GET /metrics SPDY/3\r\n\r\n")]
for name, data in cases:
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    t0 = time.monotonic()
    s.sendall(data)
    got = b""
    try:
        while b"\r\n" not in got:
            b = s.recv(4096)
            if not b:
                break
            got += b
    except OSError as e:
        got += repr(e).encode()
    print(name, "%.0f" % ((time.monotonic() - t0) * 1000), got.split(b"\r\n")[0].decode(errors="replace"))
s = socket.create_connection(("127.0.0.1", port), timeout=10)
req = b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
t0 = time.monotonic()
for i in range(len(req)):
    s.sendall(req[i:i + 1])
    time.sleep(0.04)
got = b""
while True:
    b = s.recv(65536)
    if not b:
        break
    got += b
print("slow %.1f" % (time.monotonic() - t0), got.split(b"\r\n")[0].decode(),
      "metrics" if b"bbscope_bios_total" in got else "no-metrics")
EOF
cat "$T_TMP/garbage.out"
for c in tls-hello binary letters bad-line bad-version; do
	check "$c: 400 within 500 ms" awk -v c="$c" '$1 == c { found = 1; ok = $2 < 500 && $3 == "HTTP/1.1" && $4 == 400 }
		END { exit !(found && ok) }' "$T_TMP/garbage.out"
done
check "a slow, valid client (a byte every 40 ms) is served" grep -q '^slow [0-9.]* HTTP/1.1 200 OK metrics$' "$T_TMP/garbage.out"

# ---- issue 19, item 2: 1,000 stalled requests do not silence the endpoint ----
# Each sends a request's first lines and stalls, as a slow or hostile local
# client can; a scrape must still be answered within 100 ms.  The client
# raises its own fd limit; bbscope raised its soft limit to its hard limit
# (4096 or more here: see above) and sized its connection limit from it.
python3 - "$PORT" 1000 >"$T_TMP/stall.out" 2>&1 <<'EOF'
import resource, socket, sys, time
port, n = int(sys.argv[1]), int(sys.argv[2])
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
want = n + 64
if soft < want:
    resource.setrlimit(resource.RLIMIT_NOFILE, (want, max(hard, want)))
conns, t_end = [], time.monotonic() + 20
for _ in range(n):
    if time.monotonic() > t_end:
        break
    try:
        c = socket.create_connection(("127.0.0.1", port), timeout=1)
        c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n")  # never finished
        conns.append(c)
    except OSError:
        pass
time.sleep(0.2)  # let the server take them all in
def scrape():
    t0 = time.monotonic()
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=3)
        s.settimeout(3)
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            data += b
        s.close()
        ok = data.startswith(b"HTTP/1.1 200") and b"bbscope_bios_total" in data
    except OSError:
        ok = False
    return (time.monotonic() - t0) * 1000, ok
res = [scrape() for _ in range(5)]
ms = sorted(r[0] for r in res)
print("stalled", len(conns), "answered", sum(r[1] for r in res), "of 5",
      "median_ms %.1f max_ms %.1f" % (ms[2], ms[-1]), flush=True)
EOF
cat "$T_TMP/stall.out"
check "1000 stalled connections held" grep -q '^stalled 1000 ' "$T_TMP/stall.out"
check "5 scrapes answered with them held" grep -q 'answered 5 of 5' "$T_TMP/stall.out"
check "each within 100 ms" awk '/^stalled/ { exit !($NF < 100) }' "$T_TMP/stall.out"
check "the tracer lives through them" kill -0 "$TRACER_PID"

# ---- 10. -i with --prom: the terminal per interval, the endpoint cumulative ----
sleep 1.2
tracer_stop
sum=$(jq -s '[.[].groups[] | select(.op == "write" and .kind == "data" and .dev != null)
	| .bytes] | add // 0' "$T_TMP/h.out")
n=$(wc -l <"$T_TMP/h.out")
check "-i 1: $n intervals, whose data write bytes add up to the file ($sum)" \
	test "$n" -ge 3 -a "$sum" -eq 4194304
exit 0
