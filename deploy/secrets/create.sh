#!/bin/sh
# Creates the password files deploy/compose.yaml mounts as secrets, with random values,
# unless they exist. The fabric CA (fabric-ca.pem) is yours to copy here.
#
# Compose bind-mounts secret files as they are, so they are world-readable files (0644)
# inside this directory, which only its owner may enter (0700).
set -eu
dir=${PLANEWATCH_SECRETS_DIR:-$(dirname "$0")}
chmod 0700 "$dir"
for name in clickhouse-password grafana-admin-password; do
    file="$dir/$name"
    if [ -s "$file" ]; then
        echo "$file: exists, kept"
        continue
    fi
    (umask 022 && od -An -N24 -tx1 /dev/urandom | tr -d ' \n' > "$file")
    echo "$file: created"
done
if [ ! -s "$dir/fabric-ca.pem" ]; then
    echo "$dir/fabric-ca.pem: missing - copy the CA that signed your switches' gNMI certificates here" >&2
fi
