#!/usr/bin/env bash
# kafka-local.sh: one real Apache Kafka node (KRaft, broker+controller) on
# 127.0.0.1, run from Maven Central's jars. No Docker, no download of a
# Kafka distribution: pom.xml beside this script resolves the jars.
#
#   kafka-local.sh start     resolve jars (if needed), start afresh on new free
#                            ports with empty data, wait until ready
#   kafka-local.sh stop      stop the broker, remove its data (safe if none runs)
#   kafka-local.sh status    print the address if running (exit 1 if not)
#   kafka-local.sh brokers   print the address, e.g. 127.0.0.1:40123
#
# For fault-injection tests (a run dir of their own, never the shared one):
#
#   kafka-local.sh kill      SIGKILL the broker; its data and ports are kept
#   kafka-local.sh restart   start the run again on the same ports with its
#                            kept data (after kill, or a graceful SIGTERM
#                            restart of a running broker), wait until ready
#   kafka-local.sh pause     SIGSTOP the broker (connections stay open, no answers)
#   kafka-local.sh resume    SIGCONT it
#
#   export CUSTREAM_TEST_BROKERS=$(deploy/kafka-local/kafka-local.sh brokers)
#
# `start` always begins a new run (fresh ports, data wiped); only `restart`
# continues one, so a crashed run dir never silently revives old data.
#
# Environment:
#   CUSTREAM_KAFKA_DIR            run dir (default ${TMPDIR:-/tmp}/custream-kafka)
#   CUSTREAM_KAFKA_START_TIMEOUT  seconds to wait for the broker (default 90)
#   CUSTREAM_KAFKA_HEAP           JVM heap options (default "-Xmx1g -Xms256m")
#   CUSTREAM_KAFKA_LOG_LEVEL      slf4j-simple level for server.log (default info)
#   CUSTREAM_KAFKA_EXTRA_PROPS    extra broker properties, newline-separated
#                                 key=value lines (# comments allowed); they
#                                 override the defaults of server.properties
#   CUSTREAM_KAFKA_EXTRA_PROPS_FILE  the same from a file (read first, so the
#                                 list above wins). Listener, node and log.dirs
#                                 keys are the script's and are refused. Read
#                                 by start; by restart only when set (else the
#                                 run keeps the extra properties it started with)
#   CUSTREAM_KAFKA_OWNER_PID      when set, the broker is SIGKILLed as soon as
#                                 that process is gone (a test binary that dies
#                                 without cleaning up leaves no JVM behind)
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
PORTS_FILE="$RUN_DIR/ports"        # "PORT CPORT" of the run, kept by kill
EXTRA_FILE="$RUN_DIR/extra.properties"  # the run's validated extra properties
WATCHDOG_FILE="$RUN_DIR/watchdog.pid"   # the CUSTREAM_KAFKA_OWNER_PID loop
# Keys that carry the script's ports, identity and data dir.
OWNED_KEYS=" process.roles node.id controller.quorum.voters listeners advertised.listeners controller.listener.names inter.broker.listener.name listener.security.protocol.map log.dirs log.dir "

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

# The one-letter state of a process from /proc (R, S, T when stopped, Z for
# a zombie), or nothing when /proc does not know it.
proc_state() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  stat="${stat##*) }"   # the command name may hold spaces; it ends with ") "
  echo "${stat%% *}"
}

# True when the process exists and is not a zombie waiting to be reaped. A
# JVM's main thread shows Z while its other threads still exit and hold its
# files (the listening ports): that still counts as alive.
alive() {
  local threads
  kill -0 "$1" 2>/dev/null || return 1
  [ "$(proc_state "$1")" = Z ] || return 0
  threads="$(awk '/^Threads:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true)"
  [ "${threads:-1}" -gt 1 ]
}

# Prints the pid when the pid file names a live process that is our broker.
running_pid() {
  local pid
  [ -f "$PID_FILE" ] || return 1
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  # Guard against a recycled pid: it must be a JVM running kafka.Kafka on
  # this run dir's properties (not another run's broker).
  if [ -r "/proc/$pid/cmdline" ]; then
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qx 'kafka\.Kafka' || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "$PROPS" || return 1
  fi
  echo "$pid"
}

