"""Times people type on the command line become the right UTC instants, or a message saying what to type."""

import pytest
import typer

from planewatch.cli.output import format_time, parse_time

NOW = 1_800_000_000.0


@pytest.mark.parametrize(
    "text, expected",
    [
        ("now", NOW),
        ("-15m", NOW - 900),
        ("-2h", NOW - 7200),
        ("-1d", NOW - 86400),
        ("1700000000", 1_700_000_000.0),
        ("2026-11-26T03:12:00Z", 1795662720.0),
        ("2026-11-26 03:12", 1795662720.0),  # no zone: UTC
        ("2026-11-26T04:12:00+01:00", 1795662720.0),
    ],
)
def test_parse_time_accepts_what_an_operator_types(text, expected):
    assert parse_time(text, now=NOW) == expected


def test_parse_time_rejects_garbage_with_a_hint():
    with pytest.raises(typer.BadParameter, match="ISO 8601"):
        parse_time("yesterday-ish", now=NOW)


def test_format_time_is_utc():
    assert format_time(1795662720.0) == "2026-11-26 03:12:00"
