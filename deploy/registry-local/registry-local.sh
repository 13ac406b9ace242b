#!/usr/bin/env bash
# registry-local.sh: one real schema registry on 127.0.0.1 for tests —
# Apicurio Registry 3.x with in-memory storage (H2 in memory), whose
# Confluent-compatible API is at <url>, i.e. http://127.0.0.1:PORT/apis/ccompat/v7.
# Run from Maven Central's build of it (pom.xml beside this script unpacks
# io.apicurio:apicurio-registry-app:3.3.3's "all" assembly, the Quarkus
# application, into target/apicurio). No Docker.
#
#   registry-local.sh start    resolve the app (if needed), start it on a free
#                              port with empty storage, wait until it answers
#   registry-local.sh stop     stop it (safe if none runs)
#   registry-local.sh status   print the URL if running (exit 1 if not)
#   registry-local.sh url      print the URL, e.g. http://127.0.0.1:40123/apis/ccompat/v7
#   registry-local.sh java     print the Java 21+ it would run (exit 1 if none)
#
#   export CUSTREAM_TEST_REGISTRY=$(deploy/registry-local/registry-local.sh url)
#
# Environment:
#   CUSTREAM_REGISTRY_DIR            run dir (default ${TMPDIR:-/tmp}/custream-registry)
#   CUSTREAM_REGISTRY_PORT           HTTP port (default: a free one, new on every start)
#   CUSTREAM_REGISTRY_START_TIMEOUT  seconds to wait until it answers (default 120)
#   CUSTREAM_REGISTRY_HEAP           JVM heap options (default "-Xmx512m -Xms64m")
#   CUSTREAM_REGISTRY_OWNER_PID      when set, the registry is SIGKILLed as soon
#                                    as that process is gone
#   CUSTREAM_REGISTRY_JAVA           the java to run (Apicurio 3 needs Java 21+);
#                                    default: the first Java 21+ of JAVA_HOME,
#                                    java on PATH, /usr/lib/jvm/*
#
# Ready means: GET <url>/subjects answers 200 (the ccompat API is served and
# storage is up). A second `start` of the same run dir reuses a running
# registry. Storage is in memory: every start begins empty.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
RUN_DIR="${CUSTREAM_REGISTRY_DIR:-${TMPDIR:-/tmp}/custream-registry}"
APP_DIR="$HERE/target/apicurio"
STAMP="$APP_DIR/.resolved"
START_TIMEOUT="${CUSTREAM_REGISTRY_START_TIMEOUT:-120}"
HEAP_OPTS="${CUSTREAM_REGISTRY_HEAP:--Xmx512m -Xms64m}"
CCOMPAT_PATH="/apis/ccompat/v7"

PID_FILE="$RUN_DIR/pid"
URL_FILE="$RUN_DIR/url"
LOG_FILE="$RUN_DIR/registry.log"   # the registry's own log (stdout/stderr of the JVM)
MVN_LOG="$RUN_DIR/mvn.log"
WATCHDOG_FILE="$RUN_DIR/watchdog.pid"

