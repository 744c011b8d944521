"""Options that describe a simulated fabric and its faults, shared by ``up`` and ``simulate``.

``up`` hands them on to the ``simulate`` child process, so both sides build the same
fabric: :func:`simulate_args` is the one place that turns them back into a command line.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
import typer
from rich.console import Console

from planewatch.cli.inputs import load_inventory_or_exit
from planewatch.inventory import Inventory
from planewatch.simulator import SCENARIOS, Fault, build_fabric

err = Console(stderr=True)

EPILOG = "Fault scenarios (--scenario):\n\n" + "\n\n".join(f"  [bold]{name}[/bold]: {text}" for name, text in SCENARIOS.items())

SCENARIO = typer.Option(None, "--scenario", "-s", help="Fault to inject into the simulated fabric (list below).")
AT = typer.Option(60.0, "--at", help="Simulated seconds after start when the fault begins.")
FOR = typer.Option(120.0, "--for", help="How long the fault lasts (simulated seconds).")
PLANE = typer.Option(None, "--plane", help="Plane the fault hits (plane-down, broadcast-storm, mac-leak, ecmp-imbalance, bgp-flap).")
SERVER = typer.Option(None, "--server", help="Server the fault hits (server-down, bgp-flap, mac-leak).")
MAGNITUDE = typer.Option(None, "--magnitude", help="How hard the fault hits (storm pps per port, leaked MACs/s, imbalanced share, seconds between flaps).")
DURATION = typer.Option(None, "--duration", help="Stop after this many simulated seconds (default: run until Ctrl-C).")
PLANES = typer.Option(4, "--planes", min=2, max=16, help="Simulated fabric: number of planes.")
RACKS = typer.Option(8, "--racks", min=1, help="Simulated fabric: racks (one ToR per rack per plane).")
SERVERS_PER_RACK = typer.Option(16, "--servers-per-rack", min=1, help="Simulated fabric: servers per rack.")
SEED = typer.Option(0, "--seed", help="Simulator seed (same seed, same fabric and noise).")


@dataclasses.dataclass(frozen=True)
class FabricOptions:
    inventory_file: Path | None
    planes: int
    racks: int
    servers_per_rack: int
    seed: int
    scenario: str | None
    at: float
    lasting: float
    plane: int | None
    server: str | None
    magnitude: float | None

    def inventory(self) -> Inventory:
        """The fabric to simulate: the inventory file's, or a generated one; exits 2 with every problem."""
        if self.inventory_file is None:
            return build_fabric(planes=self.planes, racks=self.racks, servers_per_rack=self.servers_per_rack, seed=self.seed)
        return load_inventory_or_exit(self.inventory_file)

    def faults(self, inventory: Inventory) -> list[Fault]:
        """The requested fault, checked against the fabric; exits 2 saying what to fix."""
        if not self.scenario:
            return []
        try:
            return [Fault.create(self.scenario, at=self.at, duration=self.lasting, plane=self.plane, server=self.server,
                                 magnitude=self.magnitude, inventory=inventory)]
        except ValueError as error:
            err.print(f"[red]error:[/red] {error}")
            raise typer.Exit(2)

    def simulate_args(self) -> list[str]:
        """These options as ``planewatch simulate`` arguments (the child process builds the same fabric)."""
        args = ["--seed", str(self.seed)]
        if self.inventory_file is not None:
            args += ["--inventory", str(self.inventory_file)]
        else:
            args += ["--planes", str(self.planes), "--racks", str(self.racks), "--servers-per-rack", str(self.servers_per_rack)]
        if self.scenario:
            args += ["--scenario", self.scenario, "--at", repr(self.at), "--for", repr(self.lasting)]
            for flag, value in (("--plane", self.plane), ("--server", self.server), ("--magnitude", self.magnitude)):
                if value is not None:
                    args += [flag, str(value)]
        return args


def parse_speed(value: str) -> float | None:
    """``--speed``: a positive number, or ``max`` (``None``: as fast as possible)."""
    if value == "max":
        return None
    try:
        speed = float(value)
    except ValueError:
        speed = -1.0
    if speed <= 0:
        raise typer.BadParameter("use a positive number (1 = real time, 20 = twenty times faster) or 'max'")
    return speed

