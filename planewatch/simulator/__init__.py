"""The simulated fabric: planes x racks x servers, with named fault scenarios."""

from planewatch.simulator.engine import Simulator
from planewatch.simulator.fabric import build_fabric
from planewatch.simulator.scenarios import SCENARIOS, Fault, FaultError, describe_scenarios

__all__ = ["SCENARIOS", "Fault", "FaultError", "Simulator", "build_fabric", "describe_scenarios"]
