#!/bin/sh
# fuzz.sh - build the libFuzzer targets with clang (ASan + UBSan) straight
# from the library sources, then run each for FUZZ_SECONDS (default 60),
# one at a time.  Seeds are read from fuzz/corpus/<target>/ (committed);
# new inputs go to fuzz/out/corpus/<target>/ and crashes to
# fuzz/out/crash-<target>-* (both ignored by git).
#
#   sh fuzz/fuzz.sh                 build and run every target
#   sh fuzz/fuzz.sh build           build only
#   sh fuzz/fuzz.sh smtp json ...   build, then run the named targets
#
# Overridable: FUZZ_CC (clang), FUZZ_SECONDS, FUZZ_FLAGS (extra libFuzzer
# options, e.g. -jobs=2).
set -eu
cd "$(dirname "$0")/.."
CC=${FUZZ_CC:-clang}
SECS=${FUZZ_SECONDS:-60}
OUT=fuzz/out
SRCS="compat buf json log config envelope mime smtp proxy"
TARGETS="smtp data path mime json config proxy"
CFLAGS="-std=c99 -g -O1 -fno-omit-frame-pointer -I. \
    -fsanitize=address,undefined -fno-sanitize-recover=undefined"

# max_len per target: a few pipelined commands and a DATA body; one path;
# a header block; a config; one PROXY header (v2: up to 1024) and a bit.
maxlen() {
	case $1 in
	smtp|data|mime|json) echo 4096 ;;
	config) echo 8192 ;;
	path) echo 600 ;;
	proxy) echo 1100 ;;
	esac
}

if ! echo 'int LLVMFuzzerTestOneInput(const char *d, long n){return 0;}' |
    $CC -fsanitize=fuzzer -x c - -o /dev/null 2>/dev/null; then
	echo "fuzz: $CC cannot build with -fsanitize=fuzzer" \
	    "(Debian/Ubuntu: apt-get install clang libclang-rt-dev)" >&2
	exit 1
fi

mkdir -p $OUT/obj
objs=
for s in $SRCS; do
	o=$OUT/obj/$s.o
	if [ ! -f $o ] || [ $s.c -nt $o ] || [ -n "$(find . -maxdepth 1 \
	    -name '*.h' -newer $o)" ]; then
		echo "CC $s.c"
		$CC $CFLAGS -fsanitize=fuzzer-no-link -c -o $o $s.c
	fi
	objs="$objs $o"
done
for t in $TARGETS; do
	echo "LD $OUT/fz_$t"
	$CC $CFLAGS -fsanitize=fuzzer -o $OUT/fz_$t fuzz/fz_$t.c $objs
done

[ "${1:-}" = build ] && exit 0
[ $# -gt 0 ] && TARGETS="$*"
for t in $TARGETS; do
	mkdir -p $OUT/corpus/$t
	echo "fuzz: $t for ${SECS}s"
	$OUT/fz_$t -max_len=$(maxlen $t) -max_total_time=$SECS \
	    -print_final_stats=1 -artifact_prefix=$OUT/crash-$t- \
	    ${FUZZ_FLAGS:-} $OUT/corpus/$t fuzz/corpus/$t 2>$OUT/$t.log ||
	    { tail -n 60 $OUT/$t.log; echo "fuzz: $t FAILED (see $OUT/$t.log)"; exit 1; }
	grep -E '^stat::number_of_executed_units|^Done' $OUT/$t.log || true
done
