#!/usr/bin/env bash
# A throwaway PostgreSQL 15 server on loopback for tests and local warehouse runs.
#
#   scripts/postgres.sh start   install PostgreSQL 15 if missing (Debian packages), create the
#                               cluster if missing, start it, create the database, print the URL
#   scripts/postgres.sh stop    stop the server of this state directory (its files are kept)
#   scripts/postgres.sh url     print the URL (does not start anything)
#   scripts/postgres.sh status  exit 0 when the server accepts connections
#
# State (cluster, logs, port file, socket) lives in `service_dir postgres` (scripts/lib/
# service.sh): $WATTLAKE_RUN_DIR/postgres in a test run (scripts/test.sh makes a fresh
# WATTLAKE_RUN_DIR per run), else ${WATTLAKE_SERVICES_DIR:-/tmp/wattlake-services-$(id -u)}/
# postgres. Two state directories are two servers on two ports; `stop` stops only the server
# of its own directory.
#
# Environment: WATTLAKE_PG_PORT (preferred port, default 55432; used when free and no
# WATTLAKE_RUN_DIR is set, else the kernel picks a free one), WATTLAKE_PG_DB (default
# wattlake_test), WATTLAKE_PG_BIN (default /usr/lib/postgresql/15/bin). Needs root (apt-get,
# runuser; the server runs as the `postgres` OS user, which then owns the state directory)
# or to run as the `postgres` OS user with PostgreSQL already installed.
# `eval "$(scripts/postgres.sh start --export)"` sets WATTLAKE_TEST_PG_URL in your shell.
set -euo pipefail
. "$(dirname "$0")/lib/service.sh"

PG_DIR="$(service_dir postgres)"
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

prepare_dir() {
    # As root the server runs as `postgres`: it owns the state directory and must be able to
    # reach it (the run directory above it only needs to be searchable: o+x, no listing).
    if [ "$(id -u)" = 0 ]; then
        chown postgres:postgres "$PG_DIR"
        chmod 700 "$PG_DIR"
        chmod o+x "$(dirname "$PG_DIR")"
        if ! runuser -u postgres -- test -w "$PG_DIR"; then
            log "the postgres OS user cannot reach $PG_DIR (a parent directory is not" \
                "searchable by others); put WATTLAKE_RUN_DIR under /tmp"
            exit 2
        fi
    fi
}

url() {
    local port="${WATTLAKE_PG_PORT:-55432}"
    if [ -f "$PORT_FILE" ]; then port="$(cat "$PORT_FILE")"; fi
    echo "postgresql://postgres@127.0.0.1:$port/$PG_DB"
}

is_running() {
    [ -f "$DATA/postmaster.pid" ] && as_pg "$PG_BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

start_server() {
    # Start on a free port; another process may take the port between the choice and the
    # bind, so a failed start is retried on a new port (up to 3 times).
    local port attempt seen
    for attempt in 1 2 3; do
        port="$(free_port "${WATTLAKE_PG_PORT:-55432}")"
        seen=0
        if [ -f "$PG_DIR/server.log" ]; then seen="$(wc -l <"$PG_DIR/server.log")"; fi
        echo "$port" >"$PORT_FILE"
        # Loopback only, trust auth (initdb --auth=trust), small and fast: a test server.
        if as_pg "$PG_BIN/pg_ctl" -D "$DATA" -l "$PG_DIR/server.log" -w -t 60 start -o \
            "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$PG_DIR \
             -c fsync=off -c synchronous_commit=off -c full_page_writes=off \
             -c max_connections=50 -c shared_buffers=128MB" >/dev/null; then
            return 0
        fi
        if ! tail -n "+$((seen + 1))" "$PG_DIR/server.log" 2>/dev/null \
            | grep -q "could not bind\|could not create any TCP/IP sockets"; then
            break
        fi
        log "port $port was taken (attempt $attempt); retrying on another"
    done
    tail -n 20 "$PG_DIR/server.log" >&2 || true
    exit 1
}

start() {
    install_pg
    prepare_dir
    if [ ! -f "$DATA/PG_VERSION" ]; then
        log "initdb $DATA"
        as_pg "$PG_BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 \
            --locale=C.UTF-8 >"$PG_DIR/initdb.log" 2>&1 \
            || { cat "$PG_DIR/initdb.log" >&2; exit 1; }
    fi
    if ! is_running; then
        start_server
    fi
    local port
    port="$(cat "$PORT_FILE")"
    wait_port "$port" 30 || { log "server not listening on 127.0.0.1:$port"; exit 1; }
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
        log "stopped ($PG_DIR)"
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
    status)
        is_running && [ -f "$PORT_FILE" ] \
            && "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$(cat "$PORT_FILE")"
        ;;
    *)
        echo "usage: $0 start [--export]|stop|url|status" >&2
        exit 2
        ;;
esac
