#!/usr/bin/env bash
# Benchmarks on the local stack (not tests). Prints every figure and a
# summary; the README quotes its numbers. Knobs: BENCH_N (injector messages
# per round, 20000), E2E_N (messages through the pipeline, 20000),
# MEM_N (messages of the memory run, 1000000; 0 skips it), BENCH_PARTS
# (which of a b c d e u to run, default abcdeu; u alone needs no brokers).
#   (a) injector send rate vs a bare fe2o3-amqp pipelined sender (ratio)
#   (b) end-to-end throughput through `streamprobe pipeline`, seed and tuned,
#       against each single hop alone (EXTERNAL → AMQP, EXTERNAL → Kafka) with
#       the same settings: fan-out / slowest hop (issue 4's target: ≥ 70 %)
#   (c) p50/p99 end-to-end latency at 1,000 msg/s
#   (d) peak RSS of `streamprobe probe` over MEM_N messages
#   (e) latency accuracy: the probe's p50 on the EXTERNAL → AMQP hop at 200
#       msg/s against an independent qpid-proton client timing the same hop
#       the same way (scripts/bench/anchor_amqp.py), after a warm-up, in 3
#       alternating rounds; medians, min–max and the ratio, and the probe's
#       own sender lag
# Every queue and topic the bench creates is deleted at the end.
#   (u) the UI's reducer + render on one thread (scripts/bench/ui.rs)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_N=${BENCH_N:-20000} E2E_N=${E2E_N:-20000} MEM_N=${MEM_N:-1000000} PARTS=${BENCH_PARTS:-abcdeu}
part() { [[ $PARTS == *$1* ]]; }
export BENCH_N

U="skipped"
if part u; then
  echo "== (u) the UI: reducer + render at 30 fps on one thread, 1,000,000 arrivals"
  cargo bench --locked -q --bench ui 2>/dev/null | tee /tmp/streamprobe-bench-ui.$$
  U=$(grep RESULT /tmp/streamprobe-bench-ui.$$); rm -f /tmp/streamprobe-bench-ui.$$
  if [[ $PARTS == u ]]; then echo "(u) UI: $U"; exit 0; fi
fi

bash scripts/stack.sh up
[[ -x /usr/bin/time ]] || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
cargo build --release --locked -q
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/streamprobe
OUT=$(mktemp -d)
PIPE=""
# cleanup: stop the pipeline, delete this run's queues and topics (names end in _$$)
cleanup() {
  [[ -n $PIPE ]] && kill -INT "$PIPE" 2>/dev/null && wait "$PIPE" 2>/dev/null
  local q t
  for q in $(rabbitmqctl -q list_queues name 2>/dev/null | grep -E "^bench_.*_$$\$"); do
    rabbitmqctl -q delete_queue "$q" >/dev/null 2>&1 || true
  done
  t=$(bash scripts/kafka-tool.sh org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 --list 2>/dev/null |
    grep -E "^bench_.*_$$\$" | paste -sd, -) || true
  [[ -z $t ]] || bash scripts/kafka-tool.sh org.apache.kafka.tools.TopicCommand --bootstrap-server 127.0.0.1:9092 \
    --delete --topic "$t" >/dev/null 2>&1 || true
  rm -rf "$OUT"
}
trap cleanup EXIT

json() { python3 -c "import json,sys; r=json.load(open('$1')); print($2)"; }

