"""The gNMI collector: one supervised subscription per switch, records to the bus.

Per switch, an asyncio *supervisor* owns the lifecycle (connecting → connected →
stalled/backoff → connecting …) and a :class:`~planewatch.collectors.gnmi.session.Session`
thread does the blocking pygnmi work. Messages cross from the threads to the loop
through one bounded queue (``run_coroutine_threadsafe``), so the bus's back-pressure
reaches the threads and never the other way round; one decoder per switch turns them
into records (:mod:`planewatch.collectors.gnmi.decode`).

Time: stall detection and backoff use the injected clock — a sample interval is in the
same seconds the target samples in, also when a simulated fabric runs faster than real
time. The connect timeout is real time, because it bounds a network handshake.

A switch that sends nothing for ``stall_factor`` × its ``sample_interval`` is torn down
and reconnected: pygnmi gives no sign when a stream silently dies, so silence itself is
the signal.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from planewatch.clock import Clock, WallClock
from planewatch.collectors import Publish
from planewatch.collectors.gnmi.backoff import Backoff
from planewatch.collectors.gnmi.credentials import ConfigurationError, read_credentials, redact, tls_files
from planewatch.collectors.gnmi.decode import DeviceDecoder
from planewatch.collectors.gnmi.session import Session, subscription_request
from planewatch.inventory import Inventory, Switch

log = logging.getLogger("planewatch.collectors.gnmi")


@dataclass(frozen=True)
class GnmiOptions:
    """Collector-wide tuning; per-switch settings (intervals, TLS, credentials) come from the inventory."""

    connect_timeout: float = 10.0
    """Real seconds a session may take to connect and subscribe before it is abandoned."""
    stall_factor: float = 3.0
    """A connected switch silent for this many sample intervals is stalled."""
    backoff_initial: float = 1.0
    backoff_max: float = 60.0
    backoff_multiplier: float = 2.0
    backoff_jitter: float = 0.5
    queue_size: int = 10_000
    """Messages in flight from all sessions to the decoders (back-pressure beyond that)."""


@dataclass
class _Target:
    """One switch: its configuration, its decoder and what ``status()`` shows."""

    switch: Switch
    host: str
    port: int
    decoder: DeviceDecoder
    backoff: Backoff
    state: str = "connecting"
    last_update: float | None = None
    """Clock time of the last message from the switch (any message, including sync)."""
    connected_since: float | None = None
    reconnects: int = 0
    stalls: int = 0
    updates: int = 0
    errors: int = 0
    last_error: str | None = None
    transport: str = "tls"
    session: Session | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.switch.name

    @property
    def sample_interval(self) -> float:
        return self.switch.gnmi.sample_interval

    def status(self) -> dict[str, object]:
        return {
            "target": self.name,
            "address": f"{self.host}:{self.port}",
            "transport": self.transport,
            "state": self.state,
            "last_update": self.last_update,
            "connected_since": self.connected_since,
            "reconnects": self.reconnects,
            "stalls": self.stalls,
            "updates": self.updates,
            "errors": self.errors,
            "last_error": self.last_error,
            **self.decoder.stats.as_dict(),
        }


_FLUSH = object()


class GnmiCollector:
    """Streams interface counters, oper-status and the FDB of inventory switches over gNMI.

    ``switches`` limits collection to those names (default: every inventory switch);
    ``endpoints`` overrides where a switch is reached (``{name: (host, port)}``), e.g. a
    simulated fabric's per-switch loopback ports, whose addresses the inventory's
    uniqueness check would reject.
    """

    name = "gnmi"

    def __init__(
        self,
        inventory: Inventory,
        *,
        clock: Clock | None = None,
        switches: Iterable[str] | None = None,
        endpoints: Mapping[str, tuple[str, int]] | None = None,
        options: GnmiOptions | None = None,
    ) -> None:
        self.clock = clock or WallClock()
        self.options = options or GnmiOptions()
        names = list(inventory.switches) if switches is None else list(switches)
        unknown = [n for n in names if n not in inventory.switches]
        if unknown:
            raise ValueError(f"not in the inventory: {', '.join(unknown)}")
        endpoints = endpoints or {}
        o = self.options
        self._targets: list[_Target] = []
        for name in names:
            switch = inventory.switches[name]
            host, port = endpoints.get(name, (str(switch.address), switch.gnmi.port))
            self._targets.append(_Target(
                switch=switch, host=host, port=port,
                decoder=DeviceDecoder(name, inventory.plane_of_switch(name)),
                backoff=Backoff(o.backoff_initial, o.backoff_max, o.backoff_multiplier, o.backoff_jitter),
                transport="plaintext" if switch.gnmi.insecure else ("mtls" if switch.gnmi.cert_file else "tls"),
            ))

    # -- Collector contract --------------------------------------------------------------
    def status(self) -> list[dict[str, object]]:
        return [t.status() for t in self._targets]

    async def run(self, publish: Publish, stop: asyncio.Event) -> None:
        """Collect until ``stop`` is set; a failing switch is retried, never raised."""
        inbox: asyncio.Queue[tuple[_Target, Any, Any]] = asyncio.Queue(self.options.queue_size)
        supervisors = [asyncio.create_task(self._supervise(t, inbox, stop), name=f"gnmi:{t.name}") for t in self._targets]
        publisher = asyncio.create_task(self._publish(inbox, publish), name="gnmi:publish")
        try:
            await stop.wait()
        finally:
            for task in supervisors:
                task.cancel()
            await asyncio.gather(*supervisors, return_exceptions=True)
            for t in self._targets:
                await inbox.put((t, _FLUSH, None))
            await inbox.put((None, None, None))  # type: ignore[arg-type]
            await publisher
            await asyncio.to_thread(self._join_threads, 2.0)

    # -- supervision ---------------------------------------------------------------------
    async def _supervise(self, t: _Target, inbox: asyncio.Queue, stop: asyncio.Event) -> None:
        loop = asyncio.get_running_loop()
        first = True
        try:
            while not stop.is_set():
                if not first:
                    t.reconnects += 1
                first = False
                t.state, t.connected_since = "connecting", None
                try:
                    session, ended = self._session(t, inbox, loop)
                except ConfigurationError as error:
                    self._fail(t, str(error))
                else:
                    await self._watch(t, session, ended, inbox, stop)
                if stop.is_set():
                    break
                if t.state != "stalled":
                    t.state = "backoff"
                await self._sleep(t.backoff.next(), stop)
        finally:
            if t.session is not None:
                t.session.cancel()

    def _session(
        self, t: _Target, inbox: asyncio.Queue, loop: asyncio.AbstractEventLoop
    ) -> tuple[Session, asyncio.Future[str | None]]:
        """Start a session thread whose callbacks reach this loop thread-safely."""
        gnmi = t.switch.gnmi
        credentials = read_credentials(gnmi)
        tls = tls_files(gnmi)
        ended: asyncio.Future[str | None] = loop.create_future()
        clock = self.clock

        def connected() -> None:
            def mark() -> None:
                if t.session is session and t.state == "connecting":
                    t.state, t.connected_since = "connected", clock.now()
                    log.info("gNMI %s (%s) subscribed over %s", t.name, session.address, t.transport)
            loop.call_soon_threadsafe(mark)

        def message(parsed: dict[str, Any] | None) -> None:
            t.last_update = clock.now()
            try:
                future = asyncio.run_coroutine_threadsafe(inbox.put((t, parsed, None)), loop)
            except RuntimeError:  # the loop is gone: the collector stopped
                return
            while True:
                try:
                    future.result(timeout=0.25)
                    return
                except concurrent.futures.TimeoutError:
                    if session.cancelled:
                        future.cancel()
                        return

        def end(error: str | None) -> None:
            def finish() -> None:
                if not ended.done():
                    ended.set_result(error)
            try:
                loop.call_soon_threadsafe(finish)
            except RuntimeError:
                pass

        session = Session(
            t.name, t.host, t.port, credentials, tls,
            subscription_request(gnmi.sample_interval, gnmi.fdb_interval),
            connected, message, end,
        )
        t.session = session
        session.start()
        return session, ended

    async def _watch(
        self, t: _Target, session: Session, ended: asyncio.Future[str | None], inbox: asyncio.Queue, stop: asyncio.Event
    ) -> None:
        """Wait for the session to end, stall or time out; flush quiet samples meanwhile."""
        stopped = asyncio.ensure_future(stop.wait())
        check = max(0.01, t.sample_interval / 4)
        connect_deadline = time.monotonic() + self.options.connect_timeout
        try:
            while True:
                tick = asyncio.ensure_future(self.clock.sleep(check))
                await asyncio.wait({ended, stopped, tick}, return_when=asyncio.FIRST_COMPLETED)
                tick.cancel()
                if ended.done():
                    error = ended.result()
                    self._fail(t, error or "session ended")
                    self._reset_backoff_if_healthy(t)
                    return
                if stop.is_set():
                    return
                now = self.clock.now()
                if t.state == "connecting":
                    if time.monotonic() > connect_deadline:
                        self._fail(t, f"no gNMI answer from {session.address} within {self.options.connect_timeout:g} s")
                        return
                    continue
                silent_since = max(t.last_update or 0.0, t.connected_since or 0.0)
                if now - silent_since > self.options.stall_factor * t.sample_interval:
                    t.stalls += 1
                    self._reset_backoff_if_healthy(t)
                    t.state = "stalled"
                    self._fail(t, f"stalled: no update for {now - silent_since:.1f} s "
                                  f"({self.options.stall_factor:g} x sample_interval {t.sample_interval:g} s)")
                    return
                if t.decoder.pending:
                    await inbox.put((t, _FLUSH, now - check))
        finally:
            stopped.cancel()
            session.cancel()

    def _reset_backoff_if_healthy(self, t: _Target) -> None:
        """A session that delivered for a whole stall window was healthy: restart the backoff ladder."""
        if t.connected_since is not None and t.last_update is not None:
            if t.last_update - t.connected_since >= self.options.stall_factor * t.sample_interval:
                t.backoff.reset()

    def _fail(self, t: _Target, message: str) -> None:
        secrets = []
        try:
            secrets.append(read_credentials(t.switch.gnmi).password)
        except ConfigurationError:
            pass
        message = redact(message, *secrets)
        t.errors += 1
        t.last_error = message
        log.warning("gNMI %s (%s:%s): %s", t.name, t.host, t.port, message)

    async def _sleep(self, seconds: float, stop: asyncio.Event) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({sleeper, stopped}, return_when=asyncio.FIRST_COMPLETED)
        sleeper.cancel()
        stopped.cancel()

    # -- decoding and publishing ------------------------------------------------------
    async def _publish(self, inbox: asyncio.Queue, publish: Publish) -> None:
        while True:
            t, message, older_than = await inbox.get()
            if t is None:
                return
            try:
                if message is _FLUSH:
                    records = t.decoder.flush(older_than)
                else:
                    if message is not None and "update" in message:
                        t.updates += 1
                    records = t.decoder.feed(message, self.clock.now())
            except Exception as error:  # a message we cannot decode must not stop every other switch
                self._fail(t, f"cannot decode a message: {error!r}")
                continue
            if records:
                try:
                    await publish(records)
                except Exception as error:  # the bus refused: count it against the switch, keep going
                    self._fail(t, f"publish failed: {error}")

    def _join_threads(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self._targets:
            if t.session is not None:
                t.session.thread.join(max(0.0, deadline - time.monotonic()))
