#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# Debian's own kernels under QEMU, running this machine's userspace: the
# kernels btrfs hosts really run, for bbscope's tests.
#
#   tools/vm/vm.sh list                  the kernels, and which are cached
#   tools/vm/vm.sh fetch [KERNEL...]     download and unpack them (default: all)
#   tools/vm/vm.sh run KERNEL [-t SECS] [-m MEM] [-s DIR] [-r SUITE] -- CMD [ARG...]
#                                        boot KERNEL, run CMD as root in the
#                                        current directory, exit with its status;
#                                        -r: on SUITE's own system instead of
#                                        this machine's (tools/vm/sysroot.sh),
#                                        with systemd as init
#   tools/vm/vm.sh label KERNEL          what results call it (bpo: its version)
#   tools/vm/vm.sh mirror                the Debian mirror this machine's apt uses
#   tools/vm/vm.sh download SUITE PKG... those packages of SUITE, into the cwd
#
# KERNEL is a release (5.10, 6.1, 6.12), a Debian suite (bullseye,
# bookworm, trixie), or bpo: Debian 13's backports kernel (trixie-backports),
# Debian's newest, whatever version it is today (7.3 when this was written:
# the first with the btrfs_bio::async_csum series, merged in 6.19).  The
# image is the one the suite's linux-image-amd64 depends on today.
#
# How a guest is built (the virtme approach): a busybox-static initramfs
# loads the virtio, 9p and overlay modules, mounts this machine's / read-only
# over 9p with a tmpfs overlay on top, mounts the kernel's own modules over a
# second 9p share at /lib/modules/$(uname -r), and switch_roots into it.  The
# guest then runs this machine's binaries against its own kernel.  DIR (-s,
# default: the current directory's build output, $OUT) is shared read-write
# at the same path, so what a test writes there survives the guest.
#
# Packages come from this machine's own Debian mirror (read from its apt
# sources), through a private sources list and state directory: the
# machine's apt configuration is left alone.  The cache is
# $BBSCOPE_VM_CACHE (default /var/cache/bbscope/vm).
#
# KVM is used when /dev/kvm opens and the CPU has vmx or svm; otherwise TCG
# (a guest reaches its init in ~3 s, but I/O is ~18x slower than the host's:
# a guest shows what attaches and where things run, not how fast).
# BBSCOPE_VM_ACCEL=tcg|kvm overrides.
set -euo pipefail

CACHE=${BBSCOPE_VM_CACHE:-/var/cache/bbscope/vm}
HERE=$(cd "$(dirname "$0")" && pwd)
ALL_KERNELS="5.10 6.1 6.12 bpo"

die() { echo "vm.sh: $*" >&2; exit 2; }

suite_of() {
	case $1 in
	5.10 | bullseye) echo bullseye ;;
	6.1 | bookworm) echo bookworm ;;
	6.12 | trixie) echo trixie ;;
	bpo | trixie-backports) echo trixie-backports ;;
	*) die "unknown kernel '$1' (want one of: $ALL_KERNELS)" ;;
	esac
}

release_of() {
	case $(suite_of "$1") in
	bullseye) echo 5.10 ;;
	bookworm) echo 6.1 ;;
	trixie) echo 6.12 ;;
	trixie-backports) echo bpo ;;
	esac
}

# What a kernel is called in results: its release, or for bpo its version
# (major.minor) once fetched.
label_of() {
	local rel v
	rel=$(release_of "$1")
	[ "$rel" = bpo ] || { echo "$rel"; return; }
	v=$(sed -n 's/^kver=//p' "$CACHE/bpo/info" 2>/dev/null)
	v=$(echo "$v" | sed -n 's/^\([0-9]*\.[0-9]*\).*/\1/p')
	echo "${v:-bpo}"
}

