#!/usr/bin/env bash
# Fresh machine → full test run: install everything, lint, then pytest (Spark parity included).
# Extra arguments go to pytest, e.g. scripts/test.sh -k parity
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev,spark,postgres,stream
# Per-run state of the services (scripts/lib/service.sh): this run's Kafka and Redis live here
# and are stopped by the EXIT trap; another run on the machine has its own.
export WATTLAKE_RUN_DIR="${WATTLAKE_RUN_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/wattlake-run.XXXXXX")}"
export WATTLAKE_REQUIRE_SPARK=1
# Headless Chromium renders the quality report in a test (Debian's package).
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (quality-report browser test)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export WATTLAKE_REQUIRE_BROWSER=1
# A real PostgreSQL 15 on loopback for the warehouse tests (installed with apt if missing).
WATTLAKE_TEST_PG_URL="$(scripts/postgres.sh start)"
export WATTLAKE_TEST_PG_URL WATTLAKE_REQUIRE_PG=1
stop_services() {
  scripts/postgres.sh stop >/dev/null 2>&1 || true
  scripts/kafka.sh stop >/dev/null 2>&1 || true
  scripts/redis.sh stop >/dev/null 2>&1 || true
}
trap stop_services EXIT
# A real Kafka broker (KRaft, jars from Maven Central) and Redis for the stream tests.
kafka_env="$(scripts/kafka.sh start)"   # a failed start stops the run here (set -e)
redis_env="$(scripts/redis.sh start)"
eval "$kafka_env"
eval "$redis_env"
export WATTLAKE_REQUIRE_KAFKA=1 WATTLAKE_REQUIRE_REDIS=1
mkdir -p artifacts
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/mypy  # static types of the package ([tool.mypy] in pyproject.toml)
.venv/bin/python -m pytest "$@"
