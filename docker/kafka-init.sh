#!/bin/sh
# Creates eventgraph's Kafka topics before any service subscribes (run by the one-shot
# `kafka-init` service of docker-compose.yml, in the apache/kafka image). Idempotent.
#
# Topics (see docs/architecture.md): <prefix><service>.events for every service that
# publishes, and <prefix><topic>.dlq, the dead-letter topic consumers move poison events to.
# Keep the list in step with the event catalogue (schema/events/). The broker also
# auto-creates topics (with KAFKA_NUM_PARTITIONS partitions), so a topic missing here still
# works; creating them up front avoids the first subscriber racing topic creation.
#
# Env: KAFKA_BOOTSTRAP (host:port), KAFKA_TOPIC_PREFIX (may be empty), KAFKA_TOPIC_PARTITIONS.
set -eu

bootstrap="${KAFKA_BOOTSTRAP:-kafka:9092}"
prefix="${KAFKA_TOPIC_PREFIX:-}"
partitions="${KAFKA_TOPIC_PARTITIONS:-3}"
topics_sh=/opt/kafka/bin/kafka-topics.sh

for service in auth users catalog orders; do
  for topic in "${prefix}${service}.events" "${prefix}${service}.events.dlq"; do
    "$topics_sh" --bootstrap-server "$bootstrap" --create --if-not-exists \
      --topic "$topic" --partitions "$partitions" --replication-factor 1
  done
done

echo "kafka-init: topics on $bootstrap:"
"$topics_sh" --bootstrap-server "$bootstrap" --list
