"""The collector line an operator reads: healthy counts per protocol, and losses never hidden."""

from planewatch.collectors.health import collector_summary, unhealthy_targets


def test_summary_counts_healthy_targets_per_collector_and_surfaces_losses():
    rows = [
        {"collector": "gnmi", "target": "sw1", "state": "connected", "stalls": 0},
        {"collector": "gnmi", "target": "sw2", "state": "backoff", "stalls": 2},
        {"collector": "sflow", "target": "10.0.0.1", "state": "receiving", "lost": 3},
        {"collector": "sflow", "target": "(dropped)", "state": "dropping", "datagrams": 7},
        {"collector": "bird", "target": "r01-s01", "state": "up", "failures": 0},
    ]
    line = collector_summary(rows)
    assert line == (
        "collectors: gnmi 1/2 connected, 2 stalls · sflow 1/1 receiving, 3 lost, "
        "7 dropped from unknown agents · bird 1/1 up"
    )


def test_summary_without_collectors_says_so():
    assert collector_summary([]) == "collectors: none"


def test_unhealthy_targets_name_the_switch_its_state_and_how_long_it_has_been_quiet():
    rows = [
        {"collector": "gnmi", "target": "p2-tor-r01", "state": "backoff", "last_update": 900.0, "reconnects": 3,
         "last_error": "UNAVAILABLE: connection refused"},
        {"collector": "gnmi", "target": "p2-tor-r02", "state": "connected", "last_update": 999.0},
        {"collector": "bird", "target": "r01-s01", "state": "unreachable", "last_update": None},
    ]
    assert unhealthy_targets(rows, now=1000.0) == [
        "gnmi p2-tor-r01: backoff (last update 100s ago, 3 reconnects, UNAVAILABLE: connection refused)",
        "bird r01-s01: unreachable (never updated)",
    ]
