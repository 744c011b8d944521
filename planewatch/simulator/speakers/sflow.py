"""The simulator speaks sFlow v5: its flow and counter sample records go out as real UDP datagrams.

Each switch is an sFlow agent: the agent address in the datagram header is the switch's
``sflow_agent`` (the record's ``agent``), each agent numbers its datagrams and reports an
uptime that follows simulated time, and several samples share one datagram (at most
``max_datagram`` bytes, 1400 by default so nothing fragments on a 1500-byte path).
Datagrams leave from whatever local address the socket has (127.0.0.1 in tests): the
collector accepts loopback sources for known header agents (see its ``trusted_sources``).

Encoding choices, so that a collector reading the datagrams gets the records back:

* The simulator numbers flow samples and counter samples **per switch**, so the speaker
  sends them from one data source per switch (source id type 0, index 0); per-source
  sample-sequence accounting then sees no false gaps.
* Flow samples carry a raw-header record built from the summary (MACs, 802.1Q tag with the
  plane's VLAN, ethertype, zero payload; ``frame_length - 4`` bytes up to 128).
* Counter samples carry a generic interface counters record. Its packet counters are 32
  bits on the wire (sFlow has no 64-bit packet counters), so they wrap as on a real agent;
  octet counters and speed are 64-bit. ``None`` is sent as all ones ("unknown").
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Iterable, Sequence

from planewatch.collectors.sflow import encode
from planewatch.inventory import Inventory
from planewatch.schemas.records import Record, SflowCounterSample, SflowFlowSample

MAX_DATAGRAM = 1400
BOOT_UPTIME_MS = 86_400_000
"""Uptime an agent reports for the first simulated instant (a switch booted a day earlier)."""
_HEADER_V4, _HEADER_V6 = 28, 40


def flow_sample_bytes(record: SflowFlowSample, expanded: bool = False) -> bytes:
    """One encoded flow sample (raw Ethernet header record) for a flow-sample record."""
    frame = encode.ethernet_frame(record.dst_mac, record.src_mac, record.ethertype,
                                  vlan=record.vlan, frame_length=record.frame_length)
    return encode.flow_sample(
        sequence=record.sequence, source_id_index=0, sampling_rate=record.sampling_rate,
        sample_pool=(record.sequence * record.sampling_rate) & 0xFFFFFFFF, input_if=record.input_if, output_if=record.output_if,
        records=[encode.raw_header_record(record.frame_length, frame)], expanded=expanded,
    )


def counter_sample_bytes(record: SflowCounterSample, expanded: bool = False) -> bytes:
    """One encoded counter sample (generic interface counters) for a counter-sample record."""
    generic = encode.generic_counters_record(
        record.if_index, if_speed=record.if_speed, if_status=3 if record.if_oper_up else 1,
        in_octets=record.in_octets, in_ucast_pkts=record.in_ucast_pkts, in_mcast_pkts=record.in_mcast_pkts,
        in_bcast_pkts=record.in_bcast_pkts, in_discards=record.in_discards, in_errors=record.in_errors,
        in_unknown_protos=0, out_octets=record.out_octets, out_ucast_pkts=record.out_ucast_pkts,
        out_mcast_pkts=record.out_mcast_pkts, out_bcast_pkts=record.out_bcast_pkts,
        out_discards=record.out_discards, out_errors=record.out_errors,
    )
    return encode.counter_sample(sequence=record.sequence, source_id_index=0, records=[generic], expanded=expanded)


@dataclass(slots=True)
class _AgentState:
    sequence: int = 0
    boot_ts: float | None = None
    uptime_at_first_ms: int = BOOT_UPTIME_MS


class SflowSpeaker:
    """Turns a tick's sFlow records into datagrams and sends them to ``target`` over UDP."""

    def __init__(self, inventory: Inventory, target: tuple[str, int], *, max_datagram: int = MAX_DATAGRAM,
                 expanded: bool = False):
        self.inventory = inventory
        self.target = target
        self.max_datagram = max_datagram
        self.expanded = expanded
        self._agents: dict[str, _AgentState] = {}
        family = socket.AF_INET6 if ":" in target[0] else socket.AF_INET
        self._socket = socket.socket(family, socket.SOCK_DGRAM)
        self.datagrams_sent = 0

    def encode(self, records: Iterable[Record]) -> list[tuple[str, bytes]]:
        """(agent, datagram) for the sFlow records among ``records``, in order per agent; others ignored."""
        by_agent: dict[str, list[tuple[float, bytes]]] = {}
        for record in records:
            if isinstance(record, SflowFlowSample):
                sample = flow_sample_bytes(record, self.expanded)
            elif isinstance(record, SflowCounterSample):
                sample = counter_sample_bytes(record, self.expanded)
            else:
                continue
            by_agent.setdefault(record.agent, []).append((record.ts, sample))
        out: list[tuple[str, bytes]] = []
        for agent, samples in by_agent.items():
            out.extend((agent, d) for d in self._datagrams(agent, samples))
        return out

    def _datagrams(self, agent: str, samples: Sequence[tuple[float, bytes]]) -> list[bytes]:
        state = self._agents.setdefault(agent, _AgentState())
        if state.boot_ts is None:
            state.boot_ts = samples[0][0] - state.uptime_at_first_ms / 1000.0
        room = self.max_datagram - (_HEADER_V6 if ":" in agent else _HEADER_V4)
        datagrams: list[bytes] = []
        batch: list[bytes] = []
        size, last_ts = 0, samples[0][0]

        def close() -> None:
            state.sequence += 1
            uptime = int((last_ts - state.boot_ts) * 1000)  # type: ignore[operator]
            datagrams.append(encode.datagram(agent, sequence=state.sequence, uptime_ms=uptime, samples=batch))

        for ts, sample in samples:
            if batch and size + len(sample) > room:
                close()
                batch, size = [], 0
            batch.append(sample)
            size += len(sample)
            last_ts = max(last_ts, ts)
        if batch:
            close()
        return datagrams

    def send(self, records: Iterable[Record]) -> int:
        """Encode and send; returns the number of datagrams sent."""
        datagrams = self.encode(records)
        for _, payload in datagrams:
            self._socket.sendto(payload, self.target)
        self.datagrams_sent += len(datagrams)
        return len(datagrams)

    def restart(self, agent: str) -> None:
        """Simulate an agent reboot: its next datagram has sequence 1 and an uptime near zero."""
        self._agents[agent] = _AgentState(uptime_at_first_ms=1000)

    def close(self) -> None:
        self._socket.close()

    def __enter__(self) -> SflowSpeaker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
