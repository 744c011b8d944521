"""Watch the simulated fabric exactly as a real one: through gNMI, sFlow and BIRD.

This is what ``planewatch up`` runs with no inventory. The simulated devices live in a
child process (``planewatch simulate``), as real switches and servers are other
machines; this side runs the production collectors against them. Nothing reaches the
detectors except through the protocols. Both processes share one
:class:`~planewatch.clock.ScaledClock` (same start, speed and monotonic origin), so
"poll every 5 s" is 5 simulated seconds on both sides and event times line up.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import tempfile
from pathlib import Path
from typing import Any, Sequence

from planewatch.clock import ScaledClock
from planewatch.collectors import Collector, Publish
from planewatch.collectors.bird import BirdCollector, BirdNode
from planewatch.collectors.gnmi import GnmiCollector
from planewatch.collectors.sflow import SflowCollector, SflowCollectorConfig
from planewatch.inventory import Inventory
from planewatch.simulator.serve import HANDSHAKE, FabricEndpoints
from planewatch.sources import heartbeat

log = logging.getLogger(__name__)

BIRD_POLL_INTERVAL = 5.0
"""Simulated seconds between BIRD polls."""


class SimulatorError(RuntimeError):
    """The simulated fabric's process failed; the message carries the end of its output."""


def with_client_tls(inventory: Inventory, endpoints: FabricEndpoints) -> Inventory:
    """The same fabric, its switches' gNMI settings pointing at the simulator's CA and client certificate."""
    document = inventory.document
    switches = [
        switch.model_copy(update={"gnmi": switch.gnmi.model_copy(update={
            "insecure": False, "ca_file": Path(endpoints.ca_file),
            "cert_file": Path(endpoints.client_cert), "key_file": Path(endpoints.client_key),
        })})
        for switch in document.switches
    ]
    return Inventory(document.model_copy(update={"switches": switches}))


class ProtocolFabric:
    """A pipeline producer: the simulated fabric in a child process, and the collectors reading it.

    ``simulate_args`` are the ``planewatch simulate`` options that describe the fabric and
    its faults (they must describe the same fabric as ``inventory``); this class adds the
    clock, the work directory and the sFlow target.
    """

    def __init__(self, inventory: Inventory, clock: ScaledClock, simulate_args: Sequence[str], *,
                 duration: float | None = None, tick: float = 5.0, lateness: float = 10.0, ready_timeout: float = 60.0):
        self.inventory = inventory
        self.duration = duration
        self.clock = clock
        self.simulate_args = list(simulate_args)
        self.tick = tick
        self.lateness = lateness
        self.ready_timeout = ready_timeout
        self.sflow_collector = SflowCollector(inventory, SflowCollectorConfig(host="127.0.0.1", port=0), clock)
        self.gnmi_collector: GnmiCollector | None = None
        self.bird_collector: BirdCollector | None = None

    @property
    def collectors(self) -> list[Collector]:
        found: list[Any] = [self.gnmi_collector, self.sflow_collector, self.bird_collector]
        return [c for c in found if c is not None]

    def status(self) -> list[dict[str, object]]:
        """Collector rows for the status view."""
        return [{"collector": c.name, **row} for c in self.collectors for row in c.status()]

    async def run(self, publish: Publish, stop: asyncio.Event) -> None:
        """Run until ``duration`` simulated seconds (plus a grace period for the collectors) or ``stop``."""
        collectors_stop = asyncio.Event()
        tasks = [asyncio.create_task(self.sflow_collector.run(publish, collectors_stop), name="collector:sflow")]
        child: asyncio.subprocess.Process | None = None
        with tempfile.TemporaryDirectory(prefix="planewatch-sim-") as tmp:
            workdir = Path(tmp)
            log_path = workdir / "simulate.log"
            try:
                await self.sflow_collector.ready.wait()
                with log_path.open("wb") as child_log:
                    child = await asyncio.create_subprocess_exec(
                        sys.executable, "-m", "planewatch", "simulate", *self.simulate_args,
                        "--workdir", str(workdir), "--sflow-target", f"127.0.0.1:{self.sflow_collector.port}",
                        "--start", repr(self.clock.start), "--origin", repr(self.clock.origin),
                        "--speed", repr(self.clock.speed), "--quiet",
                        stdin=asyncio.subprocess.DEVNULL, stdout=child_log, stderr=child_log,
                    )
                endpoints = await self._handshake(child, workdir, log_path)
                self.gnmi_collector = GnmiCollector(with_client_tls(self.inventory, endpoints), clock=self.clock,
                                                    endpoints=endpoints.gnmi)
                self.bird_collector = BirdCollector([BirdNode(name, path) for name, path in endpoints.bird.items()],
                                                    self.inventory, clock=self.clock, interval=BIRD_POLL_INTERVAL)
                tasks += [asyncio.create_task(c.run(publish, collectors_stop), name=f"collector:{c.name}")
                          for c in (self.gnmi_collector, self.bird_collector)]
                beat_stop = asyncio.Event()
                beat = asyncio.create_task(heartbeat(publish, beat_stop, clock=self.clock, every=self.tick, lateness=self.lateness))
                ended = asyncio.create_task(child.wait())
                waits = [ended, asyncio.create_task(stop.wait())]
                if self.duration is not None:
                    # Past the end, one more sampling round lets the collectors deliver the last of it.
                    grace = self.tick + BIRD_POLL_INTERVAL + 2.0
                    waits.append(asyncio.create_task(asyncio.sleep(
                        max(0.0, self.clock.start + self.duration + grace - self.clock.now()) / self.clock.speed)))
                await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                beat_stop.set()
                await beat
                for waiting in waits[1:]:
                    waiting.cancel()
                if ended.done() and child.returncode != 0:
                    raise SimulatorError(_failure(f"the simulated fabric stopped with exit code {child.returncode}", log_path))
            finally:
                # Collectors first, then the devices: a collector never watches its switch vanish at shutdown.
                collectors_stop.set()
                results = await asyncio.gather(*tasks, return_exceptions=True)
                if child is not None and child.returncode is None:
                    child.terminate()
                    try:
                        await asyncio.wait_for(child.wait(), timeout=10)
                    except asyncio.TimeoutError:
                        child.kill()
                        await child.wait()
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def _handshake(self, child: asyncio.subprocess.Process, workdir: Path, log_path: Path) -> FabricEndpoints:
        """Wait for the simulator's ``fabric.json``; fail with its output if it dies or takes too long."""
        deadline = asyncio.get_running_loop().time() + self.ready_timeout
        while not (workdir / HANDSHAKE).exists():
            if child.returncode is not None:
                raise SimulatorError(_failure(f"the simulated fabric exited ({child.returncode}) before it was ready", log_path))
            if asyncio.get_running_loop().time() > deadline:
                child.kill()
                raise SimulatorError(_failure(f"the simulated fabric was not ready within {self.ready_timeout:.0f} s", log_path))
            await asyncio.sleep(0.05)
        return FabricEndpoints.read(workdir)


def _failure(message: str, log_path: Path) -> str:
    try:
        tail = log_path.read_text(errors="replace").strip().splitlines()[-15:]
    except OSError:
        tail = []
    return message + ("; its last output:\n  " + "\n  ".join(tail) if tail else "")