# Waits up to $2 tenths of a second for pid $1 to be gone; false if it is not.
wait_gone() {
  local i
  for ((i = 0; i < $2; i++)); do
    alive "$1" || return 0
    sleep 0.1
  done
  ! alive "$1"
}

jars_resolved() {
  [ -n "$(kafka_jar)" ] && [ -f "$STAMP" ] && ! [ "$HERE/pom.xml" -nt "$STAMP" ]
}

resolve_jars() {
  jars_resolved && return 0
  # Brokers of several run dirs (parallel test packages) may start at once;
  # only one of them rebuilds target/lib (fd 8 is closed for the JVM below).
  mkdir -p "$HERE/target"
  exec 8>"$HERE/target/.resolve.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 300 8 || die "another kafka-local.sh holds $HERE/target/.resolve.lock"
  fi
  if jars_resolved; then exec 8>&-; return 0; fi
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is needed to resolve the Kafka jars into $LIB_DIR"
  log "resolving Kafka jars with Maven (pom.xml) into $LIB_DIR ..."
  rm -rf "$LIB_DIR"   # no stale jars of another version on the classpath
  if ! (cd "$HERE" && mvn -q -B -Dstyle.color=never package) >"$MVN_LOG" 2>&1; then
    tail -n 40 "$MVN_LOG" >&2 || true
    die "Maven could not resolve the Kafka jars (full output: $MVN_LOG)"
  fi
  [ -n "$(kafka_jar)" ] || die "Maven ran but $LIB_DIR has no kafka_2.13 jar"
  touch "$STAMP"
  exec 8>&-
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

# Reads the extra properties of CUSTREAM_KAFKA_EXTRA_PROPS_FILE and
# CUSTREAM_KAFKA_EXTRA_PROPS, checks them and writes them as key=value lines
# to $EXTRA_FILE. Refuses lines that are not key=value and the keys the
# script owns (ports, node identity, data dir).
save_extra_props() {
  local f="${CUSTREAM_KAFKA_EXTRA_PROPS_FILE:-}" line key val n=0 out="$EXTRA_FILE.new"
  : >"$out"
  {
    if [ -n "$f" ]; then
      [ -r "$f" ] || die "CUSTREAM_KAFKA_EXTRA_PROPS_FILE=$f is not a readable file"
      cat "$f"
      echo
    fi
    printf '%s\n' "${CUSTREAM_KAFKA_EXTRA_PROPS:-}"
  } | while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line="${line%$'\r'}"
    line="${line#"${line%%[![:space:]]*}"}"            # trim leading blanks
    case "$line" in '' | '#'* | '!'*) continue ;; esac
    [[ "$line" =~ ^([A-Za-z0-9._-]+)[[:space:]]*=[[:space:]]*(.*)$ ]] ||
      die "extra property line $n is not key=value: $line"
    key="${BASH_REMATCH[1]}" val="${BASH_REMATCH[2]}"
    val="${val%"${val##*[![:space:]]}"}"                # trim trailing blanks
    case "$OWNED_KEYS" in *" $key "*)
      die "extra property $key is set by kafka-local.sh itself (ports, node id, data dir) and cannot be overridden" ;;
    esac
    echo "$key=$val" >>"$out"
  done || exit 1   # die inside the pipeline's subshell ends only the subshell
  mv "$out" "$EXTRA_FILE"
}

# Writes server.properties for the ports: the defaults below, minus every key
# that the run's extra properties set, then those extra properties.
write_props() {
  local port="$1" cport="$2"
  write_base_props "$port" "$cport" >"$PROPS.base"
  if [ -s "$EXTRA_FILE" ]; then
    {
      awk -F= 'NR == FNR { k[$1] = 1; next } !($1 in k)' "$EXTRA_FILE" "$PROPS.base"
      echo
      echo "# Extra properties of this run (CUSTREAM_KAFKA_EXTRA_PROPS / _FILE)."
      cat "$EXTRA_FILE"
    } >"$PROPS"
  else
    cat "$PROPS.base" >"$PROPS"
  fi
  rm -f "$PROPS.base"
}

