#!/usr/bin/env bash
# Builds every fuzz target and runs each for a short while (FUZZ_SECONDS, default 30).
# Run from the repository root. Needs the nightly toolchain; without it, skips.
set -euo pipefail

if ! rustup toolchain list | grep -q nightly; then
    echo "fuzz: SKIPPED: no nightly toolchain"
    exit 0
fi

if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
    cargo install cargo-fuzz --locked
fi

seconds="${FUZZ_SECONDS:-30}"
targets=$(cargo +nightly fuzz list)

cargo +nightly fuzz build

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT
for target in $targets; do
    log="$logs/$target.log"
    # The seeds are committed under fuzz/corpus/<target>/; new finds stay untracked.
    if ! cargo +nightly fuzz run "$target" -- \
        -dict=fuzz/topic.dict \
        -max_total_time="$seconds" \
        -rss_limit_mb=2048 \
        -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -n 80 "$log"
        echo "fuzz: $target: FAILED (crash reproducer under fuzz/artifacts/$target/)"
        exit 1
    fi
    execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || true)
    if [ -z "$execs" ]; then
        execs=$(grep -Eo '^#[0-9]+' "$log" | tail -n 1 | tr -d '#' || true)
    fi
    cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -n 1 | grep -Eo '[0-9]+' || true)
    echo "fuzz: $target: ok, ${execs:-?} execs in ${seconds}s, cov ${cov:-?}"
done
