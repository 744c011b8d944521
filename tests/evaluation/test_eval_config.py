"""Detector thresholds: defaults from each detector's Struct, YAML overrides, strict validation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import msgspec
import pytest

from planewatch.simulator import build_fabric
from planewatch.streams import registry
from planewatch.streams.config import ConfigError, DetectorsConfig
from planewatch.streams.ensemble import DetectorSet
from planewatch.streams.plane_failure import PlaneFailureConfig, PlaneFailureDetector


def problems(error: ConfigError) -> list[tuple[str, int | None]]:
    return [(p.path, p.line) for p in error.problems]


def test_defaults_come_from_each_detectors_struct():
    config = DetectorsConfig()
    assert config.for_detector("plane_failure") == PlaneFailureConfig()
    effective = config.effective()
    assert set(effective) <= set(registry.available_detectors())
    assert "plane_failure" in effective


def test_a_yaml_file_overrides_only_what_it_names(tmp_path: Path):
    path = tmp_path / "planewatch.yaml"
    path.write_text("thresholds:\n  plane_failure:\n    resolve_hold: 60\n    session_fraction_raise: 0.6\n")
    config = DetectorsConfig.load(path)
    got = config.for_detector("plane_failure")
    assert got == msgspec.structs.replace(PlaneFailureConfig(), resolve_hold=60.0, session_fraction_raise=0.6)
    assert DetectorsConfig.load(_write(tmp_path, "empty.yaml", "")) == DetectorsConfig(source=str(tmp_path / "empty.yaml"))


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_unknown_keys_are_rejected_with_their_path_and_line(tmp_path: Path):
    path = _write(tmp_path, "bad.yaml", (
        "thresholds:\n"
        "  plane_failure:\n"
        "    resolve_hold: 60\n"
        "    session_fraction_rase: 0.6\n"
        "  flodding:\n"
        "    pps: 3\n"
        "alerts: {}\n"
    ))
    with pytest.raises(ConfigError) as caught:
        DetectorsConfig.load(path)
    assert problems(caught.value) == [
        ("alerts", 7),
        ("thresholds.plane_failure.session_fraction_rase", 4),
        ("thresholds.flodding", 5),
    ]
    text = str(caught.value)
    assert "did you mean 'session_fraction_raise'" in text
    assert "known detectors: plane_failure" in text
    # another part of planewatch may own a section: let it through when told
    with pytest.raises(ConfigError) as caught:
        DetectorsConfig.load(path, other_sections=("alerts",))
    assert "alerts" not in [p.path for p in caught.value.problems]


def test_wrong_types_and_refused_combinations_name_their_path():
    with pytest.raises(ConfigError) as caught:
        DetectorsConfig.from_mapping({"thresholds": {"plane_failure": {"resolve_hold": "soon"}}})
    assert problems(caught.value) == [("thresholds.plane_failure.resolve_hold", None)]
    assert "Expected float, got str" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        DetectorsConfig.from_mapping({"thresholds": {"plane_failure": {"session_fraction_raise": 0.1}}})
    assert problems(caught.value) == [("thresholds.plane_failure", None)]
    assert "session_fraction_clear" in str(caught.value)
    for bad in ([1], {"thresholds": [1]}, {"thresholds": {"plane_failure": 3}}):
        with pytest.raises(ConfigError):
            DetectorsConfig.from_mapping(bad)


def test_not_yaml_and_duplicate_keys_are_errors(tmp_path: Path):
    with pytest.raises(ConfigError, match="not valid YAML"):
        DetectorsConfig.load(_write(tmp_path, "broken.yaml", "thresholds: [\n"))
    with pytest.raises(ConfigError, match="appears twice"):
        DetectorsConfig.load(_write(tmp_path, "dup.yaml", "thresholds:\n  plane_failure: {}\n  plane_failure: {}\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        DetectorsConfig.load(tmp_path / "absent.yaml")


def test_describe_documents_every_threshold_and_loads_back(tmp_path: Path):
    config = DetectorsConfig.from_mapping({"thresholds": {"plane_failure": {"resolve_hold": 45}}}, "mine.yaml")
    text = config.describe()
    assert "# The recovered condition must hold this long before the finding resolves." in text
    assert "resolve_hold: 45.0  # from mine.yaml" in text
    again = DetectorsConfig.load(_write(tmp_path, "described.yaml", text))
    assert again.effective() == config.effective()


def test_a_struct_that_scales_with_the_fabric_starts_from_its_scaled_defaults(monkeypatch):
    class ScaledConfig(msgspec.Struct, frozen=True, kw_only=True):
        max_macs: int = 100
        ratio: float = 1.5

        @classmethod
        def for_inventory(cls, inventory):
            return cls(max_macs=len(inventory.servers) * 2)

    class Scaled:
        name = "flooding"

        def __init__(self, inventory, config: ScaledConfig | None = None):
            self.config = config

    real = registry.detector_info
    spec = next(s for s in registry.DETECTORS if s.name == "flooding")
    fake = registry.DetectorInfo(spec, Scaled, ScaledConfig, ("flooding",))
    monkeypatch.setattr(registry, "detector_info", lambda name: fake if name == "flooding" else real(name))
    inventory = build_fabric(planes=2, racks=2, servers_per_rack=4)
    config = DetectorsConfig.from_mapping({"thresholds": {"flooding": {"ratio": 2}}})
    assert config.for_detector("flooding", inventory) == ScaledConfig(max_macs=16, ratio=2.0)
    assert config.for_detector("flooding") == ScaledConfig(ratio=2.0)
    assert registry.build_detector("flooding", inventory, config).config == ScaledConfig(max_macs=16, ratio=2.0)


def test_registry_builds_every_available_detector_with_its_config():
    inventory = build_fabric(planes=4, racks=2, servers_per_rack=4)
    config = DetectorsConfig.from_mapping({"thresholds": {"plane_failure": {"resolve_hold": 90}}})
    detectors = registry.default_detectors(inventory, config)
    assert isinstance(detectors, DetectorSet)
    assert [d.name for d in detectors.detectors] == registry.available_detectors()
    plane = next(d for d in detectors.detectors if isinstance(d, PlaneFailureDetector))
    assert plane.config.resolve_hold == 90.0
    assert set(registry.available_detectors()) | set(registry.missing_detectors()) == {s.name for s in registry.DETECTORS}
    assert registry.available_kinds()["plane_failure"] == "plane_failure"
    assert registry.detector_for_kind("mac_move") == "mac_leak"


def test_a_missing_detector_is_skipped_and_says_why(monkeypatch):
    spec = dataclasses.replace(registry.DETECTORS[0], name="ghost", module="planewatch.streams.no_such_module")
    monkeypatch.setattr(registry, "_SPECS", {**registry._SPECS, "ghost": spec})
    info = registry.detector_info("ghost")
    assert not info.available and info.problem == "planewatch.streams.no_such_module is not in this build"
    with pytest.raises(LookupError, match="not available"):
        registry.build_detector("ghost", build_fabric(planes=2, racks=1, servers_per_rack=2))
