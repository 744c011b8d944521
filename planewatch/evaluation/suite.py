"""The scenario suite: one scenario per simulator fault, a healthy hour, and the combinations that matter.

Every scenario runs on the simulated clock from a fixed start, on a small fabric unless
size matters, with its faults starting after a warm-up (:data:`WARM_UP`) so baselines
have learnt a healthy fabric. Deadlines follow the targets: a plane failure within two
counter-sampling intervals (:data:`PLANE_FAILURE_DEADLINE`), anything else within 60 s of
simulated time (:data:`DEADLINE`); findings must resolve within :data:`RESOLVE_DEADLINE`
of the fault's end (longer for slow-moving signals, said where it applies).

Planes and servers are named explicitly so each expectation reads on its own.
"""

from __future__ import annotations

import dataclasses

from planewatch.evaluation.score import ExpectedFinding, FindingPattern
from planewatch.simulator.engine import Simulator
from planewatch.simulator.scenarios import Fault

__all__ = [
    "DEADLINE",
    "EvalScenario",
    "FabricSize",
    "PLANE_FAILURE_DEADLINE",
    "RESOLVE_DEADLINE",
    "SMALL",
    "SUITE",
    "WARM_UP",
    "scenario_named",
]

COUNTER_INTERVAL = 10.0
"""The simulator's gNMI counter interval (its default), which the plane-failure deadline is counted in."""
PLANE_FAILURE_DEADLINE = 2 * COUNTER_INTERVAL
DEADLINE = 60.0
RESOLVE_DEADLINE = 120.0
WARM_UP = 300.0
"""Faults start this long after the simulation: a few FDB snapshots and many counter intervals of healthy fabric."""
FAULT_DURATION = 240.0
SETTLE = 30.0
"""Simulated time kept after the last resolution deadline, so a late resolve is seen as late, not missing."""


@dataclasses.dataclass(frozen=True)
class FabricSize:
    planes: int
    racks: int
    servers_per_rack: int

    @property
    def servers(self) -> int:
        return self.racks * self.servers_per_rack

    def __str__(self) -> str:
        return f"{self.planes}x{self.racks}x{self.servers_per_rack}"


SMALL = FabricSize(planes=4, racks=4, servers_per_rack=8)
"""32 servers on 4 planes: every fault shows, and the whole suite runs in seconds."""


@dataclasses.dataclass(frozen=True)
class EvalScenario:
    """One evaluation run: a fabric, faults on the simulated clock, and what must (and may) be found."""

    name: str
    description: str
    faults: tuple[Fault, ...] = ()
    expected: tuple[ExpectedFinding, ...] = ()
    allowed: tuple[FindingPattern, ...] = ()
    """Findings that are a legitimate side effect: neither required nor false positives."""
    fabric: FabricSize = SMALL
    duration: float | None = None
    """Simulated seconds; by default until every resolution deadline has passed (plus :data:`SETTLE`)."""
    tick: float = 5.0

    def __post_init__(self) -> None:
        for e in self.expected:
            if not 0 <= e.fault < len(self.faults):
                raise ValueError(f"{self.name}: {e} refers to fault {e.fault}, but there are {len(self.faults)}")

    @property
    def seconds(self) -> float:
        """Simulated time the scenario covers."""
        if self.duration is not None:
            return self.duration
        ends = [f.end for f in self.faults if f.kind != "background-churn"] or [WARM_UP]
        after = [e.resolve_within or 0.0 for e in self.expected] or [RESOLVE_DEADLINE]
        return max(ends) + max(after) + SETTLE

    @property
    def fault_kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(f.kind for f in self.faults))

    @property
    def expected_kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(e.kind for e in self.expected))


def _fault(kind: str, **kw: object) -> Fault:
    kw.setdefault("at", WARM_UP)
    kw.setdefault("duration", FAULT_DURATION)
    return Fault(kind=kind, **kw)  # type: ignore[arg-type]


def _churn(seconds: float) -> Fault:
    """Background churn for the whole run (servers, links, sessions coming and going at their usual rate)."""
    return Fault(kind="background-churn", at=0.0, duration=seconds)


_STORM_SIDE_EFFECTS = lambda plane: (  # noqa: E731 - a tiny pattern factory
    FindingPattern("unknown_unicast", plane),
    FindingPattern("mac_move", plane),
)
"""A storm flaps MACs (the simulator moves them between ports) and may flood unknown unicast too."""

_LEAK_RESOLVE = 180.0
"""Leaked MACs age out within seconds of the leak stopping, but tables are only re-read every 60 s."""
_FLAP_RESOLVE = 300.0
"""A session counts as stable again only after a quiet spell longer than its flap period."""


