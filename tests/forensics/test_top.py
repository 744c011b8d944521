"""``top``: ports, sessions and switches that stood out during the recorded plane-2 outage (+60 s for 120 s)."""

from __future__ import annotations

import pytest

from planewatch.forensics import Window, top, top_ports, top_sessions, top_switches
from planewatch.simulator.recording import Recording
from planewatch.store.embedded import EmbeddedStore


def outage(recording: Recording, plane: int = 0) -> Window:
    return Window(recording.start + 70, recording.start + 170, plane)


def test_ports_by_traffic_during_the_outage_are_all_on_the_surviving_planes(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
):
    ranked = top_ports(plane_down_store, outage(plane_down_recording), by="traffic", limit=40).to_pylist()
    assert len(ranked) == 40
    assert {row["plane"] for row in ranked} == {1, 3, 4}
    rates = [row["bytes_per_s"] for row in ranked]
    assert rates == sorted(rates, reverse=True) and rates[-1] > 0
    silent = top_ports(plane_down_store, outage(plane_down_recording, plane=2), facing="server", limit=100).to_pylist()
    assert len(silent) == 32 and {row["bytes_per_s"] for row in silent} == {0.0}, "plane 2's server ports carried nothing"


def test_ports_by_broadcast_facing_servers(plane_down_store: EmbeddedStore, plane_down_recording: Recording):
    window = Window(plane_down_recording.start, plane_down_recording.end)
    ranked = top_ports(plane_down_store, window, by="broadcast", facing="server", limit=10).to_pylist()
    assert len(ranked) == 10 and {row["facing"] for row in ranked} == {"server"}
    floods = [row["broadcast_pps"] for row in ranked]
    assert floods == sorted(floods, reverse=True) and floods[0] > 0


def test_sessions_by_churn_are_the_failed_planes_down_and_up(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
):
    whole = Window(plane_down_recording.start, plane_down_recording.end)
    ranked = top_sessions(plane_down_store, whole, limit=500).to_pylist()
    assert len(ranked) == 64 and {row["plane"] for row in ranked} == {2}, "only plane 2 churned"
    assert {row["transitions"] for row in ranked} == {2}  # down, then up again
    assert all(row["route_updates"] > 0 for row in ranked)
    assert {row["state_at_end"] for row in ranked} == {"Established"}


def test_a_window_starting_mid_outage_still_counts_the_recovery(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
):
    """The state before the window comes from the change log, so the first transition in the window counts."""
    late = Window(plane_down_recording.start + 100, plane_down_recording.end, plane=2)
    ranked = top_sessions(plane_down_store, late, limit=3).to_pylist()
    assert len(ranked) == 3 and {row["transitions"] for row in ranked} == {1}


def test_switches_by_macs(plane_down_store: EmbeddedStore, plane_down_recording: Recording):
    whole = Window(plane_down_recording.start, plane_down_recording.end)
    ranked = top_switches(plane_down_store, whole, limit=100).to_pylist()
    assert len(ranked) == 24  # 4 planes x (4 ToRs + 2 spines)
    assert ranked[0]["macs_peak"] == ranked[0]["expected_macs"]
    emptied = top_switches(plane_down_store, outage(plane_down_recording, plane=2), limit=100).to_pylist()
    assert {row["plane"] for row in emptied} == {2}
    assert {row["macs_last"] for row in emptied if row["role"] == "tor"} == {0}


def test_top_dispatches_and_defaults_the_ranking(plane_down_store: EmbeddedStore, plane_down_recording: Recording):
    window = outage(plane_down_recording)
    assert top(plane_down_store, "ports", window, limit=5) == top_ports(plane_down_store, window, limit=5)
    assert top(plane_down_store, "switches", window, limit=5) == top_switches(plane_down_store, window, limit=5)


@pytest.mark.parametrize("what, kwargs, message", [
    ("ports", {"by": "churn"}, "ranked --by traffic or broadcast"),
    ("sessions", {"by": "macs"}, "ranked --by churn"),
    ("routers", {}, "top ranks one of"),
    ("ports", {"limit": 0}, "limit must be"),
    ("ports", {"limit": "10; DROP TABLE x"}, "limit must be"),
    ("ports", {"facing": "server' OR 1=1"}, "facing must be"),
])
def test_rankings_that_make_no_sense_are_refused(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording, what, kwargs, message
):
    with pytest.raises(ValueError, match=message):
        top(plane_down_store, what, outage(plane_down_recording), **kwargs)


def test_a_window_that_ends_before_it_starts_is_refused(plane_down_store: EmbeddedStore, plane_down_recording: Recording):
    with pytest.raises(ValueError, match="swap --from and --to"):
        top_ports(plane_down_store, Window(plane_down_recording.end, plane_down_recording.start))
