"""Detectors (plain event-time state machines) and the drivers that feed them."""
