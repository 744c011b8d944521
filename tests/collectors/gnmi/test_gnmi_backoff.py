"""Reconnects back off exponentially with jitter, so a fabric-wide outage does not stampede."""

import random

from planewatch.collectors.gnmi.backoff import Backoff


def test_backoff_grows_exponentially_with_jitter_and_caps() -> None:
    backoff = Backoff(initial=1.0, maximum=8.0, multiplier=2.0, jitter=0.5, rng=random.Random(1))
    delays = [backoff.next() for _ in range(6)]
    for delay, base in zip(delays, [1, 2, 4, 8, 8, 8]):
        assert base * 0.5 <= delay <= base
    assert len(set(delays)) == len(delays), "jitter spreads retries"
    backoff.reset()
    assert backoff.next() <= 1.0
