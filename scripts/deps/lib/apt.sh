# Sourced by scripts/deps/*.sh (make deps runs only the top-level scripts, not this one).

# apt_install_without_starting PACKAGE...: install from Debian without starting any service.
# Debian starts a daemon on install unless /usr/sbin/policy-rc.d says no; the tests start
# every service themselves, on loopback, and stop it by PID. An existing policy is restored.
apt_install_without_starting() {
    policy=/usr/sbin/policy-rc.d
    restore=""
    if [ -e "$policy" ]; then
        restore=$(mktemp)
        cp -p "$policy" "$restore"
    fi
    printf '#!/bin/sh\nexit 101\n' > "$policy.planewatch"
    chmod 755 "$policy.planewatch"
    mv -f "$policy.planewatch" "$policy"
    status=0
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "$@" || status=$?
    if [ -n "$restore" ]; then mv -f "$restore" "$policy"; else rm -f "$policy"; fi
    return $status
}
