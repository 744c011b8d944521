"""How much each server sends and receives, before ECMP splits it over the planes.

Each server gets a base rate (log-normal, median ~30 MB/s, so a few servers are much
busier than the rest), a receive/transmit ratio, an average packet size and a tiny ARP
broadcast rate. A daily curve (peak 15:00 UTC, ±30 %) and per-sample noise (±10 %)
make the counters look like a fabric rather than a test pattern, while keeping every
plane's long-run share at exactly its ECMP weight.
"""

from __future__ import annotations

import dataclasses
import math
import random

DAY = 86_400.0
DAILY_AMPLITUDE = 0.3
PEAK_HOUR_UTC = 15.0
MEDIAN_RATE = 30e6
"""Median bytes/s a server sends (all planes together)."""
ARP_PPS = (0.05, 0.2)
"""Broadcast ARPs per second per server per plane (steady state: almost nothing)."""
MULTICAST_PPS = 0.02
"""IPv6 ND / RA chatter per server port."""


def daily_factor(ts: float) -> float:
    """Diurnal load multiplier at event time ``ts``: 1.3 at 15:00 UTC, 0.7 at 03:00 UTC."""
    return 1.0 + DAILY_AMPLITUDE * math.cos(2.0 * math.pi * ((ts % DAY) / DAY - PEAK_HOUR_UTC / 24.0))


@dataclasses.dataclass
class TrafficModel:
    """Per-server rate parameters, by server index."""

    tx: list[float]
    """Bytes/s the server sends (over all planes)."""
    rx: list[float]
    """Bytes/s the server receives."""
    packet_size: list[float]
    arp_pps: list[float]

    @classmethod
    def generate(cls, servers: int, rng: random.Random) -> TrafficModel:
        tx = [rng.lognormvariate(math.log(MEDIAN_RATE), 0.6) for _ in range(servers)]
        return cls(
            tx=tx,
            rx=[rate * rng.uniform(0.8, 1.2) for rate in tx],
            packet_size=[rng.uniform(600.0, 1200.0) for _ in range(servers)],
            arp_pps=[rng.uniform(*ARP_PPS) for _ in range(servers)],
        )
