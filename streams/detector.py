"""The contract every planewatch detector follows, and the finding lifecycle they share.

Why a contract: the same detector code runs under the Faust app (state in changelogged
tables), the in-process driver and replays of stored history. That only works if a
detector is a plain deterministic state machine over *event time*: it sees the world only
through :meth:`Detector.feed`, never reads the wall clock, and can hand its whole state
over as bytes (:meth:`Detector.snapshot`) to be rebuilt on another worker
(``restore(inventory, config, state)``). State must be bounded by the size of the fabric
(sessions, ports, planes), never by elapsed time or traffic volume, so a snapshot stays
small enough to live in a changelog topic.

The lifecycle helpers (:class:`Band`, :class:`Hysteresis`, :class:`Lifecycle`,
:func:`fingerprint`, :func:`make_finding`) exist so every detector raises and resolves
the same way: one stable fingerprint per fault subject, ``started_at`` = when the fault
began in event time, separate raise/clear levels plus a minimum hold so a value hovering
at a threshold does not page people twice a minute.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from typing import Any, Protocol, Self, TypeVar, runtime_checkable

import msgspec

from planewatch.inventory import Inventory
from planewatch.schemas.records import Finding, Record

__all__ = [
    "Band",
    "Detector",
    "Hysteresis",
    "Lifecycle",
    "StateError",
    "Transition",
    "decode_state",
    "encode_state",
    "fingerprint",
    "make_finding",
]


@runtime_checkable
class Detector(Protocol):
    """A deterministic event-time state machine that turns records into findings.

    ``feed`` must do O(1) work per record (amortised); anything proportional to the
    fabric may only happen on a lifecycle transition. Records arrive roughly in event
    time order; a record older than the state already held for its key must not
    overwrite it. :class:`~planewatch.schemas.records.Watermark` records only advance
    the clock, which lets time-based rules (silence, hold times) progress without data.
    """

    name: str

    def feed(self, record: Record) -> list[Finding]:
        """Take one record; return the findings it caused (usually none)."""
        ...

    def snapshot(self) -> bytes:
        """The detector's whole state, for :meth:`restore` (e.g. in a changelog topic)."""
        ...

    @classmethod
    def restore(cls, inventory: Inventory, config: Any, state: bytes) -> Self:
        """A detector that continues exactly where the one that made ``state`` stopped."""
        ...


# -- serialised state ------------------------------------------------------------------


class StateError(ValueError):
    """A snapshot cannot be restored (wrong detector, unknown version, corrupt bytes)."""


class _Envelope(msgspec.Struct, array_like=True):
    detector: str
    version: int
    state: msgspec.Raw


S = TypeVar("S", bound=msgspec.Struct)


def encode_state(detector: str, version: int, state: msgspec.Struct) -> bytes:
    """MessagePack bytes of ``state``, labelled with the detector name and state version.

    The label lets :func:`decode_state` refuse a snapshot of another detector or of an
    incompatible state layout instead of silently misreading it.
    """
    inner = msgspec.Raw(msgspec.msgpack.encode(state))
    return msgspec.msgpack.encode(_Envelope(detector, version, inner))


def decode_state(data: bytes, detector: str, version: int, type_: type[S]) -> S:
    """Inverse of :func:`encode_state`; raises :class:`StateError` saying what is wrong."""
    try:
        envelope = msgspec.msgpack.decode(data, type=_Envelope)
    except msgspec.DecodeError as error:
        raise StateError(f"not a planewatch detector snapshot: {error}") from None
    if envelope.detector != detector:
        raise StateError(f"snapshot belongs to detector {envelope.detector!r}, not {detector!r}")
    if envelope.version != version:
        raise StateError(
            f"{detector} snapshot has state version {envelope.version}, this code reads {version}; "
            "start the detector fresh (it rebuilds its state from the stream)"
        )
    try:
        return msgspec.msgpack.decode(envelope.state, type=type_)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise StateError(f"corrupt {detector} snapshot: {error}") from None


# -- finding lifecycle -----------------------------------------------------------------


def fingerprint(kind: str, plane: int, subject: str = "") -> str:
    """Stable id of a fault subject: the same in every process, run and release.

    Uses a real hash (not Python's salted ``hash``) so stores and pagers deduplicate
    across restarts and across Faust workers.
    """
    text = f"{kind}\x1f{plane}\x1f{subject}".encode()
    return hashlib.blake2b(text, digest_size=8).hexdigest()


