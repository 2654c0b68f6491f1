#!/usr/bin/env bash
# A Spark standalone cluster on loopback: one master and two workers, from the installed pyspark.
#
#   scripts/spark-cluster.sh start    start the master and the workers (nothing when they run),
#                                     wait until both workers registered, print the export line
#   scripts/spark-cluster.sh stop     stop the master and workers this state directory started
#   scripts/spark-cluster.sh status   exit 0 when the master and every worker run
#   scripts/spark-cluster.sh env      print the export line of the running cluster
#
# `eval "$(scripts/spark-cluster.sh start)"` sets WATTLAKE_SPARK_MASTER=spark://127.0.0.1:PORT.
# State (pids, ports, logs, the workers' work directories with executor logs) lives in
# `service_dir spark-cluster` (see scripts/lib/service.sh). Environment:
#   WATTLAKE_SPARK_WORKERS        number of workers (default 2)
#   WATTLAKE_SPARK_WORKER_CORES   cores each worker offers (default 1)
#   WATTLAKE_SPARK_WORKER_MEMORY  memory each worker offers to executors (default 2g)
#   WATTLAKE_SPARK_DAEMON_MEMORY  heap of the master and worker daemons (default 256m)
#   PYTHON                        the Python whose pyspark is used (default .venv/bin/python)
# The defaults suit a 2-core machine: two executors of 1 core each (the session asks for 1g).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib/service.sh

DIR="$(service_dir spark-cluster)"
WORKERS="${WATTLAKE_SPARK_WORKERS:-2}"
CORES="${WATTLAKE_SPARK_WORKER_CORES:-1}"
MEMORY="${WATTLAKE_SPARK_WORKER_MEMORY:-2g}"
PY="${PYTHON:-.venv/bin/python}"

log() { echo "spark-cluster.sh: $*" >&2; }

spark_home() {
    "$PY" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))' 2>/dev/null \
        || { log "pyspark is not installed for $PY (scripts/setup.sh dev,spark)"; exit 2; }
}

alive() { [ -f "$DIR/$1.pid" ] && kill -0 "$(cat "$DIR/$1.pid")" 2>/dev/null; }

master_url() { echo "spark://127.0.0.1:$(cat "$DIR/master.port")"; }

export_line() { echo "export WATTLAKE_SPARK_MASTER=$(master_url)"; }

running() {
    local i
    alive master || return 1
    for i in $(seq 1 "$WORKERS"); do alive "worker$i" || return 1; done
    port_in_use "$(cat "$DIR/master.port")"
}

launch() {
    # launch NAME CLASS ARGS...: run spark-class in the background (it execs the JVM, so the
    # pid is the daemon's), log to NAME.log, record NAME.pid.
    local name="$1"
    shift
    nohup "$SPARK_HOME/bin/spark-class" "$@" >"$DIR/$name.log" 2>&1 </dev/null &
    echo $! >"$DIR/$name.pid"
}

start() {
    if running; then
        export_line
        return 0
    fi
    stop_all  # a half-started cluster from before: start again cleanly
    SPARK_HOME="$(spark_home)"
    export SPARK_HOME
    [ -x "$SPARK_HOME/bin/spark-class" ] || chmod +x "$SPARK_HOME"/bin/* 2>/dev/null || true
    command -v java >/dev/null 2>&1 || { log "Java 17 is needed (scripts/setup.sh installs it)"; exit 2; }
    # Loopback only, and no configuration from elsewhere on the machine.
    export SPARK_LOCAL_IP=127.0.0.1 SPARK_LOCAL_HOSTNAME=127.0.0.1
    export SPARK_CONF_DIR="$DIR/conf" SPARK_LOG_DIR="$DIR" SPARK_PID_DIR="$DIR"
    export SPARK_DAEMON_MEMORY="${WATTLAKE_SPARK_DAEMON_MEMORY:-256m}"
    # The daemons only schedule and supervise: C1 JIT and the serial GC start them with far
    # less CPU (which matters on 2 shared cores); executors keep the JVM defaults.
    export SPARK_DAEMON_JAVA_OPTS="${SPARK_DAEMON_JAVA_OPTS:--XX:TieredStopAtLevel=1 -XX:+UseSerialGC}"
    mkdir -p "$SPARK_CONF_DIR"
    local t0 port ui i wport wui
    t0=$(date +%s%N)
    port="$(free_port 7077)"
    ui="$(free_port 8080)"
    echo "$port" >"$DIR/master.port"
    echo "$ui" >"$DIR/master-ui.port"
    launch master org.apache.spark.deploy.master.Master \
        --host 127.0.0.1 --port "$port" --webui-port "$ui"
    if ! wait_port "$port" 60 "$(cat "$DIR/master.pid")"; then
        log "master did not start; last lines of $DIR/master.log:"
        tail -n 30 "$DIR/master.log" >&2
        stop_all
        exit 1
    fi
    for i in $(seq 1 "$WORKERS"); do
        wport="$(free_port 0)"
        wui="$(free_port 0)"
        mkdir -p "$DIR/work$i"
        launch "worker$i" org.apache.spark.deploy.worker.Worker \
            --host 127.0.0.1 --port "$wport" --webui-port "$wui" \
            --cores "$CORES" --memory "$MEMORY" --work-dir "$DIR/work$i" "$(master_url)"
    done
    for _ in $(seq 1 600); do
        local ready=0
        for i in $(seq 1 "$WORKERS"); do
            grep -q "Successfully registered with master" "$DIR/worker$i.log" 2>/dev/null \
                && ready=$((ready + 1))
            if ! alive "worker$i"; then
                log "worker $i exited; last lines of $DIR/worker$i.log:"
                tail -n 30 "$DIR/worker$i.log" >&2
                stop_all
                exit 1
            fi
        done
        if [ "$ready" = "$WORKERS" ]; then
            log "master $(master_url) (web UI 127.0.0.1:$ui) and $WORKERS workers ready" \
                "in $(( ($(date +%s%N) - t0) / 1000000 )) ms; logs in $DIR"
            export_line
            return 0
        fi
        sleep 0.1
    done
    log "workers did not register within 60 s; logs in $DIR"
    stop_all
    exit 1
}

stop_all() {
    local f
    for f in "$DIR"/worker*.pid "$DIR"/master.pid; do
        [ -e "$f" ] && stop_pidfile "$f" 30
    done
    return 0
}

case "${1:-}" in
    start) start ;;
    stop)
        stop_all
        log "stopped ($DIR)"
        ;;
    status)
        if running; then
            log "running: $(master_url), $WORKERS workers"
        else
            log "not running"
            exit 1
        fi
        ;;
    env)
        running || { log "not running (scripts/spark-cluster.sh start)"; exit 1; }
        export_line
        ;;
    *)
        echo "usage: $0 start|stop|status|env" >&2
        exit 2
        ;;
esac
