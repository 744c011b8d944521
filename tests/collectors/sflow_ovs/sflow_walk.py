"""An independent, framing-only walk of sFlow v5 datagrams: which sample and record formats are where.

Used to check that the decoder skips exactly the records it does not read (OVS's 1004,
1005, 2203, 2207 and the extended-switch 1001) and nothing else. It reads formats and
lengths only — no fields — so it does not repeat the decoder's logic.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

FLOW_FORMATS = (1, 3)
COUNTER_FORMATS = (2, 4)


@dataclass
class SampleFrame:
    kind: str
    """``flow`` or ``counters`` (``other`` for formats we do not read)."""
    format: int
    records: list[int]
    """Record formats (enterprise << 12 | format), in order."""
    spans: list[tuple[int, int]]
    """(start, length) of each record's body in the datagram, in the same order."""


def walk(payload: bytes) -> list[SampleFrame]:
    version, address_type = struct.unpack_from(">II", payload, 0)
    assert version == 5, version
    offset = 8 + (4 if address_type == 1 else 16)
    _, _, _, n_samples = struct.unpack_from(">IIII", payload, offset)
    offset += 16
    out = []
    for _ in range(n_samples):
        fmt, length = struct.unpack_from(">II", payload, offset)
        body, end = offset + 8, offset + 8 + length
        kind = "flow" if fmt in FLOW_FORMATS else "counters" if fmt in COUNTER_FORMATS else "other"
        records: list[int] = []
        spans: list[tuple[int, int]] = []
        if kind != "other":
            # Standard samples: flow 7 words + count, counters 2 words + count; expanded: 10 / 3.
            skip = {1: 28, 3: 40, 2: 8, 4: 12}[fmt]
            (n_records,) = struct.unpack_from(">I", payload, body + skip)
            r = body + skip + 4
            for _ in range(n_records):
                rfmt, rlen = struct.unpack_from(">II", payload, r)
                records.append(rfmt)
                spans.append((r + 8, rlen))
                r += 8 + ((rlen + 3) & ~3)
            assert r == end, f"records of sample at {offset} end at {r}, sample at {end}"
        out.append(SampleFrame(kind, fmt, records, spans))
        offset = end + ((length + 3) & ~3) - length
    assert offset == len(payload), f"datagram has {len(payload) - offset} trailing bytes"
    return out
