#!/usr/bin/env bash
# Fresh machine → full test run: install everything, lint, then pytest (Spark parity included).
# Extra arguments go to pytest, e.g. scripts/test.sh -k parity
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev,spark
export WATTLAKE_REQUIRE_SPARK=1
mkdir -p artifacts
.venv/bin/ruff check src tests benchmarks
.venv/bin/ruff format --check src tests benchmarks
exec .venv/bin/python -m pytest "$@"
