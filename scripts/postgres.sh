#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server on loopback for tests and local warehouse runs.
#
#   scripts/postgres.sh start   install PostgreSQL 15 if missing (Debian packages), create the
#                               cluster if missing, start it, create the database, print the URL
#   scripts/postgres.sh stop    stop the server (the cluster directory is kept)
#   scripts/postgres.sh url     print the URL (does not start anything)
#   scripts/postgres.sh status  exit 0 when the server accepts connections
#
# Environment: WATTLAKE_PG_DIR (cluster directory, default /tmp/wattlake-pg),
# WATTLAKE_PG_PORT (default 55432; the next free port is used when it is taken by something
# else), WATTLAKE_PG_DB (default wattlake_test). Needs root (apt-get, runuser) or to run as
# the `postgres` OS user with PostgreSQL already installed.
# `eval "$(scripts/postgres.sh start --export)"` sets WATTLAKE_TEST_PG_URL in your shell.
set -euo pipefail

PG_DIR="${WATTLAKE_PG_DIR:-/tmp/wattlake-pg}"
PG_DB="${WATTLAKE_PG_DB:-wattlake_test}"
PG_BIN="${WATTLAKE_PG_BIN:-/usr/lib/postgresql/15/bin}"
DATA="$PG_DIR/data"
PORT_FILE="$PG_DIR/port"

log() { echo "postgres.sh: $*" >&2; }

as_pg() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

install_pg() {
    if [ -x "$PG_BIN/initdb" ] && [ -x "$PG_BIN/pg_ctl" ]; then
        return 0
    fi
    if [ "$(id -u)" != 0 ]; then
        log "PostgreSQL 15 is not installed in $PG_BIN and we are not root"
        exit 2
    fi
    log "installing PostgreSQL 15 (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # The Debian package creates and starts a default cluster on 5432; we do not use it.
    apt-get install -y -qq postgresql postgresql-contrib >/dev/null
    if [ ! -x "$PG_BIN/initdb" ]; then
        log "installed, but $PG_BIN/initdb is missing (not PostgreSQL 15?)"
        exit 2
    fi
}

port_in_use() {
    # True when something listens on 127.0.0.1:$1 (bash's /dev/tcp; no extra tools needed).
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

current_port() {
    if [ -f "$PORT_FILE" ]; then cat "$PORT_FILE"; else echo "${WATTLAKE_PG_PORT:-55432}"; fi
}

url() {
    echo "postgresql://postgres@127.0.0.1:$(current_port)/$PG_DB"
}

is_running() {
    [ -f "$DATA/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

start() {
    install_pg
    if [ "$(id -u)" = 0 ]; then
        mkdir -p "$PG_DIR"
        chown postgres:postgres "$PG_DIR"
        chmod 700 "$PG_DIR"
    fi
    if [ ! -f "$DATA/PG_VERSION" ]; then
        log "initdb $DATA"
        as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 \
            --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
            || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
    fi
    if ! is_running; then
        local port="${WATTLAKE_PG_PORT:-55432}"
        while port_in_use "$port"; do port=$((port + 1)); done
        echo "$port" >"$PORT_FILE"
        # Loopback only, trust auth (initdb --auth=trust), small and fast: a test server.
        as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$PG_DIR/server.log" -w -t 60 start -o \
            "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$PG_DIR \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=50 -c shared_buffers=128MB" >/dev/null \
            || { tail -n 20 "$PG_DIR/server.log" >&2; exit 1; }
    fi
    local port
    port="$(current_port)"
    for _ in $(seq 1 60); do
        if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port"; then break; fi
        sleep 0.5
    done
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$port" || { log "server not ready"; exit 1; }
    if ! "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$PG_DB'" | grep -q 1; then
        "$PG_BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres "$PG_DB"
    fi
}

stop() {
    if is_running; then
        as_pg "$PG_BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
        log "stopped"
    fi
}

case "${1:-start}" in
    start)
        start
        if [ "${2:-}" = "--export" ]; then
            echo "export WATTLAKE_TEST_PG_URL=$(url)"
        else
            url
        fi
        ;;
    stop) stop ;;
    url) url ;;
    status) is_running && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$(current_port)" ;;
    *)
        echo "usage: $0 start [--export]|stop|url|status" >&2
        exit 2
        ;;
esac
