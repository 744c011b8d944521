"""``planewatch eval`` through Typer's test runner (its own tiny app; the lead wires the real one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from planewatch.cli.evaluate import evaluate
from planewatch.streams import registry

app = typer.Typer()
app.command("eval")(evaluate)


@app.command("version")
def _version() -> None:  # a second command, so "eval" stays a subcommand as in the real app
    """Unused."""


runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["eval", *args], catch_exceptions=False)


def test_a_passing_scenario_prints_its_row_and_summary_and_exits_0():
    result = invoke("--scenario", "plane-down")
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if line.strip().startswith("plane-down"))
    assert row.split()[:5] == ["plane-down", "1", "1", "0", "0"]
    assert row.split()[-1] == "pass"
    assert "1 scenario(s): 1 passed, 0 failed" in result.output and "OK" in result.output


def test_json_output_carries_every_figure():
    result = invoke("-s", "plane-down", "-s", "server-down", "--format", "json", "--seed", "3")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["ok"] is True
    rows = {row["scenario"]: row for row in report["scenarios"]}
    assert set(rows) == {"plane-down", "server-down"}
    plane = rows["plane-down"]
    assert (plane["expected"], plane["detected"], plane["missed"], plane["false_positives"]) == (1, 1, 0, 0)
    assert 0 <= plane["time_to_detect"] <= 20 and plane["time_to_resolve"] >= 0
    assert plane["expectations"][0]["kind"] == "plane_failure"


def test_a_failed_expectation_exits_1_and_says_why(tmp_path: Path):
    config = tmp_path / "slow.yaml"
    config.write_text("thresholds:\n  plane_failure:\n    resolve_hold: 600\n")
    result = invoke("-s", "plane-down", "--config", str(config))
    assert result.exit_code == 1, result.output
    assert "FAIL" in result.output
    assert "plane-down: plane_failure on plane 2: still firing at the end" in result.output


def test_a_scenario_needing_a_missing_detector_fails_strict_and_passes_lenient(monkeypatch):
    monkeypatch.setattr(registry, "available_kinds", lambda: {})
    strict = invoke("-s", "plane-down")
    assert strict.exit_code == 1
    assert "plane-down: needs plane_failure to raise plane_failure" in strict.output
    lenient = invoke("-s", "plane-down", "--lenient")
    assert lenient.exit_code == 0, lenient.output
    assert "skipped" in lenient.output


@pytest.mark.parametrize(("args", "message"), [
    (("-s", "no-such-scenario"), "no scenario 'no-such-scenario'"),
    (("--format", "xml"), "xml"),
])
def test_bad_options_exit_2(args, message):
    result = invoke(*args)
    assert result.exit_code == 2
    assert message in result.output


def test_a_bad_config_exits_2_naming_the_path(tmp_path: Path):
    config = tmp_path / "typo.yaml"
    config.write_text("thresholds:\n  plane_failure:\n    resolv_hold: 60\n")
    result = invoke("--config", str(config))
    assert result.exit_code == 2
    assert "thresholds.plane_failure.resolv_hold" in result.output


def test_show_thresholds_prints_the_documented_config():
    result = invoke("--show-thresholds")
    assert result.exit_code == 0
    assert result.output.startswith("# Detector thresholds in effect")
    assert "  plane_failure:\n" in result.output and "session_fraction_raise: 0.5" in result.output
