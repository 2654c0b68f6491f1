#!/usr/bin/env bash
# Fresh machine → running demo: install wattlake into .venv, then `wattlake demo` (offline).
# Extra arguments go to `wattlake demo`, e.g. scripts/demo.sh --households 500 --days 60
# Prints a line per stage; the first run spends a minute or more installing packages (pip's
# progress is shown), later runs start the demo at once.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "demo.sh: setting up .venv (Python packages for wattlake)"
scripts/setup.sh dev,forecast
echo "demo.sh: running the demo: wattlake demo $*"
exec .venv/bin/wattlake demo "$@"
