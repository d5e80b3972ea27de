#!/usr/bin/env bash
# The ONE command that runs all tests (README): installs what is missing
# (kcat, curl and Python qpid-proton as independent ground-truth clients, tmux
# to drive the real UI, OpenSSL's headers for rdkafka's TLS; the
# stack script installs RabbitMQ and resolves Kafka), starts the local
# stack, and runs every test. End-to-end tests FAIL if the stack is missing.
# The stack stays up afterwards (stop it with `scripts/stack.sh down`).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive

missing=()
command -v kcat >/dev/null || missing+=(kcat)
command -v tmux >/dev/null || missing+=(tmux)
command -v curl >/dev/null || missing+=(curl)
/usr/bin/python3 -c 'import proton' 2>/dev/null || missing+=(python3-qpid-proton)
command -v cc >/dev/null && command -v make >/dev/null || missing+=(build-essential)
# rdkafka's `ssl` feature links Debian's OpenSSL (Kafka SSL / SASL_SSL, SCRAM)
pkg-config --exists openssl 2>/dev/null || missing+=(libssl-dev pkg-config)
command -v openssl >/dev/null || missing+=(openssl)
if ((${#missing[@]})); then
  echo "test: installing ${missing[*]}" >&2
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 \
    || { apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null; } \
    || { echo "test: ERROR: cannot install ${missing[*]} (apt-get; needs root)" >&2; exit 1; }
fi

bash scripts/stack.sh up
# Test binaries run one after another; tests that restart a broker live in
# their own binary (tests/ui_recovery.rs), so they never disturb another test.
# --no-fail-fast: one failing test binary must not hide the others' results.
cargo test --locked --no-fail-fast "$@"
