"""``planewatch inventory check``: every problem, one per line; a summary when all is well."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from planewatch.cli.inventory import inventory_app

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "deploy" / "examples" / "inventory.yaml"
BROKEN = ROOT / "deploy" / "examples" / "broken-inventory.yaml"


@pytest.fixture
def app() -> typer.Typer:
    # wired the way planewatch/cli/app.py does it
    app = typer.Typer()
    app.add_typer(inventory_app, name="inventory")
    return app


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_valid_example_prints_a_summary(app, runner):
    result = runner.invoke(app, ["inventory", "check", str(EXAMPLE)], env={"COLUMNS": "120"})
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "fabric pod1, 4 planes, 4 servers" in out
    for row in ("1 blue", "2 green", "3 orange", "4 red", "10.1.0.0/16", "101", "7/7"):
        assert row in out


def test_valid_example_as_json(app, runner):
    result = runner.invoke(app, ["inventory", "check", "--json", str(EXAMPLE)])
    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["ok"] is True and report["problems"] == []
    summary = report["summary"]
    assert summary["fabric"] == "pod1" and summary["servers"] == 4
    assert [(p["name"], p["tor"], p["spine"], p["route_reflectors"], p["known_macs"]) for p in summary["planes"]] == [
        ("blue", 2, 1, 2, 7), ("green", 2, 1, 2, 7), ("orange", 2, 1, 2, 7), ("red", 2, 1, 2, 7),
    ]


def test_broken_example_lists_every_problem_then_a_count(app, runner):
    result = runner.invoke(app, ["inventory", "check", str(BROKEN)])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[-1] == f"12 problems in {BROKEN}"
    problems = lines[:-1]
    assert len(problems) == 12
    assert problems[0].startswith("planes[3].subnets[1]: 10.3.128.0/17 overlaps 10.3.0.0/16")
    assert "servers[1].addresses.green: 10.9.1.2 is not in plane 2's subnets (10.2.0.0/16) (line 91)" in problems
    assert all(": " in line and line.endswith(")") for line in problems)


def test_broken_example_as_json(app, runner):
    result = runner.invoke(app, ["inventory", "check", str(BROKEN), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["file"] == str(BROKEN)
    assert len(report["problems"]) == 12
    first = report["problems"][0]
    assert set(first) == {"path", "message", "line"}
    assert first["path"] == "planes[3].subnets[1]" and first["line"] == 14


def test_missing_file_is_one_line_and_exit_2(app, runner, tmp_path):
    result = runner.invoke(app, ["inventory", "check", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.strip() == f"error: {tmp_path / 'nope.yaml'}: cannot read: No such file or directory"


def test_not_yaml_is_one_line_with_its_line_number_and_exit_2(app, runner, tmp_path):
    path = tmp_path / "inv.yaml"
    path.write_text("planes:\n  - id: 1\n   name: blue\n")
    result = runner.invoke(app, ["inventory", "check", str(path)])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {path} at line 3, column 4: not valid YAML:")


def test_not_yaml_as_json(app, runner, tmp_path):
    path = tmp_path / "inv.yaml"
    path.write_text("planes: [\n")
    result = runner.invoke(app, ["inventory", "check", "--json", str(path)])
    assert result.exit_code == 2
    [problem] = json.loads(result.stdout)["problems"]
    assert problem["message"].startswith("not valid YAML") and problem["line"] == 2


def test_yaml_that_is_not_an_inventory_exits_1(app, runner, tmp_path):
    path = tmp_path / "inv.yaml"
    path.write_text("- just\n- a list\n")
    result = runner.invoke(app, ["inventory", "check", str(path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[0].startswith("(top): expected a mapping")


def test_single_problem_count_is_singular(app, runner, tmp_path):
    path = tmp_path / "inv.yaml"
    path.write_text("planes: [{id: 1, name: blue, subnets: [10.1.0.0/16]}]\nexpected_servers: 3\nswitches: [{name: s}]\n")
    result = runner.invoke(app, ["inventory", "check", str(path)])
    assert result.exit_code == 1
    assert result.stdout.splitlines()[-1] == f"3 problems in {path}"  # plane, role, address
    path.write_text("planes: [{id: 1, name: blue, subnets: [10.1.0.0/16]}]\nexpected_servers: -3\n")
    result = runner.invoke(app, ["inventory", "check", str(path)])
    assert result.stdout.splitlines() == [
        "expected_servers: should be greater than or equal to 0 (got -3) (line 2)",
        f"1 problem in {path}",
    ]


def test_brackets_in_paths_are_not_taken_for_markup(app, runner, tmp_path):
    path = tmp_path / "inv.yaml"
    path.write_text("planes: [{id: 1, name: blue, subnets: [10.1.0.0/16]}]\nservers: [{name: '[bold]x', addresses: {bleu: 10.1.0.1}}]\n")
    result = runner.invoke(app, ["inventory", "check", str(path)])
    assert "servers[0].addresses.bleu: unknown plane 'bleu'" in result.stdout
    assert "'[bold]x'" in result.stdout


def test_help_teaches_the_format_and_points_to_the_example(app, runner):
    result = runner.invoke(app, ["inventory", "check", "--help"], env={"COLUMNS": "120"})
    assert result.exit_code == 0
    for text in ("planes:", "route_reflectors:", "addresses:", "deploy/examples/inventory.yaml", "--json", "Exit status"):
        assert text in result.stdout


def test_group_help_lists_check(app, runner):
    result = runner.invoke(app, ["inventory", "--help"])
    assert result.exit_code == 0
    assert "check" in result.stdout
