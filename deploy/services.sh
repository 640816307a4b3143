#!/usr/bin/env bash
# Starts and stops the project's infrastructure on loopback, idempotently:
#   PostgreSQL (a cluster of the project's own) -> FerretDB (MongoDB wire
#   protocol) on 127.0.0.1:27017, Apache Kafka (KRaft, single node) on 127.0.0.1:9092, and
#   Jaeger all-in-one (OTLP on 127.0.0.1:4318, UI and query API on 127.0.0.1:16686).
# `start` starts only what is not running and waits until each answers; `stop` stops what
# this script started, by the pids it recorded; `status` says what runs.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
# The cluster runs as the postgres user, who may not be able to enter the clone's folder (a
# clone under `mktemp -d` is root's alone): it lives in postgres's home, one per state dir.
PG_DIR=$(getent passwd postgres | cut -d: -f6)/orders-$(printf %s "$STATE" | sha256sum | cut -c1-12)
PG_DATA=$PG_DIR/data
PG_LOG=$PG_DIR/postgres.log

# FerretDB v1 deadlocks once every connection of its pool is held by an update (or delete)
# waiting for a second one, so it must never get as many concurrent operations as its pool has
# connections. Each service process opens at most ORDERS_MONGODB_POOL_SIZE (16), so 200 leave
# room for a dozen processes (docs/design.md).
FERRETDB_POOL=200

start_postgres() {
  if [[ ! -f $PG_DATA/PG_VERSION ]]; then
    log "initialising a PostgreSQL cluster in $PG_DATA"
    mkdir -p "$PG_DATA"
    chown -R postgres:postgres "$PG_DIR"
    # UTF-8 whatever the locale of the caller: FerretDB refuses any other encoding.
    runuser -u postgres -- "$PG_BIN/initdb" -D "$PG_DATA" --auth=trust -U postgres --encoding=UTF8 --no-locale \
      >"$LOGS/postgres-init.log" 2>&1
  fi
  if runuser -u postgres -- "$PG_BIN/pg_ctl" status -D "$PG_DATA" >/dev/null 2>&1; then
    log "PostgreSQL already runs"
  else
    require_free_port "$PG_PORT" PostgreSQL
    log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
    ln -sfn "$PG_LOG" "$LOGS/postgres.log"
    runuser -u postgres -- "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k /tmp -c fsync=on -c max_connections=$((FERRETDB_POOL + 20)) -c autovacuum_naptime=10s" \
      >/dev/null
  fi
  head -n 1 "$PG_DATA/postmaster.pid" >"$PIDS/postgres.pid"
  if ! runuser -u postgres -- psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -tAc "SELECT 1 FROM pg_database WHERE datname='ferretdb'" | grep -q 1; then
    runuser -u postgres -- psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -qc "CREATE DATABASE ferretdb" >/dev/null
  fi
  # Read by this shell, not by postgres, who may not be able to enter the clone.
  runuser -u postgres -- psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d ferretdb -q -v ON_ERROR_STOP=1 \
    <"$ROOT/deploy/ferretdb/equality-indexes.sql" >"$LOGS/postgres-setup.log" 2>&1 || {
    log "could not set up FerretDB's database; $LOGS/postgres-setup.log says:"
    cat "$LOGS/postgres-setup.log" >&2
    exit 1
  }
}

start_ferretdb() {
  if pid_alive ferretdb; then
    log "FerretDB already runs"
    return
  fi
  require_free_port "$MONGO_PORT" FerretDB
  log "starting FerretDB $FERRETDB_VERSION on 127.0.0.1:$MONGO_PORT"
  mkdir -p "$STATE/ferretdb"
  nohup "$STATE/bin/ferretdb" \
    --handler=postgresql \
    --postgresql-url="postgres://postgres@127.0.0.1:$PG_PORT/ferretdb?pool_max_conns=$FERRETDB_POOL" \
    --listen-addr="127.0.0.1:$MONGO_PORT" \
    --debug-addr="127.0.0.1:$FERRETDB_DEBUG_PORT" \
    --state-dir="$STATE/ferretdb" \
    --telemetry=disable \
    --log-level=warn >"$LOGS/ferretdb.log" 2>&1 &
  echo $! >"$PIDS/ferretdb.pid"
  wait_port "$MONGO_PORT" FerretDB 60 "$LOGS/ferretdb.log" ferretdb
}

