"""The collectors a real fabric needs, built from its inventory and a few command-line choices.

gNMI reaches every inventory switch (TLS settings and credentials from the inventory);
sFlow listens where told and accepts only the inventory's agents; BIRD is polled on the
control sockets named on the command line — beside calico-node that is usually one,
``/var/run/calico/bird.ctl``, for the node the collector runs on.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from pathlib import Path

from planewatch.clock import Clock
from planewatch.collectors import Collector
from planewatch.collectors.bird import BirdCollector, BirdNode
from planewatch.collectors.gnmi import GnmiCollector
from planewatch.collectors.sflow import SflowCollector, SflowCollectorConfig
from planewatch.inventory import Inventory

CALICO_BIRD_SOCKET = Path("/var/run/calico/bird.ctl")


class FleetError(ValueError):
    """The collectors cannot be set up as asked; the message says what to change."""


@dataclasses.dataclass(frozen=True)
class FleetOptions:
    gnmi: bool = True
    sflow_listen: tuple[str, int] | None = ("0.0.0.0", 6343)
    bird_sockets: tuple[BirdNode, ...] = ()
    bird_interval: float = 5.0


def parse_bird_socket(text: str) -> BirdNode:
    """``NODE=PATH`` or just ``PATH`` (the node is then this host's name)."""
    node, sep, path = text.partition("=")
    if not sep:
        node, path = socket.gethostname(), text
    if not node or not path:
        raise FleetError(f"{text!r}: use NODE=SOCKET_PATH or SOCKET_PATH")
    return BirdNode(node, path)


def default_bird_sockets() -> tuple[BirdNode, ...]:
    """calico-node's BIRD socket on this host, if there is one."""
    if CALICO_BIRD_SOCKET.exists():
        return (BirdNode(socket.gethostname(), str(CALICO_BIRD_SOCKET)),)
    return ()


def build_collectors(inventory: Inventory, options: FleetOptions, clock: Clock) -> list[Collector]:
    """The collectors to run; raises :class:`FleetError` when nothing would be collected."""
    collectors: list[Collector] = []
    if options.gnmi and inventory.switches:
        collectors.append(GnmiCollector(inventory, clock=clock))
    if options.sflow_listen is not None:
        host, port = options.sflow_listen
        collectors.append(SflowCollector(inventory, SflowCollectorConfig(host=host, port=port), clock))
    if options.bird_sockets:
        missing = [n.socket for n in options.bird_sockets if not os.path.exists(n.socket)]
        if len(missing) == len(options.bird_sockets):
            raise FleetError(f"no BIRD control socket at {', '.join(map(str, missing))}; is BIRD (calico-node) running here?")
        collectors.append(BirdCollector(list(options.bird_sockets), inventory, clock=clock, interval=options.bird_interval))
    if not collectors:
        raise FleetError("nothing to collect: the inventory lists no switches, sFlow is off and no BIRD socket was given")
    return collectors
