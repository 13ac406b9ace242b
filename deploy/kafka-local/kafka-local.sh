#!/usr/bin/env bash
# kafka-local.sh: one real Apache Kafka node (KRaft, broker+controller) on
# 127.0.0.1, run from Maven Central's jars. No Docker, no download of a
# Kafka distribution: pom.xml beside this script resolves the jars.
#
#   kafka-local.sh start     resolve jars (if needed), start, wait until ready
#   kafka-local.sh stop      stop the broker, remove its data (safe if none runs)
#   kafka-local.sh status    print the address if running (exit 1 if not)
#   kafka-local.sh brokers   print the address, e.g. 127.0.0.1:40123
#
#   export CUSTREAM_TEST_BROKERS=$(deploy/kafka-local/kafka-local.sh brokers)
#
# Environment:
#   CUSTREAM_KAFKA_DIR            run dir (default ${TMPDIR:-/tmp}/custream-kafka)
#   CUSTREAM_KAFKA_START_TIMEOUT  seconds to wait for the broker (default 90)
#   CUSTREAM_KAFKA_HEAP           JVM heap options (default "-Xmx1g -Xms256m")
#   CUSTREAM_KAFKA_LOG_LEVEL      slf4j-simple level for server.log (default info)
#   JAVA_HOME                     Java 17+ to use (default: java on PATH)
#
# A second `start` while a broker of the same run dir runs reuses it (prints
# its address, exit 0). Use another CUSTREAM_KAFKA_DIR for a second broker.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN_DIR="${CUSTREAM_KAFKA_DIR:-${TMPDIR:-/tmp}/custream-kafka}"
LIB_DIR="$HERE/target/lib"
STAMP="$LIB_DIR/.resolved"
START_TIMEOUT="${CUSTREAM_KAFKA_START_TIMEOUT:-90}"
HEAP_OPTS="${CUSTREAM_KAFKA_HEAP:--Xmx1g -Xms256m}"
LOG_LEVEL="${CUSTREAM_KAFKA_LOG_LEVEL:-info}"
READY_LINE='Kafka Server started'

PID_FILE="$RUN_DIR/pid"
BROKERS_FILE="$RUN_DIR/brokers"
DATA_DIR="$RUN_DIR/data"
PROPS="$RUN_DIR/server.properties"
SERVER_LOG="$RUN_DIR/server.log"   # slf4j-simple output (the broker's log)
JAVA_OUT="$RUN_DIR/java.out"       # the JVM's own stdout/stderr
MVN_LOG="$RUN_DIR/mvn.log"

log() { echo "kafka-local: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

java_bin() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ]; then
    echo "$JAVA_HOME/bin/java"
  elif command -v java >/dev/null 2>&1; then
    command -v java
  else
    die "no java found (Kafka 4.x needs Java 17 or newer; set JAVA_HOME or put java on PATH)"
  fi
}

java_major() { # prints the major version of the given java, e.g. 17
  "$1" -XshowSettings:properties -version 2>&1 |
    awk -F' = ' '/java.specification.version/ {print $2; exit}' | sed 's/^1\.//'
}

kafka_jar() { # path of kafka_2.13-X.jar in target/lib, or nothing
  local j
  for j in "$LIB_DIR"/kafka_2.13-*.jar; do
    [ -f "$j" ] && { echo "$j"; return 0; }
  done
  return 0
}

kafka_version() {
  local j
  j="$(kafka_jar)"
  j="${j##*/kafka_2.13-}"
  echo "${j%.jar}"
}

# True when the pid file names a live process that is our broker.
running_pid() {
  local pid
  [ -f "$PID_FILE" ] || return 1
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  # Guard against a recycled pid: it must be a JVM running kafka.Kafka.
  if [ -r "/proc/$pid/cmdline" ]; then
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q 'kafka\.Kafka' || return 1
  fi
  echo "$pid"
}

resolve_jars() {
  if [ -n "$(kafka_jar)" ] && [ -f "$STAMP" ] && ! [ "$HERE/pom.xml" -nt "$STAMP" ]; then
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is needed to resolve the Kafka jars into $LIB_DIR"
  log "resolving Kafka jars with Maven (pom.xml) into $LIB_DIR ..."
  rm -rf "$LIB_DIR"   # no stale jars of another version on the classpath
  if ! (cd "$HERE" && mvn -q -B -Dstyle.color=never package) >"$MVN_LOG" 2>&1; then
    tail -n 40 "$MVN_LOG" >&2 || true
    die "Maven could not resolve the Kafka jars (full output: $MVN_LOG)"
  fi
  [ -n "$(kafka_jar)" ] || die "Maven ran but $LIB_DIR has no kafka_2.13 jar"
  touch "$STAMP"
}

