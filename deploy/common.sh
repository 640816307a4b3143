# Shared settings of the deploy scripts. Everything the project installs or starts lives
# under $STATE (git-ignored): downloads, builds, data, logs and the pids it recorded.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${ORDERS_STATE_DIR:-$ROOT/.local}
LOGS=$STATE/logs
PIDS=$STATE/pids
mkdir -p "$STATE" "$LOGS" "$PIDS"

KAFKA_PORT=${ORDERS_KAFKA_PORT:-9092}
KAFKA_CONTROLLER_PORT=${ORDERS_KAFKA_CONTROLLER_PORT:-9093}
MONGO_PORT=${ORDERS_MONGO_PORT:-27017}
PG_PORT=${ORDERS_PG_PORT:-54329}
FERRETDB_DEBUG_PORT=${ORDERS_FERRETDB_DEBUG_PORT:-8088}
JAEGER_UI_PORT=${ORDERS_JAEGER_UI_PORT:-16686}
JAEGER_QUERY_GRPC_PORT=${ORDERS_JAEGER_QUERY_GRPC_PORT:-16685}
JAEGER_OTLP_HTTP_PORT=${ORDERS_JAEGER_OTLP_HTTP_PORT:-4318}
JAEGER_OTLP_GRPC_PORT=${ORDERS_JAEGER_OTLP_GRPC_PORT:-4317}
FERRETDB_VERSION=v1.24.2

log() { printf '[deploy] %s\n' "$*" >&2; }

# pid_alive NAME: true when the pid recorded for NAME is a running process.
pid_alive() {
  local f=$PIDS/$1.pid
  [[ -f $f ]] && kill -0 "$(cat "$f")" 2>/dev/null
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# require_free_port PORT NAME: fail when another process (not one this project started)
# holds the port, instead of mistaking it for the service.
require_free_port() {
  if port_open "$1"; then
    log "cannot start $2: 127.0.0.1:$1 is taken by another process (set ORDERS_*_PORT to use other ports)"
    exit 1
  fi
}

# wait_port PORT NAME SECONDS LOGFILE: wait until 127.0.0.1:PORT accepts connections.
wait_port() {
  local port=$1 name=$2 seconds=$3 logfile=$4 i
  for ((i = 0; i < seconds * 4; i++)); do
    if port_open "$port"; then
      log "$name is listening on 127.0.0.1:$port"
      return 0
    fi
    if [[ -n ${5:-} ]] && ! pid_alive "$5"; then
      log "$name exited during start-up; last lines of $logfile:"
      tail -n 30 "$logfile" >&2 || true
      return 1
    fi
    sleep 0.25
  done
  log "$name did not listen on 127.0.0.1:$port within ${seconds}s; last lines of $logfile:"
  tail -n 30 "$logfile" >&2 || true
  return 1
}
