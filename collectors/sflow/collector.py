"""The sFlow v5 collector: UDP datagrams from the fabric's agents -> plane-tagged records, in batches.

One asyncio datagram endpoint receives; :meth:`SflowCollector.handle_datagram` does all the
work synchronously (decode, allow-list, accounting, record building) so it is also what the
benchmark and unit tests drive. Records leave through one publisher task in batches of
``batch_size`` or every ``flush_interval`` seconds of the injected clock, so ``publish`` is
not called per datagram at tens of thousands of datagrams per second.

**Allow-list.** The agent address in the datagram header must be an inventory switch's
``sflow_agent`` (:meth:`Inventory.switch_of_agent`); other datagrams are dropped and counted
per agent. The UDP *source* address is checked too (``check_source``, on by default): it
must be the agent address itself, the switch's management address, or one of
``trusted_sources`` — by default the loopback addresses, because the simulator and a local
relay send every agent's datagrams from 127.0.0.1. A collector behind a NAT or relay that
rewrites sources can add that relay to ``trusted_sources`` or turn the check off.

``ts`` of every record is ``clock.now()`` at arrival: sFlow carries no wall-clock time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

from planewatch.clock import Clock, WallClock
from planewatch.collectors import Publish
from planewatch.collectors.sflow.accounting import AgentStats, DroppedStats
from planewatch.collectors.sflow.decode import Datagram, decode_datagram
from planewatch.inventory import Inventory
from planewatch.schemas.records import Record, SflowCounterSample, SflowFlowSample

log = logging.getLogger(__name__)

LOOPBACK_SOURCES = ("127.0.0.1", "::1")


def _canonical_ip(address: str) -> str:
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def estimated_total(sampled: int, sampling_rate: int) -> int:
    """Frames (or bytes) a sampled count stands for: each sample represents ``sampling_rate`` frames.

    A sampling rate of 0 (a broken agent) is taken as 1, so an estimate is never zero for seen samples.
    """
    return sampled * max(1, sampling_rate)


@dataclass(slots=True)
class SflowCollectorConfig:
    host: str = "0.0.0.0"
    port: int = 6343
    """0 picks a free port (tests); read the bound one from :attr:`SflowCollector.port`."""
    batch_size: int = 1000
    """Publish as soon as this many records are buffered ..."""
    flush_interval: float = 0.5
    """... or this many seconds (of the collector's clock) after the last flush."""
    check_source: bool = True
    trusted_sources: tuple[str, ...] = LOOPBACK_SOURCES
    max_pending_batches: int = 256
    """Batches waiting for a slow ``publish``; beyond this the oldest are dropped and counted."""
    receive_buffer: int = 8 << 20
    """SO_RCVBUF asked for (the kernel may cap it): bursts of datagrams must not overflow the socket."""


@dataclass(slots=True)
class _Agent:
    """What an allowed agent maps to, resolved once."""

    switch: str
    plane: int
    sources: frozenset[str]
    stats: AgentStats


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, collector: SflowCollector):
        self.collector = collector

    def datagram_received(self, data: bytes, addr: tuple) -> None:  # type: ignore[override]
        self.collector.handle_datagram(data, addr[0])

    def error_received(self, exc: Exception) -> None:
        self.collector.socket_errors += 1


