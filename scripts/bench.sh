#!/usr/bin/env bash
# Benchmarks on the local stack (not tests). Prints every figure and a
# summary; the README quotes its numbers. Knobs: BENCH_N (injector messages
# per round, 20000), E2E_N (messages per tuned throughput run, 20000; a
# quarter of it with the seed settings), MEM_N (messages of the memory run,
# 1000000; 0 skips it), WARM_N (warm-up probes before every timed run, 500),
# PACED_N (messages of a paced run of (r), 5000), BENTO (a Bento binary: (r)
# runs it side by side), BENCH_PARTS (which of a b c d e r u v to run,
# default abcderuv; u alone needs no brokers).
# Every timed run starts a fresh engine on fresh queues and topics, sends a
# warm-up on them first, and comparisons alternate their order over 3
# rounds (A B C, C B A, A B C); the summary gives medians and min–max, of
# ratios too (taken within a round). Every queue and topic the bench
# creates is deleted at the end.
#   (a) injector send rate vs a bare fe2o3-amqp pipelined sender (ratio)
#   (b) throughput through `streamprobe pipeline`, seed settings and tuned:
#       each single hop alone (EXTERNAL → AMQP, EXTERNAL → Kafka) and the
#       fan-out; fan-out / slowest hop (target ≥ 0.9)
#   (c) p50/p99 end-to-end latency at 1,000 msg/s (tuned)
#   (d) peak RSS of `streamprobe probe` over MEM_N messages, and its counts:
#       sent = received + lost + late per destination
#   (e) latency accuracy: the probe's p50 on the EXTERNAL → AMQP hop at 200
#       msg/s against an independent qpid-proton client timing the same hop
#       the same way (scripts/bench/anchor_amqp.py), after a warm-up, in 3
#       alternating rounds; medians, min–max and the ratio, and the probe's
#       own sender lag
#   (r) the runner's CPU per message at 500 msg/s (seed settings), and at
#       `credit: 1` (the only credit Bento keeps consuming at on RabbitMQ
#       3.10) unpaced throughput, CPU per message, p50/p99, CPU seconds and
#       peak RSS at 500 msg/s, of streamprobe's runner and, with BENTO, of
#       Bento on the same file and brokers
#   (u) the UI's reducer + render on one thread (scripts/bench/ui.rs)
#   (v) the real UI's CPU (all its threads: injector, consumers, render) in
#       tmux at 80×24 while its own paced burst flows through the tuned
#       fan-out, at 2,000 and 4,000 msg/s (3 rounds each)
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
BENCH_N=${BENCH_N:-20000} E2E_N=${E2E_N:-20000} MEM_N=${MEM_N:-1000000} PARTS=${BENCH_PARTS:-abcderuv} WARM_N=${WARM_N:-500}
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


# start_engine FILE NAME [VAR=VALUE...]: runs the stream with $ENGINE
# (streamprobe's runner, or the Bento binary $BENTO) on addresses and topics
# unique to NAME and this bench, with extra environment; waits until the
# engine's /ready (both serve Bento's on 127.0.0.1:4195) says every input
# and output is connected
start_engine() {
  local file=$1 name=$2
  shift 2
  local tag=${name}_$$ cmd=("$BIN" pipeline --http-address 127.0.0.1:4195 "$file")
  [[ ${ENGINE:-streamprobe} == bento ]] && cmd=("$BENTO" -c "$file")
  SRC=bench_src_$tag TOPIC=bench_t_$tag Q=bench_q_$tag
  env "$@" SOURCE_ADDRESS="$SRC" KAFKA_TOPIC="$TOPIC" TARGET_ADDRESS="$Q" "${cmd[@]}" >"$OUT/engine_$name.log" 2>&1 &
  PIPE=$!
  for _ in $(seq 300); do
    curl -sf -o /dev/null http://127.0.0.1:4195/ready && return
    kill -0 "$PIPE" 2>/dev/null || break
    sleep 0.1
  done
  echo "bench: ${ENGINE:-streamprobe} did not get ready on $file:" >&2; cat "$OUT/engine_$name.log" >&2; exit 1
}
stop_pipeline() { kill -INT "$PIPE"; wait "$PIPE" || true; PIPE=""; }
# CPU clock ticks (user + system, every thread) of process $1
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# run_case NAME FILE COUNT [probe options...]: a fresh engine on fresh
# addresses (environment: the array ENVS), a warm-up of WARM_N probes on
# them, then the timed probe (NAME.json) and the engine's CPU ticks over it
# and peak RSS (NAME.cpu). The probe reads its destinations (one, for a
# single hop) from the stream file, as the engine does.
run_case() {
  local name=$1 file=$2 count=$3
  shift 3
  start_engine "$file" "$name" "${ENVS[@]}"
  local p=(env "${ENVS[@]}" SOURCE_ADDRESS="$SRC" KAFKA_TOPIC="$TOPIC" TARGET_ADDRESS="$Q" "$BIN" probe --stream "$file" --json)
  "${p[@]}" --count "$WARM_N" >"$OUT/${name}_warm.json" || true
  local t0 t1
  t0=$(ticks "$PIPE")
  "${p[@]}" --count "$count" "$@" >"$OUT/$name.json" || true
  t1=$(ticks "$PIPE")
  echo "$((t1 - t0)) $(awk '/VmHWM/ {print $2}' "/proc/$PIPE/status")" >"$OUT/$name.cpu"
  stop_pipeline
}
# the order of a round's cases: as given in odd rounds, reversed in even ones
in_order() { local r=$1; shift; if ((r % 2)); then echo "$@"; else echo "$@" | tr ' ' '\n' | tac | paste -sd' '; fi; }

