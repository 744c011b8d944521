"""KafkaPublisher against a real Apache Kafka broker (tests/services/kafka.py).

Every test uses a fabric name of its own and reads back only what was appended after it
took the topics' end offsets, so the tests share the session's broker and topics.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import Counter
from pathlib import Path

import pytest
from kafka.partitioner.default import murmur2

from planewatch.kafka import KafkaPublisher, KafkaSettings
from planewatch.schemas.records import (
    BgpSession,
    FdbChange,
    InterfaceStatus,
    PortCounters,
    Record,
    SflowFlowSample,
    Watermark,
    with_fabric,
)
from planewatch.schemas.topics import INPUT_TOPICS, RECORD_TOPICS, decode_record, encode_record
from services.kafka import SASL_USERS, SESSION_PARTITIONS, KafkaBroker, require_kafka

PARTITIONS = SESSION_PARTITIONS  # the session broker created the topics with it
TOPICS = list(RECORD_TOPICS.values())
PORT_TOPIC = RECORD_TOPICS[PortCounters]
PUBLISHER_LOG = "planewatch.kafka.publisher"


@pytest.fixture(scope="module")
def broker(kafka_broker: KafkaBroker) -> KafkaBroker:
    kafka_broker.create_topics(TOPICS, partitions=PARTITIONS)
    return kafka_broker


def fabric_name(prefix: str, partition: int | None = None) -> str:
    """A fresh fabric name; with ``partition``, one whose key Kafka's default partitioner puts there."""
    while True:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        if partition is None or (murmur2(name.encode()) & 0x7FFFFFFF) % PARTITIONS == partition:
            return name


def mixed_records(n: int, t0: float = 1_790_000_000.0) -> list[Record]:
    """``n`` records of six types (each unique: ``i`` is in every one of them)."""
    out: list[Record] = []
    for i in range(n):
        ts, plane = t0 + i * 0.01, 1 + i % 4
        kind = i % 6
        if kind == 0:
            out.append(PortCounters(ts=ts, plane=plane, device=f"leaf{i % 8}", port=f"Ethernet{i % 48}",
                                    in_octets=i * 1000, out_octets=i * 900, in_unicast_pkts=i, out_unicast_pkts=i,
                                    in_broadcast_pkts=i % 7, in_errors=None))
        elif kind == 1:
            out.append(InterfaceStatus(ts=ts, plane=plane, device=f"leaf{i % 8}", port=f"Ethernet{i % 48}",
                                       oper_status="UP" if i % 5 else "DOWN"))
        elif kind == 2:
            out.append(BgpSession(ts=ts, plane=plane, node=f"server{i}", protocol=f"Node_10_{plane}_0_1",
                                  peer_ip=f"10.{plane}.0.1", state="Established", info=f"#{i}"))
        elif kind == 3:
            out.append(SflowFlowSample(ts=ts, plane=plane, agent=f"10.0.{plane}.1", device=f"leaf{i % 8}",
                                       sequence=i, sampling_rate=1024, input_if=1 + i % 48, output_if=0x3FFFFFFF,
                                       src_mac=f"02:00:00:00:{i // 256 % 256:02x}:{i % 256:02x}",
                                       dst_mac="ff:ff:ff:ff:ff:ff", vlan=None, ethertype=0x0806,
                                       frame_class="broadcast", frame_length=64))
        elif kind == 4:
            out.append(FdbChange(ts=ts, plane=plane, device=f"leaf{i % 8}", mac=f"02:aa:00:00:{i // 256 % 256:02x}:{i % 256:02x}",
                                 vlan=10, port=f"Ethernet{i % 48}", change="moved", previous_port="Ethernet1"))
        else:
            out.append(Watermark(ts=ts, plane=0))
    return out


def numbered(seq: range, t0: float = 1_790_000_000.0) -> list[Record]:
    """One PortCounters per number; ``in_octets`` carries the number (to find losses and duplicates)."""
    return [PortCounters(ts=t0 + n, plane=1, device="leaf1", port="Ethernet1", in_octets=n, out_octets=0,
                         in_unicast_pkts=0, out_unicast_pkts=0) for n in seq]


def numbers_of(messages: list, fabric: str) -> list[int]:  # type: ignore[type-arg]
    out = []
    for m in messages:
        if m.key == fabric.encode() and m.topic == PORT_TOPIC:
            out.append(decode_record(m.value).in_octets)  # type: ignore[attr-defined]
    return out


async def wait_until(predicate, timeout: float, what: str, step: float = 0.05) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for: {what}")
        await asyncio.sleep(step)


