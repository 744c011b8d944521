"""Parse ``show protocols all`` and ``show status`` of BIRD 1.6 (what Calico runs) and BIRD 2.x.

The two versions print the same facts in different shapes (see the real outputs in
``tests/fixtures/bird/``):

* 1.6: header ``name proto table state since info``, table ``master``, ``since`` as
  ``05:54:11`` (today) or ``2026-11-26`` / ``2026-11-26 05:54:11`` (with ``timeformat
  protocol iso long``); routes and "Route change stats" directly under the protocol.
* 2.x: header ``Name Proto Table State Since Info``, table ``---`` for BGP, ``since`` with
  milliseconds (``05:55:57.395``); routes and stats under each ``Channel ipv4``/``ipv6``.

Both omit the route statistics entirely while a protocol is ``down`` (disabled), and
both print ``---`` for counters that do not apply (e.g. "filtered" withdraws); we keep
those as ``None`` so "not applicable" never reads as "zero".

BIRD prints times in the daemon's local time zone without saying which, and the short
forms carry no date: :func:`parse_since` needs the time zone (calico-node runs in UTC)
and "now" to place them. A date-only ``since`` (BIRD's form for transitions older than
~20 h) is read as that day's midnight — coarse, and flagged by :attr:`ProtocolInfo.since_precise`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable

__all__ = [
    "BGP_STATES",
    "BirdStatus",
    "ChannelInfo",
    "ProtocolInfo",
    "RouteStats",
    "parse_protocols",
    "parse_since",
    "parse_status",
]

BGP_STATES = ("Idle", "Connect", "Active", "OpenSent", "OpenConfirm", "Established")
"""The BGP FSM states (RFC 4271). BIRD additionally prints ``Down`` (protocol disabled) and ``Close``."""

_MONTHS = {m: i for i, m in enumerate(("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_SINCE = re.compile(
    r"(?P<since>\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?"
    r"|\d{4}-\d\d-\d\d"
    r"|\d\d:\d\d:\d\d(?:\.\d+)?"
    r"|\d\d:\d\d"
    r"|(?:" + "|".join(_MONTHS) + r")\d\d"
    r"|\d{9,}(?:\.\d+)?"
    r"|\d{4})(?=\s|$)"
)


@dataclasses.dataclass(frozen=True)
class RouteStats:
    """One "Route change stats" row; ``None`` where BIRD prints ``---`` (not applicable)."""

    received: int | None
    rejected: int | None
    filtered: int | None
    ignored: int | None
    accepted: int | None


@dataclasses.dataclass(frozen=True)
class ChannelInfo:
    """Routes and route-change statistics of one channel (2.x) or of the protocol itself (1.6: ``name`` None)."""

    name: str | None
    table: str | None
    state: str | None = None
    routes_imported: int | None = None
    routes_exported: int | None = None
    routes_preferred: int | None = None
    import_updates: RouteStats | None = None
    import_withdraws: RouteStats | None = None
    export_updates: RouteStats | None = None
    export_withdraws: RouteStats | None = None

    @property
    def has_stats(self) -> bool:
        return self.import_updates is not None


@dataclasses.dataclass(frozen=True)
class ProtocolInfo:
    """One protocol block of ``show protocols all``."""

    name: str
    proto: str
    """``BGP``, ``Static``, ``Device``, ``Kernel``, ``Direct`` …"""
    table: str
    """``master`` (1.6), ``---`` for BGP in 2.x (tables live on channels)."""
    state: str
    """Protocol state: ``up``, ``down``, ``start``, ``stop``, ``feed``, ``flush``."""
    since_text: str
    since: float | None
    """Epoch seconds of the last protocol-state change (None if BIRD printed nothing we can read)."""
    since_precise: bool
    """False when BIRD printed only a date (or month/year): ``since`` is then that period's start."""
    info: str
    """The info column as printed, e.g. ``Active        Socket: Connection refused``."""
    description: str | None = None
    bgp_state: str | None = None
    """``Established`` … as printed on the ``BGP state:`` line (``Down`` when the protocol is down)."""
    neighbor_address: str | None = None
    neighbor_as: int | None = None
    neighbor_id: str | None = None
    source_address: str | None = None
    last_error: str | None = None
    channels: tuple[ChannelInfo, ...] = ()

    @property
    def is_bgp(self) -> bool:
        return self.proto == "BGP"

    @property
    def info_state(self) -> str | None:
        """The BGP state at the start of the info column (BIRD fills it even without ``all``)."""
        word = self.info.split(maxsplit=1)[0] if self.info.strip() else ""
        return word or None

    @property
    def info_error(self) -> str:
        """The info column after the state (BIRD's description of the last error), or ``""``."""
        parts = self.info.strip().split(maxsplit=1)
        return parts[1].strip() if len(parts) == 2 else ""

    @property
    def has_stats(self) -> bool:
        return any(c.has_stats for c in self.channels)

    def _sum(self, field: str) -> int:
        return sum(getattr(c, field) or 0 for c in self.channels)

    def _stat(self, row: str, column: str) -> int:
        return sum(getattr(getattr(c, row), column) or 0 for c in self.channels if getattr(c, row) is not None)

    @property
    def routes_imported(self) -> int:
        return self._sum("routes_imported")

    @property
    def routes_exported(self) -> int:
        return self._sum("routes_exported")

    def stat(self, row: str, column: str) -> int:
        """Sum over channels of one counter, e.g. ``stat("import_updates", "received")``; ``---`` counts as 0."""
        return self._stat(row, column)


