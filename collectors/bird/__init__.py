"""BIRD collector: BGP sessions and route churn from calico-node's BIRD (1.6) or BIRD 2.x control socket."""

from planewatch.collectors.bird.client import (
    BirdClient,
    BirdCommandError,
    BirdConnectionError,
    BirdError,
    BirdProtocolError,
    BirdTimeout,
)
from planewatch.collectors.bird.collector import BirdCollector, BirdNode
from planewatch.collectors.bird.parse import ProtocolInfo, parse_protocols, parse_since, parse_status
from planewatch.collectors.bird.sessions import peer_ip_from_name

__all__ = [
    "BirdClient",
    "BirdCollector",
    "BirdCommandError",
    "BirdConnectionError",
    "BirdError",
    "BirdNode",
    "BirdProtocolError",
    "BirdTimeout",
    "ProtocolInfo",
    "parse_protocols",
    "parse_since",
    "parse_status",
    "peer_ip_from_name",
]
