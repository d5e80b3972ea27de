#!/usr/bin/env bash
# Local test stack without Docker: RabbitMQ (Debian package, AMQP 0-9-1 + 1.0 on
# 127.0.0.1:5672, guest/guest; management HTTP API on 127.0.0.1:15672) and Apache
# Kafka 4.1.1 in KRaft mode (127.0.0.1:9092, jars from Maven Central via
# scripts/kafka/pom.xml). Secured listeners too, for TLS/SASL tests: RabbitMQ
# AMQPS on 127.0.0.1:5671 and Kafka SASL_SSL (SCRAM-SHA-256, user `probe`,
# password `probe-secret`) on 127.0.0.1:9094, with a throw-away CA and server
# certificate made by openssl under the state folder; RabbitMQ also offers SASL
# EXTERNAL over AMQPS (user probe-client, the CN of `tls-client`'s certificate).
#
#   scripts/stack.sh up | down | status
#   scripts/stack.sh tls-ca          print the path of the CA file (PEM)
#   scripts/stack.sh tls-client      print the client certificate and key (CN=probe-client)
#   scripts/stack.sh start-rabbitmq | stop-rabbitmq | restart-rabbitmq
#   scripts/stack.sh start-kafka    | stop-kafka    | restart-kafka
#   scripts/stack.sh queue NAME...   declare durable quorum queues (idempotent)
#   scripts/stack.sh start-artemis | stop-artemis
#                                    Apache ActiveMQ Artemis (a second AMQP 1.0
#                                    broker, on request): 127.0.0.1:5673, guest/guest
#   scripts/stack.sh artemis ARGS... Artemis's own CLI on that broker (e.g. queue stat)
#
# State (data, logs, pid files) lives in ${STREAMPROBE_STACK_DIR:-<repo>/.stack}.
# Services already running that this script did not start are reused, never stopped.
# Needs root when something has to be apt-get installed, and for RabbitMQ (which runs
# as the Debian `rabbitmq` user, so that a plain `rabbitmqctl` finds node rabbit@<host>).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${STREAMPROBE_STACK_DIR:-$ROOT/.stack}
RMQ_DIR=$STATE/rabbitmq
KAFKA_DIR=$STATE/kafka
KAFKA_LIBS=$KAFKA_DIR/libs
KAFKA_PID=$KAFKA_DIR/kafka.pid
RMQ_MARK=$RMQ_DIR/started-by-stack   # present <=> the running RabbitMQ is ours to stop
TLS_DIR=$STATE/tls
RMQ_PORT=5672 RMQ_API_PORT=15672 KAFKA_PORT=9092 CONTROLLER_PORT=9093
RMQ_TLS_PORT=5671 KAFKA_SASL_PORT=9094
ARTEMIS_VERSION=2.40.0 ARTEMIS_PORT=5673 ARTEMIS_CORE_PORT=61617
ARTEMIS_DIR=$STATE/artemis
KAFKA_SCRAM_USER=probe KAFKA_SCRAM_PASSWORD=probe-secret
RMQ_TIMEOUT=${STACK_RABBITMQ_TIMEOUT:-90}
KAFKA_TIMEOUT=${STACK_KAFKA_TIMEOUT:-90}
export DEBIAN_FRONTEND=noninteractive LC_ALL=C

