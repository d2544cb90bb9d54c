#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# make deb: $OUT/bbscope_VERSION_amd64.deb, one package for Debian 11, 12 and 13.
#
# The binary is the one `make` builds, relinked:
# - every library statically, from the -dev packages' archives (libbpf,
#   liburing, jansson, libsodium, xxhash, libcrypto, GSL, libmicrohttpd,
#   libelf, zlib, libblkid), so no soname that differs between releases
#   (libbpf.so.0/1, libgsl.so.27/28, OpenSSL 1.1/3) is needed; GnuTLS, which
#   Debian's libmicrohttpd.a references but bbscope never uses, is stubbed
#   (gnutls_stub.c);
# - ISA-L dynamically (libisal2: Debian ships no libisal.a; the same soname
#   in 11, 12 and 13);
# - against Debian 11's glibc 2.31 (libc6 and libc6-dev of bullseye, fetched
#   once into $BBSCOPE_DEB_CACHE), so it asks for no symbol version newer
#   than 2.31; what bbscope uses from a newer glibc is in glibc_compat.c.
# The build fails if the result needs anything else.
set -euo pipefail

OUT=${OUT:-build}
VERSION=${VERSION:?}
HERE=$(cd "$(dirname "$0")" && pwd)
TOP=$(cd "$HERE/../.." && pwd)
CACHE=${BBSCOPE_DEB_CACHE:-/var/cache/bbscope/deb}
SYSROOT=$CACHE/bullseye-libc
A=/usr/lib/x86_64-linux-gnu
GLIBC_MAX=2.31
STAGE=$OUT/deb/root
DEB=$OUT/bbscope_${VERSION}_amd64.deb

die() { echo "deb: $*" >&2; exit 1; }

