#!/usr/bin/env bash
# Fresh machine → running demo: install wattlake into .venv, then `wattlake demo` (offline:
# no energy API is called), then a stream replay on a local Kafka broker.
# Extra arguments go to `wattlake demo`, e.g. scripts/demo.sh --households 500 --days 60
# Prints a line per stage; the first run spends a minute or more installing packages (pip's
# progress is shown) and fetching the Kafka jars from Maven Central; later runs start at once.
#
# The stream replay (about 30 s): a Kafka broker on a free loopback port (scripts/kafka.sh,
# stopped at the end), `wattlake stream simulate` of 30 households × 1 day with faults and
# broken messages, `wattlake stream run --until-idle` into its own home
# (<home>-stream, default ./wattlake-data-stream), then what it produced.
# WATTLAKE_DEMO_STREAM=0 skips it; it is skipped with a note when Java is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "demo.sh: setting up .venv (Python packages for wattlake)"
scripts/setup.sh dev,forecast,stream
echo "demo.sh: running the demo: wattlake demo $*"
.venv/bin/wattlake demo "$@"

if [ "${WATTLAKE_DEMO_STREAM:-1}" = 0 ]; then
  exit 0
fi
if ! command -v java >/dev/null 2>&1; then
  echo "demo.sh: stream replay skipped: no Java 17 (Kafka needs it)"
  exit 0
fi
home="${WATTLAKE_HOME:-wattlake-data}-stream"
run_dir="$(mktemp -d "${TMPDIR:-/tmp}/wattlake-demo.XXXXXX")"
export WATTLAKE_RUN_DIR="$run_dir"
trap 'scripts/kafka.sh stop >/dev/null 2>&1 || true; rm -rf "$run_dir"' EXIT
echo "demo.sh: stream replay: starting a Kafka broker on loopback (state in $run_dir)"
eval "$(scripts/kafka.sh start)"
prefix="demo$(date +%s)."  # topics of this replay only: demo<time>.energy-meters, …
wl() { .venv/bin/wattlake "$@" --home "$home"; }
echo "demo.sh: wattlake stream simulate (30 households × 1 day, faults, duplicates, broken messages)"
wl stream simulate --households 30 --days 1 --fast --spikes 3 --stuck 1 --duplicates 20 \
  --out-of-order 10 --malformed 5 --topic-prefix "$prefix"
echo "demo.sh: wattlake stream run --until-idle 5 (bronze, live VEE, 5-minute aggregates, anomalies)"
wl stream run --until-idle 5 --topic-prefix "$prefix"
wl sql "SELECT count(*) AS windows, count(DISTINCT household_id) AS households,
               sum(readings) AS readings, round(sum(kwh_sum), 1) AS kwh
        FROM stream.aggregates_5min"
if wl sql "SELECT 1 FROM ops.alerts LIMIT 1" >/dev/null 2>&1; then
  wl sql "SELECT rule, count(*) AS alerts FROM ops.alerts GROUP BY rule ORDER BY rule"
else
  echo "demo.sh: no anomaly alerts in this replay"
fi
wl sql "SELECT reason, count(*) AS dead_letters FROM ops.dead_letter GROUP BY reason"
echo "demo.sh: stream home: $home (wattlake sql … --home $home)"
