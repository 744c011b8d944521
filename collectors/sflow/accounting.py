"""Per-agent accounting: lost datagrams, agent restarts, lost samples, and the counters ``status()`` shows.

sFlow runs over UDP and nothing retransmits, so the only way to know what was lost is
the sequence numbers: each (agent, sub-agent) numbers its datagrams, each data source
numbers its flow and its counter samples. A gap is loss; a number that goes backwards
while the agent's uptime also goes backwards is a **restart**, not a four-billion
datagram loss, and starts the numbering afresh.

A datagram at most :data:`REORDER_WINDOW` numbers and :data:`REORDER_MS` of uptime behind
the last one is *late* (UDP reordering), counted as ``out_of_order``; the gap it left was
already counted as lost when the later datagram arrived and is not taken back. (An agent
that reboots within 10 s of its previous boot therefore looks like reordering until its
numbers pass the old ones: rare, and it costs no false loss.)
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

_MOD = 1 << 32
_HALF = 1 << 31
REORDER_WINDOW = 256
"""A datagram at most this many numbers behind the last one ..."""
REORDER_MS = 10_000
"""... and at most this much uptime behind it is late, not a sign of a restart."""


def sequence_gap(last: int, current: int) -> int:
    """Numbers skipped between ``last`` and ``current`` (mod 2^32); negative for a late or repeated one."""
    delta = (current - last) % _MOD
    return delta - 1 if delta < _HALF else delta - _MOD - 1


def uptime_went_backwards(last_ms: int, current_ms: int) -> bool:
    """True when uptime decreased, except for the 32-bit millisecond wrap after ~49.7 days."""
    return current_ms < last_ms and last_ms - current_ms < _HALF


@dataclass(slots=True)
class SubAgentState:
    """Sequence state of one (agent, sub-agent) and of its data sources' sample numbering."""

    sequence: int
    uptime_ms: int
    samples: dict[tuple[int, int, int], int] = field(default_factory=dict)
    """(kind 0 flow / 1 counter, source type, source index) -> last sample sequence."""


@dataclass(slots=True)
class AgentStats:
    """What ``status()`` reports for one agent (summed over its sub-agents)."""

    agent: str
    switch: str
    plane: int
    datagrams: int = 0
    samples: int = 0
    flow_samples: int = 0
    counter_samples: int = 0
    records: int = 0
    last_update: float | None = None
    lost: int = 0
    """Datagrams missing from the sequence."""
    samples_lost: int = 0
    """Flow/counter samples missing from their data sources' sequences."""
    restarts: int = 0
    out_of_order: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    """Samples decoded but not turned into records, by reason (e.g. ``flow_without_ethernet``)."""
    malformed: Counter[str] = field(default_factory=Counter)
    """Decode problems by reason."""
    sub_agents: dict[int, SubAgentState] = field(default_factory=dict)

    def datagram(self, sub_agent: int, sequence: int, uptime_ms: int) -> bool:
        """Account one datagram's header; True if the agent restarted (sample numbering restarts too)."""
        state = self.sub_agents.get(sub_agent)
        if state is None:
            self.sub_agents[sub_agent] = SubAgentState(sequence, uptime_ms)
            return False
        gap = sequence_gap(state.sequence, sequence)
        if gap < 0 and -gap <= REORDER_WINDOW and 0 <= state.uptime_ms - uptime_ms <= REORDER_MS:
            self.out_of_order += 1  # a late (or repeated) datagram, not a restart
            return False
        if uptime_went_backwards(state.uptime_ms, uptime_ms):
            self.restarts += 1
            state.samples.clear()
            state.sequence, state.uptime_ms = sequence, uptime_ms
            return True
        if gap < 0:
            self.out_of_order += 1
            return False
        self.lost += gap
        state.sequence = sequence
        state.uptime_ms = uptime_ms
        return False

    def sample(self, sub_agent: int, kind: int, source_type: int, source_index: int, sequence: int) -> None:
        """Account one sample's sequence number within its data source."""
        state = self.sub_agents.get(sub_agent)
        if state is None:
            return
        key = (kind, source_type, source_index)
        last = state.samples.get(key)
        if last is None:
            state.samples[key] = sequence
            return
        gap = sequence_gap(last, sequence)
        if gap >= 0:  # a late sample neither counts nor moves the numbering back
            self.samples_lost += gap
            state.samples[key] = sequence

    def row(self) -> dict[str, object]:
        return {
            "target": self.agent,
            "agent": self.agent,
            "switch": self.switch,
            "plane": self.plane,
            "state": "receiving" if self.datagrams else "silent",
            "datagrams": self.datagrams,
            "samples": self.samples,
            "flow_samples": self.flow_samples,
            "counter_samples": self.counter_samples,
            "records": self.records,
            "last_update": self.last_update,
            "lost": self.lost,
            "samples_lost": self.samples_lost,
            "restarts": self.restarts,
            "out_of_order": self.out_of_order,
            "skipped": dict(self.skipped),
            "malformed": dict(self.malformed),
        }


@dataclass(slots=True)
class DroppedStats:
    """Datagrams refused before any agent could be credited: unknown agents, untrusted sources, unreadable headers."""

    by_agent: Counter[str] = field(default_factory=Counter)
    by_reason: Counter[str] = field(default_factory=Counter)
    last_update: float | None = None

    def drop(self, agent: str, reason: str, now: float) -> None:
        self.by_agent[agent] += 1
        self.by_reason[reason] += 1
        self.last_update = now

    def row(self) -> dict[str, object]:
        return {
            "target": "(dropped)",
            "agent": None,
            "switch": None,
            "plane": 0,
            "state": "dropping" if self.by_agent else "none",
            "datagrams": sum(self.by_agent.values()),
            "last_update": self.last_update,
            "dropped_by_agent": dict(self.by_agent),
            "dropped_by_reason": dict(self.by_reason),
        }
