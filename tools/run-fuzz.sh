#!/usr/bin/env bash
# run-fuzz.sh - run every libFuzzer target in BUILDDIR/fuzz for SECONDS each
# on its seed corpus (tests/fuzz/corpus/NAME), new inputs going to a scratch
# copy so the repository is not touched.  Exit non-zero on any crash.
#
#   tools/run-fuzz.sh BUILDDIR SECONDS
set -uo pipefail
build=${1:?usage: run-fuzz.sh BUILDDIR SECONDS}
secs=${2:-20}
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "$build" && pwd)
rc=0 pass=0 fail=0
for f in "$build"/fuzz/fuzz-*; do
    [ -x "$f" ] || continue
    name=$(basename "$f"); name=${name#fuzz-}
    work=$(mktemp -d)
    [ -d "$root/tests/fuzz/corpus/$name" ] && cp -r "$root/tests/fuzz/corpus/$name/." "$work/"
    if (cd "$work" && ASAN_OPTIONS=detect_leaks=1 "$f" -max_total_time="$secs" -rss_limit_mb=2048 \
            -print_final_stats=0 "$work" >"$work/.log" 2>&1); then
        echo "  fuzz-$name: ok ($secs s, $(ls "$work" | wc -l) corpus entries)"
        pass=$((pass + 1))
    else
        echo "  fuzz-$name: FAILED"; tail -50 "$work/.log" | sed 's/^/    | /'
        mkdir -p "$root/build/fuzz-crashes"; cp "$work"/crash-* "$work"/leak-* "$work"/timeout-* "$root/build/fuzz-crashes/" 2>/dev/null
        fail=$((fail + 1)); rc=1
    fi
    rm -rf "$work"
done
echo "fuzz: $pass passed, $fail failed"
exit $rc
