"""``planewatch query asof|diff|top`` as an engineer runs them after an incident: real processes, a real store.

One store is recorded per module by ``planewatch up`` itself (plane 2 of 4 fails 60 s in
for 120 s; 2 racks x 4 servers, so 8 servers and 16 BGP sessions per plane).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from planewatch.cli.query import parse_moment

PLANEWATCH = [sys.executable, "-m", "planewatch"]
SESSIONS_PER_PLANE = 8 * 2
SERVER_PORTS_PER_PLANE = 8


def planewatch(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PLANEWATCH, *args], capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, float]:
    """(store directory, recording start in epoch seconds) of a plane-2 outage at +60 s for 120 s."""
    data = str(tmp_path_factory.mktemp("query-verbs") / "store")
    run = planewatch("up", "--speed", "max", "--scenario", "plane-down", "--plane", "2", "--at", "60", "--for", "120",
                     "--duration", "300", "--racks", "2", "--servers-per-rack", "4", "--data", data, timeout=300)
    assert run.returncode == 0, run.stderr
    first = planewatch("query", "sql", "--data", data, "--format", "json",
                       "SELECT toUnixTimestamp64Milli(min(ts)) AS ms FROM planewatch.planes")
    assert first.returncode == 0, first.stderr
    return data, json.loads(first.stdout)[0]["ms"] / 1000


def ask(data: str, *args: str) -> subprocess.CompletedProcess[str]:
    return planewatch("query", *args, "--data", data)


def rows_of_csv(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_asof_as_json_shows_plane_2_down_mid_outage(recorded: tuple[str, float]):
    data, start = recorded
    result = ask(data, "asof", "--at", str(start + 120), "--format", "json")
    assert result.returncode == 0, result.stderr
    planes = {row["plane"]: row for row in json.loads(result.stdout)}
    assert sorted(planes) == [1, 2, 3, 4]
    assert (planes[2]["sessions_up"], planes[2]["sessions"]) == (0, SESSIONS_PER_PLANE)
    assert planes[2]["server_ports_down"] == SERVER_PORTS_PER_PLANE
    assert planes[2]["share"] < 0.01 and "plane_failure" in planes[2]["firing"]
    for plane in (1, 3, 4):
        assert planes[plane]["sessions_up"] == SESSIONS_PER_PLANE
        assert planes[plane]["share"] == pytest.approx(1 / 3, abs=0.05)

    before = json.loads(ask(data, "asof", "--at", str(start + 30), "--plane", "2", "--format", "json").stdout)
    assert len(before) == 1 and before[0]["sessions_up"] == SESSIONS_PER_PLANE
    assert before[0]["share"] == pytest.approx(0.25, abs=0.04) and before[0]["firing"] == ""


def test_asof_detail_as_csv_lists_what_was_down(recorded: tuple[str, float]):
    data, start = recorded
    iso = dt.datetime.fromtimestamp(start + 120, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = ask(data, "asof", "--at", iso, "--plane", "2", "--detail", "--format", "csv")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == '"plane","source","subject","state","since","detail"'
    rows = rows_of_csv(result.stdout)
    assert sum(row["source"] == "bgp" for row in rows) == SESSIONS_PER_PLANE
    assert sum(row["source"] == "port" and row["detail"] == "server" for row in rows) == SERVER_PORTS_PER_PLANE
    assert [row["subject"] for row in rows if row["source"] == "finding"] == ["plane_failure"]


def test_diff_lists_only_the_failed_planes_sessions_and_ports(recorded: tuple[str, float]):
    data, start = recorded
    detail = ask(data, "diff", "--from", str(start + 30), "--to", str(start + 120), "--detail", "--format", "csv")
    assert detail.returncode == 0, detail.stderr
    rows = rows_of_csv(detail.stdout)
    assert {row["plane"] for row in rows} == {"2"}
    assert sum(row["source"] == "bgp" for row in rows) == SESSIONS_PER_PLANE
    assert {(row["before"], row["after"]) for row in rows if row["source"] == "port"} == {("UP", "DOWN")}

    summary = ask(data, "diff", "--from", str(start + 30), "--to", str(start + 120), "--format", "json")
    planes = {row["plane"]: row for row in json.loads(summary.stdout)}
    assert planes[2]["sessions_changed"] == SESSIONS_PER_PLANE and planes[2]["share_delta"] < -0.2
    assert all(planes[p]["sessions_changed"] == 0 and planes[p]["share_delta"] > 0 for p in (1, 3, 4))

    table = ask(data, "diff", "--from", str(start + 30), "--to", str(start + 120))
    assert table.returncode == 0, table.stderr
    assert f"{SESSIONS_PER_PLANE} -> 0" in table.stdout and "none -> plane_failure" in table.stdout


def test_top_ports_sessions_and_switches(recorded: tuple[str, float]):
    data, start = recorded
    window = ["--from", str(start + 70), "--to", str(start + 170)]
    ports = ask(data, "top", "ports", "--by", "traffic", *window, "--limit", "10", "--format", "json")
    assert ports.returncode == 0, ports.stderr
    ranked = json.loads(ports.stdout)
    assert len(ranked) == 10 and 2 not in {row["plane"] for row in ranked}

    sessions = ask(data, "top", "sessions", "--by", "churn", "--from", str(start), "--to", str(start + 300),
                   "--limit", "100", "--format", "csv")
    assert sessions.returncode == 0, sessions.stderr
    churned = rows_of_csv(sessions.stdout)
    assert len(churned) == SESSIONS_PER_PLANE and {row["plane"] for row in churned} == {"2"}
    assert {row["transitions"] for row in churned} == {"2"}

    switches = ask(data, "top", "switches", *window, "--plane", "2", "--format", "json")
    assert switches.returncode == 0, switches.stderr
    assert {row["macs_last"] for row in json.loads(switches.stdout) if row["role"] == "tor"} == {0}


MISTAKES = [
    (["asof", "--at", "1; DROP TABLE planewatch.findings"], "is not a time"),
    (["asof", "--at", "now", "--plane", "1; DROP TABLE planewatch.findings"], "Invalid value for '--plane'"),
    (["diff", "--from", "-1h", "--to", "'; DROP TABLE planewatch.findings; --"], "is not a time"),
    (["top", "ports", "--by", "traffic; DROP TABLE planewatch.findings"], "is not one of"),
    (["top", "ports", "--by", "churn"], "ports can be ranked by traffic or broadcast"),
    (["top", "ports", "--facing", "server' OR 1=1 --"], "facing must be one of"),
    (["top", "sessions", "--from", "now", "--to", "-1h"], "swap --from and --to"),
    (["asof", "--at", "25:99"], "not a time of day"),
]


def test_malicious_or_mistaken_input_gets_a_clear_error_and_changes_nothing(recorded: tuple[str, float]):
    data, _ = recorded
    for args, message in MISTAKES:
        result = ask(data, *args)
        assert result.returncode == 2, (args, result.stdout)
        said = " ".join(result.stderr.replace("│", " ").split())  # typer draws a box around usage errors
        assert message in said and "Traceback" not in result.stderr, (args, said)
    counted = ask(data, "sql", "SELECT count() AS n FROM planewatch.findings", "--format", "json")
    assert json.loads(counted.stdout)[0]["n"] >= 2, "the findings table is intact"


@pytest.mark.parametrize("verb, example", [
    ("asof", "planewatch query asof --at 03:12 --plane 2"),
    ("diff", "planewatch query diff --from 03:10 --to 03:15"),
    ("top", "planewatch query top sessions --by churn"),
])
def test_help_teaches_with_examples(verb: str, example: str):
    result = planewatch("query", verb, "--help")
    assert result.returncode == 0
    assert example in result.stdout


def test_a_bare_clock_time_is_the_latest_such_utc_time():
    now = dt.datetime(2026, 11, 26, 10, 30, tzinfo=dt.timezone.utc).timestamp()
    assert parse_moment("03:12", "--at", now=now) == dt.datetime(2026, 11, 26, 3, 12, tzinfo=dt.timezone.utc).timestamp()
    assert parse_moment("23:59:30", "--at", now=now) == \
        dt.datetime(2026, 11, 25, 23, 59, 30, tzinfo=dt.timezone.utc).timestamp()
    assert parse_moment("-15m", "--at", now=now) == now - 900
    with pytest.raises(typer.BadParameter, match="is not a time"):
        parse_moment("yesterday-ish", "--at", now=now)