def warnings_matching(caplog: pytest.LogCaptureFixture, text: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == PUBLISHER_LOG and r.levelno >= logging.WARNING and text in r.getMessage()]


# -- round trip ---------------------------------------------------------------------


def test_records_land_on_their_topics_keyed_by_fabric_on_one_partition_per_fabric(broker: KafkaBroker):
    fabrics = [fabric_name("rt", partition=1), fabric_name("rt", partition=2)]
    records = {fabric: mixed_records(3000) for fabric in fabrics}
    start = broker.end_offsets(TOPICS)

    async def main() -> list[dict[str, object]]:
        publishers = [KafkaPublisher(KafkaSettings(bootstrap_servers=broker.bootstrap), fabric) for fabric in fabrics]
        for i in range(0, 3000, 100):  # as collectors do: many small batches
            for publisher, fabric in zip(publishers, fabrics):
                await publisher.publish(records[fabric][i:i + 100])
        for publisher in publishers:
            await publisher.close(timeout=30)
        return [p.status() for p in publishers]

    statuses = asyncio.run(main())
    for status in statuses:
        assert status["sent"] == 3000 and status["dropped"] == 0 and status["buffered"] == 0, status
        assert status["state"] == "connected"

    assert broker.partition_counts(TOPICS) == {t: PARTITIONS for t in TOPICS}
    messages = broker.read_since(start)
    assert len(messages) == 2 * 3000
    for fabric in fabrics:
        mine = [m for m in messages if m.key == fabric.encode()]
        assert len(mine) == 3000
        decoded_by_topic: dict[str, list[Record]] = {}
        for m in mine:
            record = decode_record(m.value)
            assert m.topic == RECORD_TOPICS[type(record)]
            decoded_by_topic.setdefault(m.topic, []).append(record)
        expected_by_topic: dict[str, list[Record]] = {}
        for record in with_fabric(records[fabric], fabric):
            expected_by_topic.setdefault(RECORD_TOPICS[type(record)], []).append(record)
        assert decoded_by_topic == expected_by_topic  # equal, stamped with the fabric, in order per topic
        assert len(decoded_by_topic) == 6
        # Every topic has 4 partitions; one fabric's messages sit on one partition number on all of them
        # (names picked so the two fabrics hash to partitions 1 and 2: the key, not chance, decides).
        assert {m.partition for m in mine} == {fabrics.index(fabric) + 1}
    assert set(INPUT_TOPICS) >= set(decoded_by_topic)


# -- a broker outage ------------------------------------------------------------------


def test_a_30_s_broker_outage_loses_and_duplicates_nothing(broker: KafkaBroker, caplog: pytest.LogCaptureFixture):
    """Publishing goes on while the broker is stopped by PID for 30 s; after the restart every record arrives once."""
    caplog.set_level(logging.INFO, logger=PUBLISHER_LOG)
    fabric = fabric_name("outage")
    start = broker.end_offsets(TOPICS)
    seen_during_outage: list[dict[str, object]] = []

    async def main() -> dict[str, object]:
        publisher = KafkaPublisher(KafkaSettings(bootstrap_servers=broker.bootstrap), fabric, unreachable_after=2.0)
        counter = 0
        stop = asyncio.Event()

        async def produce() -> None:
            nonlocal counter
            while not stop.is_set():
                await publisher.publish(numbered(range(counter, counter + 20)))
                counter += 20
                await asyncio.sleep(0.05)

        producing = asyncio.create_task(produce())
        await wait_until(lambda: publisher.status()["sent"] > 100, 20, "records delivered before the outage")
        stopped_at = time.monotonic()
        await asyncio.to_thread(broker.stop)
        try:
            await wait_until(lambda: publisher.status()["state"] == "unreachable", 15, "state unreachable")
            status = publisher.status()
            seen_during_outage.append(status)
            assert status["buffered"] > 0
            sent_at_outage = status["sent"]
            await asyncio.sleep(max(0.0, 30 - (time.monotonic() - stopped_at)))
            seen_during_outage.append(publisher.status())
            assert publisher.status()["sent"] - sent_at_outage < 200, "little may be acknowledged while it is down"
        finally:
            await asyncio.to_thread(broker.start)
        await wait_until(lambda: publisher.status()["state"] == "connected", 30, "reconnected")
        await asyncio.sleep(0.5)  # some publishing after the recovery too
        stop.set()
        await producing
        await publisher.close(timeout=60)
        status = publisher.status()
        status["published"] = counter
        return status

    status = asyncio.run(main())
    assert status["dropped"] == 0 and status["buffered"] == 0, status
    assert status["sent"] == status["published"]
    assert seen_during_outage[-1]["buffered"] > seen_during_outage[0]["buffered"], "it kept buffering while down"
    numbers = numbers_of(broker.read_since(start), fabric)
    duplicates = [n for n, c in Counter(numbers).items() if c > 1]
    assert not duplicates, f"{len(duplicates)} duplicated, e.g. {duplicates[:5]}"
    assert sorted(numbers) == list(range(status["published"])), "every record, once"
    assert len(warnings_matching(caplog, "unreachable")) == 1, "one warning when it went away, not one per record"
    assert len(warnings_matching(caplog, "reachable again")) == 1


