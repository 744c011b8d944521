"""``planewatch eval``: run the scenario suite on the simulated clock and score every detector.

The lead wires it as ``app.command("eval")(evaluate)``. Output: one row per scenario
(expected findings, detected, missed, false positives, time to detect, time to resolve)
and a summary line; exit status 1 when any expectation fails (or, with ``--strict``, the
default, when a scenario could not run because a detector is missing), 2 for bad options.
"""

from __future__ import annotations

import enum
import json
from pathlib import Path
from typing import Callable, Optional

import typer
from rich import box
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from planewatch.evaluation.runner import ScenarioResult, SuiteResult, run_suite
from planewatch.evaluation.suite import SUITE, EvalScenario, scenario_named
from planewatch.streams.config import ConfigError, DetectorsConfig

__all__ = ["EvalFormat", "evaluate", "render_problems", "render_table"]


class EvalFormat(str, enum.Enum):
    table = "table"
    json = "json"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _status(result: ScenarioResult, strict: bool) -> str:
    if result.status == "passed":
        return "[green]pass[/]"
    if result.status == "skipped":
        return f"[{'red' if strict else 'yellow'}]skipped[/]"
    if result.status == "error":
        return "[red]ERROR[/]"
    return "[red]FAIL[/]"


def render_table(suite: SuiteResult) -> Table:
    """One row per scenario (fits 80 columns); :func:`render_problems` says why rows failed or skipped."""
    table = Table(title="planewatch eval (simulated time)", title_justify="left", box=box.SIMPLE_HEAD,
                  caption="exp/det/miss: expected, detected, missed findings; FP: false-positive firings;\n"
                          "detect: slowest, from fault start; resolve: slowest, from fault end",
                  caption_justify="left")
    table.add_column("scenario", no_wrap=True)
    for column in ("exp", "det", "miss", "FP", "detect", "resolve"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("result", no_wrap=True)
    for r in suite.results:
        s = r.score
        table.add_row(
            r.scenario.name,
            str(len(r.scenario.expected)),
            str(s.detected) if s else "-",
            str(s.missed) if s else "-",
            str(s.false_positive_count) if s else "-",
            _seconds(s.time_to_detect) if s else "-",
            _seconds(s.time_to_resolve) if s else "-",
            _status(r, suite.strict),
        )
    return table


def render_problems(suite: SuiteResult, limit: int = 8) -> list[str]:
    """``scenario: problem`` lines for every scenario that did not pass."""
    lines = []
    for r in suite.results:
        problems = r.problems
        for problem in problems[:limit]:
            lines.append(f"{r.scenario.name}: {problem}")
        if len(problems) > limit:
            lines.append(f"{r.scenario.name}: … {len(problems) - limit} more (see --format json)")
    return lines


def _chosen(names: list[str] | None) -> list[EvalScenario]:
    if not names:
        return list(SUITE)
    chosen = []
    for name in names:
        try:
            chosen.append(scenario_named(name))
        except KeyError as error:
            raise typer.BadParameter(str(error.args[0]), param_hint="--scenario") from None
    return chosen


def evaluate(
    scenario: Optional[list[str]] = typer.Option(
        None, "--scenario", "-s", help="Run only this scenario (repeatable). Default: the whole suite."),
    config: Optional[Path] = typer.Option(
        None, "--config", "-c", exists=True, dir_okay=False, help="YAML file with a 'thresholds:' section."),
    output: EvalFormat = typer.Option(EvalFormat.table, "--format", "-f", help="table (rich) or json."),
    seed: int = typer.Option(0, "--seed", help="Simulator seed (fabric MACs, traffic noise, fault timing jitter)."),
    strict: bool = typer.Option(
        True, "--strict/--lenient",
        help="--lenient: a scenario skipped for a missing detector does not fail the run."),
    show_thresholds: bool = typer.Option(
        False, "--show-thresholds", help="Print every detector threshold in effect (documented YAML) and exit."),
) -> None:
    """Run the scenario suite on the simulated clock and score detection.

    Each scenario simulates a small fabric with faults (plane down, server down, storm,
    MAC leak, ECMP imbalance, BGP flap, degraded plane, and combinations) and feeds every
    record to every available detector. A row shows expected findings, how many were
    detected or missed, false positives, and the slowest time to detect (from the fault's
    start) and to resolve (from its end). Exits 1 if any expectation fails.
    """
    try:
        settings = DetectorsConfig.load(config) if config is not None else DetectorsConfig()
    except ConfigError as error:
        raise typer.BadParameter(str(error), param_hint="--config") from None
    if show_thresholds:
        typer.echo(settings.describe(), nl=False)
        return
    chosen = _chosen(scenario)
    suite = _run_with_progress(chosen, settings, seed, strict)
    if output is EvalFormat.json:
        typer.echo(json.dumps(suite.as_dict(), indent=2, default=str))
    else:
        console = Console()
        console.print(render_table(suite))
        for line in render_problems(suite):
            console.print(line, highlight=False, markup=False)
        console.print(suite.summary(), style="green" if suite.ok else "red", highlight=False)
    if not suite.ok:
        raise typer.Exit(1)


def _run_with_progress(chosen: list[EvalScenario], settings: DetectorsConfig, seed: int, strict: bool) -> SuiteResult:
    """Runs the suite with a progress bar on stderr (stdout stays clean for --format json)."""
    progress = Progress(TextColumn("{task.description:<26}"), BarColumn(), TextColumn("{task.fields[note]}"),
                        TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    with progress:
        overall = progress.add_task("suite", total=len(chosen), note="")
        current: dict[str, int] = {}

        def on_start(s: EvalScenario) -> Callable[[float], None]:
            task = current["task"] = progress.add_task(s.name, total=1.0, note=f"{s.seconds / 60:.0f} simulated min")
            return lambda fraction: progress.update(task, completed=fraction)

        def on_done(r: ScenarioResult) -> None:
            progress.remove_task(current.pop("task"))
            progress.advance(overall)

        return run_suite(chosen, settings, seed=seed, strict=strict, on_start=on_start, on_done=on_done)
