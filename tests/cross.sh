#!/bin/sh
# cross.sh - build guerrillad for another libc or CPU and run the whole test
# suite (unit and integration) against that build.
#
#   sh tests/cross.sh musl      static build with musl-gcc (Debian musl-tools)
#   sh tests/cross.sh aarch64   aarch64-linux-gnu-gcc, run under qemu-aarch64
#
# (make test-musl, make test-aarch64.)  Each target builds in its own copy
# of the tree, cross/<target>/tree, so the objects of the native build are
# never mixed with these; the copy is refreshed on every run and only what
# changed is rebuilt.
#
# musl: Debian ships no musl builds of BearSSL and zlib, so they are built
# here with musl-gcc from Debian's own source packages (apt-get source with
# a private apt configuration and a deb-src list for this Debian release;
# the downloads are checked by apt against the signed archive) into
# cross/musl/prefix.  DEBIAN_MIRROR overrides the archive address (default
# http://deb.debian.org/debian).
#
# aarch64: needs gcc-aarch64-linux-gnu, libc6-dev-arm64-cross, qemu-user and
# the multiarch libbearssl-dev:arm64 zlib1g-dev:arm64
# (dpkg --add-architecture arm64).  Built programs run as
# "qemu-aarch64 prog ..." through GD_EXEC_WRAPPER (tests/run.sh,
# tests/integration/harness.py target_cmd()); no binfmt_misc needed.
# Python, swaks, curl, openssl and the store servers stay native.
set -eu
target=${1:-}
top=$(pwd)
[ -f "$top/tests/cross.sh" ] || { echo "cross.sh: run from the top of the tree" >&2; exit 2; }
base=$top/cross/$target
tree=$base/tree

need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	echo "cross.sh: $1 not found; install: $2" >&2
	exit 1
}

# copy_tree - refresh $tree from the source tree (sources only; tar keeps
# the modification times, so make rebuilds only what changed).
copy_tree() {
	mkdir -p "$tree"
	if git -C "$top" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git -C "$top" ls-files -co --exclude-standard |
		    while IFS= read -r f; do
			[ -f "$top/$f" ] && printf '%s\n' "$f"
		    done >"$base/files"
	else
		(cd "$top" && find . -type f ! -path './cross/*' \
		    ! -path './.git/*' ! -path './fuzz/out/*' \
		    ! -path './bench/out/*' ! -path './tests/tmp/*' \
		    ! -path './mail/*' ! -name '*.o' ! -name '*.a' \
		    ! -name .flags) >"$base/files"
	fi
	(cd "$top" && tar -cf - -T "$base/files") | (cd "$tree" && tar -xf -)
	rm -f "$base/files"
	rm -rf "$tree/tests/tmp"
}

# fetch_source pkg... - Debian source packages, unpacked in $base/src
fetch_source() {
	apt=$base/apt
	mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" \
	    "$apt/parts" "$base/src"
	# shellcheck source=/dev/null
	. /etc/os-release
	codename=${VERSION_CODENAME:-}
	if [ -z "$codename" ] || [ "${ID:-}" != debian ]; then
		echo "cross.sh: musl libraries are built from Debian source" \
		    "packages; this is not Debian (${ID:-?} ${codename})" >&2
		exit 1
	fi
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
	# the release's own versions (point-release and security updates are
	# left out: not every mirror or proxy carries their sources)
	echo "deb-src [signed-by=$keyring] $mirror $codename main" \
	    >"$apt/sources.list"
	set -- -o Dir::Etc::SourceList="$apt/sources.list" \
	    -o Dir::Etc::SourceParts="$apt/parts" \
	    -o Dir::State::Lists="$apt/lists" \
	    -o Dir::Cache="$apt/cache" \
	    -o APT::Sandbox::User="$(id -un)" \
	    -o Debug::NoLocking=1
	apt-get -qq "$@" update
	(cd "$base/src" && apt-get -qq "$@" source bearssl zlib)
}

build_musl_libs() {
	prefix=$base/prefix
	[ -f "$prefix/lib/libbearssl.a" ] && [ -f "$prefix/lib/libz.a" ] &&
	    [ -f "$prefix/include/bearssl.h" ] && [ -f "$prefix/include/zlib.h" ] &&
	    return 0
	need apt-get "(Debian only)"
	need dpkg-source dpkg-dev
	rm -rf "$base/src"
	fetch_source
	mkdir -p "$prefix/lib" "$prefix/include"
	for z in "$base"/src/zlib-*/; do break; done
	(cd "$z" && CC=musl-gcc CFLAGS=-O2 ./configure --static \
	    --prefix="$prefix" >/dev/null && make -s libz.a &&
	    cp libz.a "$prefix/lib/" && cp zlib.h zconf.h "$prefix/include/")
	for b in "$base"/src/bearssl-*/; do break; done
	(cd "$b" && make -s lib CC=musl-gcc LD=musl-gcc >/dev/null &&
	    cp build/libbearssl.a "$prefix/lib/" &&
	    cp inc/*.h "$prefix/include/")
	echo "cross.sh: BearSSL and zlib built with musl-gcc in $prefix"
}

case $target in
musl)
	need musl-gcc musl-tools
	build_musl_libs
	prefix=$base/prefix
	CC=musl-gcc
	AR="ar"
	LDFLAGS=-static
	BEARSSL_CFLAGS="-I$prefix/include"
	BEARSSL_LIBS="-L$prefix/lib -lbearssl"
	ZLIB_CFLAGS="-I$prefix/include"
	ZLIB_LIBS="-L$prefix/lib -lz"
	GD_EXEC_WRAPPER=
	;;
aarch64)
	need aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
	need qemu-aarch64 qemu-user
	for f in /usr/lib/aarch64-linux-gnu/libbearssl.a \
	    /usr/lib/aarch64-linux-gnu/libz.a; do
		[ -f "$f" ] && continue
		echo "cross.sh: $f missing; run: dpkg --add-architecture arm64" \
		    "&& apt-get update && apt-get install -y" \
		    "libbearssl-dev:arm64 zlib1g-dev:arm64" >&2
		exit 1
	done
	CC=aarch64-linux-gnu-gcc
	AR=aarch64-linux-gnu-ar
	LDFLAGS=
	BEARSSL_CFLAGS=
	BEARSSL_LIBS=-lbearssl
	ZLIB_CFLAGS=
	ZLIB_LIBS=-lz
	GD_EXEC_WRAPPER=qemu-aarch64
	;;
*)
	echo "usage: sh tests/cross.sh musl|aarch64" >&2
	exit 2
	;;
esac

copy_tree
# The vendored-build test (test_embed.py) compiles with these too.
export CC LDFLAGS BEARSSL_CFLAGS BEARSSL_LIBS ZLIB_CFLAGS ZLIB_LIBS
export GD_EXEC_WRAPPER
unset GUERRILLAD MAKEFLAGS MFLAGS MAKELEVEL || true
cd "$tree"
set -- CC="$CC" AR="$AR" LDFLAGS="$LDFLAGS" \
    BEARSSL_CFLAGS="$BEARSSL_CFLAGS" BEARSSL_LIBS="$BEARSSL_LIBS" \
    ZLIB_CFLAGS="$ZLIB_CFLAGS" ZLIB_LIBS="$ZLIB_LIBS"
make -s "$@" guerrillad
echo "cross.sh: $target: $(file -b guerrillad 2>/dev/null | cut -d, -f1-2 || true)"
start=$(date +%s)
rc=0
make "$@" test-nodeps || rc=$?
echo "cross.sh: $target: suite took $(($(date +%s) - start))s (in $tree)"
exit $rc
