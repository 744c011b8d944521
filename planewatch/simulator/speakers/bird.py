"""The simulator speaks BIRD: one control socket per simulated server, answering like Calico's BIRD 1.6.

The BIRD collector cannot tell this from a real calico-node: same greeting, same reply
codes, and ``show protocols all`` shaped line for line like real BIRD 1.6.8 output
(``tests/fixtures/bird/bird16_*.raw``). State comes from the simulator's records, fed
per tick through :meth:`BirdSpeaker.update`:

* ``BgpSession`` sets a protocol's BGP state, ``since`` (BIRD prints whole seconds, as
  1.6 does) and last error. Like BIRD, a session's route statistics restart from zero
  whenever its protocol changes state, so the collector sees the same resets it would see
  on a real node.
* ``BgpRouteCounters`` carries per-poll *deltas*; the speaker accumulates them into the
  cumulative counters BIRD prints (import updates received = accepted, export updates
  accepted), so the collector's deltas reproduce the simulator's.

A server that is down (server-down scenario) has a dead BIRD: its socket is closed and
open connections are dropped, so connecting fails with "connection refused" exactly as
with a stale socket of a crashed BIRD. When it comes back it is a *new* BIRD (new boot
time in ``show status``, counters from zero). Liveness is given explicitly
(``update(records, alive=...)``) or inferred: the simulator polls every live server's
BIRD once per tick, so a server with no ``BgpRouteCounters`` in a batch that has some is down.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import os
from collections.abc import Iterable
from pathlib import Path

from planewatch.inventory import Inventory
from planewatch.schemas.records import BgpRouteCounters, BgpSession, Record

__all__ = ["BirdSpeaker", "format_protocols", "format_status"]

VERSION = "1.6.8"
LOCAL_AS = 64512
DATE_ONLY_AFTER = 20 * 3600
"""BIRD prints only the date for a ``since`` older than this."""
_PROTO_STATE = {"Established": "up", "Idle": "start", "Connect": "start", "Active": "start",
                "OpenSent": "start", "OpenConfirm": "start"}


@dataclasses.dataclass
class _Session:
    protocol: str
    peer_ip: str
    source_ip: str
    state: str = "Established"
    since: float = 0.0
    error: str = ""
    imported: int = 0
    exported: int = 0
    import_updates: int = 0
    import_withdraws: int = 0
    export_updates: int = 0
    export_withdraws: int = 0

    def reset_stats(self) -> None:
        self.imported = self.exported = 0
        self.import_updates = self.import_withdraws = self.export_updates = self.export_withdraws = 0


@dataclasses.dataclass
class _Server:
    name: str
    router_id: str
    addresses: list[str]
    boot: float
    sessions: dict[str, _Session] = dataclasses.field(default_factory=dict)
    alive: bool = True
    server: asyncio.AbstractServer | None = None
    writers: set[asyncio.StreamWriter] = dataclasses.field(default_factory=set)


def _time(ts: float, now: float, tz: dt.tzinfo = dt.timezone.utc) -> str:
    """BIRD 1.6's default protocol time format: ``%T`` within 20 h, else ``%F``."""
    moment = dt.datetime.fromtimestamp(int(ts), tz)
    return moment.strftime("%H:%M:%S") if now - ts < DATE_ONLY_AFTER else moment.strftime("%Y-%m-%d")


def _stats_row(label: str, *cells: object) -> str:
    return f"    {label:<20}" + " ".join(f"{c:>10}" for c in cells)


def _session_block(s: _Session, now: float) -> list[tuple[int, str]]:
    """(code, text) lines of one BGP protocol, as BIRD 1.6.8 prints them for Calico's bgp_template."""
    up = s.state == "Established"
    info = f"{s.state:<14}{s.error}"
    lines = [
        (1002, f"{s.protocol:<8} {'BGP':<8} {'master':<8} {_PROTO_STATE.get(s.state, 'start'):<6} {_time(s.since, now):<10}  {info}"),
        (1006, "  Description:    Connection to BGP peer"),
        (1006, "  Preference:     100"),
        (1006, "  Input filter:   ACCEPT"),
        (1006, "  Output filter:  calico_export_to_bgp_peers"),
        (1006, f"  Routes:         {s.imported} imported, {s.exported} exported, {s.imported} preferred"),
        (1006, f"  {'Route change stats:':<22}" + " ".join(f"{h:>10}" for h in ("received", "rejected", "filtered", "ignored", "accepted"))),
        (1006, _stats_row("Import updates:", s.import_updates, 0, 0, 0, s.import_updates)),
        (1006, _stats_row("Import withdraws:", s.import_withdraws, 0, "---", 0, s.import_withdraws)),
        (1006, _stats_row("Export updates:", s.export_updates, 0, 0, "---", s.export_updates)),
        (1006, _stats_row("Export withdraws:", s.export_withdraws, "---", "---", "---", s.export_withdraws)),
        (1006, f"  BGP state:          {s.state}"),
        (1006, f"    Neighbor address: {s.peer_ip}"),
        (1006, f"    Neighbor AS:      {LOCAL_AS}"),
    ]
    if up:
        lines += [
            (1006, f"    Neighbor ID:      {s.peer_ip}"),
            (1006, "    Neighbor caps:    refresh enhanced-refresh restart-aware llgr-aware AS4"),
            (1006, "    Session:          internal AS4"),
            (1006, f"    Source address:   {s.source_ip}"),
            (1006, "    Hold timer:       70/90"),
            (1006, "    Keepalive timer:  10/30"),
        ]
    elif s.error:
        lines.append((1006, f"    Last error:       {s.error}"))
    return lines


