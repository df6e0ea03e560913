#!/usr/bin/env bash
# Runs every fuzz target for a bounded time (default 30 s each) from the seed corpus, without
# writing to it (new inputs go to a scratch directory). Exits non-zero on the first crash; the
# crashing input lands in fuzz/artifacts/<target>/. Needs cargo-fuzz (installed if missing, with its
# own target directory) and the stable toolchain's RUSTC_BOOTSTRAP=1.
#
# Usage: fuzz/smoke.sh [seconds-per-target] [target...]
set -euo pipefail
cd "$(dirname "$0")"
secs=${1:-30}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(backup_reader raft_codec cluster_rpc http_api grpc_api config)
export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${FUZZ_TARGET_DIR:-${CARGO_TARGET_DIR:-$PWD/target}}
if ! cargo fuzz --version >/dev/null 2>&1; then
    CARGO_TARGET_DIR="$CARGO_TARGET_DIR/cargo-fuzz-install" cargo install cargo-fuzz --locked
fi
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
for t in "${targets[@]}"; do
    mkdir -p "$scratch/$t" "corpus/$t"
    echo "--- fuzz $t for ${secs}s"
    # Dev profile and no sanitizer: the code under test has no unsafe, and the build stays short.
    cargo fuzz run --dev --sanitizer none "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
done
