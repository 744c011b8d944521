"""Which detectors planewatch has, what each one raises, and the set that runs by default.

Every detector lives in its own module under ``planewatch.streams`` and follows the
:class:`~planewatch.streams.detector.Detector` contract: ``Detector(inventory, config=None)``
with its own msgspec config Struct. :data:`DETECTORS` names them once; everything else
(``planewatch up``, ``planewatch eval``, the benchmark, the config loader) asks this module
rather than importing detector modules itself, so a detector that is added (or that is
missing from a build) is picked up everywhere at once.

A detector counts as *available* when its module imports and defines the detector class.
A module that is absent is simply skipped; one that exists but fails to import is skipped
too, with the error kept in :attr:`DetectorInfo.problem` so ``planewatch eval`` can say why.

The finding kinds a detector raises are read from ``Detector.kinds`` or the module's
``KINDS`` tuple when it declares one; otherwise a kind listed in :data:`DETECTORS` counts as
available when the module's source names it (``"plane_degraded"``), which is how a kind
added to an existing detector is noticed without a registry change.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import inspect
import types
import typing
from typing import TYPE_CHECKING, Any

import msgspec

from planewatch.inventory import Inventory
from planewatch.streams.ensemble import DetectorSet

if TYPE_CHECKING:
    from planewatch.streams.config import DetectorsConfig

__all__ = [
    "DETECTORS",
    "DetectorInfo",
    "DetectorSpec",
    "available_detectors",
    "available_kinds",
    "build_detector",
    "default_detectors",
    "detector_for_kind",
    "detector_info",
    "missing_detectors",
]


@dataclasses.dataclass(frozen=True)
class DetectorSpec:
    """Where a detector lives and the finding kinds it is meant to raise."""

    name: str
    """Key of the detector in config files (``thresholds.<name>``) and reports."""
    module: str
    class_name: str
    kinds: tuple[str, ...]
    summary: str


DETECTORS: tuple[DetectorSpec, ...] = (
    DetectorSpec("plane_failure", "planewatch.streams.plane_failure", "PlaneFailureDetector",
                 ("plane_failure", "plane_degraded"), "a whole plane (or a large part of it) stopped carrying traffic"),
    DetectorSpec("server_failure", "planewatch.streams.server_failure", "ServerFailureDetector",
                 ("server_failure",), "a server down on every plane"),
    DetectorSpec("flooding", "planewatch.streams.flooding", "FloodingDetector",
                 ("flooding", "unknown_unicast"), "broadcast/multicast or unknown-unicast flooding on a plane"),
    DetectorSpec("mac_leak", "planewatch.streams.mac_leak", "MacLeakDetector",
                 ("mac_leak", "mac_move"), "MACs in a plane's tables that are not server/RR/router MACs; MAC moves"),
    DetectorSpec("imbalance", "planewatch.streams.imbalance", "ImbalanceDetector",
                 ("link_imbalance",), "a plane carrying more or less than its 1/N share of traffic"),
    DetectorSpec("route_churn", "planewatch.streams.route_churn", "RouteChurnDetector",
                 ("route_churn", "session_flap", "route_divergence"), "BGP churn, flapping sessions, diverging route counts"),
)
"""Every detector planewatch knows, in the order a :class:`DetectorSet` runs them."""

_SPECS = {spec.name: spec for spec in DETECTORS}


@dataclasses.dataclass(frozen=True)
class DetectorInfo:
    """What this build has of one :class:`DetectorSpec`."""

    spec: DetectorSpec
    cls: type | None
    """The detector class, or ``None`` when the detector is not available."""
    config_type: type[msgspec.Struct] | None
    """Its config Struct (``None``: takes no config, or not available)."""
    kinds: tuple[str, ...]
    """Kinds this build's detector can raise (empty when not available)."""
    problem: str | None = None
    """Why the detector is not available, when it is not."""

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def available(self) -> bool:
        return self.cls is not None


def _config_type(cls: type, module: types.ModuleType) -> type[msgspec.Struct] | None:
    """The Struct type of the ``config`` argument of ``cls.__init__`` (or the module's ``*Config`` Struct)."""
    try:
        hint = typing.get_type_hints(cls.__init__).get("config")
    except Exception:  # unresolved forward references: fall back to the module scan
        hint = None
    candidates = typing.get_args(hint) if hint is not None and typing.get_args(hint) else (hint,)
    for candidate in candidates:
        if isinstance(candidate, type) and issubclass(candidate, msgspec.Struct):
            return candidate
    found = [
        value for attr, value in vars(module).items()
        if attr.endswith("Config") and isinstance(value, type) and issubclass(value, msgspec.Struct)
        and value.__module__ == module.__name__
    ]
    return found[0] if len(found) == 1 else None


