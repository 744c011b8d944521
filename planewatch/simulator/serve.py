"""The simulated fabric as devices on loopback: gNMI targets, sFlow agents and BIRD sockets.

``planewatch simulate`` runs this in its own process, as real switches and servers are
other machines: the collectors reach it only through the protocols. When it is ready it
writes ``fabric.json`` into its work directory with everything a collector needs to find
it (gNMI endpoints per switch, the throwaway CA and client certificate, one BIRD control
socket per server); the file appears atomically, so a reader never sees half of it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import os
from pathlib import Path

from planewatch.clock import ScaledClock, wait_or_stop
from planewatch.simulator.engine import Simulator
from planewatch.simulator.speakers.bird import BirdSpeaker
from planewatch.simulator.speakers.gnmi import GnmiSpeaker, write_throwaway_pki
from planewatch.simulator.speakers.sflow import SflowSpeaker

log = logging.getLogger(__name__)

HANDSHAKE = "fabric.json"


@dataclasses.dataclass(frozen=True)
class FabricEndpoints:
    """Where the simulated devices listen: what ``fabric.json`` holds."""

    gnmi: dict[str, tuple[str, int]]
    bird: dict[str, str]
    ca_file: str
    client_cert: str
    client_key: str
    sflow_target: tuple[str, int]
    pid: int

    def write(self, directory: Path) -> Path:
        path = directory / HANDSHAKE
        partial = path.with_suffix(".partial")
        partial.write_text(json.dumps(dataclasses.asdict(self), indent=1))
        os.replace(partial, path)
        return path

    @classmethod
    def read(cls, directory: Path) -> "FabricEndpoints":
        data = json.loads((directory / HANDSHAKE).read_text())
        data["gnmi"] = {name: (host, int(port)) for name, (host, port) in data["gnmi"].items()}
        data["sflow_target"] = tuple(data["sflow_target"])
        return cls(**data)


async def serve_fabric(simulator: Simulator, clock: ScaledClock, workdir: Path, sflow_target: tuple[str, int],
                       *, duration: float | None, stop: asyncio.Event) -> None:
    """Serve the simulated devices until ``duration`` simulated seconds have passed or ``stop`` is set."""
    workdir.mkdir(parents=True, exist_ok=True)
    pki = write_throwaway_pki(workdir / "pki")
    gnmi = GnmiSpeaker(list(simulator.inventory.switches), clock=clock, tls=pki.server_tls(require_client_cert=True),
                       default_sample_interval=simulator.counter_interval)
    bird = BirdSpeaker(simulator.inventory, workdir / "bird", start_ts=simulator.now)
    sflow = SflowSpeaker(simulator.inventory, sflow_target)
    gnmi.start()
    try:
        await bird.start()
        FabricEndpoints(
            gnmi=dict(gnmi.endpoints), bird={name: str(bird.socket_path(name)) for name in bird.servers},
            ca_file=str(pki.ca_file), client_cert=str(pki.client_cert), client_key=str(pki.client_key),
            sflow_target=sflow_target, pid=os.getpid(),
        ).write(workdir)
        start = simulator.now
        while not stop.is_set():
            if duration is not None and simulator.now - start >= duration:
                break
            await wait_or_stop(stop, clock.real_seconds(simulator.now + simulator.tick - clock.now()))
            records = await asyncio.to_thread(simulator.step)
            gnmi.update(records)
            sflow.send(records)
            await bird.update(records)  # a server whose BIRD reports nothing this tick is down
    finally:
        await bird.stop()
        await asyncio.to_thread(gnmi.stop)
        sflow.close()
        (workdir / HANDSHAKE).unlink(missing_ok=True)