def _device_block(server: _Server, now: float) -> list[tuple[int, str]]:
    return [
        (1002, f"{'device1':<8} {'Device':<8} {'master':<8} {'up':<6} {_time(server.boot, now):<10}  "),
        (1006, "  Preference:     240"),
        (1006, "  Input filter:   ACCEPT"),
        (1006, "  Output filter:  REJECT"),
        (1006, "  Routes:         0 imported, 0 exported, 0 preferred"),
        (1006, f"  {'Route change stats:':<22}" + " ".join(f"{h:>10}" for h in ("received", "rejected", "filtered", "ignored", "accepted"))),
        (1006, _stats_row("Import updates:", 0, 0, 0, 0, 0)),
        (1006, _stats_row("Import withdraws:", 0, 0, "---", 0, 0)),
        (1006, _stats_row("Export updates:", 0, 0, 0, "---", 0)),
        (1006, _stats_row("Export withdraws:", 0, "---", "---", "---", 0)),
    ]


def _encode(blocks: list[list[tuple[int, str]]], header: tuple[int, str] | None) -> bytes:
    """BIRD's wire form: a code on the first line of each code run, a space on continuations, ``0000`` at the end."""
    out: list[str] = []
    previous: int | None = None
    if header:
        out.append(f"{header[0]:04d}-{header[1]}")
        previous = header[0]
    for block in blocks:
        for code, text in block:
            out.append(f" {text}" if code == previous else f"{code:04d}-{text}")
            previous = code
        out.append(" ")  # BIRD ends each protocol block with an empty continuation line
    out.append("0000 ")
    return ("\n".join(out) + "\n").encode()


def format_protocols(server: _Server, now: float, names: list[str] | None = None, details: bool = True) -> bytes:
    """The reply to ``show protocols [all] [name]``."""
    header = (2002, f"{'name':<8} {'proto':<8} {'table':<8} {'state':<6} {'since':<10}  info")
    blocks = [_device_block(server, now)] + [_session_block(s, now) for s in server.sessions.values()]
    if names:
        blocks = [b for b in blocks if b[0][1].split()[0] in names]
    if not details:
        blocks = [b[:1] for b in blocks]
        out = [f"{header[0]:04d}-{header[1]}"] + [f"{code:04d}-{text}" for b in blocks for code, text in b] + ["0000 "]
        return ("\n".join(out) + "\n").encode()
    return _encode(blocks, header)