def _kinds(spec: DetectorSpec, cls: type, module: types.ModuleType) -> tuple[str, ...]:
    declared = getattr(cls, "kinds", None) or getattr(module, "KINDS", None)
    if isinstance(declared, (tuple, list, frozenset, set)) and all(isinstance(k, str) for k in declared):
        return tuple(declared)
    try:
        source = inspect.getsource(module)
    except (OSError, TypeError):
        return spec.kinds[:1]
    return tuple(k for k in spec.kinds if f'"{k}"' in source or f"'{k}'" in source) or spec.kinds[:1]


@functools.cache
def detector_info(name: str) -> DetectorInfo:
    """Import (once) and describe the detector called ``name``; raises KeyError for unknown names."""
    spec = _SPECS[name]
    try:
        module = importlib.import_module(spec.module)
    except ModuleNotFoundError as error:
        if error.name == spec.module:
            return DetectorInfo(spec, None, None, (), f"{spec.module} is not in this build")
        return DetectorInfo(spec, None, None, (), f"{spec.module} failed to import: {error}")
    except Exception as error:  # a module being written: say so, do not take everything down
        return DetectorInfo(spec, None, None, (), f"{spec.module} failed to import: {type(error).__name__}: {error}")
    cls = getattr(module, spec.class_name, None)
    if not isinstance(cls, type):
        return DetectorInfo(spec, None, None, (), f"{spec.module} defines no {spec.class_name}")
    return DetectorInfo(spec, cls, _config_type(cls, module), _kinds(spec, cls, module))


def all_detectors() -> list[DetectorInfo]:
    """Every registered detector, available or not, in :data:`DETECTORS` order."""
    return [detector_info(spec.name) for spec in DETECTORS]


def available_detectors() -> list[str]:
    """Names of the detectors this build has, in the order they run."""
    return [info.name for info in all_detectors() if info.available]


def missing_detectors() -> dict[str, str]:
    """``{name: why}`` of registered detectors this build lacks."""
    return {info.name: info.problem or "not available" for info in all_detectors() if not info.available}


def available_kinds() -> dict[str, str]:
    """``{finding kind: detector name}`` for every kind an available detector raises."""
    return {kind: info.name for info in all_detectors() for kind in info.kinds}


def detector_for_kind(kind: str) -> str | None:
    """The registered detector meant to raise ``kind`` (available or not), or ``None``."""
    return next((spec.name for spec in DETECTORS if kind in spec.kinds), None)


def build_detector(name: str, inventory: Inventory, config: DetectorsConfig | None = None) -> Any:
    """One available detector, configured from ``config`` (defaults when ``None``)."""
    info = detector_info(name)
    if info.cls is None:
        raise LookupError(f"detector {name!r} is not available: {info.problem}")
    if config is None:
        from planewatch.streams.config import DetectorsConfig

        config = DetectorsConfig()
    settings = config.for_detector(name, inventory)
    return info.cls(inventory, settings) if settings is not None else info.cls(inventory)


def default_detectors(
    inventory: Inventory,
    config: DetectorsConfig | None = None,
    *,
    only: typing.Iterable[str] | None = None,
) -> DetectorSet:
    """Every available detector (or those named in ``only``) as one :class:`DetectorSet`.

    ``config`` supplies thresholds; without it each detector uses its config's defaults
    (scaled to ``inventory`` where the config Struct offers ``for_inventory``).
    """
    names = available_detectors() if only is None else list(only)
    return DetectorSet((build_detector(name, inventory, config) for name in names), names)


def restore_detectors(
    inventory: Inventory, config: DetectorsConfig | None, states: typing.Mapping[str, bytes]
) -> DetectorSet:
    """The :class:`DetectorSet` a :meth:`DetectorSet.snapshot` was taken of, continuing where it stopped.

    A detector this build has but the snapshot lacks (added since) starts fresh; a state
    of a detector this build lacks is an error, not silently dropped.
    """
    if config is None:
        from planewatch.streams.config import DetectorsConfig

        config = DetectorsConfig()
    unknown = sorted(set(states) - set(available_detectors()))
    if unknown:
        raise LookupError(f"the saved state has detectors this build lacks: {', '.join(unknown)}")
    names = available_detectors()
    detectors = []
    for name in names:
        if name not in states:
            detectors.append(build_detector(name, inventory, config))
            continue
        info = detector_info(name)
        assert info.cls is not None
        settings = config.for_detector(name, inventory)
        detectors.append(info.cls.restore(inventory, settings, states[name]))
    return DetectorSet(detectors, names)
