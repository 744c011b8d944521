#!/usr/bin/env bash
# ClickHouse server for the server-store tests (tests/store/test_server.py).
#
# * clickhouse-server + clickhouse-client from Debian (18.16.1, the only ClickHouse
#   server any reachable registry has). The tests use it for the driver path's
#   transport, outage and recovery behaviour; the production DDL is validated on chdb.
# * zookeeper (Debian's, with its Java runtime): the one-shard cluster test runs its jar
#   directly on 127.0.0.1 for ON CLUSTER DDL and replicated tables.
#
# Idempotent: installs only what is missing; `apt-get update` runs only when something
# has to be fetched. Services never start on install: a policy-rc.d that denies every
# start is in place for the duration of the install (the package's postinst would
# otherwise try to start clickhouse-server and zookeeper). The tests start their own
# servers by PID, with their own config in a temp dir, on 127.0.0.1 only.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/deps/clickhouse.sh: needs root (apt-get)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

. "$(dirname "$0")/lib/apt.sh"

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

missing=()
installed clickhouse-server || missing+=(clickhouse-server)
installed clickhouse-client || missing+=(clickhouse-client)
installed zookeeper || missing+=(zookeeper)

if [ ${#missing[@]} -eq 0 ]; then
    echo "clickhouse.sh: clickhouse-server, clickhouse-client and zookeeper present"
else
    echo "clickhouse.sh: installing ${missing[*]}"
    apt_install_without_starting "${missing[@]}"
fi

clickhouse-client --version 2>/dev/null | head -1 || true
