"""Per-second rates from cumulative interface counters that may reset or wrap.

Records carry the raw counters a device reports (see :mod:`planewatch.schemas.records`);
anything that turns two samples into a rate must survive what real counters do:

* **reset** — a switch reboots or someone clears the counters, so the value goes
  *backwards*. The interval is discarded (rate ``None``): how much was counted before the
  reset is unknowable, and guessing gives the absurd spikes that page people at 3 am.
* **32-bit wrap** — old MIBs and some ASIC counters are 32 bits wide: a value near
  2^32 followed by a small one is a wrap, and the delta is ``2^32 - previous + current``.
  A wrap is only believed when that delta is plausible (below ``max_delta`` or half the
  counter range, the RFC 2578 rule that a counter may wrap at most once between polls);
  otherwise the drop is a reset. The same holds for 64-bit counters at 2^64. (A reset
  just after a counter came close to 2^32 looks exactly like a wrap; the rate is then too
  low for one interval — never negative, never absurd.)
* **duplicates and reordering** — a sample with a timestamp not after the previous one
  has no rate (``dt <= 0``) and does not replace the previous sample.

The result is never negative, and never above ``max_rate`` when one is given (an
implausible rate is reported as ``None`` with kind ``implausible``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Generic, Hashable, TypeVar

WRAP_32 = 1 << 32
WRAP_64 = 1 << 64


class CounterEvent(str, enum.Enum):
    """What happened to a counter between two samples."""

    FIRST = "first"
    """No previous sample: no rate yet."""
    OK = "ok"
    WRAP = "wrap"
    """The counter wrapped at 2^32 (or 2^64); the rate is wrap-adjusted."""
    RESET = "reset"
    """The counter went backwards without a plausible wrap: no rate for this interval."""
    STALE = "stale"
    """The sample is not newer than the previous one (duplicate or out of order)."""
    IMPLAUSIBLE = "implausible"
    """The rate exceeds ``max_rate`` (e.g. faster than the port's line rate)."""


@dataclass(frozen=True, slots=True)
class Rate:
    """A per-second rate (``None`` when there is none to trust) and what the counter did."""

    per_second: float | None
    event: CounterEvent


def _wrap_delta(previous: int, current: int, max_delta: float | None) -> int | None:
    """The wrap-adjusted delta if ``previous -> current`` is a plausible wrap, else ``None``."""
    for width in (WRAP_32, WRAP_64):
        if previous < width and current < width:
            delta = width - previous + current
            limit = width // 2 if max_delta is None else min(width // 2, max_delta)
            return delta if delta <= limit else None
    return None


def counter_rate(
    previous: int | None,
    previous_ts: float | None,
    current: int | None,
    current_ts: float,
    *,
    max_rate: float | None = None,
) -> Rate:
    """Rate of a cumulative counter between two samples (``None`` values mean "unknown").

    ``max_rate`` (per second) bounds both the rate and what counts as a plausible wrap.
    """
    if previous is None or previous_ts is None or current is None:
        return Rate(None, CounterEvent.FIRST)
    dt = current_ts - previous_ts
    if dt <= 0:
        return Rate(None, CounterEvent.STALE)
    if current >= previous:
        delta, event = current - previous, CounterEvent.OK
    else:
        wrapped = _wrap_delta(previous, current, None if max_rate is None else max_rate * dt)
        if wrapped is None:
            return Rate(None, CounterEvent.RESET)
        delta, event = wrapped, CounterEvent.WRAP
    rate = delta / dt
    if max_rate is not None and rate > max_rate:
        return Rate(None, CounterEvent.IMPLAUSIBLE)
    return Rate(rate, event)


K = TypeVar("K", bound=Hashable)


class RateTracker(Generic[K]):
    """Remembers the last sample per key (e.g. ``(device, port, field)``) and rates each new one.

    A stale sample (not newer than the last) is rated ``STALE`` and not remembered, so a
    duplicate cannot shrink the next interval to zero.
    """

    def __init__(self, max_rate: float | None = None) -> None:
        self.max_rate = max_rate
        self._last: dict[K, tuple[float, int]] = {}

    def update(self, key: K, ts: float, value: int | None, *, max_rate: float | None = None) -> Rate:
        """Rate since the previous sample of ``key`` (``value=None`` — unknown — is rated ``FIRST`` and forgotten)."""
        last = self._last.get(key)
        if value is None:
            self._last.pop(key, None)
            return Rate(None, CounterEvent.FIRST)
        if last is None:
            self._last[key] = (ts, value)
            return Rate(None, CounterEvent.FIRST)
        rate = counter_rate(last[1], last[0], value, ts, max_rate=self.max_rate if max_rate is None else max_rate)
        if rate.event is not CounterEvent.STALE:
            self._last[key] = (ts, value)
        return rate

    def forget(self, key: K) -> None:
        self._last.pop(key, None)

    def __len__(self) -> int:
        return len(self._last)
