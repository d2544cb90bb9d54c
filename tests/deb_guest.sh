#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Runs inside a Debian release's own system (tests/t_deb.sh boots it with
# tools/vm/vm.sh -r): install the .deb, run the exporter service over a
# traced workload on a loop-backed btrfs, scrape it into RESULTS/metrics
# (the host checks it with promtool), stop it, check nothing is left; then
# features and one tracing run as an unprivileged user with the service's
# capabilities.  Prints "ok: ..." lines; exits 1 at the first
# failure.
#   deb_guest.sh DEB RESULTS
set -u
DEB=$1 RES=$2
mkdir -p "$RES"
fail() { echo "FAIL: $*"; journalctl -u bbscope-exporter --no-pager 2>/dev/null | tail -20; exit 1; }
ok() { echo "ok: $*"; }
CAPS="CAP_BPF CAP_PERFMON CAP_SYSLOG CAP_DAC_READ_SEARCH CAP_SYS_ADMIN"
links() { bpftool link list 2>/dev/null | grep -c '^[0-9]*:'; }

. /etc/os-release
ok "system: $PRETTY_NAME, kernel $(uname -r), $(systemctl --version | head -1)"
dpkg -i "$DEB" >"$RES/dpkg.log" 2>&1 || { cat "$RES/dpkg.log"; fail "dpkg -i"; }
ok "$(bbscope --version)"
modprobe loop 2>/dev/null
modprobe btrfs 2>/dev/null
before=$(links)

img=/var/tmp/bbscope-deb.img mnt=/mnt/bbscope-deb
truncate -s 512M "$img"
dev=$(losetup -f --show "$img") || fail "losetup"
mkfs.btrfs -q -f "$dev" >/dev/null || fail "mkfs.btrfs"
mkdir -p "$mnt" && mount "$dev" "$mnt" || fail "mount"
cleanup() { umount "$mnt" 2>/dev/null; losetup -d "$dev" 2>/dev/null; rm -f "$img"; }
trap cleanup EXIT

systemctl start bbscope-exporter || fail "systemctl start"
for _ in $(seq 60); do
	grep -q ':24A3 ' /proc/net/tcp 2>/dev/null && break  # 9435 listening
	sleep 1
done
systemctl is-active -q bbscope-exporter || fail "the service is not active"
ok "service active as $(ps -o user= -p "$(systemctl show -p MainPID --value bbscope-exporter)")"
dd if=/dev/urandom of="$mnt/f" bs=64k count=64 oflag=direct status=none || fail "dd write"
sync
echo 3 >/proc/sys/vm/drop_caches
cat "$mnt/f" >/dev/null
sleep 2
exec 3<>/dev/tcp/127.0.0.1/9435 || fail "cannot connect to 127.0.0.1:9435"
printf 'GET /metrics HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
sed '1,/^\r\{0,1\}$/d' <&3 >"$RES/metrics"
exec 3<&-
grep -q '^bbscope_' "$RES/metrics" || fail "no bbscope_ metrics in the scrape"
grep -Eq '^bbscope_[a-z_]*_count\{.*op="write".*\} [1-9]' "$RES/metrics" ||
	fail "the scrape counts no write bios"
ok "scraped $(grep -c '^bbscope_' "$RES/metrics") samples, writes counted"
systemd-analyze security bbscope-exporter --no-pager >"$RES/security" 2>&1
ok "$(grep -i 'overall exposure' "$RES/security" | sed 's/^ *//')"
systemctl stop bbscope-exporter
st=$(systemctl show -p ActiveState --value bbscope-exporter)
res=$(systemctl show -p Result --value bbscope-exporter)
[ "$st" = inactive ] && [ "$res" = success ] || fail "after stop: $st, result $res"
[ "$(links)" = "$before" ] || fail "BPF links left after stop: $(links), were $before"
ok "stopped cleanly (result $res), BPF links $before as before"

# As an unprivileged user (nobody) with the service's capabilities and
# memlock limit (setpriv: systemd-run needs D-Bus, which minbase has not;
# cap_N: bullseye's libcap-ng does not know CAP_BPF's name).
run_as() {
	prlimit --memlock=unlimited setpriv --reuid=65534 --regid=65534 --clear-groups \
		--inh-caps=+cap_2,+cap_21,+cap_34,+cap_38,+cap_39 \
		--ambient-caps=+cap_2,+cap_21,+cap_34,+cap_38,+cap_39 "$@"
}
run_as /usr/sbin/bbscope features >"$RES/features" 2>&1 || { cat "$RES/features"; fail "features as nobody"; }
grep -q '^may trace    yes' "$RES/features" || { cat "$RES/features"; fail "features: may not trace"; }
ok "features as nobody: $(grep '^capabilities' "$RES/features")"
# The workload once the tracer is attached (under TCG that takes seconds),
# then SIGINT: hist prints its interval and exits 0.
run_as /usr/sbin/bbscope hist -d 300 --json >"$RES/hist.json" 2>"$RES/hist.err" &
hpid=$!
for _ in $(seq 120); do
	grep -q 'tracing btrfs bios' "$RES/hist.err" && break
	kill -0 $hpid 2>/dev/null || break
	sleep 1
done
dd if=/dev/urandom of="$mnt/g" bs=64k count=32 oflag=direct status=none
sync
sleep 2
kill -INT $hpid 2>/dev/null
wait $hpid || { cat "$RES/hist.err"; fail "hist as nobody"; }
grep -q '"write"' "$RES/hist.json" || { head -c 600 "$RES/hist.json"; fail "hist as nobody saw no writes"; }
ok "hist as nobody with those capabilities traced the writes"
# Without capabilities: one line naming them.
setpriv --reuid=65534 --regid=65534 --clear-groups /usr/sbin/bbscope hist -d 1 >"$RES/nocaps" 2>&1
grep -q 'needs CAP_BPF' "$RES/nocaps" || { cat "$RES/nocaps"; fail "hist without capabilities"; }
ok "without capabilities: $(cat "$RES/nocaps")"
[ "$(links)" = "$before" ] || fail "BPF links left: $(links), were $before"
exit 0