log() { echo "registry-local: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

java_major() { # the major version of java $1, e.g. 21
  "$1" -XshowSettings:properties -version 2>&1 |
    awk -F' = ' '/java.specification.version/ {print $2; exit}' | sed 's/^1\.//'
}

# Sets JAVA to a Java 21 or newer, or dies.
find_java() {
  local c m
  local candidates=()
  [ -n "${CUSTREAM_REGISTRY_JAVA:-}" ] && candidates+=("$CUSTREAM_REGISTRY_JAVA")
  [ -n "${JAVA_HOME:-}" ] && candidates+=("$JAVA_HOME/bin/java")
  command -v java >/dev/null 2>&1 && candidates+=("$(command -v java)")
  for c in /usr/lib/jvm/*/bin/java; do [ -x "$c" ] && candidates+=("$c"); done
  for c in "${candidates[@]}"; do
    [ -x "$c" ] || continue
    m="$(java_major "$c")"
    if [[ "$m" =~ ^[0-9]+$ ]] && [ "$m" -ge 21 ]; then
      JAVA="$c" JAVA_MAJOR="$m"
      return 0
    fi
  done
  die "no Java 21 or newer found (Apicurio Registry 3 needs it; tried: ${candidates[*]:-none}); set CUSTREAM_REGISTRY_JAVA"
}

proc_state() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 0
  stat="${stat##*) }"
  echo "${stat%% *}"
}

alive() {
  local threads
  kill -0 "$1" 2>/dev/null || return 1
  [ "$(proc_state "$1")" = Z ] || return 0
  threads="$(awk '/^Threads:/ { print $2 }' "/proc/$1/status" 2>/dev/null || true)"
  [ "${threads:-1}" -gt 1 ]
}

# Prints the pid when the pid file names a live JVM running our app for
# this run dir (a recycled pid does not count).
running_pid() {
  local pid
  [ -f "$PID_FILE" ] || return 1
  pid="$(cat "$PID_FILE" 2>/dev/null || true)"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  alive "$pid" || return 1
  if [ -r "/proc/$pid/cmdline" ]; then
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "$APP_DIR/quarkus-run.jar" || return 1
    tr '\0' '\n' <"/proc/$pid/cmdline" | grep -qxF -- "-Dcustream.registry.dir=$RUN_DIR" || return 1
  fi
  echo "$pid"
}

wait_gone() { # pid, tenths of a second
  local i
  for ((i = 0; i < $2; i++)); do
    alive "$1" || return 0
    sleep 0.1
  done
  ! alive "$1"
}

kill_pid() { # SIGTERM, wait up to $2 s, then SIGKILL
  local pid="$1" wait_s="${2:-20}"
  kill -TERM "$pid" 2>/dev/null || return 0
  wait_gone "$pid" $((wait_s * 10)) && return 0
  log "pid $pid still alive after ${wait_s}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  wait_gone "$pid" 50 || log "pid $pid still alive after SIGKILL"
}

resolved() { [ -f "$APP_DIR/quarkus-run.jar" ] && [ -f "$STAMP" ] && ! [ "$HERE/pom.xml" -nt "$STAMP" ]; }

resolve_app() {
  resolved && return 0
  mkdir -p "$HERE/target"
  exec 8>"$HERE/target/.resolve.lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 600 8 || die "another registry-local.sh holds $HERE/target/.resolve.lock"
  fi
  if resolved; then exec 8>&-; return 0; fi
  command -v mvn >/dev/null 2>&1 || die "Maven (mvn) is needed to resolve Apicurio Registry into $APP_DIR"
  log "resolving Apicurio Registry with Maven (pom.xml, ~160 MB) into $APP_DIR ..."
  rm -rf "$APP_DIR"
  if ! (cd "$HERE" && mvn -q -B -Dstyle.color=never package) >"$MVN_LOG" 2>&1; then
    tail -n 40 "$MVN_LOG" >&2 || true
    die "Maven could not resolve Apicurio Registry (full output: $MVN_LOG)"
  fi
  [ -f "$APP_DIR/quarkus-run.jar" ] || die "Maven ran but $APP_DIR has no quarkus-run.jar"
  touch "$STAMP"
  exec 8>&-
}

free_ports() { # two distinct free ports on 127.0.0.1: "HTTP MANAGEMENT"
  python3 - <<'PY'
import socket
socks = []
for _ in range(2):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(*(s.getsockname()[1] for s in socks))
for s in socks:
    s.close()
PY
}

# True when GET $1/subjects answers 200.
answers() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS -o /dev/null --max-time 3 "$1/subjects" 2>/dev/null
  else
    python3 - "$1/subjects" <<'PY' 2>/dev/null
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=3) as r:
    sys.exit(0 if r.status == 200 else 1)
PY
  fi
}

watch_owner() {
  local owner="${CUSTREAM_REGISTRY_OWNER_PID:-}" pid="$1"
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
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'registry-local\.sh$' || return 0
  kill -TERM "$pid" 2>/dev/null || true
}

show_failure() {
  if [ -s "$LOG_FILE" ]; then
    log "---- last 60 lines of $LOG_FILE ----"
    tail -n 60 "$LOG_FILE" >&2
  fi
}

abort_launch() {
  log "interrupted: stopping the registry (pid $1)"
  kill_pid "$1" 5
  stop_watchdog
  rm -f "$PID_FILE" "$URL_FILE"
  exit 130
}

cmd_start() {
  local t0 pid port mport url deadline elapsed
  t0=$(date +%s.%N)
  mkdir -p "$RUN_DIR"
  exec 9>"$RUN_DIR/lock"
  if command -v flock >/dev/null 2>&1; then
    flock -w 300 9 || die "another registry-local.sh start holds $RUN_DIR/lock"
  fi
  if pid="$(running_pid)" && [ -s "$URL_FILE" ]; then
    log "already running (pid $pid) at $(cat "$URL_FILE"), reusing it"
    cat "$URL_FILE"
    return 0
  fi
  stop_watchdog
  rm -f "$PID_FILE" "$URL_FILE"
  if [ -n "${CUSTREAM_REGISTRY_OWNER_PID:-}" ]; then
    [[ "$CUSTREAM_REGISTRY_OWNER_PID" =~ ^[0-9]+$ ]] && alive "$CUSTREAM_REGISTRY_OWNER_PID" ||
      die "CUSTREAM_REGISTRY_OWNER_PID=$CUSTREAM_REGISTRY_OWNER_PID names no live process"
  fi
  find_java
  resolve_app

  read -r port mport < <(free_ports)
  [ -n "${port:-}" ] && [ -n "${mport:-}" ] || die "could not find free ports"
  if [ -n "${CUSTREAM_REGISTRY_PORT:-}" ]; then
    [[ "$CUSTREAM_REGISTRY_PORT" =~ ^[0-9]+$ ]] || die "CUSTREAM_REGISTRY_PORT=$CUSTREAM_REGISTRY_PORT is not a port"
    port="$CUSTREAM_REGISTRY_PORT"
    [ "$port" != "$mport" ] || read -r _ mport < <(free_ports)
  fi
  url="http://127.0.0.1:$port$CCOMPAT_PATH"
  : >"$LOG_FILE"

  # shellcheck disable=SC2206
  local jvm_opts=($HEAP_OPTS -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xss512k
    -Djava.awt.headless=true -Dcustream.registry.dir="$RUN_DIR"
    # Listen on loopback only; the management interface (health, metrics)
    # on a port of its own rather than 0.0.0.0:9000.
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$port"
    -Dquarkus.management.host=127.0.0.1 -Dquarkus.management.port="$mport"
    # In-memory storage (the default: SQL on H2 in memory), no telemetry.
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2
    -Dquarkus.otel.sdk.disabled=true)
  (cd "$RUN_DIR" && exec nohup "$JAVA" "${jvm_opts[@]}" -jar "$APP_DIR/quarkus-run.jar" \
    >>"$LOG_FILE" 2>&1 </dev/null 8>&- 9>&-) &
  pid=$!
  echo "$pid" >"$PID_FILE"
  # shellcheck disable=SC2064
  trap "abort_launch $pid" INT TERM
  watch_owner "$pid"

  deadline=$(( $(date +%s) + START_TIMEOUT ))
  while :; do
    if ! alive "$pid"; then
      show_failure
      rm -f "$PID_FILE"
      die "the registry (pid $pid) exited during start-up"
    fi
    answers "$url" && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      show_failure
      kill_pid "$pid" 5
      stop_watchdog
      rm -f "$PID_FILE"
      die "the registry did not answer GET $url/subjects within ${START_TIMEOUT}s"
    fi
    sleep 0.25
  done
  trap - INT TERM
  echo "$url" >"$URL_FILE"
  elapsed=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  log "Apicurio Registry (Java $JAVA_MAJOR) ready at $url in ${elapsed}s (pid $pid, log $LOG_FILE)"
  echo "$url"
}

cmd_stop() {
  local pid
  if pid="$(running_pid)"; then
    log "stopping the registry (pid $pid)"
    kill_pid "$pid" 20
  fi
  stop_watchdog
  rm -f "$PID_FILE" "$URL_FILE"
}

cmd_status() {
  local pid
  if pid="$(running_pid)" && [ -s "$URL_FILE" ]; then
    echo "running: $(cat "$URL_FILE") (pid $pid, dir $RUN_DIR)"
  else
    echo "not running (dir $RUN_DIR)"
    return 1
  fi
}

cmd_url() {
  if running_pid >/dev/null && [ -s "$URL_FILE" ]; then
    cat "$URL_FILE"
  else
    die "no registry running (dir $RUN_DIR); run: $0 start"
  fi
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  url) cmd_url ;;
  java) find_java; echo "$JAVA (Java $JAVA_MAJOR)" ;;
  *)
    echo "usage: $0 start|stop|status|url|java" >&2
    exit 2
    ;;
esac
