"""Named fault scenarios the simulator can inject, and their validation.

A :class:`Fault` is what a user (or a test) asks for: a kind, when it starts (seconds
after the simulation start), how long it lasts, and optionally which plane / server it
hits and how hard. :data:`SCENARIOS` describes every kind once — the CLI prints these
descriptions in ``--help`` and fills in the defaults (plane 2, the first server) so
``--scenario plane-down`` alone does something sensible.

Any number of faults may overlap in one simulation (a plane-down during background churn,
a broadcast storm on one plane while another is imbalanced): the engine keeps a count of
the reasons each server, link and plane is down, so one fault ending never revives what
another still holds down.
"""

from __future__ import annotations

import dataclasses

from planewatch.inventory import Inventory


class FaultError(ValueError):
    """A fault that cannot be injected into this fabric; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class Scenario:
    """One fault kind: what it does, which targets it takes, what ``magnitude`` means."""

    kind: str
    description: str
    uses_plane: bool
    uses_server: bool
    magnitude_help: str | None = None
    default_magnitude: float | None = None
    magnitude_range: tuple[float, float] | None = None
    magnitude_per_server: float | None = None
    """When set, the default magnitude is this × the fabric's server count (rates that scale with size)."""

    def __str__(self) -> str:
        return self.description


REBOOTS_PER_SERVER_PER_HOUR = 0.05 / 24
"""The Calico note's 5 % daily server failure rate: 1,000 reboots (2,000 down/up events) a day per 20k servers."""

SCENARIOS: dict[str, Scenario] = {
    s.kind: s
    for s in (
        Scenario("plane-down", "a whole plane fails: its BGP sessions drop, its ports go down, ECMP moves traffic to the other planes",
                 uses_plane=True, uses_server=False),
        Scenario("broadcast-storm", "a plane floods: broadcast/multicast on all its ports jumps to thousands of pps, MACs flap",
                 uses_plane=True, uses_server=False,
                 magnitude_help="broadcast pps per port", default_magnitude=3000.0, magnitude_range=(1.0, 1e7)),
        Scenario("mac-leak", "workload MACs (not in the inventory) leak into a plane's MAC tables behind one server, growing",
                 uses_plane=True, uses_server=True,
                 magnitude_help="leaked MACs learned per second", default_magnitude=2.0, magnitude_range=(0.01, 1000.0)),
        Scenario("ecmp-imbalance", "one plane carries more than its 1/N share of every server's traffic",
                 uses_plane=True, uses_server=False,
                 magnitude_help="that plane's share of traffic (0..1)", default_magnitude=0.4, magnitude_range=(0.01, 0.99)),
        Scenario("bgp-flap", "one server's BGP sessions to one plane's route reflectors flap",
                 uses_plane=True, uses_server=True,
                 magnitude_help="seconds between flaps", default_magnitude=20.0, magnitude_range=(4.0, 3600.0)),
        Scenario("server-down", "one server dies: its ports go down and its sessions drop on every plane",
                 uses_plane=False, uses_server=True),
        Scenario("plane-degraded", "part of a plane fails: a fraction of the servers lose their link and sessions on that plane only",
                 uses_plane=True, uses_server=False,
                 magnitude_help="fraction of servers that lose the plane", default_magnitude=0.33,
                 magnitude_range=(0.01, 1.0)),
        Scenario("background-churn", "servers reboot at random: each is down on every plane for 60-120 s, then comes back",
                 uses_plane=False, uses_server=False,
                 magnitude_help="reboots per hour across the fabric (default: 5% of servers a day, the Calico note's rate)",
                 magnitude_range=(0.001, 1e6), magnitude_per_server=REBOOTS_PER_SERVER_PER_HOUR),
    )
}
DEFAULT_PLANE = 2


def describe_scenarios() -> str:
    """One line per kind, for ``--help`` texts."""
    width = max(len(kind) for kind in SCENARIOS)
    return "\n".join(f"{s.kind:<{width}}  {s.description}" for s in SCENARIOS.values())


