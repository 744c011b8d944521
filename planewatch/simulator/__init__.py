"""The simulated fabric: planes x racks x servers, with named fault scenarios."""