def test_a_full_buffer_drops_exactly_the_overflow_oldest_first_and_says_so(broker: KafkaBroker,
                                                                           caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger=PUBLISHER_LOG)
    fabric = fabric_name("bound")
    start = broker.end_offsets(TOPICS)
    bound = 500

    async def main() -> tuple[dict[str, object], dict[str, object]]:
        publisher = KafkaPublisher(KafkaSettings(bootstrap_servers=broker.bootstrap), fabric,
                                   max_buffered_records=bound, unreachable_after=1.0)
        await publisher.publish(numbered(range(0, 1)))
        await wait_until(lambda: publisher.status()["sent"] == 1, 20, "first record delivered")
        await asyncio.to_thread(broker.kill)  # a crash: SIGKILL by PID
        try:
            # A first batch is handed to the producer and waits there, unacknowledged ...
            await publisher.publish(numbered(range(1, 11)))
            await wait_until(lambda: publisher.status()["state"] == "unreachable", 15, "state unreachable")
            # ... then a burst twice the bound arrives while the broker is down.
            await publisher.publish(numbered(range(1000, 2000)))
            during = publisher.status()
        finally:
            await asyncio.to_thread(broker.start)
        await publisher.close(timeout=60)
        return during, publisher.status()

    during, after = asyncio.run(main())
    overflow = 10 + 1000 - bound  # records waiting beyond the bound
    assert during["buffered"] == bound
    assert during["dropped"] == overflow
    assert after["dropped"] == overflow and after["sent"] == 1 + bound and after["buffered"] == 0, after
    numbers = numbers_of(broker.read_since(start), fabric)
    kept_from_burst = bound - 10  # the 10 in flight were not droppable
    assert sorted(numbers) == [0, *range(1, 11), *range(2000 - kept_from_burst, 2000)], "the newest survive"
    drops = warnings_matching(caplog, "oldest records")
    assert drops and f"dropped the {overflow} oldest records" in drops[0]
    assert len(drops) == 1, "rate-limited: one warning for one burst"