@dataclasses.dataclass(frozen=True)
class BirdStatus:
    """``show status``."""

    version: str | None
    router_id: str | None
    server_time: float | None
    last_reboot: float | None
    last_reconfiguration: float | None
    last_reboot_text: str | None = None


# -- time -------------------------------------------------------------------------------


def _local(now: float, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.fromtimestamp(now, tz)


def parse_since(text: str, *, now: float, tz: dt.tzinfo = dt.timezone.utc) -> tuple[float | None, bool]:
    """BIRD's printed time -> (epoch seconds, precise?).

    Forms: ``2026-11-26 05:41:01[.123]`` (iso long), ``05:41:01[.123]`` (today: the most
    recent such time not after ``now``, allowing 5 min of clock skew), ``2026-11-26``
    (date only), 1.6's relative ``05:41`` / ``Nov26`` / ``2025``, and ``%s`` epochs.
    Unreadable text gives ``(None, False)``.
    """
    text = text.strip()
    try:
        if re.fullmatch(r"\d{9,}(?:\.\d+)?", text):
            return float(text), True
        m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)[ T](\d\d):(\d\d):(\d\d)(\.\d+)?", text)
        if m:
            y, mo, d, h, mi, s = map(int, m.groups()[:6])
            frac = float(m.group(7)) if m.group(7) else 0.0
            return dt.datetime(y, mo, d, h, mi, s, tzinfo=tz).timestamp() + frac, True
        m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)", text)
        if m:
            y, mo, d = map(int, m.groups())
            return dt.datetime(y, mo, d, tzinfo=tz).timestamp(), False
        m = re.fullmatch(r"(\d\d):(\d\d)(?::(\d\d)(\.\d+)?)?", text)
        if m:
            h, mi = int(m.group(1)), int(m.group(2))
            s = int(m.group(3)) if m.group(3) else 0
            frac = float(m.group(4)) if m.group(4) else 0.0
            today = _local(now, tz)
            t = dt.datetime(today.year, today.month, today.day, h, mi, s, tzinfo=tz).timestamp() + frac
            if t > now + 300:  # printed before midnight, read after it
                t = (dt.datetime(today.year, today.month, today.day, h, mi, s, tzinfo=tz) - dt.timedelta(days=1)).timestamp() + frac
            return t, m.group(3) is not None
        m = re.fullmatch(r"([A-Z][a-z]{2})(\d\d)", text)
        if m and m.group(1) in _MONTHS:
            year = _local(now, tz).year
            t = dt.datetime(year, _MONTHS[m.group(1)], int(m.group(2)), tzinfo=tz).timestamp()
            if t > now + 300:
                t = dt.datetime(year - 1, _MONTHS[m.group(1)], int(m.group(2)), tzinfo=tz).timestamp()
            return t, False
        m = re.fullmatch(r"\d{4}", text)
        if m:
            return dt.datetime(int(text), 1, 1, tzinfo=tz).timestamp(), False
    except ValueError:  # e.g. 25:61:00 -- not a time BIRD would print
        return None, False
    return None, False


# -- show protocols all -----------------------------------------------------------------

_STATS_ROW = re.compile(r"(Import|Export) (updates|withdraws):\s+(.*)$")
_ROUTES = re.compile(r"Routes:\s+(\d+) imported, (?:(\d+) filtered, )?(\d+) exported(?:, (\d+) preferred)?")


def _stats(cells: str) -> RouteStats | None:
    values = cells.split()
    if len(values) != 5:
        return None
    parsed = [None if v == "---" else int(v) for v in values]
    return RouteStats(*parsed)


class _ChannelBuilder:
    def __init__(self, name: str | None, table: str | None):
        self.fields: dict[str, object] = {"name": name, "table": table}

    def build(self) -> ChannelInfo:
        return ChannelInfo(**self.fields)  # type: ignore[arg-type]


def _header(line: str) -> bool:
    return line.split()[:2] in (["name", "proto"], ["Name", "Proto"])