def format_status(server: _Server, now: float) -> bytes:
    def stamp(ts: float) -> str:
        return dt.datetime.fromtimestamp(int(ts), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")

    return (
        f"1000-BIRD {VERSION}\n"
        f"1011-Router ID is {server.router_id}\n"
        f" Current server time is {stamp(now)}\n"
        f" Last reboot on {stamp(server.boot)}\n"
        f" Last reconfiguration on {stamp(server.boot)}\n"
        "0013 Daemon is up and running\n"
    ).encode()


class BirdSpeaker:
    """One BIRD-1.6-format control socket per inventory server, at ``<directory>/<server>.ctl``."""

    def __init__(self, inventory: Inventory, directory: str | os.PathLike[str], *, start_ts: float = 0.0):
        self.inventory = inventory
        self.directory = Path(directory)
        self.now = start_ts
        """Simulated time reached (the latest record's ``ts``); BIRD's "current server time"."""
        self._servers: dict[str, _Server] = {}
        for server in inventory.document.servers:
            addresses = [str(a) for a in server.addresses.values()]
            self._servers[server.name] = _Server(server.name, addresses[0] if addresses else "0.0.0.0", addresses, start_ts)
        self.served = 0
        """Commands answered (all sockets)."""

    def socket_path(self, server: str) -> Path:
        return self.directory / f"{server}.ctl"

    @property
    def servers(self) -> list[str]:
        return list(self._servers)

    async def start(self) -> None:
        """Listen on every live server's socket."""
        self.directory.mkdir(parents=True, exist_ok=True)
        for server in self._servers.values():
            if server.alive:
                await self._listen(server)

    async def stop(self) -> None:
        """Close every socket and connection, and remove the socket files."""
        for server in self._servers.values():
            await self._silence(server)
            self.socket_path(server.name).unlink(missing_ok=True)

    async def update(self, records: Iterable[Record], alive: Iterable[str] | None = None) -> None:
        """Apply one batch of simulator records (in event-time order) and the servers' liveness."""
        records = list(records)
        batch = sorted((r for r in records if isinstance(r, (BgpSession, BgpRouteCounters))), key=lambda r: r.ts)
        polled = {r.node for r in batch if isinstance(r, BgpRouteCounters)}
        if alive is not None:
            living = set(alive)
        elif polled:
            living = polled
        else:
            living = {name for name, s in self._servers.items() if s.alive}
        for record in batch:
            self.now = max(self.now, record.ts)
            server = self._servers.get(record.node)
            if server is None:
                continue
            if isinstance(record, BgpSession):
                self._on_session(server, record)
            else:
                self._on_counters(server, record)
        self.now = max([self.now, *(r.ts for r in records)])  # the Watermark too: BIRD's clock runs on
        for server in self._servers.values():
            up = server.name in living
            if up and not server.alive:
                await self._revive(server)
            elif not up and server.alive:
                server.alive = False
                await self._silence(server)

    # -- state -----------------------------------------------------------------------
    @staticmethod
    def _session(server: _Server, record: BgpSession | BgpRouteCounters) -> _Session:
        session = server.sessions.get(record.protocol)
        if session is None:
            source = next((a for a in server.addresses if a.split(".")[:2] == record.peer_ip.split(".")[:2]), server.router_id)
            session = server.sessions[record.protocol] = _Session(record.protocol, record.peer_ip, source, since=record.ts)
        return session

    def _on_session(self, server: _Server, record: BgpSession) -> None:
        session = self._session(server, record)
        was_up = session.state == "Established"
        if (record.state == "Established") != was_up or record.ts != session.since:
            session.reset_stats()  # BIRD zeroes a protocol's statistics when it changes state
        session.state, session.since = record.state, record.ts
        session.error = "" if record.state == "Established" else record.info

    def _on_counters(self, server: _Server, record: BgpRouteCounters) -> None:
        session = self._session(server, record)
        session.imported, session.exported = record.routes_imported, record.routes_exported
        session.import_updates += record.import_updates
        session.import_withdraws += record.import_withdraws
        session.export_updates += record.export_updates
        session.export_withdraws += record.export_withdraws

    async def _revive(self, server: _Server) -> None:
        """A new BIRD process: new boot time, statistics from zero (session states as last reported)."""
        server.alive = True
        server.boot = self.now
        for session in server.sessions.values():
            session.reset_stats()
        await self._listen(server)

    # -- sockets ---------------------------------------------------------------------
    async def _listen(self, server: _Server) -> None:
        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await self._serve(server, reader, writer)

        server.server = await asyncio.start_unix_server(handle, path=str(self.socket_path(server.name)))

    async def _silence(self, server: _Server) -> None:
        if server.server is not None:
            server.server.close()
            server.server = None
        for writer in list(server.writers):
            writer.close()
        server.writers.clear()

    async def _serve(self, server: _Server, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        server.writers.add(writer)
        try:
            writer.write(f"0001 BIRD {VERSION} ready.\n".encode())
            await writer.drain()
            while server.alive:
                line = await reader.readline()
                if not line:
                    break
                writer.write(self.answer(server.name, line.decode("utf-8", "replace").strip()))
                self.served += 1
                await writer.drain()
        except (ConnectionError, OSError):
            pass  # the collector hung up, or we dropped it because the server died
        finally:
            server.writers.discard(writer)
            writer.close()

    def answer(self, name: str, command: str) -> bytes:
        """The reply bytes to one command line."""
        server = self._servers[name]
        words = command.split()
        if words[:2] == ["show", "status"]:
            return format_status(server, self.now)
        if words[:2] == ["show", "protocols"]:
            rest = words[2:]
            details = bool(rest) and rest[0] == "all"
            names = [w.strip('"') for w in rest[1 if details else 0:]]
            known = {"device1", *server.sessions}
            for n in names:
                if n not in known:
                    return f"9002 {n} is not a protocol\n".encode()
            return format_protocols(server, self.now, names or None, details)
        return b"9001 syntax error\n"