def test_many_small_overflows_are_logged_rate_limited_but_all_counted(broker: KafkaBroker,
                                                                       caplog: pytest.LogCaptureFixture):
    """No broker at all here (a port nobody listens on): every publish beyond the bound drops, few lines say so."""
    caplog.set_level(logging.INFO, logger=PUBLISHER_LOG)
    from services.process import free_port

    async def main() -> dict[str, object]:
        publisher = KafkaPublisher(KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}"), fabric_name("rate"),
                                   max_buffered_records=100, drop_log_every=60.0,
                                   producer_options={"bootstrap_timeout_ms": 500})
        for i in range(50):
            await publisher.publish(numbered(range(i * 10, i * 10 + 10)))
        status = publisher.status()
        await publisher.close(timeout=0.5)
        return status

    status = asyncio.run(main())
    assert status["dropped"] == 500 - 100 and status["buffered"] == 100
    drops = warnings_matching(caplog, "oldest records")
    assert 1 <= len(drops) <= 2, drops  # the first drop, then at most one summary at close
    assert any("100 records were NOT delivered" in r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


def test_records_the_client_gives_up_on_go_back_to_the_buffer_and_arrive_later(broker: KafkaBroker):
    """kafka-python fails a batch after delivery_timeout_ms (2 s here); the publisher sends those records again."""
    fabric = fabric_name("expired")
    start = broker.end_offsets(TOPICS)

    async def main() -> dict[str, object]:
        publisher = KafkaPublisher(KafkaSettings(bootstrap_servers=broker.bootstrap), fabric, unreachable_after=1.0,
                                   retry_backoff=0.2,
                                   producer_options={"delivery_timeout_ms": 2000, "request_timeout_ms": 1000})
        await publisher.publish(numbered(range(0, 1)))
        await wait_until(lambda: publisher.status()["sent"] == 1, 20, "first record delivered")
        await asyncio.to_thread(broker.stop)
        try:
            await publisher.publish(numbered(range(1, 51)))
            await wait_until(lambda: "since batch creation" in str(publisher.status()["last_error"]), 20,
                             "the client gave up on the batch (delivery_timeout_ms)")
            assert publisher.status()["buffered"] == 50 and publisher.status()["dropped"] == 0
        finally:
            await asyncio.to_thread(broker.start)
        await publisher.close(timeout=60)
        return publisher.status()

    status = asyncio.run(main())
    assert status["sent"] == 51 and status["dropped"] == 0, status
    numbers = numbers_of(broker.read_since(start), fabric)
    assert sorted(numbers) == list(range(51)), "each record exactly once"


# -- start-up without a broker --------------------------------------------------------


def test_a_publisher_started_before_its_broker_exists_delivers_once_it_appears(tmp_path: Path):
    require_kafka()
    late = KafkaBroker(tmp_path / "late")  # ports chosen, nothing listening yet
    late.format()  # its storage only (saves the start a second)
    fabric = fabric_name("late")
    records = mixed_records(600)

    async def main() -> tuple[dict[str, object], dict[str, object]]:
        publisher = KafkaPublisher(KafkaSettings(bootstrap_servers=late.bootstrap), fabric,
                                   producer_options={"bootstrap_timeout_ms": 1000})
        await publisher.publish(records)
        await wait_until(lambda: publisher.status()["state"] == "unreachable", 15, "state unreachable")
        before = publisher.status()
        await asyncio.to_thread(late.start)
        await asyncio.to_thread(late.create_topics, TOPICS, PARTITIONS)
        await publisher.close(timeout=60)
        return before, publisher.status()

    try:
        before, after = asyncio.run(main())
        assert before["sent"] == 0 and before["buffered"] == 600 and before["last_error"]
        assert after["sent"] == 600 and after["dropped"] == 0, after
        start = {tp: 0 for tp in late.end_offsets(TOPICS)}
        messages = late.read_since(start)
    finally:
        late.stop()
    assert {m.key for m in messages} == {fabric.encode()}
    assert sorted((m.topic, m.value) for m in messages) == sorted(
        (RECORD_TOPICS[type(r)], encode_record(r)) for r in with_fabric(records, fabric))


# -- security settings reach the client ---------------------------------------------------


def test_sasl_settings_from_the_environment_authenticate_and_the_password_is_never_logged(
        broker: KafkaBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)  # every logger, kafka-python's included
    user, password = next(iter(SASL_USERS.items()))
    secret_file = tmp_path / "kafka-password"
    secret_file.write_text(password + "\n")
    environ = {
        "PLANEWATCH_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT",
        "PLANEWATCH_KAFKA_SASL_MECHANISM": "PLAIN",
        "PLANEWATCH_KAFKA_SASL_USERNAME": user,
        "PLANEWATCH_KAFKA_SASL_PASSWORD_FILE": str(secret_file),
    }
    settings = KafkaSettings.from_env(broker.sasl_bootstrap, environ)
    wrong_file = tmp_path / "wrong-password"
    wrong_file.write_text("not-the-password\n")
    wrong = KafkaSettings.from_env(broker.sasl_bootstrap, {**environ, "PLANEWATCH_KAFKA_SASL_PASSWORD_FILE": str(wrong_file)})
    fabric = fabric_name("sasl")
    start = broker.end_offsets(TOPICS)

    async def main() -> tuple[dict[str, object], dict[str, object], str]:
        good = KafkaPublisher(settings, fabric)
        await good.publish(mixed_records(60))
        await good.close(timeout=30)
        bad = KafkaPublisher(wrong, fabric_name("sasl-wrong"), producer_options={"bootstrap_timeout_ms": 1000})
        await bad.publish(mixed_records(6))
        await wait_until(lambda: bad.status()["state"] == "unreachable", 15, "wrong password refused")
        line = bad.status_line()
        bad_status = bad.status()
        await bad.close(timeout=0.5)
        return good.status(), bad_status, line

    good, bad, line = asyncio.run(main())
    assert good["sent"] == 60 and good["dropped"] == 0, good
    assert len([m for m in broker.read_since(start) if m.key == fabric.encode()]) == 60
    assert bad["sent"] == 0 and bad["last_error"]
    everything = "\n".join([*(r.getMessage() for r in caplog.records), repr(settings), str(settings),
                            settings.model_dump_json(), settings.describe(), str(good), str(bad), line])
    assert user in everything  # the log did talk about this user ...
    assert password not in everything  # ... and never showed the password