# Debian 11's libc to link against (the headers stay this machine's: the
# objects are compiled once, by make).
if [ ! -f "$SYSROOT/ready" ]; then
	[ "$(id -u)" = 0 ] || die "fetching bullseye's libc into $CACHE needs root (once)"
	echo "deb: fetching Debian 11's libc6 and libc6-dev into $SYSROOT" >&2
	rm -rf "$SYSROOT.tmp"
	mkdir -p "$SYSROOT.tmp/debs"
	(cd "$SYSROOT.tmp/debs" && "$TOP/tools/vm/vm.sh" download bullseye libc6 libc6-dev)
	for d in "$SYSROOT.tmp"/debs/*.deb; do dpkg-deb -x "$d" "$SYSROOT.tmp"; done
	rm -rf "$SYSROOT.tmp/debs"
	# Absolute symlinks would point at this machine's libc: make them relative.
	(cd "$SYSROOT.tmp" && find . -type l -lname '/*' | while read -r l; do
		ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" ".$(readlink "$l")")" "$l"
	done)
	rm -rf "$SYSROOT"
	mv "$SYSROOT.tmp" "$SYSROOT"
	touch "$SYSROOT/ready"
fi

for l in bpf uring jansson crypto sodium blkid microhttpd gsl gslcblas xxhash elf z; do
	[ -f "$A/lib$l.a" ] || die "no $A/lib$l.a (its -dev package: make deps)"
done
mkdir -p "$OUT/deb"
S=$SYSROOT/usr/lib/x86_64-linux-gnu
gcc -O2 -Wall -c "$HERE/gnutls_stub.c" -o "$OUT/deb/gnutls_stub.o"
gcc -O2 -Wall -c "$HERE/glibc_compat.c" -o "$OUT/deb/glibc_compat.o"
echo "  LINK     $OUT/deb/bbscope (static libraries, glibc $GLIBC_MAX)"
gcc --sysroot="$SYSROOT" -B"$S" -L"$S" -L"$SYSROOT/lib/x86_64-linux-gnu" -O2 \
	-Wl,--as-needed -Wl,-z,relro -Wl,-z,now -o "$OUT/deb/bbscope" \
	"$OUT/user/cli/main.o" "$OUT/libbbscope.a" "$OUT/deb/glibc_compat.o" \
	"$A/libbpf.a" "$A/libelf.a" "$A/libz.a" "$A/liburing.a" "$A/libjansson.a" \
	"$A/libmicrohttpd.a" "$OUT/deb/gnutls_stub.o" "$A/libcrypto.a" "$A/libsodium.a" \
	"$A/libblkid.a" "$A/libgsl.a" "$A/libgslcblas.a" "$A/libxxhash.a" \
	"$A/libisal.so.2" -lpthread -lm -ldl
strip --strip-unneeded "$OUT/deb/bbscope"

# What it needs: libc's parts and libisal, no newer glibc than 2.31.
needed=$(objdump -p "$OUT/deb/bbscope" | awk '$1 == "NEEDED" { print $2 }' | sort | tr '\n' ' ')
for n in $needed; do
	case $n in
	libc.so.6 | libm.so.6 | libpthread.so.0 | libdl.so.2 | libisal.so.2) ;;
	*) die "$OUT/deb/bbscope needs $n: only libc and libisal may be dynamic" ;;
	esac
done
gmax=$(objdump -T "$OUT/deb/bbscope" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
[ "$(printf '%s\n' "$gmax" "$GLIBC_MAX" | sort -V | tail -1)" = "$GLIBC_MAX" ] ||
	die "$OUT/deb/bbscope asks for glibc $gmax, newer than Debian 11's $GLIBC_MAX"

# The tree.
rm -rf "$STAGE"
install -D -m 0755 "$OUT/deb/bbscope" "$STAGE/usr/sbin/bbscope"
install -d "$STAGE/usr/share/man/man8"
gzip -9n <"$TOP/docs/bbscope.8" >"$STAGE/usr/share/man/man8/bbscope.8.gz"
install -D -m 0644 "$HERE/bbscope.bash-completion" "$STAGE/usr/share/bash-completion/completions/bbscope"
install -D -m 0644 "$HERE/bbscope-exporter.service" "$STAGE/lib/systemd/system/bbscope-exporter.service"
install -D -m 0644 "$HERE/bbscope-exporter.default" "$STAGE/etc/default/bbscope-exporter"
install -D -m 0644 "$HERE/copyright" "$STAGE/usr/share/doc/bbscope/copyright"
install -D -m 0644 "$HERE/lintian-overrides" "$STAGE/usr/share/lintian/overrides/bbscope"
commit=$("$OUT/deb/bbscope" --version | sed -n 's/.*(commit \(.*\))/\1/p')
{
	echo "bbscope ($VERSION) unstable; urgency=medium"
	echo
	echo "  * Built from commit $commit."
	echo
	echo " -- bbscope developers <bbscope@example.org>  $(date -R -d "@${SOURCE_DATE_EPOCH:-$(git -C "$TOP" log -1 --format=%ct 2>/dev/null || date +%s)}")"
} | gzip -9n >"$STAGE/usr/share/doc/bbscope/changelog.gz"
chmod 0644 "$STAGE/usr/share/doc/bbscope/changelog.gz"

install -d "$STAGE/DEBIAN"
echo /etc/default/bbscope-exporter >"$STAGE/DEBIAN/conffiles"
for s in postinst prerm postrm; do install -m 0755 "$HERE/$s" "$STAGE/DEBIAN/$s"; done
size=$(du -sk --exclude=DEBIAN "$STAGE" | cut -f1)
sed -e "s/@VERSION@/$VERSION/" -e "s/@SIZE@/$size/" -e "s/@GLIBC@/$GLIBC_MAX/" \
	"$HERE/control" >"$STAGE/DEBIAN/control"
dpkg-deb --root-owner-group -Zxz --build "$STAGE" "$DEB" >/dev/null
echo "  DEB      $DEB ($(du -k "$DEB" | cut -f1) KiB; needs: $needed; glibc <= $gmax)"
