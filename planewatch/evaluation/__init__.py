"""The scenario suite: simulated faults, what each must raise, and how detection is scored.

``planewatch eval`` and ``tests/evaluation`` both run :data:`~planewatch.evaluation.suite.SUITE`
through :func:`~planewatch.evaluation.runner.run_suite`.
"""

from planewatch.evaluation.runner import ScenarioResult, SuiteResult, needs, run_scenario, run_suite
from planewatch.evaluation.score import ExpectedFinding, FindingPattern, Score, score
from planewatch.evaluation.suite import SUITE, EvalScenario, FabricSize, scenario_named

__all__ = [
    "SUITE",
    "EvalScenario",
    "ExpectedFinding",
    "FabricSize",
    "FindingPattern",
    "ScenarioResult",
    "Score",
    "SuiteResult",
    "needs",
    "run_scenario",
    "run_suite",
    "scenario_named",
    "score",
]
