#!/usr/bin/env bash
# The ONE command that runs the whole demo on a fresh machine (README):
# starts RabbitMQ + Kafka locally (scripts/stack.sh), builds streamprobe,
# runs `streamprobe pipeline stream.yaml` in the background (log:
# .stack/pipeline.log) and the terminal UI in front. Quitting the UI (q)
# stops the pipeline (it drains first); the stack keeps running.
# Extra arguments go to the UI, e.g. `scripts/demo.sh --burst 1000`.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

bash scripts/stack.sh up
echo "demo: building streamprobe (release; the first build takes a few minutes)" >&2
cargo build --release --locked
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/streamprobe
mkdir -p .stack

"$BIN" pipeline stream.yaml >.stack/pipeline.log 2>&1 &
PIPELINE=$!
# On the way out the pipeline drains what is in flight (up to its
# --drain-timeout, 10 s): shown as a countdown; Ctrl-C (a second INT to the
# pipeline) stops it at once, leaving the rest for RabbitMQ to redeliver.
stop_pipeline() {
  kill -0 "$PIPELINE" 2>/dev/null || return 0
  kill -INT "$PIPELINE" 2>/dev/null || true
  trap 'kill -INT "$PIPELINE" 2>/dev/null || true' INT
  for i in $(seq 110 -1 1); do
    kill -0 "$PIPELINE" 2>/dev/null || break
    if [ -t 2 ] && [ "$i" -le 105 ]; then
      printf '\rdemo: the pipeline drains in-flight messages: %2d s at most (Ctrl-C stops it now) ' $(( (i + 9) / 10 )) >&2
    fi
    sleep 0.1
  done
  [ -t 2 ] && printf '\r\033[K' >&2
  wait "$PIPELINE" 2>/dev/null || true
}
trap stop_pipeline EXIT

# Give the pipeline a moment to attach to EXTERNAL, so the first burst has a reader.
for _ in $(seq 50); do
  grep -q "input connected" .stack/pipeline.log 2>/dev/null && break
  kill -0 "$PIPELINE" 2>/dev/null || { echo "demo: ERROR: the pipeline exited; see .stack/pipeline.log" >&2; tail -20 .stack/pipeline.log >&2; exit 1; }
  sleep 0.2
done
"$BIN" --log-file "$ROOT/.stack/streamprobe.log" "$@"
