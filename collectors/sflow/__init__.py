"""sFlow v5: decode datagrams, collect them over UDP into records, encode them for the simulator.

* :mod:`.decode` — bytes -> typed samples plus counted problems; never raises.
* :mod:`.encode` — typed values -> bytes (simulator and tests).
* :mod:`.collector` — the UDP collector: allow-list, batching, records; ``estimated_total`` scales samples.
* :mod:`.accounting` — per-agent lost datagrams/samples and restarts from sequence numbers and uptime.
* :mod:`.pcap` — minimal pcap reading/writing (fixtures, the tshark oracle, the benchmark).
"""

from planewatch.collectors.sflow.collector import SflowCollector, SflowCollectorConfig, estimated_total
from planewatch.collectors.sflow.decode import Datagram, DecodeProblem, decode_datagram

__all__ = ["Datagram", "DecodeProblem", "SflowCollector", "SflowCollectorConfig", "decode_datagram", "estimated_total"]
