"""``diff``: what differs between two moments of the recorded plane-2 outage (fails at +60 s for 120 s)."""

from __future__ import annotations

import pytest

from planewatch.forensics import DIFF_DETAIL_SCHEMA, DIFF_SCHEMA, asof_detail, diff, diff_detail
from planewatch.simulator.recording import Recording
from planewatch.store.embedded import EmbeddedStore


def test_detail_lists_exactly_the_sessions_and_ports_of_the_failed_plane(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
):
    before, during = plane_down_recording.start + 30, plane_down_recording.start + 120
    changed = diff_detail(plane_down_store, before, during)
    assert changed.schema == DIFF_DETAIL_SCHEMA
    rows = changed.to_pylist()
    assert {row["plane"] for row in rows} == {2}
    down = asof_detail(plane_down_store, during).to_pylist()  # what was wrong mid-outage, independently
    for source in ("bgp", "port"):
        assert {row["subject"] for row in rows if row["source"] == source} == \
               {row["subject"] for row in down if row["source"] == source}
    assert {(row["before"], row["after"]) for row in rows if row["source"] == "bgp"} == {("Established", "Active")}
    assert {(row["before"], row["after"]) for row in rows if row["source"] == "port"} == {("UP", "DOWN")}
    assert [(row["subject"], row["before"], row["after"]) for row in rows if row["source"] == "finding"] == \
           [("plane_failure", "", "firing")]


def test_per_plane_rows_count_the_changes_and_show_the_share_moving(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
):
    result = diff(plane_down_store, plane_down_recording.start + 30, plane_down_recording.start + 120)
    assert result.schema == DIFF_SCHEMA
    planes = {row["plane"]: row for row in result.to_pylist()}
    assert sorted(planes) == [1, 2, 3, 4], "every plane is listed: the healthy ones took the traffic"
    failed = planes[2]
    assert (failed["sessions_changed"], failed["sessions_up_before"], failed["sessions_up_after"]) == (64, 64, 0)
    assert failed["ports_changed"] >= 32 and failed["server_ports_down_after"] == 32
    assert failed["mac_delta"] < 0
    assert failed["share_delta"] == pytest.approx(-0.25, abs=0.03)
    assert (failed["firing_before"], failed["firing_after"]) == ("", "plane_failure")
    for plane in (1, 3, 4):
        assert planes[plane]["sessions_changed"] == 0 and planes[plane]["ports_changed"] == 0
        assert planes[plane]["mac_delta"] == 0
        assert planes[plane]["share_delta"] == pytest.approx(1 / 3 - 1 / 4, abs=0.03)


def test_a_plane_that_failed_and_recovered_in_between_is_the_same_at_both_moments(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording
):
    start = plane_down_recording.start
    assert diff_detail(plane_down_store, start + 30, start + 280).num_rows == 0
    planes = {row["plane"]: row for row in diff(plane_down_store, start + 30, start + 280).to_pylist()}
    assert planes[2]["sessions_changed"] == 0 and planes[2]["ports_changed"] == 0


def test_the_moments_can_be_given_in_either_order(plane_down_store: EmbeddedStore, plane_down_recording: Recording):
    start = plane_down_recording.start
    forward = diff_detail(plane_down_store, start + 30, start + 120).to_pylist()
    backward = diff_detail(plane_down_store, start + 120, start + 30).to_pylist()
    assert [(r["subject"], r["before"], r["after"]) for r in backward] == \
           [(r["subject"], r["after"], r["before"]) for r in forward]


def test_one_plane_only(plane_down_store: EmbeddedStore, plane_down_recording: Recording):
    start = plane_down_recording.start
    assert diff_detail(plane_down_store, start + 30, start + 120, plane=1).num_rows == 0
    assert [row["plane"] for row in diff(plane_down_store, start + 30, start + 120, plane=2).to_pylist()] == [2]


@pytest.mark.parametrize("before, plane", [("1; DROP TABLE scenario_plane_down.bgp_sessions", 0), (0.0, "2 OR 1=1")])
def test_values_that_are_not_a_time_or_a_plane_are_refused(
    plane_down_store: EmbeddedStore, plane_down_recording: Recording, before, plane
):
    after = plane_down_recording.start + 120
    before = plane_down_recording.start + 30 if before == 0.0 else before
    with pytest.raises(ValueError, match="must be"):
        diff(plane_down_store, before, after, plane)
    with pytest.raises(ValueError, match="must be"):
        diff_detail(plane_down_store, before, after, plane)
