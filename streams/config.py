"""Detector thresholds: one YAML section, defaults from each detector's own config Struct.

A config file carries a ``thresholds:`` mapping keyed by detector name (the names in
:data:`planewatch.streams.registry.DETECTORS`); each entry overrides fields of that
detector's msgspec config Struct and leaves the others at their defaults::

    thresholds:
      plane_failure:
        session_fraction_raise: 0.6   # a plane fails when 60 % of servers lost BGP on it
        resolve_hold: 60

Anything planewatch does not know — a misspelt detector, a field the Struct does not have,
a value of the wrong type, a combination the Struct's own checks refuse — is an error that
names its path (``thresholds.plane_failure.session_fraction_rise``) and its line, so a typo
never silently falls back to a default. ``planewatch eval --config FILE`` (and ``up
--config``) read the file with :meth:`DetectorsConfig.load`; ``planewatch eval
--show-thresholds`` prints every threshold in effect, with its documentation.

How thresholds scale with the fabric
------------------------------------
The defaults are grounded in the Calico note's fabric: N planes carrying ~1/N of the
traffic each, about one MAC per server per plane, near-zero broadcast, and churn of ~2,000
events a *day* for 20,000 servers. A detector whose thresholds depend on fabric size keeps
them *relative* wherever it can, so one default fits 100 and 20,000 servers:

* ``plane_failure``: fractions of the plane's servers (that are alive on another plane)
  and of its server ports, and a traffic share relative to 1/N; nothing is an absolute
  count, so the same defaults hold for any number of servers and planes.
* A detector that needs absolute figures (a MAC-table size, a churn rate per plane) scales
  them from the inventory by giving its config Struct a classmethod
  ``for_inventory(inventory) -> Config``; :meth:`DetectorsConfig.for_detector` starts from
  that instead of the plain defaults, and values in the file still win over it. Each such
  Struct documents its scaling in its own field docstrings, which ``--show-thresholds``
  prints.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import inspect
import textwrap
from pathlib import Path
from typing import Any, Mapping

import msgspec
import yaml

from planewatch.inventory import Inventory, Problem, _duplicate_keys, _line_of
from planewatch.streams import registry

__all__ = ["ConfigError", "DetectorsConfig", "SECTION"]

SECTION = "thresholds"
"""The top-level key of a config file that holds detector thresholds."""

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class ConfigError(ValueError):
    """A config file (or mapping) planewatch cannot use; ``problems`` lists every reason with its path."""

    def __init__(self, source: str, problems: list[Problem]):
        self.source = source
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


@dataclasses.dataclass(frozen=True)
class DetectorsConfig:
    """Every detector's thresholds: each detector's Struct defaults plus the overrides read from a file.

    ``overrides`` maps detector name → field → value, already validated against the
    detector's config Struct (build instances with :meth:`from_mapping` or :meth:`load`).
    """

    overrides: Mapping[str, Mapping[str, Any]] = dataclasses.field(default_factory=dict)
    source: str = "defaults"

    # -- reading -------------------------------------------------------------------------
    @classmethod
    def from_mapping(
        cls, data: Any, source: str = "config", *, other_sections: tuple[str, ...] = (), root: yaml.Node | None = None,
    ) -> DetectorsConfig:
        """Validate a whole config document (``{"thresholds": {...}}``); raises :class:`ConfigError`.

        ``other_sections`` are top-level keys another part of planewatch reads (``up``'s
        own settings); they are let through untouched. Any other top-level key is an error.
        """
        problems: list[Problem] = []
        overrides: dict[str, dict[str, Any]] = {}
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            raise ConfigError(source, [Problem("(top)", f"expected a mapping with a {SECTION!r} section, got {_kind(data)}")])
        for key in data:
            if key != SECTION and key not in other_sections:
                known = ", ".join((SECTION, *other_sections))
                problems.append(Problem(str(key), f"unknown section; known: {known}"))
        section = data.get(SECTION) or {}
        if not isinstance(section, Mapping):
            problems.append(Problem(SECTION, f"expected a mapping of detector name to thresholds, got {_kind(section)}"))
            section = {}
        for name, values in section.items():
            path = f"{SECTION}.{name}"
            checked = _check_detector(str(name), values, path, problems)
            if checked is not None:
                overrides[str(name)] = checked
        if problems:
            raise ConfigError(source, [_with_line(p, root) for p in problems])
        return cls(overrides, source)

    @classmethod
    def load(cls, path: Path | str, *, other_sections: tuple[str, ...] = ()) -> DetectorsConfig:
        """Read and validate a YAML config file; every problem carries its path and line."""
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as error:
            raise ConfigError(str(path), [Problem("(file)", f"cannot read: {error.strerror or error}")]) from None
        except UnicodeDecodeError as error:
            raise ConfigError(str(path), [Problem("(file)", f"not a text file: {error.reason}")]) from None
        loader = _Loader(text)
        try:
            root = loader.get_single_node()
            data = loader.construct_document(root) if root is not None else None
        except yaml.YAMLError as error:
            mark = getattr(error, "problem_mark", None)
            where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(file)"
            problem = getattr(error, "problem", None) or str(error)
            raise ConfigError(str(path), [Problem(where, f"not valid YAML: {problem}",
                                                  line=mark.line + 1 if mark is not None else None)]) from None
        finally:
            loader.dispose()
        duplicates = _duplicate_keys(root) if root is not None else []
        if duplicates:
            raise ConfigError(str(path), duplicates)
        return cls.from_mapping(data, str(path), other_sections=other_sections, root=root)

    # -- using ---------------------------------------------------------------------------
    def for_detector(self, name: str, inventory: Inventory | None = None) -> msgspec.Struct | None:
        """The config Struct detector ``name`` should run with (``None``: it takes no config).

        Starts from ``Config.for_inventory(inventory)`` when the Struct scales with the
        fabric (and an inventory is given), else from its defaults; then applies the overrides.
        """
        info = registry.detector_info(name)
        if info.config_type is None:
            return None
        base = _base(info.config_type, inventory)
        values = self.overrides.get(name)
        if not values:
            return base
        merged = _deep_merge(msgspec.to_builtins(base), values)
        try:
            return msgspec.convert(merged, type=info.config_type)
        except msgspec.ValidationError as error:  # valid on the defaults, not on this fabric's scaled ones
            raise ConfigError(self.source, [_validation_problem(str(error), f"{SECTION}.{name}")]) from None

    def effective(self, inventory: Inventory | None = None) -> dict[str, msgspec.Struct]:
        """``{detector: config}`` for every available detector that takes a config."""
        out = {}
        for name in registry.available_detectors():
            config = self.for_detector(name, inventory)
            if config is not None:
                out[name] = config
        return out

    def describe(self, inventory: Inventory | None = None) -> str:
        """Every threshold in effect as a YAML config file, each documented by its Struct's docstrings.

        The output loads back with :meth:`load` and gives the same thresholds.
        """
        lines = [f"# Detector thresholds in effect ({self.source}" + (f", scaled to {inventory.fabric}"
                 if inventory is not None and hasattr(inventory, "fabric") else "") + ").",
                 f"{SECTION}:"]
        missing = registry.missing_detectors()
        for name, config in self.effective(inventory).items():
            cls = type(config)
            lines.append(f"  {name}:")
            doc = inspect.getdoc(cls)
            if doc and doc != inspect.getdoc(msgspec.Struct):
                lines += [f"    # {line}".rstrip() for line in doc.splitlines()]
            docs = _field_docs(cls)
            overridden = self.overrides.get(name, {})
            for field in msgspec.structs.fields(cls):
                value = getattr(config, field.name)
                for line in textwrap.wrap(docs.get(field.name, ""), 96):
                    lines.append(f"    # {line}")
                dumped = yaml.safe_dump(msgspec.to_builtins(value), default_flow_style=True, width=10_000).strip()
                dumped = dumped.removesuffix("\n...").removesuffix("...").strip()
                mark = "  # from " + self.source if field.name in overridden else ""
                lines.append(f"    {field.name}: {dumped}{mark}")
        for name, why in missing.items():
            lines.append(f"  # {name}: not available ({why})")
        return "\n".join(lines) + "\n"


# -- validation helpers ------------------------------------------------------------------


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(type(value), type(value).__name__)


def _with_line(problem: Problem, root: yaml.Node | None) -> Problem:
    if root is None or problem.line is not None:
        return problem
    return dataclasses.replace(problem, line=_line_of(root, problem.path))


def _check_detector(name: str, values: Any, path: str, problems: list[Problem]) -> dict[str, Any] | None:
    """Validated overrides of one detector, or ``None`` after appending what is wrong to ``problems``."""
    known = [spec.name for spec in registry.DETECTORS]
    if name not in known:
        problems.append(Problem(path, f"unknown detector {name!r}; known detectors: {', '.join(known)}"))
        return None
    info = registry.detector_info(name)
    if not info.available:
        problems.append(Problem(path, f"detector {name!r} is not available in this build ({info.problem})"))
        return None
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        problems.append(Problem(path, f"expected a mapping of threshold name to value, got {_kind(values)}"))
        return None
    if info.config_type is None:
        problems.append(Problem(path, f"detector {name!r} takes no thresholds"))
        return None
    before = len(problems)
    _unknown_keys(values, msgspec.inspect.type_info(info.config_type), path, problems)
    if len(problems) > before:
        return None
    try:
        msgspec.convert(_deep_merge(msgspec.to_builtins(info.config_type()), values), type=info.config_type)
    except msgspec.ValidationError as error:
        problems.append(_validation_problem(str(error), path))
        return None
    return dict(values)


def _unknown_keys(values: Mapping[str, Any], info: Any, path: str, problems: list[Problem]) -> None:
    """Every key in ``values`` (recursively, through nested Structs) that the Struct lacks."""
    if not isinstance(info, msgspec.inspect.StructType):
        return
    fields = {f.encode_name: f for f in info.fields}
    for key, value in values.items():
        field = fields.get(key) if isinstance(key, str) else None
        if field is None:
            close = _close_match(str(key), list(fields))
            hint = f" (did you mean {close!r}?)" if close else ""
            problems.append(Problem(f"{path}.{key}", f"unknown threshold{hint}; known: {', '.join(fields)}"))
            continue
        nested = _struct_of(field.type)
        if nested is not None and isinstance(value, Mapping):
            _unknown_keys(value, nested, f"{path}.{key}", problems)


def _struct_of(info: Any) -> Any:
    if isinstance(info, msgspec.inspect.StructType):
        return info
    if isinstance(info, msgspec.inspect.UnionType):
        return next((t for t in info.types if isinstance(t, msgspec.inspect.StructType)), None)
    return None


def _close_match(word: str, candidates: list[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(word, candidates, n=1, cutoff=0.75)
    return matches[0] if matches else None


def _validation_problem(message: str, path: str) -> Problem:
    """``Expected `float`, got `str` - at `$.x.y``` → Problem(``path.x.y``, ``Expected float, got str``)."""
    text, sep, where = message.rpartition(" - at `")
    if not sep:
        return Problem(path, message.replace("`", ""))
    sub = where.rstrip("`").removeprefix("$")
    sub = sub.replace("[", ".").replace("]", "").replace("..", ".")
    return Problem(f"{path}{sub}", text.replace("`", ""))


def _deep_merge(base: Any, override: Mapping[str, Any]) -> Any:
    if not isinstance(base, dict):
        return dict(override)
    out = dict(base)
    for key, value in override.items():
        out[key] = _deep_merge(out[key], value) if isinstance(value, Mapping) and isinstance(out.get(key), dict) else value
    return out


def _base(config_type: type[msgspec.Struct], inventory: Inventory | None) -> msgspec.Struct:
    scaled = getattr(config_type, "for_inventory", None)
    if inventory is not None and callable(scaled):
        return scaled(inventory)
    return config_type()


@functools.cache
def _field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings (a string literal right after a field) of a Struct class, from its source."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError, SyntaxError):
        return {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    docs: dict[str, str] = {}
    for node, following in zip(body, body[1:]):
        if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                and isinstance(following, ast.Expr) and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)):
            docs[node.target.id] = " ".join(following.value.value.split())
    return docs
