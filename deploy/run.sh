#!/usr/bin/env bash
# `make run`: starts the three services in the background (after `make services`), creates
# a demo merchant key and a paid demo checkout, and prints how to try it.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$ROOT"
BIN=$ROOT/.venv/bin
PORT=${ORDERS_HTTP_PORT:-8000}
export ORDERS_ALLOW_PRIVATE_WEBHOOKS=${ORDERS_ALLOW_PRIVATE_WEBHOOKS:-true}
# Spans go to the Jaeger that `make services` started.
export OTEL_EXPORTER_OTLP_ENDPOINT=${OTEL_EXPORTER_OTLP_ENDPOINT:-http://127.0.0.1:$JAEGER_OTLP_HTTP_PORT}

if pid_alive app; then
  log "the services already run (pid $(cat "$PIDS/app.pid")); 'make stop' stops them"
else
  log "starting the ingress, the order-writer and the webhook-dispatcher"
  nohup "$BIN/orders" serve all >"$LOGS/app.log" 2>&1 &
  echo $! >"$PIDS/app.pid"
fi
for ((i = 0; i < 120; i++)); do
  curl -fs "http://127.0.0.1:$PORT/ready" >/dev/null 2>&1 && break
  sleep 0.5
done
curl -fs "http://127.0.0.1:$PORT/ready" >/dev/null || { log "the ingress did not come up; see $LOGS/app.log"; tail -n 30 "$LOGS/app.log"; exit 1; }

credentials=$("$BIN/orders" keys create --merchant demo-merchant)
api_key=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["apiKey"])' <<<"$credentials")
checkout=$("$BIN/python" -m tests.support.demo --merchant demo-merchant)
checkout_id=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["checkoutId"])' <<<"$checkout")
key="demo-${checkout_id:0:8}" # a key of this run's own: a key is bound to its first body

cat <<TXT

The Orders service runs on http://127.0.0.1:$PORT (logs: $LOGS/app.log; 'make stop' stops everything).
Demo merchant: $credentials

Create an order from the paid demo checkout:

  curl -s -X POST http://127.0.0.1:$PORT/orders -H 'Authorization: Bearer $api_key' -H 'content-type: application/json' -d '{"checkoutId": "$checkout_id", "meta": {"source": "make run"}, "idempotencyKey": "$key"}'

Read it back (by its idempotency key, so this line works as printed):

  curl -s 'http://127.0.0.1:$PORT/orders?filter.idempotencyKey=$key' -H 'Authorization: Bearer $api_key'

Operate it: /health, /ready and /metrics on the ingress (http://127.0.0.1:$PORT), the writer
(http://127.0.0.1:${ORDERS_WRITER_HTTP_PORT:-8001}) and the dispatcher (http://127.0.0.1:${ORDERS_DISPATCHER_HTTP_PORT:-8002}).
Traces: Jaeger on http://127.0.0.1:$JAEGER_UI_PORT, e.g. the order's trace with spans of all three services:

  curl -s 'http://127.0.0.1:$JAEGER_UI_PORT/api/traces?service=orders-ingress&limit=5'

TXT
