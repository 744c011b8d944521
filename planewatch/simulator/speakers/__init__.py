"""Simulator speakers: send the simulated fabric's records over the real protocols the collectors read."""
