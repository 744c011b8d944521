#!/bin/sh
# sFlow test and benchmark tools: tshark (the independent decoding oracle) and pmacct's
# sfacctd (the C reference for correctness and speed). Idempotent: installs only what is
# missing, and refreshes the package lists only when it has to install something.
set -eu

missing=""
command -v tshark >/dev/null 2>&1 || missing="$missing tshark"
command -v sfacctd >/dev/null 2>&1 || missing="$missing pmacct"

if [ -z "$missing" ]; then
    echo "sflow deps: tshark and sfacctd already installed"
    exit 0
fi

export DEBIAN_FRONTEND=noninteractive
# tshark (wireshark-common) asks whether non-root users may capture; never block on it.
echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
apt-get update -q
# shellcheck disable=SC2086  # word splitting of the package list is intended
apt-get install -y -q --no-install-recommends $missing
echo "sflow deps: installed$missing"