# Two distinct free TCP ports on 127.0.0.1, printed as "PORT CPORT".
free_ports() {
  if command -v python3 >/dev/null 2>&1; then
    python3 - <<'PY'
import socket
socks = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)  # keep both open so the two ports differ
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
PY
    return
  fi
  # Fallback: probe random high ports; a refused connect means free.
  local ports=() p
  while [ "${#ports[@]}" -lt 2 ]; do
    p=$(( 20000 + RANDOM % 30000 ))
    [ "${#ports[@]}" -eq 1 ] && [ "${ports[0]}" = "$p" ] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
      ports+=("$p")
    fi
  done
  echo "${ports[@]}"
}

# True when something accepts TCP connections on 127.0.0.1:$1. With python3
# it also sends a Kafka ApiVersions v0 request and wants error_code 0 back.
probe() {
  local port="$1"
  if command -v python3 >/dev/null 2>&1; then
    python3 - "$port" <<'PY' 2>/dev/null
import socket, struct, sys
port = int(sys.argv[1])
client = b"kafka-local"
# header v1: api_key=18 (ApiVersions), api_version=0, correlation_id, client_id
body = struct.pack(">hhih", 18, 0, 7, len(client)) + client
with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
    s.settimeout(3)
    s.sendall(struct.pack(">i", len(body)) + body)
    def read(n):
        buf = b""
        while len(buf) < n:
            chunk = s.recv(n - len(buf))
            if not chunk:
                raise SystemExit(1)
            buf += chunk
        return buf
    size = struct.unpack(">i", read(4))[0]
    resp = read(size)
    corr, err = struct.unpack(">ih", resp[:6])
    sys.exit(0 if corr == 7 and err == 0 else 1)
PY
  else
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null
  fi
}

write_props() {
  local port="$1" cport="$2"
  cat >"$PROPS" <<EOF
# Written by kafka-local.sh: one combined KRaft broker+controller for tests.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$port,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$port
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$DATA_DIR

# Single node: replication factor 1 and min ISR 1 everywhere.
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
share.coordinator.state.topic.num.partitions=4

num.partitions=1
auto.create.topics.enable=false
delete.topic.enable=true

# Fast groups for tests.
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
group.consumer.min.session.timeout.ms=1000
group.consumer.min.heartbeat.interval.ms=500

# Compaction that a test can observe: the cleaner looks every second (topics
# still need a small segment.ms / segment.bytes so that segments roll).
log.cleaner.enable=true
log.cleaner.backoff.ms=1000
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=33554432
log.initial.task.delay.ms=1000
log.retention.check.interval.ms=5000

# Transactions: abort timed-out ones and expire old ids promptly.
transaction.abort.timed.out.transaction.cleanup.interval.ms=5000
transaction.remove.expired.transaction.cleanup.interval.ms=60000

# Light on a 2-core machine.
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
}

show_failure() {
  local f
  for f in "$SERVER_LOG" "$JAVA_OUT"; do
    if [ -s "$f" ]; then
      log "---- last 60 lines of $f ----"
      tail -n 60 "$f" >&2
    fi
  done
}

kill_pid() { # SIGTERM, wait up to $2 s, then SIGKILL
  local pid="$1" wait_s="${2:-20}" i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < wait_s * 10; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  log "pid $pid still alive after ${wait_s}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
}