log() { echo "stack: $*" >&2; }
die() { echo "stack: ERROR: $*" >&2; exit 1; }
# fail MESSAGE LOGFILE... : error out, showing the tail of each existing log
fail() {
  local msg=$1 f; shift
  echo "stack: ERROR: $msg" >&2
  for f in "$@"; do
    [[ -s $f ]] || continue
    echo "----- last 40 lines of $f -----" >&2
    tail -n 40 "$f" >&2
  done
  exit 1
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port_free() { # PORT TIMEOUT
  local end=$((SECONDS + $2))
  while port_open "$1"; do
    ((SECONDS < end)) || return 1
    sleep 0.5
  done
}

# ---------------------------------------------------------------- packages
apt_install() {
  log "apt-get install $*"
  [[ $(id -u) == 0 ]] || die "not root: cannot apt-get install $*"
  # policy-rc.d exit 101 = "don't start services from maintainer scripts": otherwise
  # rabbitmq-server's postinst may start a system-wide node via invoke-rc.d/systemd.
  local guard=/usr/sbin/policy-rc.d own_guard=
  if [[ ! -e $guard ]]; then
    printf '#!/bin/sh\nexit 101\n' >"$guard" && chmod +x "$guard" && own_guard=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  local alog=$STATE/apt.log rc=0
  local cmd=(apt-get install -y -q --no-install-recommends -o Dpkg::Options::=--force-confold "$@")
  # Only `apt-get update` when the install fails without it (saves ~10 s on CI).
  "${cmd[@]}" >"$alog" 2>&1 </dev/null ||
    { apt-get update -q >>"$alog" 2>&1 </dev/null && "${cmd[@]}" >>"$alog" 2>&1 </dev/null; } || rc=$?
  if [[ -n $own_guard ]]; then rm -f "$guard"; trap - EXIT; fi
  ((rc == 0)) || fail "apt-get install $* failed" "$alog"
}

# ensure_packages rabbitmq|kafka|clients... : install whatever is missing, in one apt call
ensure_packages() {
  local want=() what
  for what in "$@"; do
    case $what in
      rabbitmq) [[ -x /usr/sbin/rabbitmq-server ]] || want+=(rabbitmq-server) ;;
      kafka)
        command -v java >/dev/null || want+=(openjdk-17-jre-headless)
        command -v mvn >/dev/null || want+=(maven)
        command -v kcat >/dev/null || want+=(kcat) ;;   # readiness probe
      # AMQP 1.0 client for tests (Debian python3 + qpid-proton)
      clients) /usr/bin/python3 -c 'import proton' 2>/dev/null || want+=(python3-qpid-proton) ;;
    esac
  done
  ((${#want[@]} == 0)) || apt_install "${want[@]}"
}

# ---------------------------------------------------------------- TLS
# A throw-away CA and one server certificate for localhost / 127.0.0.1 (both
# brokers), made once: ca.pem (what clients trust), server.pem + server.key,
# and server-kafka.pem (key then certificate: Kafka's PEM key store). The
# keys are unencrypted: test material only, never a real deployment's.
ensure_tls() {
  [[ -s $TLS_DIR/server-kafka.pem ]] && return
  command -v openssl >/dev/null || apt_install openssl
  log "making a test CA and server certificate in $TLS_DIR"
  rm -rf "$TLS_DIR" && mkdir -p "$TLS_DIR"
  local o=$TLS_DIR/openssl.log
  {
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=streamprobe test CA" \
      -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
      -keyout "$TLS_DIR/ca.key" -out "$TLS_DIR/ca.pem" &&
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
      -keyout "$TLS_DIR/server.key" -out "$TLS_DIR/server.csr" &&
    printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" "basicConstraints=CA:FALSE" \
      "keyUsage=digitalSignature,keyEncipherment" "extendedKeyUsage=serverAuth" >"$TLS_DIR/server.ext" &&
    openssl x509 -req -days 3650 -in "$TLS_DIR/server.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
      -CAcreateserial -extfile "$TLS_DIR/server.ext" -out "$TLS_DIR/server.pem"
  } >"$o" 2>&1 || fail "openssl could not make the test certificates" "$o"
  cat "$TLS_DIR/server.key" "$TLS_DIR/server.pem" >"$TLS_DIR/server-kafka.pem"
  chmod 0644 "$TLS_DIR"/*.pem
}

# A client certificate (CN=$TLS_CLIENT_CN) signed by the test CA, for mutual
# TLS (RabbitMQ verifies a certificate a client presents; one without a
# certificate still connects): client.pem + client.key. Made once.
TLS_CLIENT_CN=probe-client
ensure_client_cert() {
  ensure_tls
  [[ -s $TLS_DIR/client.pem ]] && return
  local o=$TLS_DIR/openssl-client.log
  {
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$TLS_CLIENT_CN" \
      -keyout "$TLS_DIR/client.key" -out "$TLS_DIR/client.csr" &&
    printf '%s\n' "basicConstraints=CA:FALSE" "keyUsage=digitalSignature,keyEncipherment" \
      "extendedKeyUsage=clientAuth" >"$TLS_DIR/client.ext" &&
    openssl x509 -req -days 3650 -in "$TLS_DIR/client.csr" -CA "$TLS_DIR/ca.pem" -CAkey "$TLS_DIR/ca.key" \
      -CAcreateserial -extfile "$TLS_DIR/client.ext" -out "$TLS_DIR/client.pem"
  } >"$o" 2>&1 || fail "openssl could not make the test client certificate" "$o"
  chmod 0644 "$TLS_DIR/client.pem" "$TLS_DIR/client.key"
}

# ---------------------------------------------------------------- RabbitMQ
# Probe: send the AMQP 0-9-1 protocol header; a live broker answers with a
# Connection.Start method frame, whose first byte is frame type 1.
amqp_ping() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$RMQ_PORT" || exit 1
    printf 'AMQP\0\0\x09\x01' >&3
    IFS= read -r -N 1 -t 5 b <&3 && [[ $b == $'\x01' ]]
  ) 2>/dev/null
}

# The management API answers (any HTTP status line: /api/overview wants a login).
api_ping() {
  (
    exec 3<>"/dev/tcp/127.0.0.1/$RMQ_API_PORT" || exit 1
    printf 'GET /api/overview HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
    IFS= read -r -t 5 line <&3 && [[ $line == HTTP/1.* ]]
  ) 2>/dev/null
}

# Where the node keeps mnesia/logs. It runs as user rabbitmq, which must be able to
# reach the state folder; if it can't (e.g. a repo under a 0700 home), fall back.
rmq_home() {
  mkdir -p "$RMQ_DIR"
  if [[ -f $RMQ_DIR/home ]]; then cat "$RMQ_DIR/home"; return; fi
  local home=$RMQ_DIR/node
  mkdir -p "$home"
  chown rabbitmq:rabbitmq "$home"
  if ! runuser -u rabbitmq -- test -w "$home"; then
    home=/var/lib/rabbitmq/streamprobe-stack
    log "user rabbitmq cannot write under $RMQ_DIR; keeping RabbitMQ data in $home"
    mkdir -p "$home" && chown rabbitmq:rabbitmq "$home"
  fi
  echo "$home" >"$RMQ_DIR/home"
  echo "$home"
}

# rmq_fail MESSAGE [LOG...]: fail, showing RabbitMQ's console output and node log
rmq_fail() {
  local h; h=$(cat "$RMQ_DIR/home" 2>/dev/null) || h=$RMQ_DIR/node
  fail "$@" "$RMQ_DIR/console.log" "$h"/log/rabbit@*.log
}

start_rabbitmq() {
  if amqp_ping; then
    if [[ ! -f $RMQ_MARK ]]; then
      log "RabbitMQ already running on :$RMQ_PORT, not started by stack.sh: reusing it as is"
      return
    fi
    local h; h=$(rmq_home)
    if grep -qs '\brabbitmq_auth_mechanism_ssl\b' "$h/enabled_plugins" && port_open "$RMQ_TLS_PORT"; then
      log "RabbitMQ already running (ours)"
      return
    fi
    # ours, started before stack.sh enabled the management API, AMQPS or SASL
    # EXTERNAL: its listener settings are read at boot only, so restart it once
    log "RabbitMQ (ours) runs without the management API, AMQPS or SASL EXTERNAL: restarting it to enable them"
    stop_rabbitmq
  fi
  port_open "$RMQ_PORT" && die "port $RMQ_PORT is busy but does not speak AMQP"
  ensure_packages rabbitmq
  local home; home=$(rmq_home)
  runuser -u rabbitmq -- mkdir -p "$home/mnesia" "$home/log"
  # Enable AMQP 1.0 (served on the same 5672 listener) and the management HTTP API
  # (streamprobe's broker view) in our own enabled_plugins file. A state dir set up
  # before the API was added lacks rabbitmq_management: each plugin is checked.
  # rabbitmq_auth_mechanism_ssl: SASL EXTERNAL, the user named by the client
  # certificate's CN (the stack's client certificate: user probe-client).
  local plugins=(rabbitmq_amqp1_0 rabbitmq_management rabbitmq_auth_mechanism_ssl) p missing=()
  for p in "${plugins[@]}"; do grep -qs "\b$p\b" "$home/enabled_plugins" || missing+=("$p"); done
  if ((${#missing[@]})); then
    RABBITMQ_ENABLED_PLUGINS_FILE=$home/enabled_plugins \
      rabbitmq-plugins enable --offline "${plugins[@]}" >"$RMQ_DIR/plugins.log" 2>&1 ||
      fail "rabbitmq-plugins enable ${missing[*]} failed" "$RMQ_DIR/plugins.log"
  fi
  port_open "$RMQ_API_PORT" && die "port $RMQ_API_PORT (management API) is busy"
  port_open "$RMQ_TLS_PORT" && die "port $RMQ_TLS_PORT (AMQPS) is busy"
  # AMQPS: the node reads its certificate files as user rabbitmq, from its home
  ensure_client_cert
  runuser -u rabbitmq -- mkdir -p "$home/tls"
  install -o rabbitmq -g rabbitmq -m 0600 "$TLS_DIR/ca.pem" "$TLS_DIR/server.pem" "$TLS_DIR/server.key" "$home/tls/"
  # Log to the file only: the node runs in the foreground, so console logging would
  # duplicate everything into console.log (which keeps just early boot errors).
  # The management API listens on loopback only. Statistics every second, so the
  # broker view's queue figures and rates follow quickly. Three settings make up
  # that second, each 5 s by default: collect_statistics_interval (how often
  # channels and queues emit), quorum_tick_interval (quorum queues' message counts)
  # and the management agent's first sample bucket (605 s kept at 5 s granularity:
  # the message_stats totals, e.g. the ack counter, move in its steps). The last
  # two are advanced.config-only settings. Measured: 5 s steps before, 1 s after.
  cat >"$home/rabbitmq.conf" <<EOF
log.console = false
management.tcp.ip = 127.0.0.1
management.tcp.port = $RMQ_API_PORT
collect_statistics_interval = 1000
listeners.ssl.1 = 127.0.0.1:$RMQ_TLS_PORT
ssl_options.cacertfile = $home/tls/ca.pem
ssl_options.certfile = $home/tls/server.pem
ssl_options.keyfile = $home/tls/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = false
auth_mechanisms.1 = PLAIN
auth_mechanisms.2 = AMQPLAIN
auth_mechanisms.3 = EXTERNAL
ssl_cert_login_from = common_name
EOF
  cat >"$home/advanced.config" <<'EOF'
[{rabbit, [{quorum_tick_interval, 1000}]},
 {rabbitmq_management_agent, [{sample_retention_policies,
   [{global, [{605, 1}, {3660, 60}, {29400, 600}, {86400, 1800}]},
    {basic, [{605, 1}, {3600, 60}]},
    {detailed, [{605, 1}]}]}]}].
EOF
  log "starting RabbitMQ (logs: $home/log)"
  : >"$RMQ_DIR/console.log"
  touch "$RMQ_MARK"  # before launching, so an interrupted `up` still lets `down` stop it
  # The Debian wrapper su's to user rabbitmq (HOME=/var/lib/rabbitmq, so the same
  # Erlang cookie as a plain `rabbitmqctl`); su keeps these RABBITMQ_* variables.
  # The node name is left at its default, rabbit@<hostname>. fd 9 (our lock) is closed.
  RABBITMQ_MNESIA_BASE=$home/mnesia RABBITMQ_LOG_BASE=$home/log \
  RABBITMQ_PID_FILE=$home/rabbitmq.pid RABBITMQ_ENABLED_PLUGINS_FILE=$home/enabled_plugins \
  RABBITMQ_CONFIG_FILE=$home/rabbitmq.conf RABBITMQ_ADVANCED_CONFIG_FILE=$home/advanced.config \
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT=$RMQ_PORT \
    setsid nohup /usr/sbin/rabbitmq-server </dev/null >>"$RMQ_DIR/console.log" 2>&1 9>&- &
  local pid=$! end=$((SECONDS + RMQ_TIMEOUT))
  until amqp_ping && timeout 30 rabbitmqctl -q await_startup >/dev/null 2>&1 && api_ping && port_open "$RMQ_TLS_PORT"; do
    kill -0 "$pid" 2>/dev/null || { rm -f "$RMQ_MARK"; rmq_fail "RabbitMQ exited during startup"; }
    ((SECONDS < end)) ||
      rmq_fail "RabbitMQ not ready after ${RMQ_TIMEOUT}s (it is left running; 'stack.sh down' stops it)"
    sleep 1
  done
  # the user SASL EXTERNAL logs in as (the client certificate's CN); its
  # password is random and never used
  if ! rabbitmqctl -q list_users 2>/dev/null | grep -q '^probe-client\b'; then
    rabbitmqctl -q add_user probe-client "$(head -c 18 /dev/urandom | base64)" >/dev/null 2>&1 &&
      rabbitmqctl -q set_permissions probe-client '.*' '.*' '.*' >/dev/null 2>&1 ||
      fail "cannot create RabbitMQ user probe-client (SASL EXTERNAL)" "$RMQ_DIR/console.log"
  fi
  log "RabbitMQ ready"
}

# stop_rabbitmq [lenient]: lenient (used by `down`) skips a broker we did not start
stop_rabbitmq() {
  if [[ ! -f $RMQ_MARK ]]; then
    if port_open "$RMQ_PORT"; then
      [[ ${1:-} == lenient ]] || die "RabbitMQ on :$RMQ_PORT was not started by stack.sh; not stopping it"
      log "RabbitMQ on :$RMQ_PORT was not started by stack.sh: leaving it running"
    else log "RabbitMQ not running"; fi
    return
  fi
  local home pidf; home=$(rmq_home); pidf=$home/rabbitmq.pid
  log "stopping RabbitMQ"
  # With a pid file, `rabbitmqctl stop` also waits for the OS process to exit.
  local args=(); [[ -f $pidf ]] && args=("$pidf")
  timeout 90 rabbitmqctl -q stop "${args[@]}" >"$RMQ_DIR/stop.log" 2>&1 || {
    local p; p=$(cat "$pidf" 2>/dev/null) || true
    if [[ -n $p ]] && kill -0 "$p" 2>/dev/null; then log "rabbitmqctl stop failed; killing pid $p"; kill -9 "$p" || true; fi
  }
  wait_port_free "$RMQ_PORT" 60 ||
    rmq_fail "RabbitMQ still listening on :$RMQ_PORT after stop" "$RMQ_DIR/stop.log"
  rm -f "$RMQ_MARK" "$pidf"
  log "RabbitMQ stopped"
}

# ---------------------------------------------------------------- Kafka
kafka_running_pid() { # prints the pid of our broker if it is alive
  local p
  p=$(cat "$KAFKA_PID" 2>/dev/null) || return 1
  [[ -n $p ]] && kill -0 "$p" 2>/dev/null && grep -qa kafka.Kafka "/proc/$p/cmdline" && echo "$p"
}
# A metadata round trip that lists our single broker.
kafka_ready() { timeout 15 kcat -b "127.0.0.1:$KAFKA_PORT" -L -m 5 2>/dev/null | grep -q ' 1 brokers:'; }

resolve_kafka_jars() {
  local pom=$ROOT/scripts/kafka/pom.xml sum
  sum=$(sha256sum "$pom" | cut -d' ' -f1)
  [[ $(cat "$KAFKA_LIBS/.resolved" 2>/dev/null) == "$sum" ]] && return
  log "resolving Kafka jars with Maven (first run only)"
  rm -rf "$KAFKA_LIBS"
  mvn -B -q -f "$pom" dependency:copy-dependencies -DoutputDirectory="$KAFKA_LIBS" \
    </dev/null >"$KAFKA_DIR/mvn.log" 2>&1 || fail "Maven could not resolve the Kafka jars" "$KAFKA_DIR/mvn.log"
  echo "$sum" >"$KAFKA_LIBS/.resolved"
}

write_kafka_config() {
  # KRaft combined broker+controller. StorageTool `format --standalone` (dynamic
  # quorum, KIP-853) refuses the static controller.quorum.voters, so the 4.x
  # controller.quorum.bootstrap.servers is used instead.
  cat >"$KAFKA_DIR/server.properties" <<EOF
# generated by scripts/stack.sh
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT,SASL_SSL://127.0.0.1:$KAFKA_SASL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
# SASL_SSL: SCRAM-SHA-256 users (created with ConfigCommand once the broker
# runs), TLS with a PEM key store (unencrypted key, then the certificate)
sasl.enabled.mechanisms=SCRAM-SHA-256
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/server-kafka.pem
log.dirs=$KAFKA_DIR/data
num.partitions=1
auto.create.topics.enable=true
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
EOF
}

kafka_java() { # run a Kafka class with the resolved jars, tool logging to stderr
  java -Dlog4j2.configurationFile="$ROOT/scripts/kafka/tools-log4j2.properties" -cp "$KAFKA_LIBS/*" "$@"
}

# launch_kafka: start the broker unless running; sets KAFKA_EXTERNAL=1 when reusing
# a broker we did not start. wait_kafka then waits for readiness, so that `up` can
# boot RabbitMQ while Kafka starts.
KAFKA_EXTERNAL=
launch_kafka() {
  if kafka_running_pid >/dev/null; then
    log "Kafka already running (ours)"
  elif port_open "$KAFKA_PORT"; then
    ensure_packages kafka
    kafka_ready || die "port $KAFKA_PORT is busy but is not a usable Kafka broker"
    log "Kafka already running on :$KAFKA_PORT, not started by stack.sh: reusing it as is"
    KAFKA_EXTERNAL=1
  else
    port_open "$CONTROLLER_PORT" && die "controller port $CONTROLLER_PORT is busy"
    ensure_packages kafka
    port_open "$KAFKA_SASL_PORT" && die "port $KAFKA_SASL_PORT (Kafka SASL_SSL) is busy"
    mkdir -p "$KAFKA_DIR/logs" "$KAFKA_DIR/data"
    ensure_tls
    resolve_kafka_jars
    write_kafka_config
    if [[ ! -f $KAFKA_DIR/data/meta.properties ]]; then
      local id; id=$(kafka_java kafka.tools.StorageTool random-uuid)
      log "formatting Kafka storage (cluster id $id)"
      kafka_java kafka.tools.StorageTool format --standalone -t "$id" -c "$KAFKA_DIR/server.properties" \
        >"$KAFKA_DIR/format.log" 2>&1 || fail "Kafka storage format failed" "$KAFKA_DIR/format.log"
    fi
    log "starting Kafka (logs: $KAFKA_DIR/logs)"
    : >"$KAFKA_DIR/logs/console.log"
    # setsid: own session, so the broker outlives this script and CI's shell; fd 9 closed.
    setsid nohup java -Xms256m -Xmx1g -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
      -Dkafka.logs.dir="$KAFKA_DIR/logs" \
      -Dlog4j2.configurationFile="$ROOT/scripts/kafka/log4j2.properties" \
      -cp "$KAFKA_LIBS/*" kafka.Kafka "$KAFKA_DIR/server.properties" \
      </dev/null >"$KAFKA_DIR/logs/console.log" 2>&1 9>&- &
    echo $! >"$KAFKA_PID"
  fi
}

wait_kafka() {
  [[ -z $KAFKA_EXTERNAL ]] || return 0
  local end=$((SECONDS + KAFKA_TIMEOUT))
  until port_open "$KAFKA_PORT" && kafka_ready; do
    # Only "is the process alive": right after the launch, /proc/PID/cmdline
    # may not show java yet (the forked shell has not exec'd), so the
    # cmdline check of kafka_running_pid would report a false exit.
    kill -0 "$(cat "$KAFKA_PID" 2>/dev/null)" 2>/dev/null ||
      fail "Kafka exited during startup" "$KAFKA_DIR/logs/console.log" "$KAFKA_DIR/logs/server.log"
    ((SECONDS < end)) ||
      fail "Kafka not ready after ${KAFKA_TIMEOUT}s (it is left running; 'stack.sh down' stops it)" \
        "$KAFKA_DIR/logs/console.log" "$KAFKA_DIR/logs/server.log"
    sleep 1
  done
  # the SCRAM user of the SASL_SSL listener, once per data folder (kept in
  # the cluster's metadata)
  [[ -f $KAFKA_DIR/data/.scram-user ]] && { log "Kafka ready"; return; }
  kafka_java kafka.admin.ConfigCommand --bootstrap-server "127.0.0.1:$KAFKA_PORT" --alter \
    --add-config "SCRAM-SHA-256=[iterations=4096,password=$KAFKA_SCRAM_PASSWORD]" \
    --entity-type users --entity-name "$KAFKA_SCRAM_USER" >"$KAFKA_DIR/scram.log" 2>&1 ||
    fail "creating the Kafka SCRAM user failed" "$KAFKA_DIR/scram.log"
  touch "$KAFKA_DIR/data/.scram-user"
  log "Kafka ready"
}

# stop_kafka [lenient]: see stop_rabbitmq
stop_kafka() {
  local pid
  if ! pid=$(kafka_running_pid); then
    rm -f "$KAFKA_PID"
    if port_open "$KAFKA_PORT"; then
      [[ ${1:-} == lenient ]] || die "Kafka on :$KAFKA_PORT was not started by stack.sh; not stopping it"
      log "Kafka on :$KAFKA_PORT was not started by stack.sh: leaving it running"
    else log "Kafka not running"; fi
    return
  fi
  log "stopping Kafka (pid $pid)"
  kill -TERM "$pid"  # controlled shutdown; a single node takes a few seconds
  local end=$((SECONDS + 60))
  while kill -0 "$pid" 2>/dev/null; do
    if ((SECONDS >= end)); then log "Kafka did not stop in 60s; killing it"; kill -9 "$pid" 2>/dev/null || true; fi
    sleep 0.5
  done
  if ! wait_port_free "$KAFKA_PORT" 30 || ! wait_port_free "$CONTROLLER_PORT" 30 ||
    ! wait_port_free "$KAFKA_SASL_PORT" 30; then
    fail "Kafka ports still busy after stop" "$KAFKA_DIR/logs/server.log"
  fi
  rm -f "$KAFKA_PID"
  log "Kafka stopped"
}

# ---------------------------------------------------------------- Artemis
artemis_pid() {
  local p; p=$(cat "$ARTEMIS_DIR/artemis.pid" 2>/dev/null) || return 1
  [[ -n $p ]] && kill -0 "$p" 2>/dev/null && echo "$p"
}

# Apache ActiveMQ Artemis, its bin distribution from Maven Central, one
# broker instance: AMQP only on 127.0.0.1:$ARTEMIS_PORT (guest/guest, login
# required), the core protocol on 127.0.0.1:$ARTEMIS_CORE_PORT (the CLI's),
# no web console. Addresses are auto-created ANYCAST (point-to-point, like
# a RabbitMQ queue): a message sent to an address nobody reads yet waits in
# its queue instead of being dropped, as with Artemis's MULTICAST default.
# max-disk-usage 100: Artemis's default (90 %) blocks every producer on a
# full-ish test disk, which a test would read as a broker that never settles.
start_artemis() {
  if artemis_pid >/dev/null; then log "Artemis already running (ours)"; return; fi
  port_open "$ARTEMIS_PORT" && die "port $ARTEMIS_PORT (Artemis AMQP) is busy"
  ensure_packages kafka   # java and maven
  local home=$ARTEMIS_DIR/apache-artemis-$ARTEMIS_VERSION inst=$ARTEMIS_DIR/broker
  mkdir -p "$ARTEMIS_DIR"
  if [[ ! -x $home/bin/artemis ]]; then
    log "resolving Apache ActiveMQ Artemis $ARTEMIS_VERSION with Maven (first run only)"
    mvn -B -q dependency:copy "-Dartifact=org.apache.activemq:apache-artemis:$ARTEMIS_VERSION:tar.gz:bin" \
      -DoutputDirectory="$ARTEMIS_DIR" </dev/null >"$ARTEMIS_DIR/mvn.log" 2>&1 ||
      fail "Maven could not resolve Artemis" "$ARTEMIS_DIR/mvn.log"
    tar -xzf "$ARTEMIS_DIR/apache-artemis-$ARTEMIS_VERSION-bin.tar.gz" -C "$ARTEMIS_DIR"
  fi
  if [[ ! -f $inst/etc/broker.xml ]]; then
    "$home/bin/artemis" create --silent --user guest --password guest --require-login \
      --no-web --no-autotune --host 127.0.0.1 --no-hornetq-acceptor --no-mqtt-acceptor \
      --no-stomp-acceptor --default-port "$ARTEMIS_CORE_PORT" "$inst" >"$ARTEMIS_DIR/create.log" 2>&1 ||
      fail "artemis create failed" "$ARTEMIS_DIR/create.log"
    sed -i -e "s#tcp://127.0.0.1:5672?#tcp://127.0.0.1:$ARTEMIS_PORT?#" \
      -e 's#<address-setting match="\#">#<address-setting match="\#">\n            <default-address-routing-type>ANYCAST</default-address-routing-type>\n            <default-queue-routing-type>ANYCAST</default-queue-routing-type>#' \
      -e 's#<max-disk-usage>[0-9]*</max-disk-usage>#<max-disk-usage>100</max-disk-usage>#' \
      "$inst/etc/broker.xml"
  fi
  log "starting Artemis (logs: $inst/log)"
  setsid nohup "$inst/bin/artemis" run </dev/null >"$ARTEMIS_DIR/console.log" 2>&1 9>&- &
  echo $! >"$ARTEMIS_DIR/artemis.pid"
  local end=$((SECONDS + 90))
  until port_open "$ARTEMIS_PORT"; do
    artemis_pid >/dev/null || fail "Artemis exited during startup" "$ARTEMIS_DIR/console.log"
    ((SECONDS < end)) || fail "Artemis not ready after 90s" "$ARTEMIS_DIR/console.log"
    sleep 0.5
  done
  log "Artemis ready: amqp://guest:guest@127.0.0.1:$ARTEMIS_PORT"
}

stop_artemis() {
  local pid
  if ! pid=$(artemis_pid); then log "Artemis not running"; return; fi
  log "stopping Artemis (pid $pid)"
  kill -TERM "$pid"
  local end=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    ((SECONDS < end)) || { kill -9 "$pid" 2>/dev/null || true; }
    sleep 0.5
  done
  rm -f "$ARTEMIS_DIR/artemis.pid"
  log "Artemis stopped"
}

# ---------------------------------------------------------------- verbs
# declare_queue NAME: a durable quorum queue NAME in vhost /. Quorum queues
# keep every message on disk whether or not it was sent durable (Bento's
# amqp_1 output sends without a header, i.e. transient), so what such a queue
# holds survives a RabbitMQ restart. RabbitMQ 3.10's AMQP 1.0 plugin declares
# non-durable queues on attach to a bare `NAME`, which then clashes with this
# one: address it as `/amq/queue/NAME` (exists, never declared).
declare_queue() {
  local name=$1 out
  [[ $name =~ ^[A-Za-z0-9_.:-]{1,200}$ ]] || die "queue name '$name': use letters, digits and _ . : - only"
  out=$(rabbitmqctl eval "rabbit_amqqueue:declare(rabbit_misc:r(<<\"/\">>, queue, <<\"$name\">>), true, false, [{<<\"x-queue-type\">>, longstr, <<\"quorum\">>}], none, <<\"guest\">>)." 2>&1) \
    || die "declaring queue $name failed: $out"
  case $out in
    "{new,"*|"{existing,"*) log "queue $name: durable quorum queue ready" ;;
    *) die "declaring queue $name failed: $out" ;;
  esac
}

status() {
  local ok=0
  if amqp_ping; then
    echo "rabbitmq: up   amqp://guest:guest@127.0.0.1:$RMQ_PORT ($([[ -f $RMQ_MARK ]] && echo "started by stack.sh" || echo external))"
    # informational: a reused external broker may run without the management plugin
    port_open "$RMQ_TLS_PORT" && echo "rabbitmq: tls  amqps://127.0.0.1:$RMQ_TLS_PORT (CA: $TLS_DIR/ca.pem)"
    if api_ping; then echo "rabbitmq: api  http://127.0.0.1:$RMQ_API_PORT (management)"
    else echo "rabbitmq: api  down (no management API on :$RMQ_API_PORT)"; fi
  else echo "rabbitmq: down"; ok=1; fi
  local pid
  if port_open "$KAFKA_PORT" && kafka_ready; then
    pid=$(kafka_running_pid) && pid="pid $pid" || pid=external
    echo "kafka:    up   127.0.0.1:$KAFKA_PORT ($pid)"
    port_open "$KAFKA_SASL_PORT" && echo "kafka:    sasl 127.0.0.1:$KAFKA_SASL_PORT (SASL_SSL, SCRAM-SHA-256 $KAFKA_SCRAM_USER/$KAFKA_SCRAM_PASSWORD)"
  else echo "kafka:    down"; ok=1; fi
  return $ok
}

usage() {
  sed -n '2,25p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

[[ $# == 1 || ( $# -gt 1 && ( $1 == queue || $1 == artemis ) ) ]] || usage
mkdir -p "$STATE"
# Serialise concurrent invocations (e.g. parallel tests calling `up`).
exec 9>"$STATE/.lock"
flock -w 600 9 || die "another stack.sh holds $STATE/.lock"

case $1 in
  up)
    ensure_packages rabbitmq kafka clients
    launch_kafka
    start_rabbitmq
    wait_kafka
    status
    echo "state: $STATE" ;;
  down)
    stop_artemis
    stop_kafka lenient
    stop_rabbitmq lenient ;;
  status) status ;;
  start-rabbitmq) start_rabbitmq ;;
  stop-rabbitmq) stop_rabbitmq ;;
  restart-rabbitmq) stop_rabbitmq; start_rabbitmq ;;
  start-kafka) launch_kafka; wait_kafka ;;
  stop-kafka) stop_kafka ;;
  restart-kafka) stop_kafka; launch_kafka; wait_kafka ;;
  tls-ca) ensure_tls; echo "$TLS_DIR/ca.pem" ;;
  tls-client) ensure_client_cert; echo "$TLS_DIR/client.pem $TLS_DIR/client.key" ;;
  start-artemis) start_artemis ;;
  artemis) shift; exec 9>&-; exec "$ARTEMIS_DIR/broker/bin/artemis" "$@" --user guest --password guest \
      --url "tcp://127.0.0.1:$ARTEMIS_CORE_PORT" ;;
  stop-artemis) stop_artemis ;;
  queue) shift; [[ $# -gt 0 ]] || usage; for q in "$@"; do declare_queue "$q"; done ;;
  *) usage ;;
esac
