#!/usr/bin/env bash
# run-tests.sh - run the test layers against one build and print a summary.
#
#   tools/run-tests.sh BUILDDIR [unit|e2e|all] [FUZZBUILDDIR]
#
# Unit tests: every BUILDDIR/tests/test-* binary (cmocka), with ASan/UBSan
# reports fatal.  End-to-end: Debian's python3 -m pytest on tests/e2e with
# ROOST_BUILD=BUILDDIR.  Exits non-zero when anything failed.
set -uo pipefail

build=${1:?usage: run-tests.sh BUILDDIR [unit|e2e|all]}
what=${2:-all}
fuzzbuild=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
py=/usr/bin/python3   # Debian's, which sees python3-pytest (not a pyenv one)

export ASAN_OPTIONS="abort_on_error=0:detect_leaks=1:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$root/tests/lsan.supp:print_suppressions=0:${LSAN_OPTIONS:-}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:${UBSAN_OPTIONS:-}"

unit_pass=0 unit_fail=0 failed_units=()
e2e_pass=0 e2e_fail=0 fuzz_pass=0 fuzz_fail=0
if [ "$what" = all ] || [ "$what" = unit ]; then
    echo "== unit tests"
    for t in "$build"/tests/test-*; do
        [ -x "$t" ] || continue
        name=$(basename "$t")
        log=$(mktemp)
        start=$(date +%s%N)
        if (cd "$root" && "$t") >"$log" 2>&1; then
            unit_pass=$((unit_pass + 1))
            ms=$(( ($(date +%s%N) - start) / 1000000 ))
            printf '  %-28s ok (%d.%01ds)\n' "$name" $((ms / 1000)) $((ms % 1000 / 100))
        else
            unit_fail=$((unit_fail + 1))
            failed_units+=("$name")
            printf '  %-28s FAILED\n' "$name"
            sed 's/^/    | /' "$log" | tail -60
        fi
        rm -f "$log"
    done
fi

e2e_rc=0
e2e_summary=""
if [ "$what" = all ] || [ "$what" = e2e ]; then
    echo "== end-to-end tests"
    out=$(mktemp)
    (cd "$root" && ROOST_BUILD="$build" "$py" -m pytest -q -p no:cacheprovider tests/e2e 2>&1) | tee "$out"
    e2e_rc=${PIPESTATUS[0]}
    e2e_summary=$(grep -E '(passed|failed|error|no tests ran)' "$out" | tail -1 | sed 's/=//g; s/^ *//; s/ *$//')
    e2e_pass=$(echo "$e2e_summary" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || true)
    e2e_fail=$(( $(echo "$e2e_summary" | grep -oE '[0-9]+ (failed|error)' | grep -oE '[0-9]+' | paste -sd+ - | sed 's/^$/0/') ))
    [ "$e2e_rc" -eq 5 ] && e2e_rc=0   # pytest: no tests collected
    rm -f "$out"
fi

fuzz_rc=0 fuzz_line=""
if [ -n "$fuzzbuild" ]; then
    echo "== fuzzers (${FUZZ_SECONDS:-20} s each)"
    fout=$(mktemp)
    "$root/tools/run-fuzz.sh" "$fuzzbuild" "${FUZZ_SECONDS:-20}" | tee "$fout"
    fuzz_rc=${PIPESTATUS[0]}
    fuzz_line=$(tail -1 "$fout")
    fuzz_pass=$(echo "$fuzz_line" | grep -oE '[0-9]+ passed' | grep -oE '[0-9]+' || echo 0)
    fuzz_fail=$(echo "$fuzz_line" | grep -oE '[0-9]+ failed' | grep -oE '[0-9]+' || echo 0)
    rm -f "$fout"
fi

echo
echo "== summary"
echo "unit: $unit_pass passed, $unit_fail failed${failed_units:+ (${failed_units[*]})}"
[ -n "$e2e_summary" ] && echo "end-to-end: $e2e_summary"
[ -n "$fuzz_line" ] && echo "$fuzz_line"
[ "$e2e_rc" -ne 0 ] && [ "${e2e_fail:-0}" -eq 0 ] && e2e_fail=1   # pytest died without counting
total="$((unit_pass + ${e2e_pass:-0} + ${fuzz_pass:-0})) passed, $((unit_fail + ${e2e_fail:-0} + ${fuzz_fail:-0})) failed"
if [ "$unit_fail" -ne 0 ] || [ "$e2e_rc" -ne 0 ] || [ "$fuzz_rc" -ne 0 ]; then
    echo "make check: FAILED"
    echo "RESULT: $total"
    exit 1
fi
echo "make check: all tests passed"
echo "RESULT: $total"