write_base_props() {
  local port="$1" cport="$2"
  cat <<EOF
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
  local pid="$1" wait_s="${2:-20}"
  kill -TERM "$pid" 2>/dev/null || return 0
  kill -CONT "$pid" 2>/dev/null || true   # a paused JVM only acts on TERM once continued
  wait_gone "$pid" $((wait_s * 10)) && return 0
  log "pid $pid still alive after ${wait_s}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" 50 || log "pid $pid still alive after SIGKILL"
}

# Takes the run dir's lock: one start or restart at a time per run dir (fd 9
# is closed for the JVM).
lock_run_dir() {
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 180 9 || die "another kafka-local.sh start or restart holds $RUN_DIR/lock"
  fi
}

# Sets JAVA and JAVA_MAJOR, or dies when there is no Java 17+.
check_java() {
  JAVA="$(java_bin)"
  JAVA_MAJOR="$(java_major "$JAVA")"
  if ! [[ "$JAVA_MAJOR" =~ ^[0-9]+$ ]] || [ "$JAVA_MAJOR" -lt 17 ]; then
    die "$JAVA is Java ${JAVA_MAJOR:-?}; the Kafka 4.x broker needs Java 17 or newer (set JAVA_HOME)"
  fi
}

check_owner() {
  local owner="${CUSTREAM_KAFKA_OWNER_PID:-}"
  [ -n "$owner" ] || return 0
  [[ "$owner" =~ ^[0-9]+$ ]] || die "CUSTREAM_KAFKA_OWNER_PID=$owner is not a pid"
  alive "$owner" || die "CUSTREAM_KAFKA_OWNER_PID=$owner names no live process"
}

# True when something listens on 127.0.0.1:$1.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

LOG_OPTS=(
  -Dorg.slf4j.simpleLogger.logFile="$SERVER_LOG"
  -Dorg.slf4j.simpleLogger.defaultLogLevel="$LOG_LEVEL"
  -Dorg.slf4j.simpleLogger.showDateTime=true
  -Dorg.slf4j.simpleLogger.dateTimeFormat="yyyy-MM-dd'T'HH:mm:ss.SSS"
  -Dorg.slf4j.simpleLogger.showThreadName=false
  -Dorg.slf4j.simpleLogger.showShortLogName=true
  -Dorg.slf4j.simpleLogger.levelInBrackets=true
)
CLASSPATH_GLOB="$LIB_DIR/*"

# With CUSTREAM_KAFKA_OWNER_PID set: a small background loop that SIGKILLs
# broker $1 once the owner is gone, and ends by itself when the broker does.
watch_owner() {
  local owner="${CUSTREAM_KAFKA_OWNER_PID:-}" pid="$1"
  [ -n "$owner" ] || return 0
  (
    while alive "$pid"; do
      if ! alive "$owner"; then
        [ "$(running_pid || true)" = "$pid" ] && kill -KILL "$pid" 2>/dev/null
        exit 0
      fi
      sleep 1
    done
  ) </dev/null >/dev/null 2>&1 8>&- 9>&- &
  echo $! >"$WATCHDOG_FILE"
}

