#!/usr/bin/env bash
# Headless Chromium for the incident-report test (tests/report/): Debian's `chromium`,
# whose /usr/bin/chromium the test runs with --headless --dump-dom on a file:// URL with
# every background fetch switched off, to prove the report renders with no network.
#
# Debian's package, not a browser build downloaded by a Python package (playwright,
# pyppeteer): only Debian's archive is reachable here, and apt keeps it patched.
# Fonts come with the package's dependencies (fonts-liberation is recommended, not
# required, so it is named explicitly: without any font the SVG text has no glyphs).
#
# Idempotent: installs only when the package is missing; `apt-get update` runs only then.
# No service starts on install (policy-rc.d, as for every script here).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/deps/chromium.sh: needs root (apt-get)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

. "$(dirname "$0")/lib/apt.sh"

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

if installed chromium && [ -x /usr/bin/chromium ]; then
    echo "chromium.sh: chromium present"
else
    echo "chromium.sh: installing chromium"
    apt_install_without_starting chromium fonts-liberation
fi

/usr/bin/chromium --version 2>/dev/null | head -1 || true