@dataclasses.dataclass(frozen=True)
class Fault:
    """A fault to inject: ``at`` and ``duration`` are seconds of simulated time from the start.

    ``plane``/``server``/``magnitude`` left as ``None`` get the scenario's defaults
    from :meth:`resolve` (plane 2, or the last plane of a smaller fabric; the first server).
    """

    kind: str
    at: float
    duration: float
    plane: int | None = None
    server: str | None = None
    magnitude: float | None = None

    @classmethod
    def create(
        cls,
        kind: str,
        *,
        at: float,
        duration: float,
        plane: int | None = None,
        server: str | None = None,
        magnitude: float | None = None,
        inventory: Inventory | None = None,
    ) -> Fault:
        """Build a fault from CLI-style options; with ``inventory``, also :meth:`resolve` it (fail early, say why)."""
        fault = cls(kind=kind, at=at, duration=duration, plane=plane, server=server, magnitude=magnitude)
        return fault.resolve(inventory) if inventory is not None else fault

    @property
    def end(self) -> float:
        return self.at + self.duration

    def describe(self) -> str:
        """``plane-down on plane 2 from +60s for 120s``: what the status view shows."""
        target = " ".join(
            part for part in (
                f"plane {self.plane}" if self.plane is not None else "",
                f"server {self.server}" if self.server is not None else "",
                f"magnitude {self.magnitude:g}" if self.magnitude is not None else "",
            ) if part
        )
        return f"{self.kind}{' on ' + target if target else ''} from +{self.at:g}s for {self.duration:g}s"

    def resolve(self, inventory: Inventory) -> Fault:
        """This fault with defaults filled in, checked against ``inventory``; raises :class:`FaultError`."""
        scenario = SCENARIOS.get(self.kind)
        if scenario is None:
            raise FaultError(f"unknown fault kind {self.kind!r}; known kinds: {', '.join(SCENARIOS)}")
        if not self.at >= 0:
            raise FaultError(f"{self.kind}: at={self.at} must be >= 0 (seconds after the simulation start)")
        if not self.duration > 0:
            raise FaultError(f"{self.kind}: duration={self.duration} must be > 0 seconds")
        plane = self.plane
        if scenario.uses_plane:
            if plane is None:
                plane = DEFAULT_PLANE if DEFAULT_PLANE in inventory.planes else inventory.plane_ids[-1]
            elif plane not in inventory.planes:
                known = ", ".join(f"{p} ({inventory.plane_name(p)})" for p in inventory.plane_ids)
                raise FaultError(f"{self.kind}: plane {plane} is not in the fabric; known planes: {known}")
        elif plane is not None:
            raise FaultError(f"{self.kind} hits a server on every plane; drop plane={plane}")
        server = self.server
        if scenario.uses_server:
            if server is None:
                server = next(iter(inventory.servers), None)
                if server is None:
                    raise FaultError(f"{self.kind} needs a server and the inventory lists none")
            elif server not in inventory.servers:
                examples = ", ".join(list(inventory.servers)[:3])
                raise FaultError(f"{self.kind}: server {server!r} is not in the fabric (servers are named like {examples})")
        elif server is not None:
            raise FaultError(f"{self.kind} hits a whole plane; drop server={server!r}")
        magnitude = self.magnitude
        if scenario.magnitude_range is None:
            if magnitude is not None:
                raise FaultError(f"{self.kind} takes no magnitude; drop magnitude={magnitude}")
        else:
            if magnitude is None:
                magnitude = scenario.default_magnitude
                if scenario.magnitude_per_server is not None:
                    magnitude = max(scenario.magnitude_range[0], scenario.magnitude_per_server * inventory.server_count)
            low, high = scenario.magnitude_range
            if not low <= magnitude <= high:  # type: ignore[operator]
                raise FaultError(f"{self.kind}: magnitude={magnitude} ({scenario.magnitude_help}) must be within {low}..{high}")
        return dataclasses.replace(self, plane=plane, server=server, magnitude=magnitude)

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Parse ``kind[:key=value,...]``, e.g. ``plane-down:at=60,duration=120,plane=2``.

        Keys: ``at`` (default 60), ``duration`` (alias ``for``, default 120), ``plane``,
        ``server``, ``magnitude``. Meant for command lines and config files.
        """
        kind, _, rest = spec.strip().partition(":")
        if kind not in SCENARIOS:
            raise FaultError(f"unknown fault kind {kind!r}; known kinds: {', '.join(SCENARIOS)}")
        values: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in rest.split(","))):
            key, sep, value = item.partition("=")
            key = {"for": "duration"}.get(key.strip(), key.strip())
            if not sep or key not in {"at", "duration", "plane", "server", "magnitude"}:
                raise FaultError(f"{spec!r}: expected key=value with key at, duration, plane, server or magnitude; got {item!r}")
            values[key] = value.strip()
        try:
            return cls(
                kind=kind,
                at=float(values.get("at", 60.0)),
                duration=float(values.get("duration", 120.0)),
                plane=int(values["plane"]) if "plane" in values else None,
                server=values.get("server"),
                magnitude=float(values["magnitude"]) if "magnitude" in values else None,
            )
        except ValueError as error:
            raise FaultError(f"{spec!r}: {error}; at/duration/magnitude are numbers and plane is a plane id") from None