stop_watchdog() {
  local pid
  [ -f "$WATCHDOG_FILE" ] || return 0
  pid="$(cat "$WATCHDOG_FILE" 2>/dev/null || true)"
  rm -f "$WATCHDOG_FILE"
  [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" || return 0
  # Only our own loop: a forked copy of this script.
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'kafka-local\.sh$' || return 0
  kill -TERM "$pid" 2>/dev/null || true
}

abort_launch() {
  log "interrupted: stopping the broker (pid $1)"
  kill_pid "$1" 5
  stop_watchdog
  rm -f "$PID_FILE"
  exit 130
}

# Runs the broker on server.properties, waits until it answers on port $1 and
# prints its address. $2: start time (for the log line), $3: what happened.
launch() {
  local port="$1" t0="$2" what="$3" pid deadline elapsed addr="127.0.0.1:$1"
  # shellcheck disable=SC2206
  local jvm_opts=($HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent
    -XX:-OmitStackTraceInFastThrow -Djava.awt.headless=true "${LOG_OPTS[@]}")

  : >"$SERVER_LOG"
  nohup "$JAVA" "${jvm_opts[@]}" -cp "$CLASSPATH_GLOB" kafka.Kafka "$PROPS" \
    >>"$JAVA_OUT" 2>&1 </dev/null 8>&- 9>&- &
  pid=$!
  echo "$pid" >"$PID_FILE"
  # shellcheck disable=SC2064
  trap "abort_launch $pid" INT TERM
  watch_owner "$pid"

  # Ready: the broker logged that it started (after it was unfenced) and
  # answers an ApiVersions request on its port.
  deadline=$(( $(date +%s) + START_TIMEOUT ))
  while :; do
    if ! alive "$pid"; then
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
      stop_watchdog
      rm -f "$PID_FILE"
      die "the broker did not become ready within ${START_TIMEOUT}s"
    fi
    sleep 0.25
  done
  trap - INT TERM

  echo "$addr" >"$BROKERS_FILE"
  elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  log "Apache Kafka $(kafka_version) (Java $JAVA_MAJOR) $what at $addr in ${elapsed}s (pid $pid, logs in $RUN_DIR)"
  echo "$addr"
}

cmd_start() {
  local t0 pid port cport cluster_id
  t0=$(date +%s.%N)
  lock_run_dir

  if pid="$(running_pid)"; then
    log "already running (pid $pid) at $(cat "$BROKERS_FILE" 2>/dev/null), reusing it"
    cat "$BROKERS_FILE"
    return 0
  fi
  stop_watchdog
  rm -f "$PID_FILE" "$BROKERS_FILE" "$PORTS_FILE"

  check_java
  check_owner
  save_extra_props
  resolve_jars

  read -r port cport < <(free_ports)
  if [ -z "$port" ] || [ -z "$cport" ]; then die "could not find two free ports"; fi

  rm -rf "$DATA_DIR"
  mkdir -p "$DATA_DIR"
  : >"$SERVER_LOG"
  : >"$JAVA_OUT"
  write_props "$port" "$cport"

  # Format the storage (static voter set, so no --standalone).
  cluster_id="$("$JAVA" -Xmx256m -cp "$CLASSPATH_GLOB" "${LOG_OPTS[@]}" kafka.tools.StorageTool random-uuid 2>>"$JAVA_OUT" | tail -n 1)"
  [ -n "$cluster_id" ] || { show_failure; die "kafka.tools.StorageTool random-uuid gave nothing"; }
  if ! "$JAVA" -Xmx256m -cp "$CLASSPATH_GLOB" "${LOG_OPTS[@]}" kafka.tools.StorageTool \
      format -t "$cluster_id" -c "$PROPS" >>"$JAVA_OUT" 2>&1; then
    show_failure
    die "formatting the storage failed"
  fi
  # From here on the run can be restarted on these ports with this data.
  echo "$port $cport" >"$PORTS_FILE"

  launch "$port" "$t0" ready
}

# Starts the run again on its kept ports with its kept data; a running broker
# of the run is first shut down gracefully (SIGTERM).
cmd_restart() {
  local t0 pid port cport p
  t0=$(date +%s.%N)
  lock_run_dir

  if ! [ -s "$PORTS_FILE" ] || ! [ -f "$DATA_DIR/meta.properties" ]; then
    die "$RUN_DIR holds no run to restart (no kept ports and data); use: $0 start"
  fi
  read -r port cport <"$PORTS_FILE" || true
  [[ "${port:-}" =~ ^[0-9]+$ && "${cport:-}" =~ ^[0-9]+$ ]] || die "$PORTS_FILE does not hold 'PORT CPORT'"

  check_java
  check_owner
  # New extra properties only when asked for; otherwise the run's own.
  if [ -n "${CUSTREAM_KAFKA_EXTRA_PROPS+set}${CUSTREAM_KAFKA_EXTRA_PROPS_FILE+set}" ]; then
    save_extra_props
  fi
  resolve_jars

  if pid="$(running_pid)"; then
    log "shutting the running broker (pid $pid) down for the restart; its data is kept"
    kill_pid "$pid" 20
  fi
  stop_watchdog
  rm -f "$PID_FILE" "$BROKERS_FILE"
  for p in "$port" "$cport"; do
    if port_in_use "$p"; then
      die "port $p of this run is taken by another process, so the broker cannot come back on the same address (stop, then start afresh)"
    fi
  done

  write_props "$port" "$cport"
  if [ -s "$SERVER_LOG" ]; then mv -f "$SERVER_LOG" "$SERVER_LOG.1"; fi
  echo "---- kafka-local.sh restart at $(date -u +%Y-%m-%dT%H:%M:%SZ) ----" >>"$JAVA_OUT"

  launch "$port" "$t0" restarted
}

cmd_stop() {
  local pid
  if pid="$(running_pid)"; then
    log "stopping the broker (pid $pid)"
    kill_pid "$pid" 20
  fi
  stop_watchdog
  rm -rf "$DATA_DIR"
  rm -f "$PID_FILE" "$BROKERS_FILE" "$PORTS_FILE" "$EXTRA_FILE"
}

cmd_kill() {
  local pid addr
  if pid="$(running_pid)"; then
    addr="$(cat "$BROKERS_FILE" 2>/dev/null || true)"
    kill -KILL "$pid" 2>/dev/null || true
    wait_gone "$pid" 100 || die "pid $pid still alive 10s after SIGKILL"
    wait_ports_closed || die "the ports of the killed broker (pid $pid) still accept connections after 10s"
    log "killed the broker (pid $pid, SIGKILL) at ${addr:-?}; data and ports kept, continue with: $0 restart"
  else
    log "no broker running (dir $RUN_DIR), nothing to kill"
  fi
  stop_watchdog
  rm -f "$PID_FILE" "$BROKERS_FILE"
}

# Waits up to 10 s until nothing accepts connections on the run's ports.
wait_ports_closed() {
  local port cport i
  read -r port cport <"$PORTS_FILE" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do
    if ! port_in_use "$port" && ! port_in_use "$cport"; then return 0; fi
    sleep 0.1
  done
  return 1
}

# Waits up to 5 s for pid $1 to be stopped ($2 = yes) or not ($2 = no).
wait_stopped() {
  local i st
  [ -d "/proc/$1" ] || return 0   # no /proc: trust the signal
  for ((i = 0; i < 50; i++)); do
    st="$(proc_state "$1")"
    case "$2:$st" in yes:T | yes:t | no:[!Tt]*) return 0 ;; esac
    sleep 0.1
  done
  return 1
}

