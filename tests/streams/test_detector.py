"""The shared finding lifecycle: fingerprints, bands, hysteresis, state envelopes."""

from __future__ import annotations

import msgspec
import pytest

from planewatch.streams.detector import (
    Band,
    Hysteresis,
    Lifecycle,
    StateError,
    Transition,
    decode_state,
    encode_state,
    fingerprint,
    make_finding,
)


def test_fingerprint_is_stable_and_distinguishes_subjects():
    assert fingerprint("plane_failure", 2) == fingerprint("plane_failure", 2)
    assert fingerprint("plane_failure", 2) == "5827aa9b02dea763"  # pinned: stores dedupe on it
    assert fingerprint("plane_failure", 2) != fingerprint("plane_failure", 3)
    assert fingerprint("mac_leak", 2, "tor-1") != fingerprint("mac_leak", 2, "tor-2")


def test_band_needs_clear_at_or_below_raise():
    band = Band(raise_at=0.5, clear_below=0.2)
    assert band.raising(0.5) and not band.raising(0.49)
    assert band.clearing(0.19) and not band.clearing(0.2)
    with pytest.raises(ValueError):
        Band(raise_at=0.2, clear_below=0.5)


def test_hysteresis_holds_before_resolving_and_restarts_the_wait():
    h, life = Hysteresis(clear_hold=30), Lifecycle()
    assert h.step(life, 10, raising=True, clearing=False) is Transition.FIRE
    assert h.step(life, 11, raising=True, clearing=False) is None  # no re-fire while firing
    assert h.step(life, 20, raising=False, clearing=True) is None
    assert h.step(life, 45, raising=False, clearing=False) is None  # in the band: wait restarts
    assert h.step(life, 50, raising=False, clearing=True) is None
    assert h.step(life, 79, raising=False, clearing=True) is None
    assert h.step(life, 80, raising=False, clearing=True) is Transition.RESOLVE
    assert life.ended_at == 50 and not life.firing


def test_hysteresis_raise_hold():
    h, life = Hysteresis(raise_hold=10, clear_hold=0), Lifecycle()
    assert h.step(life, 0, raising=True, clearing=False) is None
    assert h.step(life, 5, raising=False, clearing=False) is None
    assert h.step(life, 6, raising=True, clearing=False) is None
    assert h.step(life, 16, raising=True, clearing=False) is Transition.FIRE


def test_make_finding_carries_the_lifecycle():
    life = Lifecycle(firing=False, started_at=100.0, ended_at=150.0)
    finding = make_finding(kind="k", plane=1, transition=Transition.RESOLVE, life=life, ts=180.0,
                           severity="warning", summary="s", evidence={"n": 1})
    assert (finding.status, finding.started_at, finding.ended_at, finding.ts) == ("resolved", 100.0, 150.0, 180.0)
    assert finding.fingerprint == fingerprint("k", 1)


class _S(msgspec.Struct):
    n: int


def test_state_envelope_checks_detector_and_version():
    data = encode_state("d", 1, _S(3))
    assert decode_state(data, "d", 1, _S) == _S(3)
    with pytest.raises(StateError, match="belongs to detector 'd'"):
        decode_state(data, "other", 1, _S)
    with pytest.raises(StateError, match="state version 1"):
        decode_state(data, "d", 2, _S)