def parse_protocols(text: str | Iterable[str], *, now: float, tz: dt.tzinfo = dt.timezone.utc) -> list[ProtocolInfo]:
    """Every protocol block of ``show protocols [all]`` output (the text ``birdc`` prints, or :attr:`Reply.text`).

    Raises ``ValueError`` on a protocol line it cannot read — better loud than a session
    silently missing from the collector's view.
    """
    lines = text.splitlines() if isinstance(text, str) else list(text)
    out: list[ProtocolInfo] = []
    current: dict[str, object] | None = None
    channels: list[_ChannelBuilder] = []
    channel: _ChannelBuilder | None = None

    def finish() -> None:
        nonlocal current, channels, channel
        if current is not None:
            current["channels"] = tuple(c.build() for c in channels)
            out.append(ProtocolInfo(**current))  # type: ignore[arg-type]
        current, channels, channel = None, [], None

    for line in lines:
        if not line.strip():
            continue
        if not line[0].isspace():
            if _header(line):
                continue
            finish()
            current = _protocol_line(line, now=now, tz=tz)
            continue
        if current is None:
            raise ValueError(f"detail line before any protocol line: {line!r}")
        body = line.strip()
        if body.startswith("Channel "):
            channel = _ChannelBuilder(body.split(None, 1)[1], None)
            channels.append(channel)
            continue
        key, _, value = body.partition(":")
        value = value.strip()
        if key in ("Routes", "Route change stats") or _STATS_ROW.match(body) or key in ("Preference", "Input filter", "Output filter", "State", "Table"):
            if channel is None:  # 1.6: the protocol's own (only) "channel"
                if key in ("State",):  # never happens in 1.6; keep it from creating a phantom channel
                    continue
                channel = _ChannelBuilder(None, str(current["table"]))
                channels.append(channel)
            _channel_detail(channel, key, value, body)
            continue
        if key == "Description":
            current["description"] = value
        elif key == "BGP state":
            current["bgp_state"] = value
        elif key == "Neighbor address":
            current["neighbor_address"] = value.split("%", 1)[0]  # 2.x: fe80::1%eth0
        elif key == "Neighbor AS":
            current["neighbor_as"] = int(value) if value.isdigit() else None
        elif key == "Neighbor ID":
            current["neighbor_id"] = value
        elif key == "Source address":
            current["source_address"] = value
        elif key == "Last error":
            current["last_error"] = value
    finish()
    return out


def _channel_detail(channel: _ChannelBuilder, key: str, value: str, body: str) -> None:
    f = channel.fields
    if key == "State":
        f["state"] = value
    elif key == "Table":
        f["table"] = value
    elif key == "Routes":
        m = _ROUTES.match(body)
        if m:
            f["routes_imported"] = int(m.group(1))
            f["routes_exported"] = int(m.group(3))
            f["routes_preferred"] = int(m.group(4)) if m.group(4) else None
    else:
        m = _STATS_ROW.match(body)
        if m:
            f[f"{m.group(1).lower()}_{m.group(2)}"] = _stats(m.group(3))


def _protocol_line(line: str, *, now: float, tz: dt.tzinfo) -> dict[str, object]:
    parts = line.split(None, 4)
    if len(parts) < 4:
        raise ValueError(f"not a BIRD protocol line: {line!r}")
    name, proto, table, state = parts[:4]
    rest = parts[4] if len(parts) == 5 else ""
    m = _SINCE.match(rest)
    if m:
        since_text = m.group("since")
        info = rest[m.end():].strip()
    else:
        since_text, info = "", rest.strip()
    since, precise = parse_since(since_text, now=now, tz=tz) if since_text else (None, False)
    return {
        "name": name, "proto": proto, "table": table, "state": state,
        "since_text": since_text, "since": since, "since_precise": precise, "info": info,
    }


# -- show status ------------------------------------------------------------------------


def parse_status(text: str, *, now: float, tz: dt.tzinfo = dt.timezone.utc) -> BirdStatus:
    """``show status``: version, router id and the daemon's boot time (a changed boot time means BIRD restarted)."""
    version = router_id = reboot_text = None
    times: dict[str, float | None] = {"server": None, "reboot": None, "reconf": None}
    for raw in text.splitlines():
        line = raw.strip()
        if m := re.fullmatch(r"BIRD (\S+)", line):
            version = m.group(1)
        elif m := re.fullmatch(r"Router ID is (\S+)", line):
            router_id = m.group(1)
        elif m := re.fullmatch(r"Current server time is (.+)", line):
            times["server"] = parse_since(m.group(1), now=now, tz=tz)[0]
        elif m := re.fullmatch(r"Last reboot on (.+)", line):
            reboot_text = m.group(1)
            times["reboot"] = parse_since(reboot_text, now=now, tz=tz)[0]
        elif m := re.fullmatch(r"Last reconfiguration on (.+)", line):
            times["reconf"] = parse_since(m.group(1), now=now, tz=tz)[0]
    return BirdStatus(version, router_id, times["server"], times["reboot"], times["reconf"], reboot_text)
