#!/usr/bin/env bash
# A local S3-compatible server on loopback (moto in server mode) with one bucket, for tests and
# for trying the lake on s3:// without a cloud account.
#
#   scripts/s3.sh start    start the server (nothing when it runs), create the bucket, print
#                          the export lines below
#   scripts/s3.sh stop     stop the server this state directory started (its data is in memory
#                          and goes with it)
#   scripts/s3.sh status   exit 0 when the server answers
#   scripts/s3.sh env      print the export lines of the running server
#
# `eval "$(scripts/s3.sh start)"` sets:
#   WATTLAKE_S3_ENDPOINT           http://127.0.0.1:PORT (plain HTTP, path-style addressing)
#   WATTLAKE_S3_BUCKET             the bucket (WATTLAKE_S3_BUCKET when set, else "wattlake")
#   WATTLAKE_S3_ACCESS_KEY_ID      test credentials: moto accepts any key pair; these are fixed
#   WATTLAKE_S3_SECRET_ACCESS_KEY  and mean nothing outside this server
#   WATTLAKE_S3_REGION             us-east-1
# wattlake.lake_storage reads these to configure delta-rs, DuckDB and Spark (s3a).
# State (pid, port, log) lives in `service_dir s3` (see scripts/lib/service.sh). Needs the
# `s3-server` extra (scripts/setup.sh dev,s3,s3-server); PYTHON picks the venv (.venv/bin/python).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/service.sh

DIR="$(service_dir s3)"
PY="${PYTHON:-.venv/bin/python}"
BUCKET="${WATTLAKE_S3_BUCKET:-wattlake}"
KEY_ID="wattlake-test"
SECRET="wattlake-test-secret"
REGION="us-east-1"

log() { echo "s3.sh: $*" >&2; }

alive() { [ -f "$DIR/server.pid" ] && kill -0 "$(cat "$DIR/server.pid")" 2>/dev/null; }

running() { alive && port_in_use "$(cat "$DIR/port")"; }

endpoint() { echo "http://127.0.0.1:$(cat "$DIR/port")"; }

export_lines() {
    echo "export WATTLAKE_S3_ENDPOINT=$(endpoint)"
    echo "export WATTLAKE_S3_BUCKET=$(cat "$DIR/bucket")"
    echo "export WATTLAKE_S3_ACCESS_KEY_ID=$KEY_ID"
    echo "export WATTLAKE_S3_SECRET_ACCESS_KEY=$SECRET"
    echo "export WATTLAKE_S3_REGION=$REGION"
}

make_bucket() {
    # Idempotent: an existing bucket is fine.
    "$PY" - "$(endpoint)" "$1" "$KEY_ID" "$SECRET" "$REGION" <<'EOF'
import sys

import boto3

endpoint, bucket, key_id, secret, region = sys.argv[1:]
s3 = boto3.client(
    "s3",
    endpoint_url=endpoint,
    aws_access_key_id=key_id,
    aws_secret_access_key=secret,
    region_name=region,
)
if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
    s3.create_bucket(Bucket=bucket)
EOF
}

start() {
    if running; then
        make_bucket "$BUCKET"
        echo "$BUCKET" >"$DIR/bucket"
        export_lines
        return 0
    fi
    stop_pidfile "$DIR/server.pid" 10
    local server port t0
    server="$(dirname "$PY")/moto_server"
    [ -x "$server" ] || { log "moto_server not found next to $PY (scripts/setup.sh dev,s3,s3-server)"; exit 2; }
    t0=$(date +%s%N)
    port="$(free_port 19000)"
    echo "$port" >"$DIR/port"
    # Fixed credentials in the server's environment too, so nothing from the caller's leaks in.
    AWS_ACCESS_KEY_ID="$KEY_ID" AWS_SECRET_ACCESS_KEY="$SECRET" AWS_DEFAULT_REGION="$REGION" \
        nohup "$server" -H 127.0.0.1 -p "$port" >"$DIR/server.log" 2>&1 </dev/null &
    echo $! >"$DIR/server.pid"
    if ! wait_port "$port" 60 "$(cat "$DIR/server.pid")"; then
        log "server did not start; last lines of $DIR/server.log:"
        tail -n 20 "$DIR/server.log" >&2
        stop_pidfile "$DIR/server.pid" 10
        exit 1
    fi
    make_bucket "$BUCKET"
    echo "$BUCKET" >"$DIR/bucket"
    log "S3 server $(endpoint), bucket $BUCKET, ready in $(( ($(date +%s%N) - t0) / 1000000 )) ms; log $DIR/server.log"
    export_lines
}

case "${1:-}" in
    start) start ;;
    stop)
        stop_pidfile "$DIR/server.pid" 10
        log "stopped ($DIR)"
        ;;
    status)
        if running; then log "running: $(endpoint)"; else log "not running"; exit 1; fi
        ;;
    env)
        running || { log "not running (scripts/s3.sh start)"; exit 1; }
        export_lines
        ;;
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 2
        ;;
esac
