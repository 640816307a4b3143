#!/usr/bin/env bash
# Installs what the project needs on a new machine, idempotently: PostgreSQL from Debian's
# packages, FerretDB built with `go install`, the Kafka jars resolved by Maven, and the
# Python environment from uv.lock. A second run reuses everything already there.
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
# Trust the operating system's certificate store (where a site's own CA is installed),
# like apt, pip, go and maven here do, rather than only uv's bundled roots.
export UV_SYSTEM_CERTS=${UV_SYSTEM_CERTS:-true}

if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
  log "installing PostgreSQL from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >"$LOGS/apt.log" 2>&1
  apt-get install -y -q postgresql >>"$LOGS/apt.log" 2>&1
fi

# The browser tests drive Debian's Chromium through its ChromeDriver (nothing is downloaded
# at test time).
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  log "installing Chromium and ChromeDriver from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >"$LOGS/apt.log" 2>&1
  apt-get install -y -q chromium chromium-driver >>"$LOGS/apt.log" 2>&1
fi

if [[ ! -x $STATE/bin/ferretdb ]]; then
  log "building FerretDB $FERRETDB_VERSION with go install (a few minutes the first time)"
  # The module as downloaded lacks build/version/version.txt, which FerretDB's own build
  # generates from git and without which the binary panics at start; its docs say to write
  # it by hand. So: download the module, copy it, add the file, `go install` from the copy.
  src=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  rm -rf "$STATE/src/ferretdb" && mkdir -p "$STATE/src"
  cp -r "$src" "$STATE/src/ferretdb" && chmod -R u+w "$STATE/src/ferretdb"
  echo "$FERRETDB_VERSION" >"$STATE/src/ferretdb/build/version/version.txt"
  (cd "$STATE/src/ferretdb" && GOBIN=$STATE/bin GOFLAGS=-trimpath go install ./cmd/ferretdb) >"$LOGS/ferretdb-build.log" 2>&1
fi

# Jaeger all-in-one, pinned with its dependencies by deploy/jaeger/go.mod (a tool line, as
# its module advises); rebuilt when that pin changes.
if [[ ! -x $STATE/bin/jaeger ]] || ! cmp -s "$ROOT/deploy/jaeger/go.sum" "$STATE/bin/jaeger.go.sum"; then
  log "building Jaeger all-in-one with go build (a few minutes the first time)"
  (cd "$ROOT/deploy/jaeger" && GOFLAGS=-trimpath go build -o "$STATE/bin/jaeger" github.com/jaegertracing/jaeger/cmd/jaeger) \
    >"$LOGS/jaeger-build.log" 2>&1 || { log "building Jaeger failed; $LOGS/jaeger-build.log says:"; tail -n 30 "$LOGS/jaeger-build.log" >&2; exit 1; }
  cp "$ROOT/deploy/jaeger/go.sum" "$STATE/bin/jaeger.go.sum"
fi

if [[ ! -f $STATE/kafka/libs/.complete ]]; then
  log "resolving the Apache Kafka jars with Maven"
  rm -rf "$STATE/kafka/libs"
  mvn -q -B -f "$ROOT/deploy/kafka/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$STATE/kafka/libs" >"$LOGS/kafka-download.log" 2>&1
  touch "$STATE/kafka/libs/.complete"
fi

if ! python3 -m uv --version >/dev/null 2>&1; then
  log "installing uv"
  python3 -m pip install -q 'uv>=0.13,<0.14' >"$LOGS/uv-install.log" 2>&1
fi
log "syncing the Python environment from uv.lock"
(cd "$ROOT" && python3 -m uv sync --frozen --quiet)
