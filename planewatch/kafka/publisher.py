"""The collectors' ``publish`` onto Kafka: batched, compressed, and never losing records silently.

:class:`KafkaPublisher` implements the collectors' :data:`~planewatch.collectors.Publish`
contract. Each record goes to its type's topic (:data:`~planewatch.schemas.topics.RECORD_TOPICS`),
keyed by the fabric (:func:`~planewatch.schemas.topics.key_for`, so one fabric's records
share a partition number on every topic), its value MessagePack
(:func:`~planewatch.schemas.topics.encode_record`), stamped with the fabric.

How records travel::

    publish() ──> bounded buffer ──> worker thread ──> KafkaProducer (kafka-python, idempotent, acks=all)
      (event loop: encode,            (one chunk in flight     │ batches (linger_ms, batch_size),
       append, drop oldest             at a time)              │ compresses, retries until delivery_timeout
       when full; never waits)     <── failed records go back ─┘ to the FRONT of the buffer, retried later

* ``publish`` never waits for Kafka: it encodes, appends and returns. kafka-python is a
  synchronous client; one dedicated thread drives it.
* **Bounded, not silent.** Records not yet acknowledged by the broker (buffered plus in
  flight) never exceed ``max_buffered_records``. When a new batch would exceed it, the
  *oldest* buffered records are dropped (the newest state matters most to detectors),
  ``dropped`` counts every one of them and a WARNING says so, at most every
  ``drop_log_every`` seconds.
* **Outages.** When nothing is acknowledged for ``unreachable_after`` seconds while records
  wait, or the client cannot bootstrap, ``status()['state']`` turns ``unreachable`` and one
  WARNING is logged; the broker's next answer (a bootstrap, an acknowledgement) turns it
  ``connected`` with another. The state is ``connecting`` only until the first attempt
  to bootstrap (made at once) succeeds or fails. A broker that is not up when the
  publisher starts is just an outage.
* **No loss, no duplicates from retries.** The producer is idempotent (``acks=all``,
  ``enable_idempotence``): its own retries across a broker restart do not duplicate
  records. Records it gives up on (``delivery_timeout_ms``) return to the buffer and are
  sent again. Records the broker can never take (larger than ``max.message.bytes``) are
  dropped, counted and logged as errors rather than retried forever.
* ``close(timeout)`` delivers what it can within ``timeout`` seconds; what is still
  undelivered then is logged (how many, and why) and counted as dropped.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Sequence
from typing import Any

from planewatch.kafka.settings import KafkaSettings
from planewatch.schemas.records import Record, with_fabric
from planewatch.schemas.topics import RECORD_TOPICS, encode_record, key_for

log = logging.getLogger(__name__)

DEFAULT_COMPRESSION = "gzip"
"""kafka-python compresses gzip with the standard library; lz4/zstd/snappy need extra packages (see the report in the tests)."""

_PERMANENT_RECORD_ERRORS = ("MessageSizeTooLargeError", "RecordTooLargeError", "InvalidRecordError",
                            "CorruptRecordError", "CorruptRecordException")


def _describe(error: BaseException) -> str:
    """``KafkaTimeoutError: Unable to bootstrap ...`` (kafka-python's str() often repeats the class name)."""
    name, text = type(error).__name__, str(error)
    return text if text.startswith(name) else f"{name}: {text}" if text else name


class _Chunk:
    """Records handed to the producer together; the worker waits for all of them before the next chunk."""

    __slots__ = ("items", "outstanding", "failed")

    def __init__(self, items: list[tuple[str, bytes]]):
        self.items = items
        self.outstanding = 0
        self.failed: list[int] = []


class KafkaPublisher:
    """``await publisher.publish(records)`` onto Kafka; ``status()`` for the health line; ``await close()`` at exit."""

    name = "kafka"

    def __init__(
        self,
        settings: KafkaSettings,
        fabric: str,
        *,
        max_buffered_records: int = 200_000,
        linger_ms: int = 20,
        batch_size: int = 256 * 1024,
        compression_type: str | None = DEFAULT_COMPRESSION,
        client_id: str = "planewatch-collect",
        unreachable_after: float = 5.0,
        drop_log_every: float = 10.0,
        max_block_ms: int = 10_000,
        retry_backoff: float = 1.0,
        chunk_records: int | None = None,
        producer_options: dict[str, Any] | None = None,
    ):
        if max_buffered_records < 1:
            raise ValueError("max_buffered_records must be at least 1")
        self.settings = settings
        self.fabric = fabric
        self._key = key_for(fabric)
        self.max_buffered_records = max_buffered_records
        self.unreachable_after = unreachable_after
        self.drop_log_every = drop_log_every
        self.retry_backoff = retry_backoff
        self.chunk_records = max(1, min(chunk_records or 10_000, max_buffered_records // 2 or 1))
        self._producer_config: dict[str, Any] = {
            **settings.client_config(),
            "client_id": client_id,
            "acks": "all",
            "enable_idempotence": True,
            "linger_ms": linger_ms,
            "batch_size": batch_size,
            "compression_type": compression_type,
            "max_block_ms": max_block_ms,
            "bootstrap_timeout_ms": 5_000,
            "reconnect_backoff_ms": 100,
            "reconnect_backoff_max_ms": 1_000,
            "request_timeout_ms": 10_000,
            "delivery_timeout_ms": 120_000,
            **(producer_options or {}),
        }
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._buffer: deque[tuple[str, bytes]] = deque()
        self._in_flight = 0
        self._sent = 0
        self._dropped = 0
        self._rejected = 0
        self._state = "connecting"
        self._unreachable_since: float | None = None
        self._last_error: str | None = None
        self._last_update: float | None = None
        self._last_progress = time.monotonic()
        self._drops_unlogged = 0
        self._last_drop_log = 0.0
        self._closing = False
        self._close_deadline = float("inf")
        self._final = False
        self._producer: Any = None
        self._thread = threading.Thread(target=self._run, name=f"planewatch-kafka-publisher-{fabric}", daemon=True)
        self._thread.start()
        log.info("publishing fabric %r to Kafka at %s", fabric, settings.describe())

    # -- the Publish contract -------------------------------------------------------

    async def publish(self, records: Sequence[Record]) -> None:
        """Queue the records for Kafka and return at once (see the module's note on the bound)."""
        if not records:
            return
        items = [(RECORD_TOPICS[type(r)], encode_record(r)) for r in with_fabric(records, self.fabric)]
        self.enqueue(items)

    def enqueue(self, items: Sequence[tuple[str, bytes]]) -> None:
        """Append encoded (topic, value) pairs; drop the oldest buffered ones beyond the bound."""
        dropped = 0
        with self._wake:
            if self._closing:
                raise RuntimeError("KafkaPublisher is closed: publish before close()")
            self._buffer.extend(items)
            overflow = len(self._buffer) + self._in_flight - self.max_buffered_records
            if overflow > 0:
                dropped = min(overflow, len(self._buffer))
                for _ in range(dropped):
                    self._buffer.popleft()
                self._dropped += dropped
                self._drops_unlogged += dropped
            self._wake.notify_all()
        if dropped:
            self._log_drops()

    def _log_drops(self, force: bool = False) -> None:
        now = time.monotonic()
        with self._lock:
            if not self._drops_unlogged or (not force and now - self._last_drop_log < self.drop_log_every
                                            and self._last_drop_log):
                return
            count, self._drops_unlogged = self._drops_unlogged, 0
            self._last_drop_log = now
            total, state, error = self._dropped, self._state, self._last_error
        log.warning(
            "Kafka buffer full (%d records not yet acknowledged by %s, %s%s): dropped the %d oldest records "
            "(%d dropped in all)", self.max_buffered_records, self.settings.target, state,
            f": {error}" if error else "", count, total)

    # -- health ---------------------------------------------------------------------

    def status(self) -> dict[str, object]:
        """``target``, ``state`` (connecting/connected/unreachable), ``sent``, ``buffered``, ``dropped``, ``last_error``, ``last_update``."""
        with self._lock:
            return {
                "target": self.settings.target,
                "state": self._state,
                "sent": self._sent,
                "buffered": len(self._buffer) + self._in_flight,
                "in_flight": self._in_flight,
                "dropped": self._dropped,
                "rejected": self._rejected,
                "last_error": self._last_error,
                "last_update": self._last_update,
                "unreachable_since": self._unreachable_since,
            }

    def status_line(self) -> str:
        """``kafka 127.0.0.1:9092 connected: 12034 sent, 0 buffered`` (+ dropped, error when there are)."""
        s = self.status()
        text = f"kafka {s['target']} {s['state']}: {s['sent']} sent, {s['buffered']} buffered"
        if s["dropped"]:
            text += f", {s['dropped']} dropped"
        if s["state"] != "connected" and s["last_error"]:
            text += f" ({str(s['last_error'])[:160]})"
        return text

    def _set_unreachable(self, reason: str) -> None:
        with self._lock:
            self._last_error = reason
            if self._state == "unreachable" or self._final:
                return
            self._state = "unreachable"
            self._unreachable_since = time.time()
            pending = len(self._buffer) + self._in_flight
        log.warning("Kafka at %s unreachable (%s): buffering records until it is back (%d waiting, at most %d kept; "
                    "the oldest are dropped beyond that)", self.settings.target, reason, pending,
                    self.max_buffered_records)

    def _mark_progress(self) -> None:
        """Called with the lock held after an acknowledgement."""
        self._last_update = time.time()
        self._mark_connected()

    def _mark_connected(self) -> None:
        """Called with the lock held when the broker answered (bootstrap, acknowledgement)."""
        self._last_progress = time.monotonic()
        if self._state != "connected":
            previous, since = self._state, self._unreachable_since
            self._state = "connected"
            self._unreachable_since = None
            if previous == "unreachable":
                waited = time.time() - since if since else 0.0
                pending = len(self._buffer) + self._in_flight
                # Logging under the lock is fine: handlers never call back into the publisher.
                log.warning("Kafka at %s reachable again after %.0f s: delivering %d buffered records",
                            self.settings.target, waited, pending)
            else:
                log.info("connected to Kafka at %s", self.settings.target)

    # -- delivery callbacks (kafka-python's sender thread) --------------------------

    def _on_ack(self, chunk: _Chunk, _metadata: Any) -> None:
        with self._wake:
            self._in_flight -= 1
            chunk.outstanding -= 1
            if not self._final:
                self._sent += 1
                self._mark_progress()
            self._wake.notify_all()

    def _on_error(self, chunk: _Chunk, index: int, error: BaseException) -> None:
        permanent = type(error).__name__ in _PERMANENT_RECORD_ERRORS
        with self._wake:
            self._in_flight -= 1
            chunk.outstanding -= 1
            if self._final:
                pass  # counted as undelivered by close()
            elif permanent:
                self._dropped += 1
                self._rejected += 1
            else:
                chunk.failed.append(index)
                self._last_error = _describe(error)
            self._wake.notify_all()
        if permanent and not self._final:
            topic, value = chunk.items[index]
            log.error("Kafka rejected a %d-byte record for %s for good (%s): dropped it", len(value), topic, error)

    # -- the worker thread ----------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # noqa: BLE001 - a bug here must be loud, not a silent stop
            log.exception("Kafka publisher thread failed; records are no longer delivered")
            with self._lock:
                self._state = "unreachable"
                self._last_error = "publisher thread failed (see log)"
        finally:
            self._finish()

    def _pause(self, seconds: float) -> None:
        """Sleep, but wake up for close()."""
        with self._wake:
            self._wake.wait_for(lambda: self._closing, timeout=seconds)

    def _past_deadline(self) -> bool:
        return self._closing and time.monotonic() >= self._close_deadline

    def _loop(self) -> None:
        while True:
            if self._producer is None and not self._closing:
                # Connect at once, records or not, so the status tells early whether Kafka is there.
                self._producer = self._connect()
                if self._producer is None:
                    self._pause(self.retry_backoff)
                    continue
            with self._wake:
                self._wake.wait_for(lambda: self._buffer or self._closing, timeout=1.0)
                if self._closing and (not self._buffer or time.monotonic() >= self._close_deadline):
                    return
                if not self._buffer:
                    continue
            if self._producer is None:  # closing with records left: one more try within the deadline
                self._producer = self._connect()
                if self._producer is None:
                    continue
            chunk = self._take_chunk()
            refused = self._send_chunk(chunk)
            failed = self._await_chunk(chunk)
            if self._past_deadline():
                return
            if refused or failed:
                self._pause(self.retry_backoff)

    def _connect(self) -> Any:
        from kafka import KafkaProducer

        try:
            producer = KafkaProducer(**self._producer_config)
        except Exception as error:  # noqa: BLE001 - NoBrokersAvailable, KafkaTimeoutError, auth errors...
            hint = ""
            if self.settings.security_protocol != "PLAINTEXT":
                hint = (f"; if the broker is up, check the {self.settings.security_protocol} settings "
                        "(PLANEWATCH_KAFKA_*) against the broker's log")
            self._set_unreachable(f"cannot bootstrap: {_describe(error)}{hint}")
            return None
        with self._lock:
            self._mark_connected()
        return producer

    def _take_chunk(self) -> _Chunk:
        with self._lock:
            n = min(self.chunk_records, len(self._buffer))
            items = [self._buffer.popleft() for _ in range(n)]
            self._in_flight += n
            self._last_progress = max(self._last_progress, time.monotonic())
        return _Chunk(items)

    def _requeue(self, items: list[tuple[str, bytes]]) -> None:
        """Put undelivered records back at the front of the buffer, in their order (the lock is held)."""
        self._buffer.extendleft(reversed(items))

    def _send_chunk(self, chunk: _Chunk) -> bool:
        """Hand the chunk to the producer; records it refuses synchronously go back to the buffer. True if any did."""
        from kafka.errors import KafkaTimeoutError

        producer = self._producer
        for index, (topic, value) in enumerate(chunk.items):
            try:
                future = producer.send(topic, value=value, key=self._key)
            except KafkaTimeoutError as error:
                # No metadata for the topic within max_block_ms: the broker is down, or the topic does not exist.
                self._give_back(chunk, index)
                self._set_unreachable(f"no metadata for {topic} ({error}): broker down, or topic missing "
                                      "(topics are created by 'planewatch init'; brokers do not auto-create them)")
                return True
            except Exception as error:  # noqa: BLE001
                if type(error).__name__ in _PERMANENT_RECORD_ERRORS:
                    with self._lock:
                        self._in_flight -= 1
                        self._dropped += 1
                        self._rejected += 1
                    log.error("Kafka cannot take a %d-byte record for %s (%s): dropped it", len(value), topic, error)
                    continue
                # The producer is unusable (closed, fatal idempotence state...): rebuild it.
                self._give_back(chunk, index)
                with self._lock:
                    self._last_error = _describe(error)
                log.warning("Kafka producer failed (%s); reconnecting", _describe(error))
                self._producer = None
                self._close_producer(producer, 0.0)
                return True
            with self._lock:
                chunk.outstanding += 1
            future.add_callback(self._on_ack, chunk)
            future.add_errback(self._on_error, chunk, index)
        return False

    def _give_back(self, chunk: _Chunk, index: int) -> None:
        """Records chunk.items[index:] never reached the producer: back to the buffer."""
        rest = chunk.items[index:]
        chunk.items = chunk.items[:index]
        with self._wake:
            self._in_flight -= len(rest)
            self._requeue(rest)
            self._wake.notify_all()

    def _await_chunk(self, chunk: _Chunk) -> bool:
        """Wait until every record of the chunk is acknowledged or failed (failed ones go back); True if any failed."""
        while True:
            with self._wake:
                if chunk.outstanding <= 0:
                    failed = bool(chunk.failed)
                    if failed:
                        self._requeue([chunk.items[i] for i in sorted(chunk.failed)])
                        chunk.failed = []
                    return failed
                self._wake.wait(timeout=0.25)
                stalled = time.monotonic() - self._last_progress
                state = self._state
            if self._past_deadline():
                return False
            if stalled > self.unreachable_after and state != "unreachable":
                self._set_unreachable(f"no acknowledgement for {stalled:.0f} s")

    # -- shutting down --------------------------------------------------------------

    @staticmethod
    def _close_producer(producer: Any, timeout: float) -> None:
        """Close a kafka-python producer within ``timeout``; force it if records are still pending.

        kafka-python's ``close(timeout)`` flushes first and raises KafkaTimeoutError when
        that flush does not finish in time, leaving its sender thread running: force the
        sender closed then (its pending futures fail), and close again.
        """
        from kafka.errors import KafkaTimeoutError

        try:
            producer.close(timeout=timeout)
            return
        except KafkaTimeoutError:
            pass
        except Exception as error:  # noqa: BLE001
            log.debug("closing the Kafka producer: %r", error)
        sender = getattr(producer, "_sender", None)
        if sender is not None:
            sender.force_close()
            sender.join(5.0)
        try:
            producer.close(timeout=0)
        except Exception as error:  # noqa: BLE001
            log.debug("force-closing the Kafka producer: %r", error)

    def _finish(self) -> None:
        """Worker exit (close() or a crash): stop the producer; count and report what was not delivered."""
        with self._lock:
            self._final = True
        producer, self._producer = self._producer, None
        if producer is not None:
            self._close_producer(producer, 0.0)
        with self._lock:
            undelivered = len(self._buffer) + max(self._in_flight, 0)
            self._buffer.clear()
            self._in_flight = 0
            self._dropped += undelivered
            reason = self._last_error
            sent, dropped_total = self._sent, self._dropped
        self._log_drops(force=True)
        if undelivered:
            log.error("%d records were NOT delivered to Kafka at %s before exit (%s); counted as dropped "
                      "(%d dropped in all, %d delivered)", undelivered, self.settings.target,
                      reason or "broker did not acknowledge in time", dropped_total, sent)
        else:
            log.info("Kafka publisher closed: %d records delivered, %d dropped", sent, dropped_total)

    async def close(self, timeout: float = 10.0) -> None:
        """Deliver what is buffered within ``timeout`` seconds, then stop; the rest is logged and counted as dropped."""
        with self._wake:
            if not self._closing:
                self._closing = True
                self._close_deadline = time.monotonic() + max(0.0, timeout)
            self._wake.notify_all()
        await asyncio.to_thread(self._thread.join, timeout + 15.0)
        if self._thread.is_alive():
            log.error("Kafka publisher thread did not stop within %.0f s", timeout + 15.0)

    async def __aenter__(self) -> "KafkaPublisher":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
