"""The BIRD collector: poll every calico-node's BIRD and publish BGP session and route-counter records.

One persistent control-socket connection per node (reopened after any error), one
``show protocols all`` per node per ``interval`` of the injected clock, at most
``concurrency`` polls in flight so 20,000 nodes neither open 20,000 sockets at once nor
wait for each other: each node runs its own schedule and a slow or dead node only costs
its own slot for at most ``connect_timeout + read_timeout``.

A node that cannot be polled (socket missing: node down or BIRD not running; BIRD killed
mid-reply; a timeout) produces no records for that poll — never a guess — and shows up
in :meth:`BirdCollector.status`. Its session state is kept, so the next good poll's
deltas span the gap exactly (and a BIRD restart in between is recognised by its boot
time, see :mod:`planewatch.collectors.bird.sessions`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
from collections.abc import Iterable

from planewatch.clock import Clock, WallClock
from planewatch.collectors import Publish
from planewatch.collectors.bird.client import (
    BirdClient,
    BirdCommandError,
    BirdConnectionError,
    BirdError,
)
from planewatch.collectors.bird.parse import parse_protocols, parse_status
from planewatch.collectors.bird.sessions import NodeSessions
from planewatch.inventory import Inventory
from planewatch.schemas.records import Record

__all__ = ["BirdCollector", "BirdNode"]

POLL_COMMAND = "show protocols all"


@dataclasses.dataclass(frozen=True)
class BirdNode:
    """A server whose BIRD we poll: its inventory name and its BIRD control socket."""

    name: str
    socket: str | os.PathLike[str]


@dataclasses.dataclass
class _Health:
    socket: str
    state: str = "pending"
    """``pending`` (not polled yet), ``up``, ``unreachable`` (cannot connect) or ``error`` (connected, bad reply)."""
    last_update: float | None = None
    polls: int = 0
    failures: int = 0
    reconnects: int = 0
    missed_polls: int = 0
    """Scheduled polls skipped because the previous one overran its slot."""
    last_error: str | None = None
    version: str | None = None
    connected_before: bool = False


class BirdCollector:
    """Polls BIRD ``show protocols all`` on many nodes; implements :class:`planewatch.collectors.Collector`.

    ``tz`` is the time zone BIRD prints its times in (calico-node: UTC).
    """

    name = "bird"

    def __init__(
        self,
        nodes: Iterable[BirdNode],
        inventory: Inventory,
        *,
        clock: Clock | None = None,
        interval: float = 5.0,
        concurrency: int = 32,
        connect_timeout: float = 2.0,
        read_timeout: float = 5.0,
        tz: dt.tzinfo = dt.timezone.utc,
        spread: bool = True,
    ):
        if interval <= 0:
            raise ValueError(f"interval={interval} must be > 0 seconds")
        if concurrency < 1:
            raise ValueError(f"concurrency={concurrency} must be >= 1")
        self.nodes = {n.name: n for n in nodes}
        self.inventory = inventory
        self.clock: Clock = clock or WallClock()
        self.interval = float(interval)
        self.tz = tz
        self.spread = spread
        self._semaphore = asyncio.Semaphore(concurrency)
        self._clients = {
            n.name: BirdClient(n.socket, connect_timeout=connect_timeout, read_timeout=read_timeout)
            for n in self.nodes.values()
        }
        self._sessions = {n: NodeSessions(n, inventory) for n in self.nodes}
        self._health = {n.name: _Health(os.fspath(n.socket)) for n in self.nodes.values()}

    # -- one poll -------------------------------------------------------------------
    async def poll_node(self, node: str) -> list[Record]:
        """Poll one node once; its records, or ``[]`` if it could not be read (counted in :meth:`status`)."""
        health, client = self._health[node], self._clients[node]
        health.polls += 1
        async with self._semaphore:
            now = self.clock.now()
            boot = None
            try:
                if not client.connected:
                    await client.connect()
                    if health.connected_before:
                        health.reconnects += 1
                    health.connected_before = True
                    health.version = client.version
                    status = parse_status((await client.command("show status")).text, now=now, tz=self.tz)
                    boot = status.last_reboot
                reply = await client.command(POLL_COMMAND)
                protocols = parse_protocols(reply.text, now=now, tz=self.tz)
            except BirdConnectionError as error:
                return self._failed(health, "unreachable", error)
            except BirdCommandError as error:
                return self._failed(health, "error", error)
            except BirdError as error:
                return self._failed(health, "error", error)
            except ValueError as error:  # output we cannot parse: say so, keep the old state
                await client.close()
                return self._failed(health, "error", error)
        records = self._sessions[node].observe(protocols, now, boot)
        health.state, health.last_update, health.last_error = "up", now, None
        return records

    @staticmethod
    def _failed(health: _Health, state: str, error: Exception) -> list[Record]:
        health.failures += 1
        health.state = state
        health.last_error = str(error)
        return []

    async def poll_once(self) -> list[Record]:
        """Poll every node once, concurrently (bounded); all their records."""
        results = await asyncio.gather(*(self.poll_node(n) for n in self.nodes))
        return [r for records in results for r in records]

    # -- the Collector contract ---------------------------------------------------------
    async def run(self, publish: Publish, stop: asyncio.Event) -> None:
        """Poll each node every ``interval`` until ``stop``; first polls spread over one interval when ``spread``."""
        start = self.clock.now()
        count = max(1, len(self.nodes))
        try:
            async with asyncio.TaskGroup() as group:
                for index, node in enumerate(self.nodes):
                    offset = self.interval * index / count if self.spread else 0.0
                    group.create_task(self._node_loop(node, start + offset, publish, stop))
        finally:
            await self.close()

    async def _node_loop(self, node: str, first: float, publish: Publish, stop: asyncio.Event) -> None:
        health = self._health[node]
        due = first
        while not stop.is_set():
            if not await self._wait(stop, due - self.clock.now()):
                return
            records = await self.poll_node(node)
            if records:
                await publish(records)
            due += self.interval
            late = self.clock.now() - due
            if late >= 0:  # the poll overran its slot: skip the slots it ate, do not burst
                skipped = int(late // self.interval) + 1
                health.missed_polls += skipped
                due += skipped * self.interval

    async def _wait(self, stop: asyncio.Event, seconds: float) -> bool:
        """Sleep ``seconds`` of clock time; False if ``stop`` was set meanwhile."""
        if stop.is_set():
            return False
        if seconds <= 0:
            return True
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopper = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait((sleeper, stopper), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()
        return not stop.is_set()

    def status(self) -> list[dict[str, object]]:
        out: list[dict[str, object]] = []
        for node, health in self._health.items():
            sessions = self._sessions[node]
            out.append({
                "target": node,
                "socket": health.socket,
                "state": health.state,
                "last_update": health.last_update,
                "polls": health.polls,
                "failures": health.failures,
                "reconnects": health.reconnects,
                "missed_polls": health.missed_polls,
                "sessions": len(sessions.sessions),
                "established": sum(1 for s in sessions.sessions.values() if s.state == "Established"),
                "unknown_plane": sessions.unknown_plane,
                "unknown_peer": sessions.unknown_peer,
                "counter_resets": sessions.counter_resets,
                "bird_restarts": sessions.bird_restarts,
                "imprecise_since": sessions.imprecise_since,
                "bird_version": health.version,
                "last_error": health.last_error,
            })
        return out

    async def close(self) -> None:
        """Close every control-socket connection."""
        await asyncio.gather(*(c.close() for c in self._clients.values()))
