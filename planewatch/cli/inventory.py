"""``planewatch inventory …``: check the fabric inventory before anything trusts it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from planewatch.inventory import Inventory, InventoryError, InventoryFileError, load_inventory

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_UNREADABLE = 2

inventory_app = typer.Typer(
    help="Inspect and validate the fabric inventory (planes, switches, route reflectors, servers).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)


@inventory_app.callback()
def _inventory() -> None:
    """Inspect and validate the fabric inventory (planes, switches, route reflectors, servers)."""


CHECK_HELP = """\
Validate an inventory YAML file and report [bold]every[/bold] problem at once.

The inventory describes the fabric planewatch watches: N independent Ethernet planes
(each its own subnet / L2 domain), the switches and BGP route reflectors of each plane,
and the servers, which have one address (and optionally one MAC) on [italic]every[/italic] plane.

[bold]Format[/bold] (planes are referred to by id or name everywhere):

  fabric: pod1
  planes:
    - {id: 1, name: blue, subnets: [10.1.0.0/16], vlan: 101}
  switches:
    - {name: tor-r1-blue, plane: blue, role: tor, rack: r1, address: 192.0.2.11,
       sflow_agent: 192.0.2.11, uplinks: [Ethernet49],
       gnmi: {port: 57400, ca_file: /etc/planewatch/ca.pem, password_env: GNMI_PASSWORD}}
  route_reflectors:
    - {name: rr1-blue, plane: blue, address: 10.1.255.1}
  routers: []                       # border routers, one entry per plane
  servers:
    - name: r1-s01
      rack: r1
      addresses: {blue: 10.1.1.1}
      macs: {blue: "52:54:00:01:01:01"}   # quote MACs!
  expected_servers: 20000           # instead of (or as well as) listing servers

A complete, commented example: [cyan]deploy/examples/inventory.yaml[/cyan].

[bold]Output[/bold]: one problem per line as [cyan]<field path>: <message> (line N)[/cyan], then a count;
with [cyan]--json[/cyan], one JSON object ({"file", "ok", "problems": [{"path", "message", "line"}], "summary"}).

[bold]Exit status[/bold]: 0 valid; 1 the inventory has problems; 2 the file cannot be read or is not YAML.
"""


@inventory_app.command("check", help=CHECK_HELP)
def check(
    file: Annotated[Path, typer.Argument(help="Inventory YAML file.", metavar="FILE", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON (for tooling).")] = False,
) -> None:
    try:
        inventory = load_inventory(file)
    except InventoryFileError as error:
        _report_unreadable(error, as_json)
        raise typer.Exit(EXIT_UNREADABLE) from None
    except InventoryError as error:
        _report_problems(error, as_json)
        raise typer.Exit(EXIT_PROBLEMS) from None
    if as_json:
        typer.echo(json.dumps({"file": str(file), "ok": True, "problems": [], "summary": summarise(inventory)}, indent=2))
    else:
        _print_summary(file, inventory)


def _report_unreadable(error: InventoryFileError, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(_problems_json(error), indent=2))
        return
    problem = error.problems[0]
    where = "" if problem.path == "(file)" else f" at {problem.path}"
    typer.echo(f"error: {error.source}{where}: {problem.message}", err=True)


def _report_problems(error: InventoryError, as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps(_problems_json(error), indent=2))
        return
    for problem in error.problems:
        typer.echo(str(problem))
    count = len(error.problems)
    typer.echo(f"{count} problem{'s' if count != 1 else ''} in {error.source}")


def _problems_json(error: InventoryError) -> dict[str, Any]:
    return {"file": error.source, "ok": False, "problems": [p.as_dict() for p in error.problems]}


def summarise(inventory: Inventory) -> dict[str, Any]:
    """What ``check`` shows on success, as plain data."""
    planes = []
    for plane_id in inventory.plane_ids:
        plane = inventory.planes[plane_id]
        switches = inventory.switches_in(plane_id)
        rrs = [rr for rr in inventory.route_reflectors if inventory.plane_id(rr.plane) == plane_id]
        routers = [r for r in inventory.routers if inventory.plane_id(r.plane) == plane_id]
        planes.append({
            "id": plane_id,
            "name": plane.name,
            "subnets": [str(net) for net in plane.subnets],
            "vlan": plane.vlan,
            "tor": sum(1 for s in switches if s.role == "tor"),
            "spine": sum(1 for s in switches if s.role == "spine"),
            "route_reflectors": len(rrs),
            "routers": len(routers),
            "known_macs": len(inventory.expected_macs(plane_id)),
            "expected_macs": inventory.server_count + len(rrs) + len(routers),
        })
    return {
        "fabric": inventory.fabric,
        "servers": inventory.server_count,
        "servers_listed": len(inventory.servers),
        "planes": planes,
    }


def _print_summary(file: Path, inventory: Inventory) -> None:
    summary = summarise(inventory)
    console = Console(highlight=False)
    listed = summary["servers_listed"]
    servers = summary["servers"]
    servers_text = f"{servers} servers" + (f" ({listed} listed)" if listed != servers else "")
    console.print(Text.assemble(
        ("✓ ", "green"), f"{file}: fabric ", (str(summary["fabric"]), "bold"),
        f", {len(summary['planes'])} planes, {servers_text}",
    ))
    table = Table(show_edge=False, pad_edge=False)
    for column, justify in (
        ("plane", "left"), ("subnets", "left"), ("vlan", "right"), ("tor", "right"), ("spine", "right"),
        ("RRs", "right"), ("routers", "right"), ("MACs known/expected", "right"),
    ):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for plane in summary["planes"]:
        table.add_row(
            Text(f"{plane['id']} {plane['name']}"),
            ", ".join(plane["subnets"]),
            str(plane["vlan"]) if plane["vlan"] is not None else "-",
            str(plane["tor"]),
            str(plane["spine"]),
            str(plane["route_reflectors"]),
            str(plane["routers"]),
            f"{plane['known_macs']}/{plane['expected_macs']}",
        )
    console.print(table)
