#!/usr/bin/env bash
# Leader failover of a 3-node doq Raft cluster (redb, default timings) on loopback: a client writes to
# one follower in a loop; the leader is killed with SIGKILL; the time from the kill to the first
# acknowledged write after it is the failover time. Repeats TRIALS times (a fresh cluster each time).
#
# Usage: bench/failover.sh [TRIALS]        (default 3)
# DOQ=/path/to/doq skips building doq (a release build with redb is enough:
# cargo build --release -p doq-server --no-default-features --features redb).
# Every server listens on 127.0.0.1 only, keeps its data under a temp dir, and is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
TRIALS="${1:-3}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/doq-target}"
if [ -z "${DOQ:-}" ]; then
    cargo build --release -p doq-server --no-default-features --features redb --bin doq >&2
    DOQ="$CARGO_TARGET_DIR/release/doq"
fi
DATA=$(mktemp -d /tmp/doq-failover.XXXXXX)
PIDS=()
stop() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done; PIDS=(); }
trap 'stop; rm -rf "$DATA"' EXIT
wait_port() { for _ in $(seq 300); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }

for t in $(seq "$TRIALS"); do
    rm -rf "$DATA/doq"
    for i in 0 1 2; do
        join=()
        [ "$i" -gt 0 ] && join=(--cluster.join_addr 127.0.0.1:18100)
        "$DOQ" --cluster.node_id "node-$i" --http.host 127.0.0.1 --http.port "1810$i" \
            --raft.address "127.0.0.1:1910$i" --grpc.address "" --storage.data_dir "$DATA/doq" \
            --logging.level error "${join[@]}" & PIDS+=($!)
        wait_port "1810$i"
    done
    # The python side finds the leader, writes through a follower, kills the leader by PID and times it.
    python3 - "$t" "${PIDS[@]}" <<'PY'
import http.client, json, os, signal, sys, time
trial, pids = sys.argv[1], [int(p) for p in sys.argv[2:]]
ports = [18100, 18101, 18102]
def call(port, method, path, body=None, timeout=2.0):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers={"content-type": "application/json"})
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()
leader = None
for _ in range(100):  # every node must be a voter that knows the leader
    try:
        st = [json.loads(call(p, "GET", "/API/v1/cluster/status")[1]) for p in ports]
        ids = {s.get("leader_id") for s in st}
        if len(ids) == 1 and None not in ids and all(len(s["members"]) == 3 for s in st):
            leader = next(i for i, s in enumerate(st) if s["state"] == "Leader")
            break
    except Exception:
        pass
    time.sleep(0.1)
assert leader is not None, "no stable leader"
follower = ports[(leader + 1) % 3]
call(follower, "POST", "/API/v1/queues", {"name": "fo", "type": "delayed", "settings": {}})
msg = {"content": "x", "priority": 1, "group": "default"}
for _ in range(20):
    assert call(follower, "POST", "/API/v1/queues/fo/messages", msg)[0] == 200
os.kill(pids[leader], signal.SIGKILL)
killed = time.monotonic()
attempts = 0
while True:
    attempts += 1
    try:
        status, _ = call(follower, "POST", "/API/v1/queues/fo/messages", msg, timeout=5.0)
        if status == 200:
            break
    except Exception:
        pass
    if time.monotonic() - killed > 30:
        sys.exit("no acknowledged write within 30 s")
    time.sleep(0.01)
print(f"trial {trial}: failover {time.monotonic() - killed:.2f} s ({attempts} attempts)")
PY
    stop
done
