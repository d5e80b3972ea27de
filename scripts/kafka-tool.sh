#!/usr/bin/env bash
# Run one of Kafka's own CLI classes with the jars that scripts/stack.sh resolved,
# e.g. as ground truth in tests:
#
#   scripts/kafka-tool.sh CLASS ARGS...
#   scripts/kafka-tool.sh org.apache.kafka.tools.consumer.ConsoleConsumer \
#       --bootstrap-server 127.0.0.1:9092 --topic FOO --from-beginning --max-messages 1
#
# Classes checked against Kafka 4.1.1 (kafka-tools / kafka_2.13 jars):
#   org.apache.kafka.tools.TopicCommand                         (kafka-topics.sh)
#   org.apache.kafka.tools.consumer.ConsoleConsumer             (kafka-console-consumer.sh)
#   org.apache.kafka.tools.ConsoleProducer                      (kafka-console-producer.sh)
#   org.apache.kafka.tools.GetOffsetShell                       (kafka-get-offsets.sh)
#   org.apache.kafka.tools.consumer.group.ConsumerGroupCommand  (kafka-consumer-groups.sh)
#   org.apache.kafka.tools.EndToEndLatency                      (kafka-e2e-latency.sh)
#   org.apache.kafka.tools.ProducerPerformance / ConsumerPerformance, DeleteRecordsCommand
#   kafka.admin.ConfigCommand                                   (kafka-configs.sh)
# Note: 4.x moved most tools from kafka.admin.* / kafka.tools.* (Scala) to
# org.apache.kafka.tools.*; kafka.admin.TopicCommand and kafka.tools.ConsoleConsumer
# no longer exist.
#
# Logging (warnings only) goes to stderr, so stdout is just the tool's output.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LIBS=${STREAMPROBE_STACK_DIR:-$ROOT/.stack}/kafka/libs

[[ $# -ge 1 ]] || { sed -n '2,22p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
[[ -f $LIBS/.resolved ]] || { echo "kafka-tool: no Kafka jars in $LIBS; run scripts/stack.sh up first" >&2; exit 1; }

exec java -Xmx512m -Dlog4j2.configurationFile="$ROOT/scripts/kafka/tools-log4j2.properties" \
  -cp "$LIBS/*" "$@"
