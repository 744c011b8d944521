"""``planewatch bench stream`` at a tiny size against the session's real Kafka and ClickHouse.

No speed is asserted (a shared CI machine is too noisy); what must hold is that the
command runs the pipeline with one worker and with two, prints both rates, the lag
lines and the reference, and that every record published is a row in ClickHouse. The
full-size run is ``planewatch bench stream --servers 20000``.
"""

from __future__ import annotations

import re

import pytest
import typer
from typer.testing import CliRunner

from planewatch.bench import bench_app
from planewatch.bench.stream import _choose_fabrics, fabric_shape


@pytest.fixture
def clickhouse_env(clickhouse_server, tmp_path, monkeypatch):  # noqa: ANN001, ANN201
    password = tmp_path / "clickhouse-password"
    password.write_text(clickhouse_server.password + "\n")
    monkeypatch.setenv("PLANEWATCH_CLICKHOUSE_USER", clickhouse_server.user)
    monkeypatch.setenv("PLANEWATCH_CLICKHOUSE_PASSWORD_FILE", str(password))
    return clickhouse_server


def test_fabric_shape_is_pod_like_and_exact():
    assert fabric_shape(10_000) == (125, 80)
    assert fabric_shape(32) == (2, 16)
    racks, per_rack = fabric_shape(37)
    assert racks * per_rack == 37


def test_two_workers_get_one_fabric_each():
    names = {0: "a", 1: "b", 2: "c", 3: "d"}
    chosen, owners = _choose_fabrics([{0, 2}, {1, 3}], names, 2)
    assert sorted(owners.values()) == [0, 1] and len(set(chosen)) == 2
    chosen, owners = _choose_fabrics([{0, 1, 2, 3}], names, 2)
    assert chosen == ["a", "b"] and set(owners.values()) == {0}


def test_tiny_run_prints_both_worker_counts_lag_and_no_lost_rows(kafka_broker, clickhouse_env):
    app = typer.Typer()
    app.add_typer(bench_app, name="bench")
    server = clickhouse_env
    result = CliRunner().invoke(app, [
        "bench", "stream", "--kafka", kafka_broker.bootstrap, "--clickhouse", f"{server.host}:{server.port}",
        "--servers", "64", "--duration", "20", "--checkpoint-every", "1",
    ], catch_exceptions=False)
    text = result.output
    assert result.exit_code == 0, text
    for label in ("1 worker", "2 workers"):
        line = re.search(rf"^{label}: ([\d,]+) records/s end to end; lag: max ([\d,]+) .*final 0$", text, re.M)
        assert line, f"no result line for {label}:\n{text}"
        assert int(line.group(1).replace(",", "")) > 0
    stored = re.findall(r"│ (\d[\d,]*)/(\d[\d,]*) │", text)
    assert len(stored) == 2 and all(a == b for a, b in stored), text
    assert "reference: kafka-python consume" in text and "produce then consume" in text
    assert "two workers / one worker:" in text
    assert "verdict: OK" in text
    # two workers really split the fabrics: one each
    two = text[text.index("[2 workers]"):]
    assert re.search(r"\(partition \d, worker 1\), .* \(partition \d, worker 2\)", two), two
