#!/usr/bin/env bash
# http-check.sh fuzz|load — starts `custream run` (embedded broker, fresh
# state dir, dev key), seeds SEED_N customers for org 100, then runs
# schemathesis against the facade's OpenAPI document (fuzz) or wrk on
# lookup and fetch (load), and stops custream again.
#
# Needs: bin/custream (make build), schemathesis (`pip install
# schemathesis`) for fuzz, wrk (`apt-get install -y wrk`) for load, and
# port 9092 free (the embedded broker's).
set -euo pipefail
mode=${1:?usage: http-check.sh fuzz|load}
bin=${BIN:-bin/custream}
addr=${HTTP_ADDR:-127.0.0.1:18080}
n=${SEED_N:-10000}
here=$(dirname "$0")

case $mode in
fuzz) command -v st >/dev/null || { echo "schemathesis missing: pip install schemathesis" >&2; exit 1; } ;;
load) command -v wrk >/dev/null || { echo "wrk missing: apt-get install -y wrk" >&2; exit 1; } ;;
*) echo "usage: http-check.sh fuzz|load" >&2; exit 2 ;;
esac

dir=$(mktemp -d)
# The embedded broker, whatever the caller's environment says: the load
# scripts assume its 4 partitions (org 100 is task 1).
# No rate limits: the load measures the facade, not its limiter.
env -u CUSTREAM_BROKERS -u CUSTREAM_API_KEYS -u CUSTREAM_API_KEYS_FILE \
  "$bin" run --state-dir "$dir" --http-addr "$addr" --metrics-addr "" --rate-per-key 0 --rate-per-client 0 \
  --log-level warn 2>"$dir/custream.log" &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -rf "$dir"' EXIT
for _ in $(seq 1 150); do
  curl -sf "http://$addr/readyz" >/dev/null && break
  kill -0 $pid 2>/dev/null || { cat "$dir/custream.log" >&2; exit 1; }
  sleep 0.2
done
key=$(cat "$dir/dev-api-key")
go run ./processor/facade/internal/seed -n "$n" -key "$key" -http "http://$addr"

case $mode in
fuzz)
  # positive_data_acceptance is left out: it expects every schema-valid
  # request to succeed, but some parameters depend on each other in ways
  # OpenAPI cannot say (WECHAT needs accountId, INSTORE must not have
  # one; an email identifierValue must be an email), so the rules
  # rightly answer 400. Every other check runs: no 5xx, documented
  # statuses, bodies and headers matching the document, invalid input
  # rejected, auth enforced.
  st run "http://$addr/openapi.yaml" --url "http://$addr" -H "Authorization: Bearer $key" \
    --checks all --exclude-checks positive_data_acceptance -n "${FUZZ_EXAMPLES:-200}"
  ;;
load)
  for script in lookup fetch; do
    echo "== $script: ${CONNS:-2} connections, ${DURATION:-10s}"
    KEY=$key SEED_N=$n wrk -t1 -c"${CONNS:-2}" -d"${DURATION:-10s}" --latency -s "$here/$script.lua" "http://$addr"
  done
  ;;
esac
