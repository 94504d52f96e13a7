#!/usr/bin/env bash
# Memory checks of the code with `unsafe` in it and of the readers of untrusted input:
#   valgrind memcheck on the test binaries with TACHYON_ISA=avx2 (valgrind cannot decode AVX-512), and
#   AddressSanitizer (nightly toolchain) on the same tests at the CPU's best instruction set.
# Each test binary runs with one test thread; a memcheck error or a leak of definitely lost memory fails it.
#
#   scripts/memcheck.sh [valgrind|asan|both] [PACKAGE...]
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-both}
shift || true
packages=("$@")
[ ${#packages[@]} -gt 0 ] || packages=(tachyon-simd tachyon-linalg tachyon-market tachyon-model tachyon-io tachyon-infer tachyon-fuzz)
args=()
for p in "${packages[@]}"; do args+=(-p "$p"); done
mkdir -p target/memcheck

# The test executables cargo builds for `packages`, one per line: `executables [+TOOLCHAIN] [CARGO TEST FLAGS...]`.
executables() {
    local toolchain=()
    if [[ "${1:-}" == +* ]]; then toolchain=("$1"); shift; fi
    local found
    found=$(cargo "${toolchain[@]}" test --no-run --message-format=json "$@" "${args[@]}" 2>/dev/null \
        | jq -r 'select(.reason == "compiler-artifact" and .executable != null and .profile.test == true) | .executable')
    [ -n "$found" ] || { echo "no test executables found" >&2; exit 2; }
    echo "$found"
}

failed=0
if [ "$mode" = valgrind ] || [ "$mode" = both ]; then
    command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 2; }
    cargo test --no-run "${args[@]}" >/dev/null 2>&1
    list=$(executables) || exit 2
    for exe in $list; do
        name=$(basename "$exe")
        start=$(date +%s)
        if TACHYON_ISA=avx2 valgrind --quiet --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite \
            --show-leak-kinds=definite "$exe" --test-threads=1 >"target/memcheck/valgrind-$name.log" 2>&1; then
            echo "valgrind $name: clean ($(( $(date +%s) - start )) s)"
        else
            echo "valgrind $name: FAILED, see target/memcheck/valgrind-$name.log"
            failed=1
        fi
    done
fi

if [ "$mode" = asan ] || [ "$mode" = both ]; then
    rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
    target=$(rustc -vV | sed -n 's/^host: //p')
    export RUSTFLAGS="-Zsanitizer=address" RUSTDOCFLAGS="-Zsanitizer=address" CARGO_TARGET_DIR=target/asan
    export ASAN_OPTIONS="detect_leaks=1"
    cargo +nightly test --no-run --target "$target" "${args[@]}" >/dev/null 2>&1
    list=$(executables +nightly --target "$target") || exit 2
    for exe in $list; do
        name=$(basename "$exe")
        start=$(date +%s)
        if "$exe" --test-threads=1 >"target/memcheck/asan-$name.log" 2>&1; then
            echo "asan $name: clean ($(( $(date +%s) - start )) s)"
        else
            echo "asan $name: FAILED, see target/memcheck/asan-$name.log"
            failed=1
        fi
    done
fi
exit $failed
