"""The OpenConfig paths planewatch subscribes to, and a parser for pygnmi's path strings.

pygnmi hands paths over as strings (``interfaces/interface[name=Ethernet1/1]/state``):
no leading ``/``, no origin, keys sorted and unescaped. Port names contain ``/`` (``Ethernet1/1``)
and a key value may contain ``=``, so a plain ``split("/")`` is wrong; :func:`parse_path`
splits only outside brackets.
"""

from __future__ import annotations

from typing import NamedTuple

COUNTERS = "/interfaces/interface/state/counters"
OPER_STATUS = "/interfaces/interface/state/oper-status"
FDB = "/network-instances/network-instance/fdb/mac-table/entries"


class Elem(NamedTuple):
    """One path element: its name and keys (``interface[name=Ethernet1]``)."""

    name: str
    keys: dict[str, str]


def parse_path(path: str | None) -> list[Elem]:
    """``a/b[k=v][k2=v2]/c`` (leading ``/`` and ``origin:`` tolerated) -> elements with their keys."""
    if not path:
        return []
    elems: list[Elem] = []
    name: list[str] = []
    keys: dict[str, str] = {}
    i, n = 0, len(path)
    while i < n:
        ch = path[i]
        if ch == "[":
            end = i + 1
            while end < n and path[end] != "]":
                end += 2 if path[end] == "\\" else 1
            body = path[i + 1 : end].replace("\\]", "]")
            key, _, value = body.partition("=")
            keys[key] = value
            i = end + 1
            continue
        if ch == "/":
            if name or keys:
                elems.append(Elem("".join(name), keys))
            name, keys = [], {}
        else:
            name.append(ch)
        i += 1
    if name or keys:
        elems.append(Elem("".join(name), keys))
    # "origin:" / "module:container" prefixes (pygnmi strips origins, other clients may not)
    stripped = [Elem(e.name.split(":", 1)[-1], e.keys) for e in elems]
    return [e for e in stripped if e.name or e.keys]


def join(prefix: str | None, path: str | None) -> list[Elem]:
    """The full path of an update: its notification's prefix, then its own path."""
    return parse_path(prefix) + parse_path(path)
