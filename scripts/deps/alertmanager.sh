#!/usr/bin/env bash
# Prometheus Alertmanager for the alerting tests (tests/alerting/): Debian's
# prometheus-alertmanager (0.25), whose /usr/bin/prometheus-alertmanager the tests run
# on 127.0.0.1 with a config and storage of their own (tests/services/alertmanager.py).
# The same package gives amtool, which scripts/deps/deploy.sh installs it for; both
# scripts check the package first, so whichever runs second does nothing.
#
# Idempotent: installs only when the package is missing; `apt-get update` runs only then.
# The service never starts on install: a policy-rc.d that denies every start is in place
# for the duration of the install (the package's postinst would otherwise start an
# Alertmanager on 0.0.0.0:9093 with its cluster listener on 0.0.0.0:9094).
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/deps/alertmanager.sh: needs root (apt-get)" >&2
    exit 1
fi

export DEBIAN_FRONTEND=noninteractive

. "$(dirname "$0")/lib/apt.sh"

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"
}

if installed prometheus-alertmanager && [ -x /usr/bin/prometheus-alertmanager ]; then
    echo "alertmanager.sh: prometheus-alertmanager present"
else
    echo "alertmanager.sh: installing prometheus-alertmanager"
    apt_install_without_starting prometheus-alertmanager
fi

/usr/bin/prometheus-alertmanager --version 2>&1 | head -1 || true
