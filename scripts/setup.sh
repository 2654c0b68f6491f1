#!/usr/bin/env bash
# Create .venv and install wattlake with its extras. Idempotent; safe to re-run.
# Usage: scripts/setup.sh [extras]   (default extras: dev,spark)
#
# Prints one line per stage; the long step (pip installing wattlake and its dependencies)
# shows pip's own progress. A re-run with the same extras and an unchanged pyproject.toml
# skips pip (stamp file in .venv); WATTLAKE_SETUP_FORCE=1 reinstalls anyway.
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-dev,spark}"
PY="${PYTHON:-python3}"
say() { echo "setup.sh: $*"; }
if ! "$PY" -c 'import sys; sys.exit(0 if (3, 11) <= sys.version_info[:2] < (3, 13) else 1)'; then
  echo "error: Python 3.11 or 3.12 is needed (found $("$PY" --version 2>&1))" >&2
  exit 1
fi
if [ ! -x .venv/bin/python ]; then
  say "creating .venv ($("$PY" --version 2>&1))"
  "$PY" -m venv .venv
fi
# The stamp names the extras and holds a hash of what decides the installed set.
stamp=".venv/wattlake-setup-${extras//,/-}.sha256"
want="$( (cat pyproject.toml; .venv/bin/python --version) | sha256sum | cut -d' ' -f1)"
if [ "${WATTLAKE_SETUP_FORCE:-0}" != 1 ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] \
  && .venv/bin/python -c 'import wattlake' 2>/dev/null; then
  say ".venv ready: wattlake[${extras}] installed, pyproject.toml unchanged"
else
  say "upgrading pip"
  .venv/bin/python -m pip install --quiet --upgrade pip
  say "installing wattlake[${extras}] and its dependencies (the first time takes 1-3 minutes)"
  rm -f "$stamp"
  # pip's own progress (Collecting/Downloading/Installing lines), unbuffered through the
  # filter that drops the long "Requirement already satisfied" list of a re-install.
  set +e
  PYTHONUNBUFFERED=1 .venv/bin/python -m pip install --progress-bar off -e ".[${extras}]" \
    | grep --line-buffered -v '^Requirement already satisfied'
  pip_status="${PIPESTATUS[0]}"
  set -e
  if [ "$pip_status" != 0 ]; then
    echo "error: pip install of wattlake[${extras}] failed (exit $pip_status)" >&2
    exit 1
  fi
  echo "$want" >"$stamp"
  say "installed wattlake[${extras}]"
fi
# Spark needs a Java runtime (17); install it from Debian's packages when missing.
if [[ ",${extras}," == *",spark,"* ]] && ! command -v java >/dev/null 2>&1; then
  if command -v apt-get >/dev/null 2>&1; then
    say "installing Java 17 (openjdk-17-jre-headless) for Spark"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless
  else
    echo "error: Spark needs Java 17 and apt-get is not available to install it" >&2
    exit 1
  fi
fi
