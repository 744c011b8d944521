"""``planewatch up`` and ``planewatch query`` as an operator runs them: real processes, real store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PLANEWATCH = [sys.executable, "-m", "planewatch"]
SMALL = ["--racks", "2", "--servers-per-rack", "4"]


def planewatch(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*PLANEWATCH, *args], capture_output=True, text=True, timeout=timeout)


def test_up_reports_the_failed_plane_once_and_query_finds_it(tmp_path: Path):
    data = str(tmp_path / "store")
    run = planewatch("up", "--data", data, "--scenario", "plane-down", "--plane", "3", "--at", "30",
                     "--for", "60", "--duration", "150", "--speed", "max", *SMALL)
    assert run.returncode == 0, run.stderr
    firing = [line for line in run.stdout.splitlines() if "FIRING" in line]
    resolved = [line for line in run.stdout.splitlines() if "RESOLVED" in line]
    assert len(firing) == 1 and "plane_failure" in firing[0] and "plane 3 (orange)" in firing[0]
    assert len(resolved) == 1 and "plane 3 (orange)" in resolved[0]
    assert "planewatch query timeline" in run.stderr

    story = planewatch("query", "timeline", "--data", data, "--plane", "3", "--format", "json")
    assert story.returncode == 0, story.stderr
    rows = json.loads(story.stdout)
    assert {row["source"] for row in rows} >= {"bgp", "port", "finding"}
    assert {row["plane"] for row in rows} == {3}

    found = planewatch("query", "alerts", "--data", data, "--format", "csv")
    assert found.returncode == 0, found.stderr
    lines = found.stdout.strip().splitlines()
    assert len(lines) == 2 and "plane_failure" in lines[1] and "resolved" in lines[1]


def test_server_down_does_not_page_for_a_plane(tmp_path: Path):
    run = planewatch("up", "--data", str(tmp_path / "s"), "--scenario", "server-down", "--at", "30", "--for", "60",
                     "--duration", "150", "--speed", "max", *SMALL)
    assert run.returncode == 0, run.stderr
    assert "plane_failure" not in run.stdout


def test_read_only_sql_refuses_to_write(tmp_path: Path):
    data = str(tmp_path / "ro")
    assert planewatch("up", "--data", data, "--duration", "20", "--speed", "max", *SMALL).returncode == 0
    dropped = planewatch("query", "sql", "--data", data, "DROP TABLE planewatch.findings")
    assert dropped.returncode == 1
    assert "only read queries" in dropped.stderr and "Traceback" not in dropped.stderr
    counted = planewatch("query", "sql", "--data", data, "SELECT count() AS n FROM planewatch.bgp_sessions", "--format", "json")
    assert json.loads(counted.stdout) == [{"n": 4 * 8 * 2}]  # 8 servers x 4 planes x 2 RRs, initial state


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_second_process_gets_one_line_and_ctrl_c_flushes_everything(tmp_path: Path):
    data = tmp_path / "busy"
    holder = subprocess.Popen([*PLANEWATCH, "up", "--data", str(data), "--speed", "10", *SMALL],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: (data / "planewatch.lock").exists() and (data / "planewatch.lock").read_text().strip() != "")
        time.sleep(3)  # let a few simulated ticks through

        second = planewatch("query", "alerts", "--data", str(data))
        assert second.returncode == 1
        message = second.stderr.strip()
        assert len(message.splitlines()) == 1, message
        assert str(data.resolve()) in message and "in use" in message and str(holder.pid) in message

        holder.send_signal(signal.SIGINT)
        out, err = holder.communicate(timeout=60)
    finally:
        if holder.poll() is None:
            holder.kill()
    assert holder.returncode == 0, err
    assert "flushing" in err
    written = int(err.split(" rows written")[0].rsplit(" ", 1)[-1].replace(",", ""))
    assert written > 0
    stored = planewatch("query", "sql", "--data", str(data),
                        "SELECT (SELECT count() FROM planewatch.port_counters) + (SELECT count() FROM planewatch.bgp_sessions)"
                        " + (SELECT count() FROM planewatch.bgp_route_counters) + (SELECT count() FROM planewatch.interface_status)"
                        " + (SELECT count() FROM planewatch.fdb_snapshots) + (SELECT count() FROM planewatch.fdb_changes)"
                        " + (SELECT count() FROM planewatch.sflow_flows) + (SELECT count() FROM planewatch.sflow_counters)"
                        " + (SELECT count() FROM planewatch.findings) AS n", "--format", "json")
    assert json.loads(stored.stdout) == [{"n": written}], "every row the process said it wrote is in the store"


def test_broken_inventory_is_refused_with_its_problems(tmp_path: Path):
    broken = Path(__file__).parents[2] / "deploy" / "examples" / "broken-inventory.yaml"
    run = planewatch("up", "--inventory", str(broken), "--simulate", "--data", str(tmp_path / "b"))
    assert run.returncode == 2
    assert "servers[2].addresses" in run.stderr and "Traceback" not in run.stderr
