#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# A Debian release's own minimal system (debootstrap --variant=minbase, plus
# systemd and what the package tests need), cached, for tools/vm/vm.sh's
# "system" guests: the release's kernel boots it with systemd as init.
#
#   tools/vm/sysroot.sh build SUITE...   bullseye, bookworm or trixie
#   tools/vm/sysroot.sh path SUITE       the cached root directory
#
# The mirror is this machine's own (vm.sh reads it from its apt sources).
# Cache: $BBSCOPE_SYSROOT_CACHE (default /var/cache/bbscope/sysroot), one
# directory per suite, built once (a few minutes each) and reused; guests
# never write to it (they boot it read-only under a tmpfs overlay).
set -euo pipefail

CACHE=${BBSCOPE_SYSROOT_CACHE:-/var/cache/bbscope/sysroot}
HERE=$(cd "$(dirname "$0")" && pwd)
# systemd as init; btrfs-progs and util-linux (losetup, setpriv) for the
# workload; bpftool to see that no BPF link is left; procps for pgrep.
PKGS=systemd,systemd-sysv,btrfs-progs,util-linux,kmod,bpftool,procps,libcap2-bin,libisal2

die() { echo "sysroot.sh: $*" >&2; exit 2; }

build() {
	local suite=$1 dir=$CACHE/$1 m
	case $suite in bullseye | bookworm | trixie) ;; *) die "unknown suite '$suite'" ;; esac
	[ -f "$dir/ready" ] && return 0
	[ "$(id -u)" = 0 ] || die "building a root filesystem needs root (debootstrap)"
	m=$("$HERE/vm.sh" mirror)
	echo "sysroot.sh: debootstrap $suite from $m" >&2
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp"
	debootstrap --variant=minbase --include="$PKGS" "$suite" "$dir.tmp/root" "$m" \
		>"$dir.tmp/debootstrap.log" 2>&1 ||
		{ tail -20 "$dir.tmp/debootstrap.log" >&2; die "debootstrap $suite failed"; }
	local r=$dir.tmp/root
	echo "bbscope-$suite" >"$r/etc/hostname"
	: >"$r/etc/machine-id"
	: >"$r/etc/fstab"
	# No getty, no waiting for devices or the network: the guest runs one unit.
	ln -sf /dev/null "$r/etc/systemd/system/serial-getty@.service"
	ln -sf /dev/null "$r/etc/systemd/system/getty@.service"
	ln -sf /dev/null "$r/etc/systemd/system/systemd-timesyncd.service"
	rm -rf "$r/var/cache/apt/archives/"*.deb "$r/var/lib/apt/lists/"*_Packages
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
	touch "$dir/ready"
}

[ $# -ge 1 ] || die "usage: sysroot.sh build SUITE... | path SUITE"
case $1 in
build)
	shift
	for s in "$@"; do build "$s"; done ;;
path)
	[ $# -eq 2 ] || die "usage: sysroot.sh path SUITE"
	[ -f "$CACHE/$2/ready" ] || die "$2 is not built (tools/vm/sysroot.sh build $2)"
	echo "$CACHE/$2/root" ;;
*) die "usage: sysroot.sh build SUITE... | path SUITE" ;;
esac
