#!/usr/bin/env bash
# Fuzzes every entry point for untrusted input (crates/tachyon-fuzz) with libFuzzer through cargo-fuzz on the
# nightly toolchain: SECONDS per target (default 600), as many targets at a time as there are cores, starting
# from inputs made of the shipped samples. Prints, per target, executions, coverage (edges), corpus size and
# crashes; a crash's input is kept under fuzz/artifacts/TARGET/ and must become a test in tests/hostile.rs.
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds=${1:-600}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(lobster_pair lobster_messages quotes_csv coinbase event_file model_file wire)

rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz
cargo +nightly fuzz build
cargo +nightly run --quiet --release --bin write_seeds
mkdir -p logs

jobs=$(nproc)
for target in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do sleep 1; done
    echo "== $target: $seconds s"
    cargo +nightly fuzz run "$target" "corpus/$target" -- -max_total_time="$seconds" -print_final_stats=1 \
        -rss_limit_mb=4096 -max_len=65536 >"logs/$target.log" 2>&1 &
done
wait || true

printf '%-18s %14s %10s %10s %8s\n' target executions edges corpus crashes
for target in "${targets[@]}"; do
    log="logs/$target.log"
    runs=$(grep -m1 'stat::number_of_executed_units' "$log" | awk '{print $2}')
    edges=$(grep -E '^#[0-9]+' "$log" | tail -1 | grep -o 'cov: [0-9]*' | awk '{print $2}')
    corpus=$(find "corpus/$target" -type f | wc -l)
    crashes=$(find "artifacts/$target" -type f 2>/dev/null | wc -l)
    printf '%-18s %14s %10s %10s %8s\n' "$target" "${runs:-?}" "${edges:-?}" "$corpus" "$crashes"
done
