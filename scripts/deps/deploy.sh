#!/bin/sh
# Validators for tests/deploy (deploy/compose.yaml, deploy/k8s, the Alertmanager config),
# which run without a container engine or a cluster:
#
# * Docker Compose v2 (`docker compose config`), the CLI plugin, built from source: the Go
#   module proxy serves github.com/docker/compose/v2, but `go install ...@version` refuses
#   it (its go.mod has exclude directives), so the module is downloaded and built as the
#   main module, the way its own Makefile does. ~2-3 min on 2 cores the first time.
#   Installed as /usr/local/lib/docker/cli-plugins/docker-compose (`docker compose`) and
#   linked as /usr/local/bin/docker-compose.
# * kubernetes-validate (PyPI) in a venv of its own: Kubernetes' JSON schemas for 1.25 to
#   1.37 ship inside the package (no download at run time), strict mode rejects unknown
#   fields. Linked as /usr/local/bin/kubernetes-validate.
# * amtool, from Debian's prometheus-alertmanager (its service never starts on install).
# * kubectl (for `kubectl kustomize`) is part of the machine image; where it is missing,
#   kustomize itself is installed from the Go module proxy instead.
#
# Idempotent: each tool is installed only when the pinned version does not answer.
set -eu

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/deps/deploy.sh: needs root (writes /usr/local, /var/cache/planewatch, apt-get)" >&2
    exit 1
fi

COMPOSE_VERSION=v2.40.3
KUBERNETES_VALIDATE_VERSION=1.37.0
KUSTOMIZE_VERSION=v5.5.0
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
KV_VENV=${PLANEWATCH_KUBERNETES_VALIDATE_VENV:-/var/cache/planewatch/kubernetes-validate}

# -- docker compose -------------------------------------------------------------------------
if "$PLUGIN_DIR/docker-compose" version 2>/dev/null | grep -q "version $COMPOSE_VERSION\$"; then
    echo "deploy deps: docker compose $COMPOSE_VERSION already installed"
else
    command -v go >/dev/null 2>&1 || { echo "deploy deps: Go is needed to build docker compose" >&2; exit 1; }
    work=$(mktemp -d)
    trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
    src=$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "github.com/docker/compose/v2@$COMPOSE_VERSION" \
        | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')
    cp -R "$src" "$work/compose"
    chmod -R u+w "$work/compose"
    (cd "$work/compose" && CGO_ENABLED=0 go build -trimpath \
        -ldflags "-s -w -X github.com/docker/compose/v2/internal.Version=$COMPOSE_VERSION" \
        -o "$work/docker-compose" ./cmd)
    mkdir -p "$PLUGIN_DIR"
    install -m 0755 "$work/docker-compose" "$PLUGIN_DIR/docker-compose"
    ln -sf "$PLUGIN_DIR/docker-compose" /usr/local/bin/docker-compose
    "$PLUGIN_DIR/docker-compose" version
    echo "deploy deps: installed docker compose $COMPOSE_VERSION"
fi

# -- kubernetes-validate --------------------------------------------------------------------
if [ -x "$KV_VENV/bin/kubernetes-validate" ] && [ "$("$KV_VENV/bin/kubernetes-validate" --version 2>/dev/null)" = "$KUBERNETES_VALIDATE_VERSION" ]; then
    echo "deploy deps: kubernetes-validate $KUBERNETES_VALIDATE_VERSION already installed"
else
    mkdir -p "$(dirname "$KV_VENV")"
    python3 -m venv "$KV_VENV"
    "$KV_VENV/bin/pip" install -q "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
    echo "deploy deps: installed kubernetes-validate $KUBERNETES_VALIDATE_VERSION in $KV_VENV"
fi
ln -sf "$KV_VENV/bin/kubernetes-validate" /usr/local/bin/kubernetes-validate

# -- amtool ---------------------------------------------------------------------------------
if command -v amtool >/dev/null 2>&1; then
    echo "deploy deps: amtool already installed"
else
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends prometheus-alertmanager
    echo "deploy deps: installed amtool (prometheus-alertmanager)"
fi

# -- kustomize (only without kubectl) ---------------------------------------------------------
if command -v kubectl >/dev/null 2>&1 || command -v kustomize >/dev/null 2>&1; then
    echo "deploy deps: kubectl/kustomize present"
else
    GOBIN=/usr/local/bin go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
    echo "deploy deps: installed kustomize $KUSTOMIZE_VERSION"
fi
