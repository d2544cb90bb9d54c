#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# Install the Debian packages bbscope needs to build, test, demo and bench.
# Idempotent: when everything is installed it only asks dpkg and returns.
set -eu

PKGS="make gcc clang llvm pkg-config bpftool libbpf-dev libelf-dev zlib1g-dev
liburing-dev libisal-dev libxxhash-dev libjansson-dev libssl-dev libsodium-dev
libblkid-dev libmicrohttpd-dev libgsl-dev btrfs-progs util-linux fio blktrace clang-format cppcheck
kmod procps jq libbpf-tools prometheus curl iproute2 python3 chromium
qemu-system-x86 busybox-static cpio xz-utils bpftrace dmsetup debootstrap lintian"

missing=""
for p in $PKGS; do
	st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
	case "$st" in
	*"install ok installed"*) ;;
	*) missing="$missing $p" ;;
	esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "bbscope: missing packages:$missing (run 'make deps' as root)" >&2
	exit 1
fi
echo "bbscope: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
# shellcheck disable=SC2086
apt-get install -y -qq --no-install-recommends $missing >/dev/null
