#!/usr/bin/env bash
# BIRD for the BIRD collector's real-daemon tests (tests/collectors/bird/).
#
# * bird2 (2.0.x) from Debian, installed normally (only if missing).
# * BIRD 1.6.8 -- what Calico's calico-node runs a fork of. Debian's `bird` package
#   conflicts with `bird2`, so it is never installed: its .deb is fetched with
#   `apt-get download bird` and unpacked with `dpkg -x` into $BIRD16_DIR (default
#   /var/cache/planewatch/bird16); the tests run $BIRD16_DIR/usr/sbin/bird from there
#   (override with PLANEWATCH_BIRD16=<that directory>).
# * iproute2 (`ip netns`, veth pairs).
#
# Idempotent: installs only what is missing; `apt-get update` runs only when something
# has to be fetched. Services never start on install (policy-rc.d); the tests start
# and stop their own daemons by PID inside network namespaces of their own.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/deps/bird.sh: needs root (apt-get)" >&2
    exit 1
fi

BIRD16_DIR=${PLANEWATCH_BIRD16:-/var/cache/planewatch/bird16}
export DEBIAN_FRONTEND=noninteractive
updated=0
apt_update() {
    if [ "$updated" -eq 0 ]; then
        apt-get update -qq
        updated=1
    fi
}

missing=()
command -v ip >/dev/null 2>&1 || [ -x /usr/sbin/ip ] || [ -x /sbin/ip ] || missing+=(iproute2)
# bird2 ships /usr/sbin/bird and /usr/sbin/birdc; check the package, not the command name,
# because a `bird` on PATH could be something else.
dpkg-query -W -f='${Status}' bird2 2>/dev/null | grep -q "install ok installed" || missing+=(bird2)

if [ ${#missing[@]} -gt 0 ]; then
    echo "bird.sh: installing ${missing[*]}"
    apt_update
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "bird.sh: bird2 and iproute2 present"
fi

if [ -x "$BIRD16_DIR/usr/sbin/bird" ]; then
    echo "bird.sh: BIRD 1.6 present in $BIRD16_DIR"
    exit 0
fi

echo "bird.sh: fetching BIRD 1.6 (Debian package 'bird') into $BIRD16_DIR"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt's download sandbox user must be able to write there (else apt warns and runs unsandboxed).
chown _apt "$work" 2>/dev/null || true
apt_update
(cd "$work" && apt-get download -qq bird)
deb=$(ls "$work"/bird_*.deb)
mkdir -p "$BIRD16_DIR.tmp"
dpkg -x "$deb" "$BIRD16_DIR.tmp"
rm -rf "$BIRD16_DIR"
mv "$BIRD16_DIR.tmp" "$BIRD16_DIR"
"$BIRD16_DIR/usr/sbin/bird" --version 2>&1 | head -1 || true
echo "bird.sh: BIRD 1.6 ready at $BIRD16_DIR/usr/sbin/bird"
