# The two commands a newcomer needs: `make run` and `make test` (see README.md).
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
BIN := $(VENV)/bin
# The services `make services` starts; other ports with ORDERS_KAFKA_PORT / ORDERS_MONGO_PORT.
export KAFKA_BOOTSTRAP_SERVERS ?= 127.0.0.1:$(or $(ORDERS_KAFKA_PORT),9092)
export MONGODB_URL ?= mongodb://127.0.0.1:$(or $(ORDERS_MONGO_PORT),27017)/orders
# The Jaeger `make services` starts: where spans go (OTLP over HTTP) and where the tests read them.
export JAEGER_OTLP_ENDPOINT ?= http://127.0.0.1:$(or $(ORDERS_JAEGER_OTLP_HTTP_PORT),4318)
export JAEGER_QUERY_URL ?= http://127.0.0.1:$(or $(ORDERS_JAEGER_UI_PORT),16686)

.PHONY: help install services stop status run test test-unit lint bench chaos schemas compose-check

help:
	@echo "make run      install, start Kafka + FerretDB + the three services, create a demo key and checkout"
	@echo "make test     install, start Kafka + FerretDB, run every test"
	@echo "make lint     ruff and mypy"
	@echo "make bench    benchmarks (not part of make test)"
	@echo "make chaos    kill and restart Kafka while orders are created (not part of make test)"
	@echo "make stop     stop everything the project started"

install:
	@./deploy/install.sh

services: install
	@./deploy/services.sh start
	@$(BIN)/orders topics create >/dev/null

stop:
	@./deploy/services.sh stop

status:
	@./deploy/services.sh status

run: services
	@./deploy/run.sh

test: services
	@$(BIN)/pytest

test-unit: install
	@$(BIN)/pytest tests/unit

lint: install
	@$(BIN)/ruff check .
	@$(BIN)/ruff format --check .
	@$(BIN)/mypy

bench: services
	@$(BIN)/python -m tests.bench.run_all

chaos: services
	@$(BIN)/python -m tests.bench.kafka_restart

schemas: install
	@$(BIN)/python -m schemas.export

compose-check:
	@docker-compose config -q && echo "docker-compose.yml is valid"