cmd_start() {
  local t0 pid port cport java major cluster_id addr deadline elapsed
  t0=$(date +%s.%N)
  mkdir -p "$RUN_DIR"

  # One start at a time per run dir (fd 9 is closed for the JVM below).
  exec 9>"$RUN_DIR/lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 180 9 || die "another kafka-local.sh start holds $RUN_DIR/lock"
  fi

  if pid="$(running_pid)"; then
    log "already running (pid $pid) at $(cat "$BROKERS_FILE" 2>/dev/null), reusing it"
    cat "$BROKERS_FILE"
    return 0
  fi
  rm -f "$PID_FILE" "$BROKERS_FILE"

  java="$(java_bin)"
  major="$(java_major "$java")"
  if ! [[ "$major" =~ ^[0-9]+$ ]] || [ "$major" -lt 17 ]; then
    die "$java is Java ${major:-?}; the Kafka 4.x broker needs Java 17 or newer (set JAVA_HOME)"
  fi

  resolve_jars

  read -r port cport < <(free_ports)
  if [ -z "$port" ] || [ -z "$cport" ]; then die "could not find two free ports"; fi
  addr="127.0.0.1:$port"

  rm -rf "$DATA_DIR"
  mkdir -p "$DATA_DIR"
  : >"$SERVER_LOG"
  : >"$JAVA_OUT"
  write_props "$port" "$cport"

  local cp="$LIB_DIR/*"
  local log_opts=(
    -Dorg.slf4j.simpleLogger.logFile="$SERVER_LOG"
    -Dorg.slf4j.simpleLogger.defaultLogLevel="$LOG_LEVEL"
    -Dorg.slf4j.simpleLogger.showDateTime=true
    -Dorg.slf4j.simpleLogger.dateTimeFormat="yyyy-MM-dd'T'HH:mm:ss.SSS"
    -Dorg.slf4j.simpleLogger.showThreadName=false
    -Dorg.slf4j.simpleLogger.showShortLogName=true
    -Dorg.slf4j.simpleLogger.levelInBrackets=true
  )
  # shellcheck disable=SC2206
  local jvm_opts=($HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
    -XX:-OmitStackTraceInFastThrow -Djava.awt.headless=true "${log_opts[@]}")

  # Format the storage (static voter set, so no --standalone).
  cluster_id="$("$java" -Xmx256m -cp "$cp" "${log_opts[@]}" kafka.tools.StorageTool random-uuid 2>>"$JAVA_OUT" | tail -n 1)"
  [ -n "$cluster_id" ] || { show_failure; die "kafka.tools.StorageTool random-uuid gave nothing"; }
  if ! "$java" -Xmx256m -cp "$cp" "${log_opts[@]}" kafka.tools.StorageTool \
      format -t "$cluster_id" -c "$PROPS" >>"$JAVA_OUT" 2>&1; then
    show_failure
    die "formatting the storage failed"
  fi

  nohup "$java" "${jvm_opts[@]}" -cp "$cp" kafka.Kafka "$PROPS" \
    >>"$JAVA_OUT" 2>&1 </dev/null 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"

  deadline=$(( $(date +%s) + START_TIMEOUT ))
  while :; do
    if ! kill -0 "$pid" 2>/dev/null; then
      show_failure
      rm -f "$PID_FILE"
      die "the broker (pid $pid) exited during start-up"
    fi
    if grep -q "$READY_LINE" "$SERVER_LOG" 2>/dev/null && probe "$port"; then
      break
    fi
    if [ "$(date +%s)" -ge "$deadline" ]; then
      show_failure
      kill_pid "$pid" 5
      rm -f "$PID_FILE"
      die "the broker did not become ready within ${START_TIMEOUT}s"
    fi
    sleep 0.25
  done

  echo "$addr" >"$BROKERS_FILE"
  elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  log "Apache Kafka $(kafka_version) (Java $major) ready at $addr in ${elapsed}s (pid $pid, logs in $RUN_DIR)"
  echo "$addr"
}

cmd_stop() {
  local pid
  if pid="$(running_pid)"; then
    log "stopping the broker (pid $pid)"
    kill_pid "$pid" 20
  fi
  rm -rf "$DATA_DIR"
  rm -f "$PID_FILE" "$BROKERS_FILE"
}

cmd_status() {
  local pid
  if pid="$(running_pid)" && [ -s "$BROKERS_FILE" ]; then
    echo "running: $(cat "$BROKERS_FILE") (pid $pid, Apache Kafka $(kafka_version), dir $RUN_DIR)"
  else
    echo "not running (dir $RUN_DIR)"
    return 1
  fi
}

cmd_brokers() {
  if running_pid >/dev/null && [ -s "$BROKERS_FILE" ]; then
    cat "$BROKERS_FILE"
  else
    die "no broker running (dir $RUN_DIR); run: $0 start"
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  brokers) cmd_brokers ;;
  *)
    echo "usage: $0 start|stop|status|brokers" >&2
    exit 2
    ;;
esac
