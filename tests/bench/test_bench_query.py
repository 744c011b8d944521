"""``planewatch bench query`` at a small size: the figures, the row counts, and data that tells the story it was given.

No speed is asserted (a shared CI machine is too noisy); the full-size run is
``planewatch bench query`` (20,000 servers, 24 h). The benchmark opens its own chdb data
directory, and chdb allows one per process, so it runs as a subprocess here (as a user
runs it), and the kept store is read back through ``planewatch query``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from planewatch.bench.query import CASES, DayShape, QueryBenchResult, Timing
from planewatch.cli.app import app
from planewatch.forensics import Window
from planewatch.simulator.fabric import server_mac, server_name, tor_name, uplink_base

SERVERS, PLANES, HOURS = 200, 4, 1
SAMPLES = 60  # one hour of counters every 60 s
RACKS = 3  # racks of 80: 80 + 80 + 40
# every ToR's server ports, 2 uplinks per ToR, 2 spines with a port per rack and per route reflector (2)
PORTS = PLANES * (SERVERS + RACKS * 2 + 2 * (RACKS + 2))
UPLINKS = tuple(f"Ethernet{uplink_base(80) + s}" for s in (1, 2))


def _planewatch(*args: str, env: dict[str, str] | None = None, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "planewatch", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def _bench(*extra: str, env: dict[str, str] | None = None) -> str:
    done = _planewatch("bench", "query", "--servers", str(SERVERS), "--hours", str(HOURS), "--repeats", "2", *extra,
                       env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_small_day_prints_every_figure_and_removes_its_temporary_store(tmp_path: Path):
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    out = _bench(env={**os.environ, "TMPDIR": str(scratch)})

    # row counts follow from what was asked: ports x samples, sessions x polls, switches x snapshots
    assert f"port_counters: {PORTS * SAMPLES:,} rows" in out
    assert f"bgp_route_counters: {SERVERS * PLANES * 2 * (3600 // 300):,} rows" in out
    assert f"fdb_snapshots: {PLANES * (RACKS + 2):,} rows" in out
    assert "EXPECTED" not in out
    assert re.search(r"generated in [\d.]+ s: [\d,]+ rows, [\d.,]+ (KiB|MiB|GiB) on disk", out)
    # progress while generating, then the plane failure it wrote is found by the forensic queries
    assert "port_counters: 51,840 / 51,840 rows (100 %" in out
    assert (f"timeline: {SERVERS * 2:,}/{SERVERS * 2:,} sessions Established -> Active" in out
            and "1 plane_failure on plane 2" in out and out.count(" - OK") == 1)
    # every case: median, max, and the raw-scan reference measured in the same run
    cases = [case.name for case in CASES if case.available]
    assert {"timeline, incident hour", "timeline, whole day", "alerts, whole day"} <= set(cases)
    for case in cases:
        line = next(line for line in out.splitlines() if line.strip().startswith(f"{case}:"))
        assert re.search(r"median [\d.,]+ m?s, max [\d.,]+ m?s; raw scan [\d.,]+ m?s \([\d,]+ rows\)", line), line
        assert re.search(rf"│ {re.escape(case)} +│ +[\d,]+ │ .+ │ +[\d.,]+x │", out), out
    assert re.search(r"^verdict: (OK|SLOW): .+ on [\d,]+ rows .+, a 1 h day of 200 servers x 4 planes", out, re.M)
    assert "data kept" not in out
    assert list(scratch.iterdir()) == []  # the temporary store is gone


def test_kept_day_is_meaningful_to_planewatch_query(tmp_path: Path):
    data = tmp_path / "day"
    out = _bench("--data", str(data))
    assert data.is_dir() and f"data kept in {data}" in out

    def sql(statement: str) -> list[dict]:
        done = _planewatch("query", "sql", statement, "--data", str(data), "--format", "json")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    # the hint the benchmark printed works and shows the failure of plane 2 and its recovery
    hint = re.search(r"planewatch query --data \S+ timeline --from (\d+) --to (\d+)", out)
    assert hint, out
    done = _planewatch("query", "timeline", "--data", str(data), "--from", hint[1], "--to", hint[2], "--plane", "2",
                       "--format", "json")
    assert done.returncode == 0, done.stderr
    changes: dict[tuple[str, str], int] = {}
    for row in json.loads(done.stdout):
        changes[row["source"], row["change"]] = changes.get((row["source"], row["change"]), 0) + row["count"]
    assert changes["bgp", "Established -> Active"] == SERVERS * 2
    assert changes["bgp", "Active -> Established"] == SERVERS * 2
    assert changes["port", "UP -> DOWN"] >= SERVERS and changes["mac", "mac aged"] >= SERVERS
    assert changes["finding", "firing critical"] == 1

    done = _planewatch("query", "alerts", "--data", str(data), "--format", "json")
    alerts = json.loads(done.stdout)
    plane = [a for a in alerts if a["kind"] == "plane_failure"]
    assert [(a["plane"], a["state"]) for a in plane] == [(2, "resolved")]
    assert any(a["kind"] == "server_failure" for a in alerts)  # background churn: a reboot

    # names as the simulator's fabric has them; keys unique (a ReplacingMergeTree would drop duplicates);
    # counters only increase; the inventory rows dashboards join against
    facts = sql(f"""SELECT
        (SELECT count() FROM planewatch.port_counters WHERE device = '{tor_name(2, 1)}' AND port = 'Ethernet1') AS one_port,
        (SELECT count() FROM planewatch.bgp_sessions WHERE node = '{server_name(3, 40)}' AND peer_ip = '10.2.255.1')
            AS one_session,
        (SELECT has(macs, '{server_mac(1, 1, 1)}') FROM planewatch.fdb_snapshots WHERE device = '{tor_name(1, 1)}')
            AS mac_known,
        (SELECT count() FROM planewatch.port_counters FINAL) AS unique_rows,
        (SELECT count() FROM planewatch.port_counters WHERE device LIKE '%-tor-%' AND port NOT IN {UPLINKS!r})
            AS server_port_rows,
        (SELECT countIf(d < 0) FROM (SELECT in_octets - lagInFrame(in_octets, 1, in_octets)
                                            OVER (PARTITION BY device, port ORDER BY ts) AS d
                                     FROM planewatch.port_counters)) AS decreasing,
        (SELECT count() FROM planewatch.planes) AS planes,
        (SELECT count() FROM planewatch.switches WHERE role = 'tor') AS tors""")[0]
    assert facts == {"one_port": SAMPLES, "one_session": 3, "mac_known": 1, "unique_rows": PORTS * SAMPLES,
                     "server_port_rows": SERVERS * PLANES * SAMPLES, "decreasing": 0, "planes": PLANES,
                     "tors": PLANES * RACKS}, facts
    # plane 2's server ports stand still while it is down, the others carry its share
    began = int(dt.datetime.fromisoformat(plane[0]["began"]).timestamp())
    shares = sql(f"""
        SELECT plane, sum(d) AS bytes FROM (
            SELECT plane, ts, in_octets - lagInFrame(in_octets, 1, in_octets)
                              OVER (PARTITION BY device, port ORDER BY ts) AS d
            FROM planewatch.port_counters WHERE device LIKE '%-tor-%' AND port NOT IN {UPLINKS!r})
        WHERE ts BETWEEN fromUnixTimestamp({began + 60}) AND fromUnixTimestamp({began + 540})
        GROUP BY plane ORDER BY plane""")
    by_plane = {row["plane"]: int(row["bytes"]) for row in shares}
    assert by_plane[2] == 0 and min(by_plane[p] for p in (1, 3, 4)) > 0


def test_bad_shape_is_refused_with_what_to_change():
    result = CliRunner().invoke(app, ["bench", "query", "--hours", "1", "--counter-interval", "7200"])
    assert result.exit_code == 2
    assert "--counter-interval 7200: give 1 s .. the whole span (3600 s)" in result.output


def _result(timings: list[Timing], rows_ok: bool = True) -> QueryBenchResult:
    shape = DayShape.build(20_000, 4, 24, 60, 300, 3600, start=0)
    expected = shape.expected_rows()
    rows = dict(expected) if rows_ok else {**expected, "port_counters": 1}
    return QueryBenchResult(shape, rows, expected, {"port_counters": 3 * 2**30}, 0, 0.0, timings, True, Path("."), False)


def test_verdict_says_whether_the_rows_or_the_query_are_the_cost():
    window = Window(0, 1)
    quick = Timing("timeline, whole day", window, 10, [0.3, 0.2, 0.4], [0.03, 0.03, 0.04], 440_000)
    scan_bound = Timing("top ports by traffic, whole day", window, 10, [6.2, 6.0, 7.3], [2.9, 2.8, 3.0], 121_000_000)
    query_bound = Timing("diff", window, 5, [4.0, 4.2, 4.1], [0.2, 0.2, 0.3], 900_000)

    assert _result([quick]).verdict.startswith("OK: every forensic query answered within 3 s (median) on ")
    assert "slowest: timeline, whole day 300 ms, 10.0x a raw scan" in _result([quick]).verdict
    slow = _result([quick, scan_bound, query_bound]).verdict
    assert slow.startswith("SLOW: top ports by traffic, whole day 6.20 s (its raw scan alone takes 2.90 s: the rows read")
    assert "diff 4.10 s (20.5x its raw scan: the query's own work is the cost); the other 1 within 3 s" in slow
    assert "a 24 h day of 20,000 servers x 4 planes" in slow
    assert _result([quick], rows_ok=False).verdict.startswith("DATA WRONG: row counts differ")
