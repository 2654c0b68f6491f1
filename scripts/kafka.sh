#!/usr/bin/env bash
# A single-node Apache Kafka 4.4 broker (KRaft, broker + controller in one JVM) on loopback.
#
#   scripts/kafka.sh start    resolve the broker jars (scripts/jars.sh kafka, cached), format
#                             the data directory when it is new, start the broker, wait until
#                             it is ready and print `export WATTLAKE_KAFKA_BOOTSTRAP=127.0.0.1:PORT`
#                             (use: eval "$(scripts/kafka.sh start)"). Already running: prints
#                             the line again and starts nothing.
#   scripts/kafka.sh stop     stop the broker this state directory started (data kept)
#   scripts/kafka.sh status   exit 0 when that broker runs and accepts connections
#   scripts/kafka.sh env      print the export line of the last start (exit 1 if never started)
#
# State (scripts/lib/service.sh): $(service_dir kafka) = $WATTLAKE_RUN_DIR/kafka per test run,
# else ${WATTLAKE_SERVICES_DIR:-/tmp/wattlake-services-$UID}/kafka: data/ (the log dirs,
# formatted once: a restart keeps topics, offsets and messages), server.properties,
# broker.log, broker.pid, port, cport. A restart reuses the recorded ports when they are free,
# so clients keep their bootstrap address.
#
# Environment: WATTLAKE_KAFKA_HEAP (JVM heap, default 384m), WATTLAKE_KAFKA_PORT (preferred
# broker port, default 19092), WATTLAKE_KAFKA_START_TIMEOUT (seconds, default 90).
# Java 17 and Maven are installed with apt-get when missing.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
. "$ROOT/scripts/lib/service.sh"

DIR="$(service_dir kafka)"
DATA="$DIR/data"
PIDFILE="$DIR/broker.pid"
LOG="$DIR/broker.log"
HEAP="${WATTLAKE_KAFKA_HEAP:-384m}"
TIMEOUT="${WATTLAKE_KAFKA_START_TIMEOUT:-90}"

log() { echo "kafka.sh: $*" >&2; }

ensure_cmd() {
    # ensure_cmd COMMAND DEBIAN_PACKAGE
    command -v "$1" >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        log "$1 is needed (Debian package $2) and cannot be installed here"
        exit 2
    fi
    log "installing $2 (apt-get)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null
}

export_line() { echo "export WATTLAKE_KAFKA_BOOTSTRAP=127.0.0.1:$(cat "$DIR/port")"; }

is_ours() { pid_runs "$PIDFILE" "kafka.Kafka $DIR/server.properties"; }

new_cluster_id() {
    # Kafka's Uuid text form: 16 random bytes, URL-safe base64 without padding, not starting
    # with "-" (what `kafka-storage random-uuid` prints, without starting a JVM for it).
    python3 -c 'import base64, os
while True:
    s = base64.urlsafe_b64encode(os.urandom(16)).decode().rstrip("=")
    if not s.startswith("-"):
        print(s)
        break'
}

running() { is_ours && [ -f "$DIR/port" ] && port_in_use "$(cat "$DIR/port")"; }

pick_port() {
    # pick_port FILE PREFERRED: the port recorded in FILE when it is free, else a free one.
    local file="$1" preferred="$2" old
    if [ -f "$file" ]; then
        old="$(cat "$file")"
        if ! port_in_use "$old"; then echo "$old"; return; fi
        log "recorded port $old is taken by another process; choosing another"
    fi
    free_port "$preferred"
}

start() {
    if running; then
        export_line
        return 0
    fi
    rm -f "$PIDFILE"
    ensure_cmd java openjdk-17-jre-headless
    ensure_cmd mvn maven
    local jars port cport cp l4j
    jars="$("$ROOT/scripts/jars.sh" kafka)"
    cp="$jars/*"
    l4j="-Dlog4j2.configurationFile=$ROOT/deploy/kafka/log4j2.yaml"
    port="$(pick_port "$DIR/port" "${WATTLAKE_KAFKA_PORT:-19092}")"
    cport="$(pick_port "$DIR/cport" 19093)"
    if [ "$cport" = "$port" ]; then cport="$(free_port 0)"; fi
    sed -e "s#@PORT@#$port#g; s#@CPORT@#$cport#g; s#@DATA@#$DATA#g" \
        "$ROOT/deploy/kafka/server.properties.in" >"$DIR/server.properties"
    if [ ! -f "$DATA/meta.properties" ]; then
        # A new data directory: format it once with a new cluster id. Formatting again
        # would need the same id (or an empty directory), so a restart never formats.
        local cluster
        cluster="$(new_cluster_id)"
        mkdir -p "$DATA"
        java "$l4j" -cp "$cp" kafka.tools.StorageTool format -t "$cluster" \
            -c "$DIR/server.properties" >"$DIR/format.log" 2>&1 \
            || { cat "$DIR/format.log" >&2; exit 1; }
        echo "$cluster" >"$DIR/cluster.id"
    fi
    [ -f "$LOG" ] && mv -f "$LOG" "$LOG.1"
    # setsid: the broker outlives this script and is not hit by a terminal's Ctrl-C.
    setsid nohup java "-Xms$HEAP" "-Xmx$HEAP" -XX:+UseG1GC -XX:+ExitOnOutOfMemoryError \
        -Djava.awt.headless=true "$l4j" -cp "$cp" kafka.Kafka "$DIR/server.properties" \
        >"$LOG" 2>&1 </dev/null &
    local pid=$!
    echo "$pid" >"$PIDFILE"
    echo "$port" >"$DIR/port"
    echo "$cport" >"$DIR/cport"
    local t0=$SECONDS
    while ! grep -q "Kafka Server started" "$LOG" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "broker exited during start; last lines of $LOG:"
            tail -n 30 "$LOG" >&2
            rm -f "$PIDFILE"
            exit 1
        fi
        if [ $((SECONDS - t0)) -ge "$TIMEOUT" ]; then
            log "broker not ready after ${TIMEOUT}s (log: $LOG); stopping it"
            stop_pidfile "$PIDFILE" 10
            exit 1
        fi
        sleep 0.2
    done
    wait_port "$port" 10 "$pid" || { log "broker started but port $port is closed"; exit 1; }
    log "ready on 127.0.0.1:$port in $((SECONDS - t0))s (state: $DIR)"
    export_line
}

stop() {
    if is_ours; then
        stop_pidfile "$PIDFILE" 60
        log "stopped (data kept in $DATA)"
    else
        rm -f "$PIDFILE"
    fi
}

service_cli kafka "${1:-}"