cmd_pause() {
  local pid
  pid="$(running_pid)" || die "no broker running (dir $RUN_DIR), nothing to pause"
  kill -STOP "$pid"
  wait_stopped "$pid" yes || die "pid $pid not stopped 5s after SIGSTOP"
  log "paused the broker (pid $pid, SIGSTOP); continue with: $0 resume"
}

cmd_resume() {
  local pid
  pid="$(running_pid)" || die "no broker running (dir $RUN_DIR), nothing to resume"
  kill -CONT "$pid"
  wait_stopped "$pid" no || die "pid $pid still stopped 5s after SIGCONT"
  log "resumed the broker (pid $pid, SIGCONT)"
}

cmd_status() {
  local pid paused=""
  if pid="$(running_pid)" && [ -s "$BROKERS_FILE" ]; then
    case "$(proc_state "$pid")" in T | t) paused=", PAUSED" ;; esac
    echo "running: $(cat "$BROKERS_FILE") (pid $pid$paused, Apache Kafka $(kafka_version), dir $RUN_DIR)"
  elif [ -s "$PORTS_FILE" ] && [ -f "$DATA_DIR/meta.properties" ]; then
    echo "not running (dir $RUN_DIR; data and ports 127.0.0.1:$(cut -d' ' -f1 "$PORTS_FILE") kept, restart continues it)"
    return 1
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
  restart) cmd_restart ;;
  stop) cmd_stop ;;
  kill) cmd_kill ;;
  pause) cmd_pause ;;
  resume) cmd_resume ;;
  status) cmd_status ;;
  brokers) cmd_brokers ;;
  *)
    echo "usage: $0 start|stop|status|brokers|kill|restart|pause|resume" >&2
    exit 2
    ;;
esac
