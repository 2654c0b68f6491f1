#!/usr/bin/env bash
# Fresh machine → full test run: install everything, lint, type-check, then pytest (Spark
# parity, PostgreSQL, Kafka and Redis included).
# Extra arguments go to pytest, e.g. scripts/test.sh -k parity
#
# Every run keeps the services it starts (PostgreSQL, Kafka, Redis, …) in its own fresh
# WATTLAKE_RUN_DIR (scripts/lib/service.sh), on free ports; on exit it stops exactly those and
# removes the directory, so two runs on one machine do not share or stop each other's servers.
# WATTLAKE_NO_SKIP=1: a test that would skip (a missing optional part) fails instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev,spark,postgres,stream,forecast
export WATTLAKE_REQUIRE_SPARK=1 WATTLAKE_NO_SKIP=1
# Headless Chromium renders the quality report in a test (Debian's package).
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (quality-report browser test)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export WATTLAKE_REQUIRE_BROWSER=1

WATTLAKE_RUN_DIR="$(mktemp -d /tmp/wattlake-test.XXXXXX)"
export WATTLAKE_RUN_DIR
chmod 711 "$WATTLAKE_RUN_DIR" # searchable (not listable) by the postgres OS user
started=()
cleanup() {
  local service
  for service in "${started[@]}"; do
    "scripts/$service.sh" stop >/dev/null 2>&1 || echo "test.sh: stopping $service failed" >&2
  done
  rm -rf "$WATTLAKE_RUN_DIR"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A real PostgreSQL 15 on loopback for the warehouse tests (installed with apt if missing).
started+=(postgres)
WATTLAKE_TEST_PG_URL="$(scripts/postgres.sh start)"
export WATTLAKE_TEST_PG_URL WATTLAKE_REQUIRE_PG=1
# A real Kafka broker (KRaft, jars from Maven Central) and Redis for the stream tests; a failed
# start stops the run here (set -e).
started+=(kafka)
eval "$(scripts/kafka.sh start)"
started+=(redis)
eval "$(scripts/redis.sh start)"
export WATTLAKE_REQUIRE_KAFKA=1 WATTLAKE_REQUIRE_REDIS=1
echo "test.sh: services in $WATTLAKE_RUN_DIR; PostgreSQL at $WATTLAKE_TEST_PG_URL," \
  "Kafka at $WATTLAKE_KAFKA_BOOTSTRAP, Redis at $WATTLAKE_REDIS_URL"

mkdir -p artifacts
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy  # static types of the package ([tool.mypy] in pyproject.toml)
.venv/bin/python -m pytest "$@"
