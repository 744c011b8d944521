"""Fault kinds, defaults and errors that say what to fix."""

from __future__ import annotations

import pytest

from planewatch.simulator import SCENARIOS, Fault, FaultError, Simulator, build_fabric, describe_scenarios


@pytest.fixture(scope="module")
def inventory():
    return build_fabric(racks=2, servers_per_rack=4)


def test_registry_names_every_kind_with_a_description() -> None:
    assert list(SCENARIOS) == ["plane-down", "broadcast-storm", "mac-leak", "ecmp-imbalance", "bgp-flap", "server-down",
                              "plane-degraded", "background-churn"]
    assert all(str(s) and "\n" not in str(s) for s in SCENARIOS.values())
    assert describe_scenarios().count("\n") == len(SCENARIOS) - 1


def test_defaults_are_plane_two_and_the_first_server(inventory) -> None:
    assert Fault("plane-down", at=1, duration=2).resolve(inventory).plane == 2
    flap = Fault("bgp-flap", at=1, duration=2).resolve(inventory)
    assert (flap.plane, flap.server, flap.magnitude) == (2, "r01-s01", 20.0)
    assert Fault("server-down", at=1, duration=2).resolve(inventory).server == "r01-s01"
    assert Fault.create("ecmp-imbalance", at=0, duration=1, inventory=inventory).magnitude == 0.4


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault("plane-melt", at=0, duration=1), "unknown fault kind 'plane-melt'; known kinds: plane-down, broadcast-storm"),
        (Fault("plane-down", at=0, duration=1, plane=9), r"plane 9 is not in the fabric; known planes: 1 \(blue\)"),
        (Fault("server-down", at=0, duration=1, server="nope"), "server 'nope' is not in the fabric"),
        (Fault("server-down", at=0, duration=1, plane=2), "drop plane=2"),
        (Fault("plane-down", at=-1, duration=1), "must be >= 0"),
        (Fault("plane-down", at=0, duration=0), "must be > 0"),
        (Fault("ecmp-imbalance", at=0, duration=1, magnitude=2.0), r"share of traffic \(0\.\.1\)\) must be within"),
    ],
)
def test_bad_faults_say_what_to_fix(inventory, fault: Fault, message: str) -> None:
    with pytest.raises(FaultError, match=message):
        fault.resolve(inventory)


def test_simulator_rejects_bad_faults_up_front(inventory) -> None:
    with pytest.raises(FaultError, match="not in the fabric"):
        Simulator(inventory, [Fault("broadcast-storm", at=0, duration=1, plane=7)], start_ts=0.0)


def test_parse_spec() -> None:
    assert Fault.parse("mac-leak:at=30,for=60,plane=3,server=r01-s02,magnitude=5") == Fault(
        "mac-leak", at=30.0, duration=60.0, plane=3, server="r01-s02", magnitude=5.0
    )
    with pytest.raises(FaultError, match="expected key=value"):
        Fault.parse("plane-down:when=3")
