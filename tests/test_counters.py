"""The shared rate helper: resets and 32-bit wraps never give negative or absurd rates."""

from __future__ import annotations

import random

import pytest

from planewatch.counters import WRAP_32, WRAP_64, CounterEvent, RateTracker, counter_rate


def test_steady_counter_rate() -> None:
    rate = counter_rate(1_000, 100.0, 3_000, 110.0)
    assert rate.per_second == pytest.approx(200.0) and rate.event is CounterEvent.OK


def test_32_bit_wrap_is_wrap_adjusted() -> None:
    rate = counter_rate(WRAP_32 - 500, 100.0, 1_500, 110.0)
    assert rate.event is CounterEvent.WRAP
    assert rate.per_second == pytest.approx(200.0)


def test_64_bit_wrap_is_wrap_adjusted() -> None:
    rate = counter_rate(WRAP_64 - 100, 0.0, 900, 10.0)
    assert rate.event is CounterEvent.WRAP and rate.per_second == pytest.approx(100.0)


@pytest.mark.parametrize("previous,current", [
    (5_000_000, 1_000),          # 64-bit counter cleared
    (WRAP_32 // 4, 10),          # far from 2^32: a reset, not a wrap
    (10 * WRAP_32, 7),           # a big 64-bit value drops to zero: reset
])
def test_counter_going_backwards_is_a_reset_with_no_rate(previous: int, current: int) -> None:
    rate = counter_rate(previous, 100.0, current, 110.0)
    assert rate.event is CounterEvent.RESET and rate.per_second is None


def test_wrap_is_only_believed_when_plausible_for_the_line_rate() -> None:
    # near 2^32 then small, but 1.5 GB in 1 s on a 1 Gb/s port is impossible: a reset
    rate = counter_rate(WRAP_32 - 1_000, 100.0, 1_500_000_000, 101.0, max_rate=125_000_000)
    assert rate.event is CounterEvent.RESET and rate.per_second is None


def test_implausible_rate_and_stale_samples_give_no_rate() -> None:
    assert counter_rate(0, 0.0, 10**12, 1.0, max_rate=3.2e9).event is CounterEvent.IMPLAUSIBLE
    assert counter_rate(10, 5.0, 20, 5.0).event is CounterEvent.STALE
    assert counter_rate(10, 6.0, 20, 5.0).event is CounterEvent.STALE
    assert counter_rate(None, None, 20, 5.0).event is CounterEvent.FIRST


def test_tracker_never_yields_negative_or_absurd_rates_over_resets_and_wraps() -> None:
    """A 32-bit counter at ~100 MB/s that wraps every ~43 s and is reset twice."""
    tracker: RateTracker[str] = RateTracker(max_rate=1.25e9)
    value, ts, events, resets_due = WRAP_32 - 2_000_000_000, 0.0, [], [50, 120]
    rng = random.Random(7)
    for step in range(200):
        ts += 10.0
        previous = value
        value = (value + int(1e9 * (0.9 + 0.2 * rng.random()))) % WRAP_32
        # clear the counters (once past steps 50 and 120) where a reset is not also a plausible wrap
        if resets_due and step >= resets_due[0] and previous < WRAP_32 // 2:
            resets_due.pop(0)
            value = rng.randrange(1000)
        rate = tracker.update("port", ts, value)
        events.append(rate.event)
        if rate.per_second is not None:
            assert 0 <= rate.per_second <= 1.25e9
            assert rate.per_second == pytest.approx(1e8, rel=0.15)
    assert events.count(CounterEvent.RESET) == 2
    assert events.count(CounterEvent.WRAP) >= 40


def test_tracker_ignores_duplicates_without_shrinking_the_interval() -> None:
    tracker: RateTracker[str] = RateTracker()
    tracker.update("k", 10.0, 100)
    assert tracker.update("k", 10.0, 100).event is CounterEvent.STALE
    assert tracker.update("k", 20.0, 1100).per_second == pytest.approx(100.0)
