#!/usr/bin/env bash
# Fresh machine → full test run: install everything, lint, then pytest (Spark parity included).
# Extra arguments go to pytest, e.g. scripts/test.sh -k parity
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev,spark,postgres,s3,s3-server
export WATTLAKE_REQUIRE_SPARK=1 WATTLAKE_REQUIRE_S3=1
# Headless Chromium renders the quality report in a test (Debian's package).
if ! command -v chromium >/dev/null 2>&1; then
  echo "installing chromium (quality-report browser test)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
export WATTLAKE_REQUIRE_BROWSER=1
# Services of this run keep their state under one fresh directory (scripts/lib/service.sh) and
# are stopped on exit, whatever happens.
WATTLAKE_RUN_DIR="$(mktemp -d "${TMPDIR:-/tmp}/wattlake-run.XXXXXX")"
export WATTLAKE_RUN_DIR
service_pids=""
cleanup() {
  scripts/spark-cluster.sh stop >/dev/null 2>&1 || true
  scripts/s3.sh stop >/dev/null 2>&1 || true
  scripts/postgres.sh stop >/dev/null 2>&1 || true
  # The pids recorded at start, in case the run directory (with the pid files) went missing.
  local pid
  for pid in $service_pids; do kill -TERM "$pid" 2>/dev/null || true; done
  sleep 1
  for pid in $service_pids; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT
# A real PostgreSQL 15 on loopback for the warehouse tests (installed with apt if missing).
WATTLAKE_TEST_PG_URL="$(scripts/postgres.sh start)"
export WATTLAKE_TEST_PG_URL WATTLAKE_REQUIRE_PG=1
# Spark's extra jars (Delta, hadoop-aws, Kafka, JDBC) from Maven Central, cached.
if ! command -v mvn >/dev/null 2>&1; then
  echo "installing Maven (Spark jars)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq maven >/dev/null
fi
WATTLAKE_SPARK_JARS="$(scripts/jars.sh spark)"
export WATTLAKE_SPARK_JARS
# The S3 server and the 2-worker Spark standalone cluster on loopback (tests/services.py).
t0=$(date +%s)
eval "$(scripts/s3.sh start)"
t1=$(date +%s)
eval "$(scripts/spark-cluster.sh start)"
service_pids="$(cat "$WATTLAKE_RUN_DIR"/s3/*.pid "$WATTLAKE_RUN_DIR"/spark-cluster/*.pid)"
echo "services: S3 server $((t1 - t0)) s, Spark cluster $(($(date +%s) - t1)) s ($WATTLAKE_RUN_DIR)"
mkdir -p artifacts
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
.venv/bin/python -m pytest "$@"
