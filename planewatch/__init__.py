"""planewatch: streaming telemetry for multi-plane Calico Ethernet fabrics."""

__version__ = "0.1.0"
