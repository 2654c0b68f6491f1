#!/usr/bin/env bash
# Create .venv and install wattlake with its extras. Idempotent; safe to re-run.
# Usage: scripts/setup.sh [extras]   (default extras: dev,spark)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev,spark}"
PY="${PYTHON:-python3}"
if ! "$PY" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)'; then
  echo "error: Python 3.11 or 3.12 is needed (found $("$PY" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[${extras}]"
# Spark needs a Java runtime (17); install it from Debian's packages when missing.
if [[ ",${extras}," == *",spark,"* ]] && ! command -v java >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    echo "installing Java 17 (openjdk-17-jre-headless) for Spark"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless
  else
    echo "error: Spark needs Java 17 and apt-get is not available to install it" >&2
    exit 1
  fi
fi
