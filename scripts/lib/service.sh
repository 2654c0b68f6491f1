# Shared helpers for the service scripts (postgres.sh, kafka.sh, redis.sh, …). Source it:
#
#   . "$(dirname "$0")/lib/service.sh"
#   DIR="$(service_dir kafka)"          # per-run state directory of this service
#   PORT="$(free_port 19092)"           # the preferred port if free, else one the kernel gives
#
# Per-run state: when WATTLAKE_RUN_DIR is set (scripts/test.sh sets it to a fresh directory
# per test run), every service keeps its data, logs, pid and port files under
# $WATTLAKE_RUN_DIR/<service>, so two test runs on one machine never share a server and each
# stops only what it started. Without it (a developer starting a service by hand) the state
# lives in ${WATTLAKE_SERVICES_DIR:-/tmp/wattlake-services-$(id -u)}/<service>.

service_dir() {
    local base="${WATTLAKE_RUN_DIR:-${WATTLAKE_SERVICES_DIR:-/tmp/wattlake-services-$(id -u)}}"
    mkdir -p "$base/$1"
    (cd "$base/$1" && pwd)
}

port_in_use() {
    # True when something listens on 127.0.0.1:$1 (bash's /dev/tcp; no extra tools needed).
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

free_port() {
    # $1: preferred port. Without WATTLAKE_RUN_DIR the preferred port is used when free (the
    # documented default a user expects); in a per-run directory, or when it is taken, the
    # kernel picks an unused ephemeral port, so concurrent runs do not race for the same one.
    local preferred="${1:-0}"
    if [ -z "${WATTLAKE_RUN_DIR:-}" ] && [ "$preferred" != 0 ] && ! port_in_use "$preferred"; then
        echo "$preferred"
        return
    fi
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_port() {
    # wait_port PORT SECONDS [PID]: 0 once 127.0.0.1:PORT accepts connections; 1 on timeout
    # or when PID (if given) has exited.
    local port="$1" secs="$2" pid="${3:-}" i
    for i in $(seq 1 $((secs * 10))); do
        port_in_use "$port" && return 0
        if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        sleep 0.1
    done
    return 1
}

stop_pidfile() {
    # stop_pidfile FILE [SECONDS]: TERM the process in FILE, KILL it after SECONDS (default
    # 30), remove FILE. Nothing when FILE is missing or the process is gone.
    local file="$1" secs="${2:-30}" pid i
    [ -f "$file" ] || return 0
    pid="$(cat "$file")"
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 $((secs * 10))); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
}

pid_runs() {
    # pid_runs FILE PATTERN: true when FILE names a live process whose command line contains
    # PATTERN (so a pid reused by another program after a crash is not taken for ours).
    local file="$1" pattern="$2" pid
    [ -f "$file" ] || return 1
    pid="$(cat "$file")"
    kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern"
}

service_cli() {
    # service_cli NAME ACTION: the start|stop|status|env commands of a service script that
    # defines the functions start, stop, running and export_line and the variables DIR
    # (service_dir) and PIDFILE; the port is in $DIR/port.
    local name="$1" action="${2:-}"
    case "$action" in
        start) start ;;
        stop) stop ;;
        status)
            if running; then
                echo "$name.sh: running on 127.0.0.1:$(cat "$DIR/port") (pid $(cat "$PIDFILE"), state: $DIR)" >&2
            else
                echo "$name.sh: not running (state: $DIR)" >&2
                return 1
            fi
            ;;
        env)
            [ -f "$DIR/port" ] || { echo "$name.sh: never started in $DIR" >&2; return 1; }
            export_line
            ;;
        *)
            echo "usage: $name.sh start|stop|status|env" >&2
            return 2
            ;;
    esac
}