SUITE: tuple[EvalScenario, ...] = (
    EvalScenario(
        "healthy-hour", "an hour of healthy fabric: nothing may fire",
        duration=3600.0,
    ),
    EvalScenario(
        "plane-down", "plane 2 fails whole (ports, sessions, traffic) for 4 minutes: one plane_failure",
        faults=(_fault("plane-down", plane=2),),
        expected=(ExpectedFinding("plane_failure", 2, detect_within=PLANE_FAILURE_DEADLINE),),
    ),
    EvalScenario(
        "server-down", "server r02-s03 dies on every plane: a server failure, not four plane problems",
        faults=(_fault("server-down", server="r02-s03"),),
        expected=(ExpectedFinding("server_failure", None, "r02-s03"),),
    ),
    EvalScenario(
        "broadcast-storm", "plane 1 floods at 3,000 broadcast pps per port",
        faults=(_fault("broadcast-storm", plane=1),),
        expected=(ExpectedFinding("flooding", 1),),
        allowed=_STORM_SIDE_EFFECTS(1),
    ),
    EvalScenario(
        "mac-leak", "workload MACs leak into plane 3 behind r03-s05, 2 a second",
        faults=(_fault("mac-leak", plane=3, server="r03-s05", magnitude=2.0),),
        expected=(ExpectedFinding("mac_leak", 3, resolve_within=_LEAK_RESOLVE, max_alerts=None),),
    ),
    EvalScenario(
        "mac-leak-slow", "a slow leak: one workload MAC every 2 s into plane 4 behind r01-s07, for 10 minutes",
        faults=(_fault("mac-leak", plane=4, server="r01-s07", magnitude=0.5, duration=600.0),),
        expected=(ExpectedFinding("mac_leak", 4, resolve_within=_LEAK_RESOLVE, max_alerts=None),),
    ),
    EvalScenario(
        "ecmp-imbalance", "plane 4 carries 40 % of the traffic instead of 25 %",
        faults=(_fault("ecmp-imbalance", plane=4, magnitude=0.4),),
        expected=(ExpectedFinding("link_imbalance", 4),),
        allowed=(FindingPattern("link_imbalance"),),  # the other planes are under their share: same fault
    ),
    EvalScenario(
        "bgp-flap", "r01-s02's sessions to plane 2 flap every 20 s: one flapping server, not a churning plane",
        faults=(_fault("bgp-flap", plane=2, server="r01-s02", magnitude=20.0),),
        expected=(ExpectedFinding("session_flap", 2, "r01-s02", resolve_within=_FLAP_RESOLVE, max_alerts=None),),
    ),
    EvalScenario(
        "plane-degraded", "a third of the servers lose plane 3: degraded, not failed",
        faults=(_fault("plane-degraded", plane=3),),
        expected=(ExpectedFinding("plane_degraded", 3),),
    ),
    EvalScenario(
        "plane-down-during-churn", "plane 1 fails while servers, links and sessions churn in the background",
        faults=(_churn(WARM_UP + FAULT_DURATION + RESOLVE_DEADLINE + SETTLE), _fault("plane-down", plane=1)),
        expected=(ExpectedFinding("plane_failure", 1, fault=1, detect_within=PLANE_FAILURE_DEADLINE),),
    ),
    EvalScenario(
        "storm-while-imbalanced", "plane 1 floods while plane 3 carries 40 % of the traffic",
        faults=(_fault("broadcast-storm", plane=1), _fault("ecmp-imbalance", plane=3, magnitude=0.4, at=WARM_UP - 60.0)),
        expected=(ExpectedFinding("flooding", 1), ExpectedFinding("link_imbalance", 3, fault=1)),
        allowed=(*_STORM_SIDE_EFFECTS(1), FindingPattern("link_imbalance")),
    ),
)
"""Every scenario ``planewatch eval`` runs, in order."""

_BY_NAME = {s.name: s for s in SUITE}
assert len(_BY_NAME) == len(SUITE), "scenario names must be unique"


def scenario_named(name: str) -> EvalScenario:
    """The suite's scenario ``name``; KeyError lists the known names."""
    try:
        return _BY_NAME[name]
    except KeyError:
        raise KeyError(f"no scenario {name!r}; known: {', '.join(_BY_NAME)}") from None


def simulator_for(scenario: EvalScenario, inventory: object, start_ts: float, seed: int) -> Simulator:
    """The simulator a scenario runs on (direct mode: records in memory, as fast as possible)."""
    return Simulator(inventory, scenario.faults, start_ts=start_ts, seed=seed, tick=scenario.tick)  # type: ignore[arg-type]
