#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# The .deb (make deb) on each Debian release's own system: its binary needs
# only libc (glibc <= 2.31) and libisal, lintian finds no error, and on
# Debian 11, 12 and 13 -- debootstrapped (tools/vm/sysroot.sh, cached) and
# booted with the release's own kernel and systemd -- it installs, its
# exporter service serves a traced workload (checked with promtool here),
# stops leaving no BPF link, and tracing works as an unprivileged user with the
# service's capabilities (tests/deb_guest.sh).  Two guests at a time.
# timeout: 1800
. "$(dirname "$0")/lib.sh"
need_root
DEB=$(ls "$OUT"/bbscope_*_amd64.deb 2>/dev/null | tail -1)
[ -n "$DEB" ] || skip "no $OUT/bbscope_*_amd64.deb (make deb)"
command -v promtool >/dev/null || skip "no promtool (make deps)"
command -v debootstrap >/dev/null || skip "no debootstrap (make deps)"

needed=$(objdump -p "$OUT/deb/bbscope" | awk '$1 == "NEEDED" { print $2 }' | sort | tr '\n' ' ')
echo "needs: $needed"
gmax=$(objdump -T "$OUT/deb/bbscope" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
[ "$(printf '%s\n' "$gmax" 2.31 | sort -V | tail -1)" = 2.31 ] || fail "glibc $gmax > 2.31"
echo "glibc symbols: <= $gmax"
dpkg-deb -f "$DEB" Depends
if command -v lintian >/dev/null; then
	lintian "$DEB" >"$OUT/deb/lintian.txt" 2>&1
	cat "$OUT/deb/lintian.txt"
	grep -q '^E:' "$OUT/deb/lintian.txt" && fail "lintian reports errors"
fi

SUITES=${BBSCOPE_DEB_SUITES:-bullseye bookworm trixie}
tools/vm/sysroot.sh build $SUITES || fail "cannot build the releases' systems"
kernel_of() { case $1 in bullseye) echo 5.10 ;; bookworm) echo 6.1 ;; trixie) echo 6.12 ;; esac; }
guest() {
	rm -rf "$OUT/deb-test/$1"
	tools/vm/vm.sh run "$(kernel_of "$1")" -r "$1" -t 900 -- \
		tests/deb_guest.sh "$(realpath "$DEB")" "$OUT/deb-test/$1" >"$OUT/deb-test/$1.log" 2>&1
}
mkdir -p "$OUT/deb-test"
running=0
for s in $SUITES; do
	guest "$s" &
	running=$((running + 1))
	if [ $running -ge "${BBSCOPE_VM_JOBS:-2}" ]; then wait -n; running=$((running - 1)); fi
done
wait
rc=0
for s in $SUITES; do
	echo "== $s ($(kernel_of "$s"))"
	cat "$OUT/deb-test/$s.log"
	if ! grep -q '^ok: without capabilities' "$OUT/deb-test/$s.log"; then
		rc=1
		continue
	fi
	promtool check metrics <"$OUT/deb-test/$s/metrics" || { echo "FAIL: promtool ($s)"; rc=1; }
done
[ $rc = 0 ] || fail "the package failed on at least one release"
echo "PASS"