# The Debian mirror this machine uses, from its apt sources (deb822 or
# one-line format); the security archive is skipped.
mirror() {
	local m
	m=$(cat /etc/apt/sources.list.d/*.sources 2>/dev/null |
		awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }')
	[ -n "$m" ] || m=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
		awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /^https?:/ && $i !~ /security/) { print $i; exit } }')
	[ -n "$m" ] || die "no Debian mirror in /etc/apt/sources.list{,.d/}"
	echo "$m"
}

APT_DIR=$CACHE/apt
apt_private() {
	local cmd=$1
	shift
	"$cmd" -o Dir::Etc::sourcelist="$APT_DIR/sources.list" -o Dir::Etc::sourceparts=- \
		-o Dir::State::lists="$APT_DIR/lists" -o Dir::Cache="$APT_DIR/cache" \
		-o Dir::State::status=/dev/null -o Debug::NoLocking=1 -o APT::Sandbox::User=root "$@"
}

apt_update() {
	local m s
	m=$(mirror)
	mkdir -p "$APT_DIR/lists/partial" "$APT_DIR/cache/archives/partial"
	: >"$APT_DIR/sources.list.new"
	for s in bullseye bookworm trixie trixie-backports; do
		echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $m $s main" \
			>>"$APT_DIR/sources.list.new"
	done
	mv "$APT_DIR/sources.list.new" "$APT_DIR/sources.list"
	apt_private apt-get -qq update >/dev/null || die "apt-get update from $m failed"
}

# The package names of the first Depends: line of apt-cache show's output
# (reads it all: no SIGPIPE for apt-cache under pipefail).
depends_of() {
	awk '/^Depends:/ && !done { sub(/^Depends:/, ""); gsub(/\([^)]*\)|,/, " "); print; done = 1 }' |
		tr -s ' ' '\n' | sed '/^$/d'
}

# fetch KERNEL: the image package into $CACHE/<release>/ with modules.dep.
# From 7.x Debian splits it: linux-image-VER is a small package depending on
# linux-binary-VER (the vmlinuz, at /usr/lib/modules/VER/vmlinuz, no /boot)
# and linux-modules-VER; those are fetched too when the image has no vmlinuz.
fetch_one() {
	local rel suite dir ver pkg deb base kver vmlinuz p
	rel=$(release_of "$1")
	suite=$(suite_of "$1")
	dir=$CACHE/$rel
	[ -f "$dir/ready" ] && return 0
	grep -qs " $suite main" "$APT_DIR/sources.list" || apt_update
	ver=$(apt_private apt-cache madison linux-image-amd64 | awk -v s="$suite" '$0 ~ " "s"/main" { print $3; exit }')
	[ -n "$ver" ] || die "no linux-image-amd64 in $suite"
	pkg=$(apt_private apt-cache show "linux-image-amd64=$ver" | depends_of | grep '^linux-image-' | head -1)
	[ -n "$pkg" ] || die "cannot tell which image linux-image-amd64=$ver depends on"
	echo "vm.sh: fetching $pkg ($suite)" >&2
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp/deb"
	(cd "$dir.tmp/deb" && apt_private apt-get -qq download "$pkg" >/dev/null) ||
		die "apt-get download $pkg failed"
	dpkg-deb -x "$dir.tmp"/deb/*.deb "$dir.tmp/root"
	if ! ls "$dir.tmp"/root/boot/vmlinuz-* "$dir.tmp"/root/usr/lib/modules/*/vmlinuz >/dev/null 2>&1; then
		rm -f "$dir.tmp"/deb/*.deb
		for p in $(apt_private apt-cache show "$pkg" | depends_of); do
			case $p in
			linux-binary-* | linux-modules-*)
				(cd "$dir.tmp/deb" && apt_private apt-get -qq download "$p" >/dev/null) ||
					die "apt-get download $p failed" ;;
			esac
		done
		for deb in "$dir.tmp"/deb/*.deb; do dpkg-deb -x "$deb" "$dir.tmp/root"; done
	fi
	rm -rf "$dir.tmp/deb"
	vmlinuz=$(ls "$dir.tmp"/root/boot/vmlinuz-* "$dir.tmp"/root/usr/lib/modules/*/vmlinuz 2>/dev/null | head -1 || true)
	[ -n "$vmlinuz" ] || die "$pkg: no vmlinuz in the image or its linux-binary package"
	case $vmlinuz in
	*/boot/vmlinuz-*) kver=${vmlinuz##*/vmlinuz-} ;;
	*) kver=$(basename "$(dirname "$vmlinuz")") ;;
	esac
	base=$dir.tmp/root
	[ -d "$base/usr/lib/modules/$kver" ] && base=$base/usr
	# The packages ship no modules.dep (the postinst makes it).
	depmod -b "$base" "$kver"
	{
		echo "pkg=$pkg"
		echo "version=$ver"
		echo "kver=$kver"
		echo "vmlinuz=${vmlinuz#"$dir.tmp/"}"
		echo "modules=${base#"$dir.tmp/"}/lib/modules/$kver"
	} >"$dir.tmp/info"
	rm -rf "$dir"
	mv "$dir.tmp" "$dir"
	touch "$dir/ready"
}

