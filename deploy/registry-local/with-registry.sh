#!/usr/bin/env bash
# with-registry.sh CMD [ARGS...]: runs CMD with CUSTREAM_TEST_REGISTRY set to
# the Confluent-compatible URL of a real schema registry (Apicurio Registry,
# registry-local.sh beside this script), and stops it afterwards, also when
# CMD fails or is interrupted.
#
# - CUSTREAM_TEST_REGISTRY already set: that registry is used, nothing started.
# - No Java 21+ (Apicurio Registry 3 needs it): CMD runs without one and the
#   registry tests fall back to franz-go's in-process srfake; this script
#   says so loudly, because srfake checks no compatibility.
# - Otherwise the registry must start: if it does not, CMD does not run.
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ -n "${CUSTREAM_TEST_REGISTRY:-}" ]; then
  echo "with-registry: using the registry in CUSTREAM_TEST_REGISTRY=$CUSTREAM_TEST_REGISTRY"
  exec "$@"
fi

if ! "$here/registry-local.sh" java >/dev/null 2>&1; then
  cat >&2 <<'TXT'
with-registry: WARNING: no Java 21 or newer on this machine, so no real schema registry.
with-registry: the registry tests will run against franz-go's in-process srfake instead.
TXT
  exec "$@"
fi

started=0
stop_registry() {
  if [ "$started" = 1 ]; then
    "$here/registry-local.sh" stop || true
    started=0
  fi
}
trap stop_registry EXIT
trap 'stop_registry; exit 130' INT TERM

if url="$("$here/registry-local.sh" url 2>/dev/null)"; then
  export CUSTREAM_TEST_REGISTRY="$url"
  echo "with-registry: using the running registry at $url"
  exec "$@"
fi

if ! url="$("$here/registry-local.sh" start)"; then
  echo "with-registry: the real registry did not start (see above)" >&2
  exit 1
fi
started=1
export CUSTREAM_TEST_REGISTRY="$url"
echo "with-registry: real schema registry (Apicurio) at $CUSTREAM_TEST_REGISTRY"

"$@"
rc=$?
stop_registry
exit $rc
