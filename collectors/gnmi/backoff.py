"""Jittered exponential backoff between reconnects.

Jitter matters on a fabric: when a management network blips, a thousand switches fail at
once, and without jitter every collector thread would hammer them again in lock step.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    """Delays ``initial * multiplier**n`` capped at ``maximum``, each scaled by a random factor in ``[1 - jitter, 1]``."""

    initial: float = 1.0
    maximum: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.5
    rng: random.Random = field(default_factory=random.Random)
    attempts: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.initial <= self.maximum:
            raise ValueError("backoff needs 0 < initial <= maximum")
        if self.multiplier < 1 or not 0 <= self.jitter <= 1:
            raise ValueError("backoff needs multiplier >= 1 and 0 <= jitter <= 1")

    def next(self) -> float:
        """The delay before the next attempt (and count this attempt)."""
        base = min(self.maximum, self.initial * self.multiplier ** min(self.attempts, 64))
        self.attempts += 1
        return base * (1.0 - self.jitter * self.rng.random())

    def reset(self) -> None:
        """A healthy session resets the ladder: the next failure starts again at ``initial``."""
        self.attempts = 0