# start_pipeline FILE TAG [VAR=VALUE...]: runs the stream on addresses/topics
# unique to TAG, with extra environment
start_pipeline() {
  local file=$1 tag=$2_$$ name=$2
  shift 2
  SRC=bench_src_$tag TOPIC=bench_t_$tag Q=bench_q_$tag STREAM=$file
  env "$@" SOURCE_ADDRESS=$SRC KAFKA_TOPIC=$TOPIC TARGET_ADDRESS=$Q "$BIN" pipeline "$file" >"$OUT/pipeline_$name.log" 2>&1 &
  PIPE=$!
  for _ in $(seq 100); do grep -q "input connected" "$OUT/pipeline_$name.log" && return; sleep 0.1; done
  echo "bench: the pipeline did not start:" >&2; cat "$OUT/pipeline_$name.log" >&2; exit 1
}
stop_pipeline() { kill -INT "$PIPE"; wait "$PIPE" || true; PIPE=""; }
probe() { "$BIN" probe --source "$SRC" --kafka-topic "$TOPIC" --amqp-target "$Q" --json "$@"; }
# hop_probe FILE TAG COUNT [VAR=VALUE...]: the probe reads its destinations
# (one, for a single hop) from the stream file, as the pipeline does
hop_probe() {
  local file=$1 name=$2 count=$3
  shift 3
  start_pipeline "$file" "$name" "$@"
  env "$@" SOURCE_ADDRESS=$SRC KAFKA_TOPIC=$TOPIC TARGET_ADDRESS=$Q "$BIN" probe --stream "$file" --json --count "$count" >"$OUT/$name.json" || true
  stop_pipeline
}

A="skipped"
if part a; then
  echo "== (a) injector vs bare fe2o3-amqp sender ($BENCH_N messages per round)"
  cargo bench --locked -q --bench inject 2>/dev/null | tee "$OUT/inject.txt"
  A=$(grep RESULT "$OUT/inject.txt")
fi

SEED_N=$(( E2E_N / 4 ))
TUNED=(CREDIT=256 KAFKA_MAX_IN_FLIGHT=64)
if part b; then
  echo "== (b) end-to-end throughput through streamprobe pipeline: single hops, then the fan-out"
  hop_probe scripts/bench/hop_amqp.yaml hop_amqp_seed "$SEED_N"
  hop_probe scripts/bench/hop_kafka.yaml hop_kafka_seed "$SEED_N"
  start_pipeline stream.yaml seed
  probe --count "$SEED_N" >"$OUT/seed.json" || true
  stop_pipeline
  hop_probe scripts/bench/hop_amqp.yaml hop_amqp_tuned "$E2E_N" "${TUNED[@]}"
  hop_probe scripts/bench/hop_kafka.yaml hop_kafka_tuned "$E2E_N" "${TUNED[@]}"
fi
if part b || part c || part d; then
  start_pipeline scripts/bench/tuned.yaml tuned
fi
part b && { probe --count "$E2E_N" >"$OUT/tuned.json" || true; }
if part c; then
  echo "== (c) latency at 1,000 msg/s (tuned pipeline, 10,000 messages)"
  probe --count 10000 --rate 1000 >"$OUT/rate.json" || true
fi
MEM="skipped"
if part d && (( MEM_N > 0 )); then
  echo "== (d) peak memory of streamprobe probe over $MEM_N messages (tuned pipeline)"
  /usr/bin/time -v "$BIN" probe --source "$SRC" --kafka-topic "$TOPIC" --amqp-target "$Q" --json --count "$MEM_N" \
    >"$OUT/mem.json" 2>"$OUT/mem.time" || true
  MEM="peak RSS $(awk -F': ' '/Maximum resident set size/ {printf "%.0f MB", $2/1024}' "$OUT/mem.time") \
$(json "$OUT/mem.json" "'(sent %s; received %s; lost %s)' % (r['sent'], [d['received'] for d in r['destinations']], [d['lost'] for d in r['destinations']])")"
fi
[[ -n $PIPE ]] && stop_pipeline

