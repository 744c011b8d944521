"""Distributed mode: the same detectors under Faust, fed from Kafka, writing to ClickHouse server.

* :mod:`.fabric` — one fabric's detectors and the input offsets their state reflects (no Faust).
* :mod:`.checkpoint` — that state in a Faust table, chunked under Kafka's message limit.
* :mod:`.app` — the Faust app and its agent (``planewatch stream``).
"""
