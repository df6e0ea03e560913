#!/usr/bin/env bash
# Compare a 3-node doq Raft cluster (redb, sync=always) with a 3-node NATS JetStream cluster (R3 file
# stream) under the same qbench client: enqueue -> dequeue -> explicit ack, VUs spread round-robin over
# the three nodes of each cluster, in one run on this machine.
#
# Usage: bench/cluster.sh [DURATION] [VUS]        (defaults: 10s 100)
# Needs: nats-server (apt-get install -y nats-server) and qbench built from the team's shared tools;
# DOQ=/path/to/doq skips building doq (QBENCH=/path/to/qbench, default
# ../shared/tools/qbench/target/release/qbench).
# FSYNCS=1 runs each doq node under `strace -f --seccomp-bpf -c` counting fsync/fdatasync/sync_file_range,
# and prints the syncs per acknowledged client write summed over the cluster (each qbench iteration is three
# writes: enqueue, dequeue, ack). The tracing costs some throughput, so take the it/s from a run without it.
# Every server listens on 127.0.0.1 only, keeps its data under a temp dir, and is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR="${1:-10s}"
VUS="${2:-100}"
QBENCH="${QBENCH:-../shared/tools/qbench/target/release/qbench}"
[ -x "$QBENCH" ] || { echo "qbench not found at $QBENCH (build it, or set QBENCH)" >&2; exit 1; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/doq-target}"
if [ -z "${DOQ:-}" ]; then
    cargo build --release -p doq-server --bin doq >&2
    DOQ="$CARGO_TARGET_DIR/release/doq"
fi
DATA=$(mktemp -d /tmp/doq-cluster-bench.XXXXXX)
PIDS=()
# A PID may be strace's (FSYNCS=1): stop its child, the node, first; strace then writes its counts and exits.
stop() { for p in "${PIDS[@]}"; do kill $(pgrep -P "$p") "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; PIDS=(); }
trap 'stop; rm -rf "$DATA"' EXIT
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
run() { # label target addrs extra-args...
    local label="$1" target="$2" addrs="$3"; shift 3
    local pids; pids=$(IFS=,; echo "${PIDS[*]}")
    timeout 180 "$QBENCH" "$target" -u "$VUS" -d "$DUR" --addr "$addrs" --label "$label" \
        --json "$DATA/$label.json" --server-pids "$pids" "$@" | tee "$DATA/$label.txt" >&2
    stop
}

# doq: node-0 bootstraps, node-1 and node-2 join it; each serves HTTP on 1800<i>, Raft on 1900<i>.
for i in 0 1 2; do
    join=()
    [ "$i" -gt 0 ] && join=(--cluster.join_addr 127.0.0.1:18000)
    wrap=()
    [ "${FSYNCS:-0}" = 1 ] && wrap=(strace -f --seccomp-bpf -qq -c -o "$DATA/fsyncs-$i.txt" \
        -e trace=fsync,fdatasync,sync_file_range)
    "${wrap[@]}" "$DOQ" --cluster.node_id "node-$i" --http.host 127.0.0.1 --http.port "1800$i" \
        --raft.address "127.0.0.1:1900$i" --grpc.address "" --storage.data_dir "$DATA/doq" \
        --logging.level warn "${join[@]}" & PIDS+=($!)
    wait_port "1800$i"
done
run doq-raft3-redb-always doq-http 127.0.0.1:18000,127.0.0.1:18001,127.0.0.1:18002 --doq-ack explicit
if [ "${FSYNCS:-0}" = 1 ]; then
    python3 - "$DATA" <<'PY' >&2
import json, pathlib, sys
d = pathlib.Path(sys.argv[1])
syncs = 0
for f in sorted(d.glob("fsyncs-*.txt")):
    for line in f.read_text().splitlines():
        parts = line.split()
        if parts and parts[-1] in ("fsync", "fdatasync", "sync_file_range"):
            syncs += int(parts[3] if len(parts) >= 6 else parts[-2])
its = json.loads((d / "doq-raft3-redb-always.json").read_text())["iterations_ok"]
print(f"syncs over the three nodes: {syncs}; acknowledged writes: {3 * its}; per write: {syncs / (3 * its):.3f}")
PY
fi

# NATS JetStream: three servers, one cluster, an R3 file-storage work-queue stream.
for i in 1 2 3; do
    mkdir -p "$DATA/nats/n$i"
    cat >"$DATA/nats/n$i.conf" <<CONF
server_name: n$i
listen: 127.0.0.1:1422$i
jetstream { store_dir: "$DATA/nats/n$i" }
cluster {
  name: bench
  listen: 127.0.0.1:1622$i
  routes: [ nats-route://127.0.0.1:16221, nats-route://127.0.0.1:16222, nats-route://127.0.0.1:16223 ]
}
CONF
    nats-server -c "$DATA/nats/n$i.conf" >"$DATA/nats/n$i.log" 2>&1 & PIDS+=($!)
done
for i in 1 2 3; do wait_port "1422$i"; done
run nats-js-r3-file nats-js 127.0.0.1:14221,127.0.0.1:14222,127.0.0.1:14223 --replicas 3

python3 - "$DATA" <<'PY'
import json, sys, pathlib
d = pathlib.Path(sys.argv[1])
rows = {p.stem: json.loads(p.read_text()) for p in d.glob("*.json")}
base = (rows.get("nats-js-r3-file") or {}).get("iterations_per_s") or 0
print("| run | it/s | vs NATS R3 |")
print("|---|---|---|")
for k, r in sorted(rows.items()):
    v = r.get("iterations_per_s") or 0
    print(f"| {k} | {v:.0f} | {v / base:.2f}x |" if base else f"| {k} | {v:.0f} | - |")
PY
