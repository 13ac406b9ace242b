#!/usr/bin/env bash
# with-kafka.sh CMD [ARGS...]: runs CMD with CUSTREAM_TEST_BROKERS pointing at
# a real Apache Kafka broker, and stops the broker afterwards, also when CMD
# fails or is interrupted.
#
# - CUSTREAM_TEST_BROKERS already set: that broker is used, nothing started.
# - Java and Maven present: kafka-local.sh starts a single KRaft node on
#   127.0.0.1 from Maven Central's jars.
# - Neither: CMD runs without a broker, and the tests fall back to kfake (or
#   Docker); this script says so loudly, because kfake is not Apache Kafka.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ -n "${CUSTREAM_TEST_BROKERS:-}" ]; then
  echo "with-kafka: using the broker in CUSTREAM_TEST_BROKERS=$CUSTREAM_TEST_BROKERS"
  exec "$@"
fi

if ! command -v java >/dev/null 2>&1 || ! command -v mvn >/dev/null 2>&1; then
  cat >&2 <<'TXT'
with-kafka: WARNING: no java/mvn on this machine, so no real Apache Kafka broker.
with-kafka: the integration tests will run against franz-go's in-process kfake
with-kafka: (or Kafka in Docker, if a Docker daemon answers) instead.
TXT
  exec "$@"
fi

started=0
stop_broker() {
  if [ "$started" = 1 ]; then
    "$here/kafka-local.sh" stop || true
    started=0
  fi
}
trap stop_broker EXIT
trap 'stop_broker; exit 130' INT TERM

if "$here/kafka-local.sh" status >/dev/null 2>&1 && addr="$("$here/kafka-local.sh" brokers 2>/dev/null)"; then
  # Somebody else's broker (make kafka-up): use it, and leave it running.
  export CUSTREAM_TEST_BROKERS="$addr"
  echo "with-kafka: using the running broker at $addr"
  exec "$@"
fi

if ! "$here/kafka-local.sh" start; then
  echo "with-kafka: the real broker did not start" >&2
  exit 1
fi
started=1
CUSTREAM_TEST_BROKERS="$("$here/kafka-local.sh" brokers)"
export CUSTREAM_TEST_BROKERS
echo "with-kafka: real Apache Kafka broker at $CUSTREAM_TEST_BROKERS"

"$@"
rc=$?
stop_broker
exit $rc