E="skipped"
if part e; then
  echo "== (e) latency accuracy at 200 msg/s, EXTERNAL → AMQP: probe vs qpid-proton (3 alternating rounds of 2,000)"
  start_pipeline scripts/bench/hop_amqp.yaml acc
  hop=(env SOURCE_ADDRESS="$SRC" TARGET_ADDRESS="$Q" "$BIN" probe --stream scripts/bench/hop_amqp.yaml --json)
  "${hop[@]}" --count 300 >/dev/null || true  # warm-up on the same addresses
  for i in 1 2 3; do
    "${hop[@]}" --rate 200 --count 2000 >"$OUT/acc_probe_$i.json" || true
    /usr/bin/python3 scripts/bench/anchor_amqp.py --source "$SRC" --target "$Q" --rate 200 --count 2000 >"$OUT/acc_anchor_$i.json"
  done
  stop_pipeline
  E=$(python3 - "$OUT" <<'PY'
import json, statistics, sys
d = sys.argv[1]
probe, anchor, lag = [], [], []
for i in (1, 2, 3):
    r = json.load(open(f"{d}/acc_probe_{i}.json"))
    probe.append(r["destinations"][0]["latency_us"]["p50"])
    lag.append(r["sender_lag_us"]["p50"])
    anchor.append(json.load(open(f"{d}/acc_anchor_{i}.json"))["latency_us"]["p50"])
ratios = [p / a for p, a in zip(probe, anchor)]
f = lambda v: "%.2f ms (%.2f–%.2f)" % (statistics.median(v) / 1000, min(v) / 1000, max(v) / 1000)
print("probe p50 %s, qpid-proton p50 %s: ratio %.2f (%.2f–%.2f); probe sender lag p50 %.0f µs"
      % (f(probe), f(anchor), statistics.median(ratios), min(ratios), max(ratios), statistics.median(lag)))
PY
)
fi

row() { json "$1" "' / '.join('%s %.0f msg/s' % (d['name'].split(':')[0], d['throughput_per_s']) for d in r['destinations']) + ' (passed=%s)' % r['passed']"; }
lat() { json "$1" "' / '.join('%s p50 %.1f ms p99 %.1f ms' % (d['name'].split(':')[0], d['latency_us']['p50']/1000, d['latency_us']['p99']/1000) for d in r['destinations']) + ' (passed=%s)' % r['passed']"; }
# rate FILE: the slowest destination's throughput (msg/s)
rate() { json "$1" "min(d['throughput_per_s'] for d in r['destinations'])"; }
ratio() { python3 -c "print('%.0f %%' % (100 * $1 / min($2, $3)))"; }
echo
echo "== summary"
echo "(a) injector:              $A"
if part b; then
  echo "(b) hop AMQP→AMQP, seed:   $(row "$OUT/hop_amqp_seed.json")   [$SEED_N msgs]"
  echo "(b) hop AMQP→Kafka, seed:  $(row "$OUT/hop_kafka_seed.json")   [$SEED_N msgs, kafka max_in_flight 1]"
  echo "(b) fan-out, seed:         $(row "$OUT/seed.json")   [$SEED_N msgs, kafka max_in_flight 1]"
  echo "(b) seed fan-out / slowest hop:  $(ratio "$(rate "$OUT/seed.json")" "$(rate "$OUT/hop_amqp_seed.json")" "$(rate "$OUT/hop_kafka_seed.json")")"
  echo "(b) hop AMQP→AMQP, tuned:  $(row "$OUT/hop_amqp_tuned.json")   [$E2E_N msgs, credit 256]"
  echo "(b) hop AMQP→Kafka, tuned: $(row "$OUT/hop_kafka_tuned.json")   [$E2E_N msgs, kafka max_in_flight 64, credit 256]"
  echo "(b) fan-out, tuned:        $(row "$OUT/tuned.json")   [$E2E_N msgs, kafka max_in_flight 64, credit 256]"
  echo "(b) tuned fan-out / slowest hop: $(ratio "$(rate "$OUT/tuned.json")" "$(rate "$OUT/hop_amqp_tuned.json")" "$(rate "$OUT/hop_kafka_tuned.json")")"
fi
part c && echo "(c) at 1000 msg/s:         $(lat "$OUT/rate.json")"
echo "(d) memory:                $MEM"
echo "(e) latency accuracy:      $E"
echo "(u) UI:                    $U"
