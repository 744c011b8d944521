"""The scorer on hand-made findings: misses, false positives, deadlines, resolution."""

from __future__ import annotations

import pytest

from planewatch.evaluation.score import ExpectedFinding, FindingPattern, score
from planewatch.schemas.records import Finding
from planewatch.simulator import Fault
from planewatch.streams.detector import fingerprint

START = 10_000.0
PLANE_DOWN = Fault("plane-down", at=300.0, duration=240.0, plane=2)  # 10300 .. 10540
EXPECT = ExpectedFinding("plane_failure", 2, detect_within=20.0, resolve_within=120.0)


def finding(kind: str, plane: int, at: float, status: str = "firing", subject: str = "") -> Finding:
    """A finding at ``at`` seconds after START (same fingerprint for the same kind/plane/subject)."""
    return Finding(ts=START + at, plane=plane, fingerprint=fingerprint(kind, plane, subject), kind=kind,
                   subject=subject, severity="critical", status=status, started_at=START + 300.0)


def judge(findings, expected=(EXPECT,), faults=(PLANE_DOWN,), allowed=()):
    return score(expected, faults, findings, start_ts=START, allowed=allowed)


def test_a_timely_detection_and_resolution_passes_with_its_times():
    result = judge([finding("plane_failure", 2, 312.5), finding("plane_failure", 2, 575.0, "resolved")])
    assert (result.expected, result.detected, result.missed, result.false_positive_count) == (1, 1, 0, 0)
    assert result.time_to_detect == pytest.approx(12.5)
    assert result.time_to_resolve == pytest.approx(35.0)
    assert result.passed and result.problems == []


def test_nothing_raised_is_a_miss():
    result = judge([])
    assert (result.detected, result.missed, result.false_positive_count) == (0, 1, 0)
    assert result.time_to_detect is None
    assert result.problems == ["missed plane_failure on plane 2"]
    assert not result.passed


def test_a_wrong_plane_finding_is_both_a_miss_and_a_false_positive():
    result = judge([finding("plane_failure", 3, 305.0), finding("plane_failure", 3, 575.0, "resolved")])
    assert (result.detected, result.missed, result.false_positive_count) == (0, 1, 1)
    assert result.false_positives[0].finding.plane == 3
    assert result.false_positives[0].reason == "not expected"
    assert not result.passed


def test_a_late_detection_is_detected_but_fails_its_deadline():
    result = judge([finding("plane_failure", 2, 321.0), finding("plane_failure", 2, 560.0, "resolved")])
    assert (result.detected, result.missed, result.false_positive_count) == (1, 0, 0)
    assert result.time_to_detect == pytest.approx(21.0)
    assert result.problems == ["plane_failure on plane 2: detected after 21.0s (deadline 20s)"]
    assert not result.passed


def test_resolution_must_come_after_the_fault_and_before_its_deadline():
    never = judge([finding("plane_failure", 2, 305.0)])
    assert never.time_to_resolve is None
    assert "still firing at the end" in never.problems[0]
    early = judge([finding("plane_failure", 2, 305.0), finding("plane_failure", 2, 500.0, "resolved")])
    assert early.time_to_resolve == pytest.approx(-40.0)
    assert early.problems == ["plane_failure on plane 2: resolved 40.0s before the fault ended"]
    late = judge([finding("plane_failure", 2, 305.0), finding("plane_failure", 2, 700.0, "resolved")])
    assert late.problems == ["plane_failure on plane 2: resolved 160.0s after the fault ended (deadline 120s)"]
    optional = ExpectedFinding("plane_failure", 2, detect_within=20.0, resolve_within=None)
    assert judge([finding("plane_failure", 2, 305.0)], expected=(optional,)).passed


def test_the_last_lifecycle_decides_resolution():
    flapping = [finding("plane_failure", 2, 305.0), finding("plane_failure", 2, 400.0, "resolved"),
                finding("plane_failure", 2, 420.0), finding("plane_failure", 2, 580.0, "resolved")]
    result = judge(flapping)
    assert result.passed
    assert result.time_to_resolve == pytest.approx(40.0)
    assert judge(flapping[:3]).problems[0].startswith("plane_failure on plane 2: still firing")


def test_findings_nobody_expected_count_once_per_firing():
    noise = [finding("route_churn", 1, 100.0), finding("route_churn", 1, 150.0, "resolved"),
             finding("route_churn", 1, 200.0)]
    result = judge([finding("plane_failure", 2, 305.0), finding("plane_failure", 2, 560.0, "resolved"), *noise])
    assert (result.detected, result.missed, result.false_positive_count) == (1, 0, 2)
    assert len(result.false_positives) == 1  # one alert, fired twice
    assert not result.passed


def test_an_expected_kind_firing_before_its_fault_is_a_false_positive():
    result = judge([finding("plane_failure", 2, 250.0), finding("plane_failure", 2, 260.0, "resolved")])
    assert (result.detected, result.false_positive_count) == (0, 1)
    assert result.false_positives[0].reason == "fired before its fault began"


def test_one_finding_per_plane_more_alerts_are_false_positives():
    per_session = [finding("plane_failure", 2, 305.0 + k, subject=f"session-{k}") for k in range(3)]
    result = judge(per_session, expected=(ExpectedFinding("plane_failure", 2, resolve_within=None),))
    assert (result.detected, result.false_positive_count) == (1, 2)
    assert result.false_positives[0].reason == "one more alert than the 1 expected"
    unlimited = ExpectedFinding("plane_failure", 2, resolve_within=None, max_alerts=None)
    assert judge(per_session, expected=(unlimited,)).passed


def test_allowed_side_effects_are_neither_required_nor_false_positives():
    storm = Fault("broadcast-storm", at=300.0, duration=240.0, plane=1)
    flood = ExpectedFinding("flooding", 1)
    findings = [finding("flooding", 1, 320.0), finding("flooding", 1, 600.0, "resolved"),
                finding("mac_move", 1, 330.0), finding("mac_move", 3, 330.0)]
    result = judge(findings, expected=(flood,), faults=(storm,), allowed=(FindingPattern("mac_move", 1),))
    assert (result.detected, result.false_positive_count, result.allowed) == (1, 1, 1)
    assert result.false_positives[0].finding.plane == 3


def test_expectations_time_against_their_own_fault():
    churn = Fault("background-churn", at=0.0, duration=900.0)
    expected = ExpectedFinding("plane_failure", 2, fault=1, detect_within=20.0)
    result = judge([finding("plane_failure", 2, 310.0), finding("plane_failure", 2, 570.0, "resolved")],
                   expected=(expected,), faults=(churn, PLANE_DOWN))
    assert result.time_to_detect == pytest.approx(10.0)
    assert result.passed


@pytest.mark.parametrize(("subject", "matches"), [
    ("r01-s02", True), ("r01-s02/10.2.255.1", True), ("r01-s02:Node_10_2_255_1", True),
    ("r01-s020", False), ("r01-s03", False), ("", False),
])
def test_subjects_match_exactly_or_as_a_prefix_before_a_separator(subject, matches):
    pattern = FindingPattern("session_flap", 2, "r01-s02")
    assert pattern.matches(finding("session_flap", 2, 310.0, subject=subject)) is matches
    assert FindingPattern("session_flap", None, None).matches(finding("session_flap", 4, 310.0, subject=subject))
