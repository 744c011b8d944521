#!/bin/sh
# gNMI independent-client test: gnmi-py (Arista's Python gNMI client, `gnmipy`) in a venv
# of its own, because it needs protobuf 3.20 and planewatch runs protobuf >= 4.
#
# Why not gnmic: the Go module proxy reachable here refuses github.com/openconfig/gnmic
# ("403 This module version is not available", for every version), so it cannot be built.
# gnmi-py 0.7.1 declares grpcio-tools, which it only needs to regenerate its protos; the
# grpcio-tools versions that accept protobuf 3.x have no Python 3.11 wheels, so gnmi-py is
# installed without dependencies and its runtime dependencies are listed here.
# Idempotent: does nothing when the pinned client already answers. ~15 s when it installs.
set -eu

VENV=${PLANEWATCH_GNMIPY_VENV:-/var/cache/planewatch/gnmi-py}
GNMIPY_VERSION=0.7.1

if [ -x "$VENV/bin/gnmipy" ] && "$VENV/bin/gnmipy" --version 2>/dev/null | grep -q "gnmipy $GNMIPY_VERSION .protobuf 3.20"; then
    echo "gnmi deps: gnmipy $GNMIPY_VERSION already installed in $VENV"
    exit 0
fi

mkdir -p "$(dirname "$VENV")"
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --no-deps "gnmi-py==$GNMIPY_VERSION"
"$VENV/bin/pip" install -q "protobuf==3.20.3" "grpcio>=1.60,<2" "toml>=0.10" "typing-extensions>=3.7.4.2"
"$VENV/bin/gnmipy" --version
echo "gnmi deps: installed gnmipy $GNMIPY_VERSION in $VENV"