@dataclasses.dataclass(frozen=True)
class Band:
    """Separate raise and clear levels for one measured value.

    Between ``clear_below`` and ``raise_at`` neither raising nor clearing holds, so the
    lifecycle keeps whatever state it is in: that gap is what stops flapping.
    """

    raise_at: float
    clear_below: float

    def __post_init__(self) -> None:
        if self.clear_below > self.raise_at:
            raise ValueError(f"clear level {self.clear_below} is above raise level {self.raise_at}")

    def raising(self, value: float) -> bool:
        return value >= self.raise_at

    def clearing(self, value: float) -> bool:
        return value < self.clear_below


class Transition(enum.Enum):
    """A lifecycle change; the value is the finding's ``status``."""

    FIRE = "firing"
    RESOLVE = "resolved"


class Lifecycle(msgspec.Struct, kw_only=True):
    """The serialisable lifecycle state of one fault subject (mutated by :class:`Hysteresis`).

    ``started_at`` is set by the detector when the finding fires (it knows when the
    fault began); ``ended_at`` is set on resolve to the event time the clear condition
    started to hold, i.e. when recovery was complete rather than when the hold expired.
    """

    firing: bool = False
    started_at: float = 0.0
    ended_at: float | None = None
    raising_since: float | None = None
    clearing_since: float | None = None


@dataclasses.dataclass(frozen=True)
class Hysteresis:
    """When a subject's raise/clear conditions turn into firing and resolved transitions.

    ``raise_hold``: how long the raise condition must hold before firing (0 = at once).
    ``clear_hold``: how long the clear condition must hold before resolving; any moment
    where it does not hold restarts the wait. Times are event-time seconds.
    """

    raise_hold: float = 0.0
    clear_hold: float = 30.0

    def step(self, life: Lifecycle, now: float, *, raising: bool, clearing: bool) -> Transition | None:
        """Advance ``life`` to event time ``now`` given the current conditions.

        ``raising`` and ``clearing`` must not both be true (a :class:`Band` guarantees it).
        """
        if not life.firing:
            life.clearing_since = None
            if not raising:
                life.raising_since = None
                return None
            if life.raising_since is None:
                life.raising_since = now
            if now - life.raising_since < self.raise_hold:
                return None
            life.firing, life.raising_since, life.ended_at = True, None, None
            return Transition.FIRE
        life.raising_since = None
        if not clearing:
            life.clearing_since = None
            return None
        if life.clearing_since is None:
            life.clearing_since = now
        if now - life.clearing_since < self.clear_hold:
            return None
        life.firing, life.ended_at, life.clearing_since = False, life.clearing_since, None
        return Transition.RESOLVE


def make_finding(
    *,
    kind: str,
    plane: int,
    transition: Transition,
    life: Lifecycle,
    ts: float,
    severity: str,
    summary: str,
    evidence: dict[str, Any],
    subject: str = "",
) -> Finding:
    """The :class:`Finding` record for one lifecycle transition of one subject."""
    return Finding(
        ts=ts,
        plane=plane,
        fingerprint=fingerprint(kind, plane, subject),
        kind=kind,
        subject=subject,
        severity=severity,
        status=transition.value,
        started_at=life.started_at,
        ended_at=life.ended_at if transition is Transition.RESOLVE else None,
        summary=summary,
        evidence=evidence,
    )


def explanation_flipped(explained: list[set[str]], index: dict[int, int], kinds: tuple[str, ...],
                        finding: Finding) -> tuple[int, bool] | None:
    """Track which firing findings of other detectors (a plane failure…) explain each plane.

    ``explained[i]`` holds the kinds currently firing on plane index ``i``; ``finding`` fed
    back by the ensemble updates it. Returns ``(i, explained_now)`` when the plane went from
    unexplained to explained or back, else ``None``: detectors use it to fall silent while
    another finding explains their signal and to start a grace period when it ends.
    """
    if finding.kind not in kinds:
        return None
    i = index.get(finding.plane)
    if i is None:
        return None
    current = explained[i]
    was = bool(current)
    if finding.status == Transition.FIRE.value:
        current.add(finding.kind)
    else:
        current.discard(finding.kind)
    return None if was == bool(current) else (i, bool(current))