@dataclass
class SflowCollector:
    """Collects sFlow v5 from the inventory's agents (see the module docstring for the rules)."""

    inventory: Inventory
    config: SflowCollectorConfig = field(default_factory=SflowCollectorConfig)
    clock: Clock = field(default_factory=WallClock)
    name: str = "sflow"

    def __post_init__(self) -> None:
        self.port: int | None = None
        self.ready = asyncio.Event()
        """Set once the socket is bound (:attr:`port` is then known)."""
        self.socket_errors = 0
        self.publish_errors = 0
        self.batches_dropped = 0
        self.records_dropped = 0
        self._agents: dict[str, _Agent] = {}
        self._trusted = frozenset(_canonical_ip(s) or s for s in self.config.trusted_sources)
        for switch in self.inventory.switches.values():
            if switch.sflow_agent is None:
                continue
            agent = str(switch.sflow_agent)
            plane = self.inventory.plane_of_switch(switch.name)
            self._agents[agent] = _Agent(
                switch.name, plane, frozenset({agent, str(switch.address)}), AgentStats(agent, switch.name, plane),
            )
        self.dropped = DroppedStats()
        self._buffer: list[Record] = []
        self._batches: asyncio.Queue[list[Record]] | None = None

    # -- the work, one datagram at a time ------------------------------------------------
    def _agent_for(self, agent: str) -> _Agent | None:
        found = self._agents.get(agent)
        if found is None:
            switch = self.inventory.switch_of_agent(agent)
            if switch is not None and str(switch.sflow_agent) in self._agents:
                found = self._agents[str(switch.sflow_agent)]
                self._agents[agent] = found  # another spelling of a known agent
        return found

    def handle_datagram(self, payload: bytes, source: str) -> list[Record]:
        """Decode, check and account one datagram; buffer (and return) the records it yields. Never raises."""
        try:
            return self._handle(payload, source)
        except Exception:  # pragma: no cover - one bad datagram must never stop the collector
            log.exception("sFlow datagram from %s could not be handled", source)
            self.dropped.drop(source, "internal_error", self.clock.now())
            return []

    def _handle(self, payload: bytes, source: str) -> list[Record]:
        now = self.clock.now()
        decoded = decode_datagram(payload)
        header = decoded.header
        if header is None:
            reason = decoded.problems[0].reason if decoded.problems else "unreadable"
            known = self._agent_for(source)
            if known is not None:  # credit a known sender with its garbage, where people will look
                known.stats.malformed.update(p.reason for p in decoded.problems)
                known.stats.last_update = now
            else:
                self.dropped.drop(source, reason, now)
            return []
        agent = self._agent_for(header.agent)
        if agent is None:
            self.dropped.drop(header.agent, "unknown_agent", now)
            return []
        if self.config.check_source and source not in agent.sources and source not in self._trusted:
            if _canonical_ip(source) not in agent.sources | self._trusted:
                self.dropped.drop(header.agent, "untrusted_source", now)
                return []
        return self._records(decoded, agent, now)

    def _records(self, decoded: Datagram, agent: _Agent, now: float) -> list[Record]:
        header = decoded.header
        assert header is not None
        stats = agent.stats
        stats.datagrams += 1
        stats.last_update = now
        if decoded.problems:
            stats.malformed.update(p.reason for p in decoded.problems)
        if decoded.skipped_samples:
            stats.skipped["unknown_sample_format"] += decoded.skipped_samples
        sub = header.sub_agent_id
        stats.datagram(sub, header.sequence, header.uptime_ms)
        out: list[Record] = []
        name, plane, address = agent.switch, agent.plane, header.agent
        for flow in decoded.flow_samples:
            stats.sample(sub, 0, flow.source_id_type, flow.source_id_index, flow.sequence)
            raw = flow.raw_header
            eth = raw.ethernet if raw is not None else None
            if eth is None:
                stats.skipped["flow_without_ethernet"] += 1
                continue
            out.append(SflowFlowSample(
                ts=now, plane=plane, agent=address, device=name, sequence=flow.sequence,
                sampling_rate=flow.sampling_rate, input_if=flow.input_if, output_if=flow.output_if,
                src_mac=eth.src_mac, dst_mac=eth.dst_mac, vlan=eth.vlan, ethertype=eth.ethertype,
                frame_class=eth.frame_class, frame_length=raw.frame_length,  # type: ignore[union-attr]
            ))
        for counter in decoded.counter_samples:
            stats.sample(sub, 1, counter.source_id_type, counter.source_id_index, counter.sequence)
            g = counter.generic
            if g is None:
                stats.skipped["counters_without_generic"] += 1
                continue
            out.append(SflowCounterSample(
                ts=now, plane=plane, agent=address, device=name, sequence=counter.sequence,
                if_index=g.if_index, if_speed=g.if_speed, if_oper_up=bool(g.if_status & 2),
                in_octets=g.in_octets, in_ucast_pkts=g.in_ucast_pkts, in_mcast_pkts=g.in_mcast_pkts,
                in_bcast_pkts=g.in_bcast_pkts, in_discards=g.in_discards, in_errors=g.in_errors,
                out_octets=g.out_octets, out_ucast_pkts=g.out_ucast_pkts, out_mcast_pkts=g.out_mcast_pkts,
                out_bcast_pkts=g.out_bcast_pkts, out_discards=g.out_discards, out_errors=g.out_errors,
            ))
        stats.samples += decoded.sample_total
        stats.flow_samples += len(decoded.flow_samples)
        stats.counter_samples += len(decoded.counter_samples)
        stats.records += len(out)
        if out:
            self._buffer.extend(out)
            if len(self._buffer) >= self.config.batch_size:
                self._flush()
        return out

    # -- batching ----------------------------------------------------------------------
    def _flush(self) -> None:
        """Hand the buffered records to the publisher task as one batch."""
        if not self._buffer:
            return
        batch, self._buffer = self._buffer, []
        if self._batches is None:  # not running (handle_datagram driven directly): keep them
            self._buffer = batch
            return
        if self._batches.qsize() >= self.config.max_pending_batches:
            oldest = self._batches.get_nowait()
            self.batches_dropped += 1
            self.records_dropped += len(oldest)
        self._batches.put_nowait(batch)

    def take_buffered(self) -> list[Record]:
        """Records buffered while not running (tests, benchmarks); empties the buffer."""
        batch, self._buffer = self._buffer, []
        return batch

    async def _publisher(self, publish: Publish) -> None:
        assert self._batches is not None
        while True:
            batch = await self._batches.get()
            try:
                if not batch:  # the stop marker
                    return
                await publish(batch)
            except Exception:
                self.publish_errors += 1
                log.exception("publishing %d sFlow records failed", len(batch))
            finally:
                self._batches.task_done()

    async def _ticker(self, stop: asyncio.Event) -> None:
        """Flush whatever is buffered every ``flush_interval`` of the clock's time (slept, not read: a
        simulation clock may stand still between steps)."""
        while not stop.is_set():
            await self.clock.sleep(self.config.flush_interval)
            self._flush()

    # -- the Collector contract ------------------------------------------------------------
    async def run(self, publish: Publish, stop: asyncio.Event) -> None:
        """Receive until ``stop`` is set, then flush what is buffered and return."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.config.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.config.receive_buffer)
        except OSError:
            pass
        sock.bind((self.config.host, self.config.port))
        sock.setblocking(False)
        transport, _ = await loop.create_datagram_endpoint(lambda: _Protocol(self), sock=sock)
        self.port = sock.getsockname()[1]
        self._batches = asyncio.Queue()
        publisher = asyncio.create_task(self._publisher(publish))
        ticker = asyncio.create_task(self._ticker(stop))
        self.ready.set()
        log.info("sFlow collector listening on %s:%d", self.config.host, self.port)
        try:
            await stop.wait()
        finally:
            transport.close()
            ticker.cancel()
            self._flush()
            self._batches.put_nowait([])
            try:
                await publisher
            except asyncio.CancelledError:  # pragma: no cover
                pass
            self._batches = None
            self.ready.clear()

    def status(self) -> list[dict[str, object]]:
        """One row per inventory agent (silent ones too) and one for dropped datagrams."""
        seen: set[int] = set()
        rows: list[dict[str, object]] = []
        for agent in self._agents.values():
            if id(agent) in seen:
                continue
            seen.add(id(agent))
            rows.append(agent.stats.row())
        rows.sort(key=lambda r: (r["plane"], str(r["switch"])))
        dropped = self.dropped.row()
        dropped["publish_errors"] = self.publish_errors
        dropped["batches_dropped"] = self.batches_dropped
        dropped["records_dropped"] = self.records_dropped
        dropped["socket_errors"] = self.socket_errors
        rows.append(dropped)
        return rows

    def totals(self) -> Counter[str]:
        """Sums over agents (datagrams, samples, records, lost, restarts …), for tests and the CLI."""
        total: Counter[str] = Counter()
        for row in self.status()[:-1]:
            for key in ("datagrams", "samples", "records", "lost", "samples_lost", "restarts", "out_of_order"):
                total[key] += int(row[key])  # type: ignore[arg-type]
        return total


def collect_records(collector: SflowCollector, payloads: Sequence[tuple[bytes, str]]) -> list[Record]:
    """Feed datagrams (payload, source) straight into a collector that is not running; return its records."""
    for payload, source in payloads:
        collector.handle_datagram(payload, source)
    return collector.take_buffered()