A="skipped"
if part a; then
  echo "== (a) injector vs bare fe2o3-amqp sender ($BENCH_N messages per round)"
  cargo bench --locked -q --bench inject 2>/dev/null | tee "$OUT/inject.txt"
  A=$(grep RESULT "$OUT/inject.txt")
fi

SEED_N=$(( E2E_N / 4 ))
TUNED=(CREDIT=256 KAFKA_MAX_IN_FLIGHT=64)
declare -A HOP=([hop_amqp]=scripts/bench/hop_amqp.yaml [hop_kafka]=scripts/bench/hop_kafka.yaml [fanout]=scripts/bench/fanout.yaml)
if part b; then
  echo "== (b) throughput through streamprobe pipeline: each single hop and the fan-out, seed and tuned, 3 alternating rounds"
  for cfg in seed tuned; do
    if [[ $cfg == seed ]]; then ENVS=(); n=$SEED_N; else ENVS=("${TUNED[@]}"); n=$E2E_N; fi
    for r in 1 2 3; do
      for c in $(in_order "$r" hop_amqp hop_kafka fanout); do
        echo "   round $r: $cfg $c ($n messages)"
        run_case "b_${cfg}_${c}_$r" "${HOP[$c]}" "$n"
      done
    done
  done
fi
if part c; then
  echo "== (c) latency at 1,000 msg/s (tuned fan-out, 10,000 messages, 3 rounds)"
  ENVS=("${TUNED[@]}")
  for r in 1 2 3; do run_case "c_rate_$r" scripts/bench/fanout.yaml 10000 --rate 1000; done
fi
if part d && (( MEM_N > 0 )); then
  echo "== (d) peak memory of streamprobe probe over $MEM_N messages (tuned fan-out)"
  ENVS=("${TUNED[@]}")
  start_engine scripts/bench/fanout.yaml mem "${ENVS[@]}"
  /usr/bin/time -v env "${ENVS[@]}" SOURCE_ADDRESS="$SRC" KAFKA_TOPIC="$TOPIC" TARGET_ADDRESS="$Q" \
    "$BIN" probe --stream scripts/bench/fanout.yaml --json --count "$MEM_N" >"$OUT/mem.json" 2>"$OUT/mem.time" || true
  stop_pipeline
fi
export PACED_N=${PACED_N:-5000}
if part r; then
  echo "== (r) the runner's CPU per message, and the engines side by side${BENTO:+ (BENTO=$BENTO)}, 3 alternating rounds"
  engines=(streamprobe)
  [[ -n ${BENTO:-} ]] && engines+=(bento)
  for r in 1 2 3; do
    echo "   round $r: streamprobe, seed settings, 500 msg/s"
    ENVS=()
    ENGINE=streamprobe run_case "r_streamprobe_seed_paced_$r" scripts/bench/fanout.yaml "$PACED_N" --rate 500
    ENVS=(CREDIT=1)
    for e in $(in_order "$r" "${engines[@]}"); do
      echo "   round $r: $e, credit 1"
      ENGINE=$e run_case "r_${e}_c1_$r" scripts/bench/fanout.yaml "$SEED_N"
      ENGINE=$e run_case "r_${e}_paced_$r" scripts/bench/fanout.yaml "$PACED_N" --rate 500
    done
  done
fi

V="skipped"
if part v; then
  echo "== (v) the UI's CPU while probes arrive at each destination (tuned fan-out, the UI's own bursts)"
  command -v tmux >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq tmux >/dev/null
  ENVS=("${TUNED[@]}")
  V=""
  for rate in 2000 4000; do
    for r in 1 2 3; do
      start_engine scripts/bench/fanout.yaml "v_${rate}_$r" "${ENVS[@]}"
      n=$((rate * 5))
      tmux -L "bench$$" new -d -s v -x 80 -y 24 \
        "exec env ${ENVS[*]} SOURCE_ADDRESS=$SRC KAFKA_TOPIC=$TOPIC TARGET_ADDRESS=$Q $BIN --stream scripts/bench/fanout.yaml --rate $rate --burst $n --log-file $OUT/ui.log"
      sleep 3
      ui=$(tmux -L "bench$$" display -p -t v '#{pane_pid}')
      t0=$(ticks "$ui"); s0=$(date +%s.%N)
      tmux -L "bench$$" send-keys -t v b
      sleep 6
      t1=$(ticks "$ui"); s1=$(date +%s.%N)
      got=$(tmux -L "bench$$" capture-pane -p -t v | grep -o 'received [0-9]*' | head -2 | paste -sd' ')
      tmux -L "bench$$" send-keys -t v q
      sleep 2; tmux -L "bench$$" kill-server 2>/dev/null || true
      stop_pipeline
      V+=$(python3 -c "import os; print('%d msg/s round %d: %.1f %% of a core (%s of %d); ' % ($rate, $r, 100 * ($t1 - $t0) / os.sysconf('SC_CLK_TCK') / ($s1 - $s0), '$got', $n))")
    done
  done
fi

E="skipped"
if part e; then
  echo "== (e) latency accuracy at 200 msg/s, EXTERNAL → AMQP: probe vs qpid-proton (3 alternating rounds of 2,000)"
  start_engine scripts/bench/hop_amqp.yaml acc
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

echo
echo "== summary ($(nproc) cores, $(date -u +%Y-%m-%d))"
echo "(a) injector:              $A"
python3 scripts/bench/summary.py "$OUT" "$PARTS"
echo "(e) latency accuracy:      $E"
echo "(v) UI CPU:                $V"
echo "(u) UI:                    $U"
