#!/usr/bin/env bash
# Compare doq (single node, sync=always, one run per storage backend) with redis (AOF, appendfsync
# always) and beanstalkd (fsync every write) under the same qbench client, in one run on this machine.
#
# Usage: [BACKENDS="redb rocksdb sled"] bench/peers.sh [DURATION] [VUS]        (defaults: redb, 10s 100)
# Each doq backend is also measured with `doq bench` (this repository's load generator: the same loop over
# HTTP, then over gRPC), right after qbench on the same node.
# Needs: redis-server and beanstalkd (apt-get install -y redis-server beanstalkd), and qbench built
# from the team's shared tools; DOQ=/path/to/doq skips building doq (QBENCH=/path/to/qbench, default ../shared/tools/qbench/target/release/qbench;
# DOQ_BENCH=/path/to/doq runs `doq bench` from another build, e.g. to measure an older server that lacks it).
# Every server listens on 127.0.0.1 only, keeps its data under a temp dir, and is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10s}"
BACKENDS="${BACKENDS:-redb}"
VUS="${2:-100}"
QBENCH="${QBENCH:-../shared/tools/qbench/target/release/qbench}"
[ -x "$QBENCH" ] || { echo "qbench not found at $QBENCH (build it, or set QBENCH)" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/doq-target}"
if [ -z "${DOQ:-}" ]; then
    cargo build --release -p doq-server --bin doq >&2
    DOQ="$CARGO_TARGET_DIR/release/doq"
fi
DOQ_BENCH="${DOQ_BENCH:-$DOQ}"
DATA=$(mktemp -d /tmp/doq-peers.XXXXXX)
PIDS=()
stop() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; PIDS=(); }
trap 'stop; rm -rf "$DATA"' EXIT
wait_port() { for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
run() { # label target port extra-args...
    local label="$1" target="$2" port="$3"; shift 3
    wait_port "$port"
    timeout 120 "$QBENCH" "$target" -u "$VUS" -d "$DUR" --addr "127.0.0.1:$port" --label "$label" \
        --json "$DATA/$label.json" --server-pids "${PIDS[-1]}" "$@" | tee "$DATA/$label.txt" >&2
    stop
}

doq_bench() { # label protocol addr
    timeout 120 "$DOQ_BENCH" bench --protocol "$2" --addr "$3" -u "$VUS" -d "$DUR" --warmup 2s --ack explicit \
        --label "$1" --json "$DATA/$1.json" | tee "$DATA/$1.txt" >&2
}
for backend in $BACKENDS; do
    "$DOQ" --http.host 127.0.0.1 --http.port 18000 --grpc.address 127.0.0.1:18010 --storage.backend "$backend" \
        --storage.sync always --storage.data_dir "$DATA/doq-$backend" --logging.level info \
        2>"$DATA/doq-$backend.log" & PIDS+=($!)
    wait_port 18000
    doq_bench "doq-$backend-bench-http" http http://127.0.0.1:18000
    doq_bench "doq-$backend-bench-grpc" grpc http://127.0.0.1:18010
    run "doq-$backend-always" doq-http 18000 --doq-ack explicit
    # The node logs its group-commit totals at shutdown (commits, commands, commands per commit).
    grep -h "group commit totals" "$DATA/doq-$backend.log" | sed 's/^/    /' >&2 || true
done
redis-server --port 16379 --bind 127.0.0.1 --dir "$DATA" --appendonly yes --appendfsync always \
    --save '' >/dev/null & PIDS+=($!)
run redis-aof-always redis 16379
mkdir -p "$DATA/bs"
beanstalkd -l 127.0.0.1 -p 11301 -b "$DATA/bs" -f 0 & PIDS+=($!)
run beanstalkd-fsync beanstalkd 11301

python3 - "$DATA" <<'PY'
import json, sys, pathlib
d = pathlib.Path(sys.argv[1])
rows = {p.stem: json.loads(p.read_text()) for p in d.glob("*.json")}
def its(r):
    return r.get("iterations_per_s")  # qbench and doq bench both write this key
base = its(rows.get("redis-aof-always", {})) or 0
print("| run | it/s | vs redis-always |")
print("|---|---|---|")
for k, r in sorted(rows.items()):
    v = its(r) or 0
    print(f"| {k} | {v:.0f} | {v / base:.2f}x |" if base else f"| {k} | {v:.0f} | - |")
PY
