"""Fixtures of the gNMI tests: a throwaway PKI and speakers that are always stopped."""

from __future__ import annotations

from typing import Callable, Iterator

import pytest

from planewatch.simulator.speakers.gnmi import GnmiSpeaker, ThrowawayPki, write_throwaway_pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> ThrowawayPki:
    return write_throwaway_pki(tmp_path_factory.mktemp("gnmi-pki"))


@pytest.fixture
def speakers() -> Iterator[Callable[..., GnmiSpeaker]]:
    """``speakers(switches, **options)`` starts a GnmiSpeaker that is stopped after the test."""
    started: list[GnmiSpeaker] = []

    def start(switches, **options) -> GnmiSpeaker:
        speaker = GnmiSpeaker(switches, **options).start()
        started.append(speaker)
        return speaker

    yield start
    for speaker in started:
        speaker.stop(grace=None)
