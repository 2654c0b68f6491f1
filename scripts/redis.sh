#!/usr/bin/env bash
# A throwaway Redis server (Debian `redis-server`) on loopback: the stream's latest state
# for the API and dashboards, and the Redis tests.
#
#   scripts/redis.sh start    install redis-server with apt-get when missing, start it, wait
#                             for PONG, print `export WATTLAKE_REDIS_URL=redis://127.0.0.1:PORT/0`
#                             (use: eval "$(scripts/redis.sh start)"); already running: prints
#                             the line again and starts nothing
#   scripts/redis.sh stop     stop the server this state directory started
#   scripts/redis.sh status   exit 0 when that server answers PING
#   scripts/redis.sh env      print the export line of the last start (exit 1 if never started)
#
# State (scripts/lib/service.sh): $(service_dir redis) = $WATTLAKE_RUN_DIR/redis per test run,
# else ${WATTLAKE_SERVICES_DIR:-/tmp/wattlake-services-$UID}/redis: redis.pid, redis.log, port.
# No persistence (no RDB snapshots, no AOF): a cache, rebuilt from the stream.
# Environment: WATTLAKE_REDIS_PORT (preferred port, default 16379), WATTLAKE_REDIS_MAXMEMORY
# (default 256mb, least-recently-used keys evicted beyond it).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib/service.sh"

DIR="$(service_dir redis)"
PIDFILE="$DIR/redis.pid"

log() { echo "redis.sh: $*" >&2; }

install_redis() {
    command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        log "redis-server is not installed and cannot be installed here (needs root and apt-get)"
        exit 2
    fi
    log "installing redis-server (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null
}

export_line() { echo "export WATTLAKE_REDIS_URL=redis://127.0.0.1:$(cat "$DIR/port")/0"; }

is_ours() { pid_runs "$PIDFILE" "redis-server 127.0.0.1:$(cat "$DIR/port" 2>/dev/null)"; }

pong() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }

running() { is_ours && [ -f "$DIR/port" ] && pong "$(cat "$DIR/port")"; }

start() {
    install_redis
    if running; then
        export_line
        return 0
    fi
    rm -f "$PIDFILE"
    local port
    port="$(free_port "${WATTLAKE_REDIS_PORT:-16379}")"
    redis-server --bind 127.0.0.1 --port "$port" --dir "$DIR" --daemonize yes \
        --pidfile "$PIDFILE" --logfile "$DIR/redis.log" --save "" --appendonly no \
        --maxmemory "${WATTLAKE_REDIS_MAXMEMORY:-256mb}" --maxmemory-policy allkeys-lru \
        || { tail -n 20 "$DIR/redis.log" >&2 2>/dev/null; exit 1; }
    echo "$port" >"$DIR/port"
    for _ in $(seq 1 100); do
        pong "$port" && break
        sleep 0.1
    done
    pong "$port" || { log "server not answering on $port (log: $DIR/redis.log)"; exit 1; }
    log "ready on 127.0.0.1:$port (state: $DIR)"
    export_line
}

stop() {
    if is_ours; then
        stop_pidfile "$PIDFILE" 20
        log "stopped"
    else
        rm -f "$PIDFILE"
    fi
}

service_cli redis "${1:-}"
