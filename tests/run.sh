#!/bin/sh
# run.sh - run every unit test program given as an argument, then the
# integration tests, count the PASS/FAIL lines they print and end with the
# one line "N passed, N failed".  Exit 1 when anything failed.
# GD_EXEC_WRAPPER (e.g. "qemu-aarch64", tests/cross.sh) runs the unit test
# programs under that command; the integration tests pass it on to what
# they start (harness.py target_cmd()).
set -u
out=$(mktemp)
one=$(mktemp)
trap 'rm -f "$out" "$one"' EXIT INT TERM

run_one() {
	echo "# $*" >>"$out"
	"$@" >"$one" 2>&1
	rc=$?
	cat "$one" >>"$out"
	# a program that dies without saying why still counts as a failure
	if [ $rc -ne 0 ] && ! grep -q '^FAIL' "$one"; then
		echo "FAIL $*: exit status $rc" >>"$out"
	fi
}

wrap=${GD_EXEC_WRAPPER:-}
for t in "$@"; do
	# shellcheck disable=SC2086
	run_one $wrap "$t"
done
for t in tests/integration/test_*.py; do
	[ -f "$t" ] && run_one python3 "$t"
done
cat "$out"
pass=$(grep -c '^PASS' "$out")
fail=$(grep -c '^FAIL' "$out")
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
