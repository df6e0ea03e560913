#!/usr/bin/env bash
# Memory and restart at scale: fill a single node (sync=always) with MESSAGES queued messages of SIZE bytes
# through HTTP batch enqueue, stop it, start it again on the same data, and report per storage backend:
# how long the fill took, the RSS of the node that filled, the time from process start to `/readyz` 200
# after the restart, and the RSS right after ready and after one queue-info read.
#
# Usage: [BACKENDS="redb rocksdb sled"] [MESSAGES=1000000] [SIZE=1024] [PORT=18100] bench/scale.sh
# DOQ=/path/to/doq skips building doq (otherwise a release build in $CARGO_TARGET_DIR). Needs curl and
# python3. Data lives under a temp dir (about MESSAGES × SIZE × 1.2 bytes per backend, removed after each
# backend); the node listens on 127.0.0.1 only and is stopped by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
BACKENDS="${BACKENDS:-redb rocksdb sled}"
MESSAGES="${MESSAGES:-1000000}"
SIZE="${SIZE:-1024}"
PORT="${PORT:-18100}"
GRPC_PORT=$((PORT + 10))
BATCH=1000
PARALLEL=4
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/doq-target}"
if [ -z "${DOQ:-}" ]; then
    cargo build --release -p doq-server --bin doq >&2
    DOQ="$CARGO_TARGET_DIR/release/doq"
fi
DATA=$(mktemp -d /tmp/doq-scale.XXXXXX)
PID=""
stop() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; PID=""; fi; }
trap 'stop; rm -rf "$DATA"' EXIT
URL="http://127.0.0.1:$PORT"
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
hwm_mb() { awk '/^VmHWM/ {printf "%.0f", $2 / 1024}' "/proc/$1/status"; }
now_ms() { date +%s%3N; }
# backend dir -> sets PID and READY_MS (ms from start to /readyz 200). Runs in this shell, not in a
# `$(…)` subshell: there PID would be lost, and the server would hold the substitution's pipe open.
start() {
    local t0
    t0=$(now_ms)
    "$DOQ" --http.host 127.0.0.1 --http.port "$PORT" --grpc.address "127.0.0.1:$GRPC_PORT" \
        --storage.backend "$1" --storage.sync always --storage.data_dir "$2" --logging.level warn \
        >>"$2.log" 2>&1 &
    PID=$!
    for _ in $(seq 6000); do
        if curl -fs -o /dev/null "$URL/readyz"; then READY_MS=$(($(now_ms) - t0)); return 0; fi
        kill -0 "$PID" 2>/dev/null || { echo "doq exited; see $2.log" >&2; return 1; }
        sleep 0.01
    done
    echo "not ready after 60 s" >&2
    return 1
}
count() { # queue -> messages the node reports
    curl -fs "$URL/API/v1/queues/$1" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(s["total"])'
}

# One batch body, sent MESSAGES / BATCH times: BATCH messages of SIZE bytes each.
python3 - "$BATCH" "$SIZE" >"$DATA/batch.json" <<'PY'
import json, sys
n, size = int(sys.argv[1]), int(sys.argv[2])
print(json.dumps({"messages": [{"content": "x" * size, "priority": 0} for _ in range(n)]}))
PY

ROWS=()
for backend in $BACKENDS; do
    dir="$DATA/doq-$backend"
    start "$backend" "$dir"
    curl -fs -o /dev/null -X POST "$URL/API/v1/queues" -H 'content-type: application/json' \
        -d '{"name":"scale","type":"delayed","settings":{}}'
    t0=$(now_ms)
    seq $((MESSAGES / BATCH)) | xargs -P "$PARALLEL" -I{} curl -fs -o /dev/null -X POST \
        "$URL/API/v1/queues/scale/batch/enqueue" -H 'content-type: application/json' --data-binary "@$DATA/batch.json"
    fill_s=$(python3 -c "print(f'{($(now_ms) - $t0) / 1000:.1f}')")
    filled_rss=$(rss_mb "$PID")
    stop
    start "$backend" "$dir"
    ready_ms=$READY_MS
    ready_rss=$(rss_mb "$PID")
    n=$(count scale)
    read_rss=$(rss_mb "$PID")
    peak=$(hwm_mb "$PID")
    disk=$(du -sm "$dir" | cut -f1)
    stop
    row="| $backend | $n | $fill_s s | $filled_rss MB | $ready_ms ms | $ready_rss MB | $read_rss MB | $peak MB | $disk MB |"
    echo "$row" >&2
    ROWS+=("$row")
    rm -rf "$dir"
done
echo "| backend | messages | fill | RSS after fill | restart to /readyz | RSS at ready | RSS after a read | peak RSS (restart) | data dir |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