info_of() { sed -n "s/^$2=//p" "$CACHE/$(release_of "$1")/info"; }

# The initramfs: busybox, the modules to reach the 9p root, and init.
make_initramfs() {
	local rel=$1 dir=$CACHE/$1 kver mods base m out=$CACHE/$1/initramfs.cpio.gz
	[ -f "$out" ] && [ "$out" -nt "$HERE/initramfs-init" ] && [ "$out" -nt "$0" ] && return 0
	kver=$(info_of "$rel" kver)
	mods=$dir/$(info_of "$rel" modules)
	base=${mods%/lib/modules/*}
	local tmp
	tmp=$(mktemp -d)
	mkdir -p "$tmp"/{bin,dev,proc,sys,mods,lower,upper,newroot}
	cp /bin/busybox "$tmp/bin/busybox"
	: >"$tmp/mods/order"
	# One at a time: a module built in (virtio_pci from 7.x, whose split
	# packages ship no modules.builtin) is "not found", and needs no insmod.
	for m in 9pnet_virtio 9p virtio_pci overlay; do
		modprobe -d "$base" -S "$kver" --show-depends "$m" 2>/dev/null || true
	done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' >"$tmp/mods/paths"
	while read -r m; do
		local name
		name=$(basename "$m")
		case $name in
		*.xz) xz -dc "$m" >"$tmp/mods/${name%.xz}" ;;
		*.zst) zstd -qdc "$m" >"$tmp/mods/${name%.zst}" ;;
		*) cp "$m" "$tmp/mods/$name" ;;
		esac
		name=${name%.xz}
		echo "${name%.zst}" >>"$tmp/mods/order"
	done <"$tmp/mods/paths"
	rm "$tmp/mods/paths"
	cp "$HERE/initramfs-init" "$tmp/init"
	chmod +x "$tmp/init"
	(cd "$tmp" && find . | cpio -o -H newc --quiet | gzip -1) >"$out.tmp.$$"
	mv "$out.tmp.$$" "$out"  # atomic: guests of other checkouts may be booting from it
	rm -rf "$tmp"
}

accel() {
	local a=${BBSCOPE_VM_ACCEL:-}
	if [ -z "$a" ]; then
		a=tcg
		if [ -r /dev/kvm ] && [ -w /dev/kvm ] && grep -qwE 'vmx|svm' /proc/cpuinfo; then
			a=kvm
		fi
	fi
	case $a in
	kvm) echo "-accel kvm -cpu host" ;;
	# One host thread for both vCPUs: with multi-threaded TCG a 6.12 guest
	# panicked in code the kernel was patching (a static key flipped by a
	# tracepoint attach, fentry trampolines) while the other vCPU ran it.
	tcg) echo "-accel tcg,thread=single -cpu max" ;;
	*) die "BBSCOPE_VM_ACCEL=$a: want kvm or tcg" ;;
	esac
}

usage() {
	sed -n '3,18p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

cmd_run() {
	local kernel=$1 timeout=600 mem=3G share="" sysroot="" rootpath=/ rel dir kver mods vmlinuz rc qpid
	shift
	while [ $# -gt 0 ]; do
		case $1 in
		-t) timeout=$2; shift 2 ;;
		-m) mem=$2; shift 2 ;;
		-s) share=$2; shift 2 ;;
		-r) sysroot=$2; shift 2 ;;
		--) shift; break ;;
		*) usage ;;
		esac
	done
	[ $# -gt 0 ] || usage
	# The directory is handed to the guest on its command line, which splits at blanks.
	[[ $PWD != *[[:space:]]* ]] || die "cannot run a guest from a directory with blanks in its path: $PWD"
	rel=$(release_of "$kernel")
	if [ -n "$sysroot" ]; then
		rootpath=$("$HERE/sysroot.sh" path "$sysroot")
	fi
	fetch_one "$rel"
	make_initramfs "$rel"
	dir=$CACHE/$rel
	kver=$(info_of "$rel" kver)
	mods=$dir/$(info_of "$rel" modules)
	vmlinuz=$dir/$(info_of "$rel" vmlinuz)
	[ -f "$vmlinuz" ] || vmlinuz=$dir/root/boot/vmlinuz-$kver  # cached before 7.x
	share=$(realpath -m "${share:-${OUT:-build}}")
	mkdir -p "$share"
	local run
	run=$(mktemp -d "$share/vm-$rel.XXXXXX")
	# What the guest runs: the command, in this directory, with this environment's PATH.
	{
		printf 'cd %q || exit 125\n' "$PWD"
		printf 'export PATH=%q\n' "$PATH"
		for v in OUT BBSCOPE V; do
			[ -n "${!v:-}" ] && printf 'export %s=%q\n' "$v" "${!v}"
		done
		printf '%q ' "$@"
		echo
	} >"$run/cmd"
	: >"$run/out"
	# shellcheck disable=SC2046
	timeout --kill-after=5 "$timeout" qemu-system-x86_64 $(accel) -smp 2 -m "$mem" \
		-nographic -no-reboot -display none -monitor none -serial "file:$run/console" \
		-kernel "$vmlinuz" -initrd "$dir/initramfs.cpio.gz" \
		-append "console=ttyS0 quiet loglevel=4 panic=-1 bbscope.run=$run bbscope.kver=$kver bbscope.init=$HERE/guest-init bbscope.cwd=$PWD ${sysroot:+bbscope.system=1 systemd.show_status=0}" \
		-virtfs local,path="$rootpath",mount_tag=root,security_model=none,readonly=on,multidevs=remap \
		-virtfs local,path="$PWD",mount_tag=cwd,security_model=none,readonly=on,multidevs=remap \
		-virtfs local,path="$mods",mount_tag=modules,security_model=none,readonly=on \
		-virtfs local,path="$share",mount_tag=share,security_model=none,multidevs=remap \
		</dev/null >/dev/null 2>"$run/qemu.err" &
	qpid=$!
	# The command's output as it comes (the guest writes it into the share).
	tail --pid=$qpid -n +1 -f "$run/out" 2>/dev/null
	wait $qpid || true
	if [ ! -f "$run/rc" ]; then
		echo "vm.sh: the $rel guest ($kver) did not finish its command; console tail:" >&2
		tail -30 "$run/console" >&2 2>/dev/null || true
		cat "$run/qemu.err" >&2 2>/dev/null || true
		rm -rf "$run"
		return 124
	fi
	rc=$(cat "$run/rc")
	rm -rf "$run"
	return "$rc"
}

[ $# -gt 0 ] || usage
case $1 in
list)
	for k in $ALL_KERNELS; do
		if [ -f "$CACHE/$k/ready" ]; then
			printf '%-5s %-17s %s\n' "$k" "$(suite_of "$k")" "$(info_of "$k" pkg)"
		else
			printf '%-5s %-17s %s\n' "$k" "$(suite_of "$k")" "(not fetched)"
		fi
	done
	;;
mirror)
	mirror
	;;
download)
	# download SUITE PKG...: those packages of SUITE into the current
	# directory (tools/deb/build.sh: bullseye's libc to link against).
	[ $# -ge 3 ] || usage
	[ "$(id -u)" = 0 ] || die "downloading packages needs root (the cache is root's)"
	suite=$2
	shift 2
	grep -qs " $suite main" "$APT_DIR/sources.list" || apt_update
	for p in "$@"; do
		v=$(apt_private apt-cache madison "$p" | awk -v s="$suite" '$0 ~ " "s"/main" { print $3; exit }')
		[ -n "$v" ] || die "no $p in $suite"
		apt_private apt-get -qq download "$p=$v" >/dev/null || die "apt-get download $p=$v failed"
	done
	;;
label)
	[ $# -eq 2 ] || usage
	label_of "$2"
	;;
fetch)
	shift
	[ "$(id -u)" = 0 ] || die "fetching kernels needs root (depmod into the cache)"
	[ $# -gt 0 ] || set -- $ALL_KERNELS
	for k in "$@"; do
		fetch_one "$k"
	done
	;;
run)
	shift
	[ $# -gt 0 ] || usage
	[ "$(id -u)" = 0 ] || die "running a guest needs root (9p passthrough of /)"
	cmd_run "$@"
	;;
*) usage ;;
esac
