"""The simulated target's corners of gNMI (read with pygnmi): POLL, target check, Get misses, timestamps."""

from __future__ import annotations

import random

import pytest
from gnmi_lab import simulator, small_fabric
from pygnmi.client import gNMIclient, gNMIException

from planewatch.collectors.gnmi.decode import seconds
from planewatch.schemas.records import PortCounters
from planewatch.simulator.speakers.gnmi import timestamp_ns


@pytest.fixture
def target(speakers):
    inventory = small_fabric()
    name = next(iter(inventory.switches))
    speaker = speakers([name])
    step = [r for r in simulator(inventory).step() if getattr(r, "device", None) == name]
    speaker.update(step)
    client = gNMIclient(target=speaker.endpoints[name], insecure=True, gnmi_timeout=5).connect()
    yield name, speaker, step, client
    client.close()


def test_timestamps_survive_the_nanosecond_round_trip_exactly() -> None:
    """Target (s -> ns) and collector (ns -> s) together give the record's float back, bit for bit."""
    rng = random.Random(3)
    for _ in range(10_000):
        ts = 1_700_000_000 + rng.random() * 1e8
        assert seconds(timestamp_ns(ts)) == ts


def test_get_serves_latest_values_and_refuses_another_target_or_missing_paths(target) -> None:
    name, _, step, client = target
    record = next(r for r in step if isinstance(r, PortCounters))
    got = client.get(path=[f"/interfaces/interface[name={record.port}]/state/counters/in-octets"])
    notification = got["notification"][0]
    assert notification["timestamp"] == timestamp_ns(record.ts)
    assert notification["update"][0]["val"] == record.in_octets
    with pytest.raises(gNMIException, match="NOT_FOUND|no data"):
        client.get(path=["/interfaces/interface[name=Ethernet999]/state"])
    with pytest.raises(gNMIException, match="not target"):
        client.get(path=["/interfaces"], target="some-other-switch")


def test_poll_answers_each_poll_with_the_state_and_a_sync(target) -> None:
    _, speaker, step, client = target
    subscription = client.subscribe_poll({"subscription": [{"path": "/interfaces/interface/state/oper-status"}], "mode": "poll"})
    try:
        first = subscription.get_update(timeout=5)  # the initial state, coalesced by pygnmi up to sync
        assert first["sync_response"] and len(first["update"]["update"]) >= 1
        polled = subscription.get_update(timeout=5)
        assert polled["sync_response"] and polled["update"]["update"]
    finally:
        subscription.close()
