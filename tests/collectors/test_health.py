"""The collector line an operator reads: healthy counts per protocol, and losses never hidden."""

from planewatch.collectors.health import collector_summary


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
