"""Flow samples against counter samples of the same exporter, in the order OVS wrote them.

With sampling=1 every frame that enters the bridge is a flow sample, and OVS writes flow
samples (as frames are sampled) and counter samples (as ports are polled) into one buffer
under one lock, so the datagram stream is chronological. Hence, at each counter sample of
port P, counting the flow samples before it gives what P's counters must say:

* in:  frames whose input is P  -> ifInUcastPkts (OVS puts *all* received packets there) and,
  summing ``frame_length - stripped`` (the FCS), ifInOctets;
* out: frames whose output is P, plus flooded frames ("multiple") that came in elsewhere
  -> ifOutUcastPkts + ifOutDiscards (frames for a port that is down are discards: LOCAL here,
  or a host port before its link came up), and ifOutOctets when nothing was discarded.

Frames in flight when a port is polled make the counters differ by a frame or two while
traffic runs; in a quiet moment the two agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import sflow_walk
from planewatch.collectors.sflow import decode_datagram

MULTIPLE = 0x80000000


@dataclass
class Reconciled:
    datagram: int
    """Datagram sequence number."""
    if_index: int
    counters: object
    """The decoder's GenericInterfaceCounters."""
    in_frames: int
    in_bytes: int
    out_frames: int
    out_bytes: int


def reconcile(payloads: list[bytes], if_indexes: set[int]) -> list[Reconciled]:
    in_frames = dict.fromkeys(if_indexes, 0)
    in_bytes = dict.fromkeys(if_indexes, 0)
    out_frames = dict.fromkeys(if_indexes, 0)
    out_bytes = dict.fromkeys(if_indexes, 0)
    rows: list[Reconciled] = []
    for payload in payloads:
        dgram = decode_datagram(payload)
        flows, counters = iter(dgram.flow_samples), iter(dgram.counter_samples)
        for frame in sflow_walk.walk(payload):  # the samples in wire order
            if frame.kind == "flow":
                f = next(flows)
                length = f.raw_header.frame_length - f.raw_header.stripped
                if f.input_if in in_frames:
                    in_frames[f.input_if] += 1
                    in_bytes[f.input_if] += length
                for p in if_indexes:
                    if f.output_if == p or (f.output_if & MULTIPLE and f.input_if != p):
                        out_frames[p] += 1
                        out_bytes[p] += length
            elif frame.kind == "counters":
                c = next(counters)
                if c.generic is not None and c.source_id_type == 0 and c.source_id_index in if_indexes:
                    p = c.source_id_index
                    rows.append(Reconciled(dgram.header.sequence, p, c.generic, in_frames[p], in_bytes[p],
                                           out_frames[p], out_bytes[p]))
    return rows
