#!/usr/bin/env bash
# Open vSwitch (userspace datapath, no kernel module), tshark and the network tools the
# sFlow OVS tests need (tests/collectors/sflow_ovs/). Idempotent: installs only what is
# missing and runs `apt-get update` only when it has something to install. Services never
# start on install here (policy-rc.d); the tests start and stop their own ovsdb-server and
# ovs-vswitchd by PID, inside a network namespace of their own.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/deps/ovs.sh: needs root (apt-get)" >&2
    exit 1
fi

# package:command that proves it is installed
wanted=(
    "openvswitch-switch:ovs-vswitchd"
    "openvswitch-common:ovs-vsctl"
    "tshark:tshark"
    "iproute2:ip"
    "ethtool:ethtool"
    "iputils-ping:ping"
    "arping:arping"
)

missing=()
for pair in "${wanted[@]}"; do
    pkg=${pair%%:*}
    cmd=${pair#*:}
    if ! command -v "$cmd" >/dev/null 2>&1 && ! [ -x "/usr/sbin/$cmd" ] && ! [ -x "/sbin/$cmd" ]; then
        missing+=("$pkg")
    fi
done

if [ ${#missing[@]} -eq 0 ]; then
    echo "ovs.sh: nothing to install (openvswitch, tshark, iproute2, ethtool, ping, arping present)"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# tshark pulls wireshark-common, which would ask whether non-root users may capture.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
echo "ovs.sh: installing ${missing[*]}"
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
