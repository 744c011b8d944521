"""The report's per-plane series, read from the recorded plane-down scenario (plane 2 of 4 down +60..+180 s).

What a reader of the report would see: plane 2's traffic share at zero during the outage
while the other three carry a third each, a quarter each before; plane 2's broadcast gone
while it is down; BGP churn only on plane 2, at the failure and at the recovery.
"""

from __future__ import annotations

import time

import pytest

from planewatch.report import series
from planewatch.schemas import PortCounters, SwitchInventory
from planewatch.simulator.recording import Recording
from planewatch.store.embedded import EmbeddedStore

PLANES = [1, 2, 3, 4]


@pytest.fixture
def window(plane_down_recording: Recording) -> series.Grid:
    return series.grid(plane_down_recording.start, plane_down_recording.end, 10)


def test_traffic_share_is_a_quarter_each_then_a_third_without_plane_2(plane_down_store: EmbeddedStore, window, plane_down_recording):
    share = series.traffic_share(plane_down_store, window, PLANES)
    t0 = plane_down_recording.start
    for plane in PLANES:  # before the failure: every plane carries its quarter
        assert share.mean(plane, t0 + 10, t0 + 60) == pytest.approx(0.25, abs=0.02)
    # well inside the outage (it begins at +60 s and ends at +180 s)
    assert share.mean(2, t0 + 70, t0 + 170) == pytest.approx(0.0, abs=0.01)
    for plane in (1, 3, 4):
        assert share.mean(plane, t0 + 70, t0 + 170) == pytest.approx(1 / 3, abs=0.02)
    for plane in PLANES:  # recovered
        assert share.mean(plane, t0 + 200, t0 + 300) == pytest.approx(0.25, abs=0.02)
    # every bucket with traffic splits the whole fabric between the planes
    for i in range(1, window.count):
        column = [share.values[p][i] for p in PLANES]
        if all(v is not None for v in column):
            assert sum(column) == pytest.approx(1.0, abs=1e-9)


def test_first_bucket_has_no_previous_sample_so_no_value(plane_down_store: EmbeddedStore, window):
    """A window starting at the first sample has nothing to diff against: a gap, not a fake 0."""
    share = series.traffic_share(plane_down_store, window, PLANES)
    assert all(share.values[p][0] is None for p in PLANES)


def test_broadcast_stops_on_the_failed_plane_only(plane_down_store: EmbeddedStore, window, plane_down_recording):
    flood = series.flood_pps(plane_down_store, window, PLANES)
    t0 = plane_down_recording.start
    assert flood.unit == "packets/s"
    assert flood.mean(2, t0 + 70, t0 + 170) == pytest.approx(0.0, abs=0.01)
    for plane in PLANES:
        assert flood.mean(plane, t0 + 10, t0 + 60) > 1.0
    for plane in (1, 3, 4):
        assert flood.mean(plane, t0 + 70, t0 + 170) > 1.0


def test_bgp_churn_only_on_plane_2_at_failure_and_recovery(plane_down_store: EmbeddedStore, window, plane_down_recording):
    churn = series.bgp_churn(plane_down_store, window, PLANES)
    t0 = plane_down_recording.start
    for plane in (1, 3, 4):
        assert sum(churn.values[plane]) == 0
    by_time = dict(zip(churn.times, churn.values[2]))
    failure = sum(v for t, v in by_time.items() if t0 + 55 <= t < t0 + 75)
    recovery = sum(v for t, v in by_time.items() if t0 + 175 <= t < t0 + 205)
    quiet = sum(v for t, v in by_time.items() if t < t0 + 55 or t >= t0 + 220)
    assert failure >= 64  # at least every server's session to the RRs left Established
    assert recovery >= 64
    assert quiet == 0


def test_a_window_inside_the_outage_still_diffs_its_first_bucket(plane_down_store: EmbeddedStore, plane_down_recording):
    """Samples before --from are read, so a window that starts mid-incident has a value at once."""
    t0 = plane_down_recording.start
    share = series.traffic_share(plane_down_store, series.grid(t0 + 100, t0 + 160, 10), PLANES)
    assert share.values[2][0] == pytest.approx(0.0, abs=0.01)
    assert share.values[1][0] == pytest.approx(1 / 3, abs=0.03)


def test_auto_bucket_keeps_plots_readable():
    assert series.auto_bucket(0, 300) == 10  # counters arrive every 10 s: never finer
    assert series.auto_bucket(0, 3600) == 30
    assert series.auto_bucket(0, 86400) == 600
    assert series.grid(0, 3600).bucket == 30
    assert series.grid(0, 3600, 60).count == 60
    with pytest.raises(ValueError, match="ends"):
        series.grid(10, 10)


def test_a_counter_reset_counts_nothing_rather_than_a_spike(chdb_store: EmbeddedStore):
    """A ToR rebooting mid-window restarts its counters: the report must not draw a storm there."""
    t0 = float(int(time.time()) // 3600 * 3600 - 3600)  # an hour ago: inside every table's TTL
    inventory = [SwitchInventory(ts=t0, plane=p, device=f"tor{p}", role="tor", uplinks=["Ethernet49"]) for p in (1, 2)]
    samples = []
    for p in (1, 2):
        flood = 0
        for i in range(13):
            flood = 5 if (p == 1 and i == 6) else flood + 1000  # plane 1's switch reboots at sample 6
            samples.append(PortCounters(ts=t0 + 10 * i, plane=p, device=f"tor{p}", port="Ethernet1",
                                        in_octets=10_000 * i, out_octets=0, in_unicast_pkts=0, out_unicast_pkts=0,
                                        in_broadcast_pkts=flood, in_multicast_pkts=0))
    chdb_store.write(inventory + samples)
    pps = series.flood_pps(chdb_store, series.grid(t0, t0 + 130, 10), [1, 2])
    plane_1 = [v for v in pps.values[1] if v is not None]
    assert plane_1 and max(plane_1) == pytest.approx(100.0), "100 pps steady; the reboot interval is skipped"
    assert pps.values[1][6] is None, "the reset interval has no value (a gap), not the counter's new value"
    assert max(v for v in pps.values[2] if v is not None) == pytest.approx(100.0)