write_kafka_config() {
  cat >"$STATE/kafka/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
log.dirs=$STATE/kafka/data
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
PROPS
}

KAFKA_JVM=(java -Xms256m -Xmx1g "-Dlog4j.configuration=file:$ROOT/deploy/kafka/log4j.properties" -cp "$STATE/kafka/libs/*")

start_kafka() {
  if pid_alive kafka; then
    log "Kafka already runs"
    return
  fi
  require_free_port "$KAFKA_PORT" Kafka
  mkdir -p "$STATE/kafka/data"
  write_kafka_config
  if [[ ! -f $STATE/kafka/data/meta.properties ]]; then
    log "formatting the KRaft log directory"
    "${KAFKA_JVM[@]}" kafka.tools.StorageTool format --cluster-id="$(python3 -c 'import base64, uuid; print(base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="))')" \
      --config="$STATE/kafka/server.properties" >"$LOGS/kafka-format.log" 2>&1
  fi
  log "starting Apache Kafka (KRaft) on 127.0.0.1:$KAFKA_PORT"
  nohup "${KAFKA_JVM[@]}" kafka.Kafka "$STATE/kafka/server.properties" >"$LOGS/kafka.log" 2>&1 &
  echo $! >"$PIDS/kafka.pid"
  wait_port "$KAFKA_PORT" Kafka 90 "$LOGS/kafka.log" kafka
}

start_jaeger() {
  if pid_alive jaeger; then
    log "Jaeger already runs"
    return
  fi
  require_free_port "$JAEGER_UI_PORT" Jaeger
  require_free_port "$JAEGER_OTLP_HTTP_PORT" "Jaeger's OTLP receiver"
  log "starting Jaeger all-in-one (OTLP on 127.0.0.1:$JAEGER_OTLP_HTTP_PORT, UI on 127.0.0.1:$JAEGER_UI_PORT)"
  JAEGER_UI_PORT=$JAEGER_UI_PORT JAEGER_QUERY_GRPC_PORT=$JAEGER_QUERY_GRPC_PORT \
    JAEGER_OTLP_HTTP_PORT=$JAEGER_OTLP_HTTP_PORT JAEGER_OTLP_GRPC_PORT=$JAEGER_OTLP_GRPC_PORT \
    nohup "$STATE/bin/jaeger" --config "$ROOT/deploy/jaeger/config.yaml" >"$LOGS/jaeger.log" 2>&1 &
  echo $! >"$PIDS/jaeger.pid"
  wait_port "$JAEGER_OTLP_HTTP_PORT" Jaeger 60 "$LOGS/jaeger.log" jaeger
  wait_port "$JAEGER_UI_PORT" "Jaeger's query API" 30 "$LOGS/jaeger.log" jaeger
}

stop_pid() {
  local name=$1 f=$PIDS/$1.pid pid i
  [[ -f $f ]] || return 0
  pid=$(cat "$f")
  if kill -0 "$pid" 2>/dev/null; then
    log "stopping $name (pid $pid)"
    kill "$pid"
    for ((i = 0; i < 120; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$f"
}

case ${1:-} in
  start)
    start_postgres
    start_ferretdb
    start_kafka
    start_jaeger
    log "logs are in $LOGS"
    ;;
  stop)
    stop_pid app
    stop_pid jaeger
    stop_pid kafka
    stop_pid ferretdb
    if [[ -f $PIDS/postgres.pid ]]; then
      runuser -u postgres -- "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m fast >/dev/null 2>&1 || true
      rm -f "$PIDS/postgres.pid"
      log "stopped PostgreSQL"
    fi
    ;;
  status)
    for name in postgres ferretdb kafka jaeger app; do
      if pid_alive "$name"; then echo "$name: running (pid $(cat "$PIDS/$name.pid"))"; else echo "$name: stopped"; fi
    done
    ;;
  *)
    echo "usage: $0 start|stop|status" >&2
    exit 2
    ;;
esac
