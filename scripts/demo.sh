#!/usr/bin/env bash
# Fresh machine → running demo: install wattlake into .venv, then `wattlake demo` (offline).
# Extra arguments go to `wattlake demo`, e.g. scripts/demo.sh --households 500 --days 60
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh dev
exec .venv/bin/wattlake demo "$@"
