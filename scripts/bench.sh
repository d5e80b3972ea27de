#!/usr/bin/env bash
# Benchmarks on the local stack (not tests). Prints every figure and a
# summary; the README quotes its numbers. Knobs: BENCH_N (injector messages
# per round, 20000), E2E_N (messages through the pipeline, 20000),
# MEM_N (messages of the memory run, 1000000; 0 skips it).
#   (a) injector send rate vs a bare fe2o3-amqp pipelined sender (ratio)
#   (b) end-to-end throughput through `streamprobe pipeline`, seed and tuned
#   (c) p50/p99 end-to-end latency at 1,000 msg/s
#   (d) peak RSS of `streamprobe probe` over MEM_N messages
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_N=${BENCH_N:-20000} E2E_N=${E2E_N:-20000} MEM_N=${MEM_N:-1000000}
export BENCH_N

bash scripts/stack.sh up
[[ -x /usr/bin/time ]] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
cargo build --release --locked -q
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/streamprobe
OUT=$(mktemp -d)
PIPE=""
cleanup() { [[ -n $PIPE ]] && kill -INT "$PIPE" 2>/dev/null && wait "$PIPE" 2>/dev/null; rm -rf "$OUT"; }
trap cleanup EXIT

json() { python3 -c "import json,sys; r=json.load(open('$1')); print($2)"; }

# start_pipeline FILE TAG: runs the stream on addresses/topics unique to TAG
start_pipeline() {
  local tag=$2_$$
  SRC=bench_src_$tag TOPIC=bench_t_$tag Q=bench_q_$tag
  SOURCE_ADDRESS=$SRC KAFKA_TOPIC=$TOPIC TARGET_ADDRESS=$Q "$BIN" pipeline "$1" >"$OUT/pipeline_$2.log" 2>&1 &
  PIPE=$!
  for _ in $(seq 100); do grep -q "input connected" "$OUT/pipeline_$2.log" && return; sleep 0.1; done
  echo "bench: the pipeline did not start:" >&2; cat "$OUT/pipeline_$2.log" >&2; exit 1
}
stop_pipeline() { kill -INT "$PIPE"; wait "$PIPE" || true; PIPE=""; }
probe() { "$BIN" probe --source "$SRC" --kafka-topic "$TOPIC" --amqp-target "$Q" --json "$@"; }

echo "== (a) injector vs bare fe2o3-amqp sender ($BENCH_N messages per round)"
cargo bench --locked -q --bench inject 2>/dev/null | tee "$OUT/inject.txt"
A=$(grep RESULT "$OUT/inject.txt")

echo "== (b) end-to-end throughput through streamprobe pipeline"
start_pipeline stream.yaml seed
SEED_N=$(( E2E_N / 4 ))
probe --count "$SEED_N" >"$OUT/seed.json" || true
stop_pipeline
start_pipeline scripts/bench/tuned.yaml tuned
probe --count "$E2E_N" >"$OUT/tuned.json" || true
echo "== (c) latency at 1,000 msg/s (tuned pipeline, 10,000 messages)"
probe --count 10000 --rate 1000 >"$OUT/rate.json" || true
MEM="skipped"
if (( MEM_N > 0 )); then
  echo "== (d) peak memory of streamprobe probe over $MEM_N messages (tuned pipeline)"
  /usr/bin/time -v "$BIN" probe --source "$SRC" --kafka-topic "$TOPIC" --amqp-target "$Q" --json --count "$MEM_N" \
    >"$OUT/mem.json" 2>"$OUT/mem.time" || true
  MEM="peak RSS $(awk -F': ' '/Maximum resident set size/ {printf "%.0f MB", $2/1024}' "$OUT/mem.time") \
$(json "$OUT/mem.json" "'(sent %s; received %s; lost %s)' % (r['sent'], [d['received'] for d in r['destinations']], [d['lost'] for d in r['destinations']])")"
fi
stop_pipeline

row() { json "$1" "' / '.join('%s %.0f msg/s' % (d['name'].split(':')[0], d['throughput_per_s']) for d in r['destinations']) + ' (passed=%s)' % r['passed']"; }
lat() { json "$1" "' / '.join('%s p50 %.1f ms p99 %.1f ms' % (d['name'].split(':')[0], d['latency_us']['p50']/1000, d['latency_us']['p99']/1000) for d in r['destinations']) + ' (passed=%s)' % r['passed']"; }
echo
echo "== summary"
echo "(a) injector:           $A"
echo "(b) pipeline, seed:     $(row "$OUT/seed.json")   [$SEED_N msgs, kafka max_in_flight 1]"
echo "(b) pipeline, tuned:    $(row "$OUT/tuned.json")   [$E2E_N msgs, kafka max_in_flight 64, credit 256]"
echo "(c) at 1000 msg/s:      $(lat "$OUT/rate.json")"
echo "(d) memory:             $MEM"
