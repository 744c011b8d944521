"""The simulator's BIRD speaker: shaped like real BIRD 1.6.8, and the collector reproduces the simulator through it."""

from __future__ import annotations

import asyncio
import dataclasses
import math
import re
from pathlib import Path

from planewatch.collectors.bird import BirdClient, BirdCollector, BirdNode
from planewatch.collectors.bird.client import parse_reply
from planewatch.schemas.records import BgpRouteCounters, BgpSession, Record
from planewatch.simulator import Fault, Simulator, build_fabric
from planewatch.simulator.speakers.bird import BirdSpeaker

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "bird"
START = 1_795_651_200.0  # 2026-11-26 00:00:00 UTC


def _blocks(raw: str) -> dict[str, list[tuple[int, str]]]:
    """Protocol name -> its (code, digit-masked text) lines."""
    reply = parse_reply(raw)
    out: dict[str, list[tuple[int, str]]] = {}
    current: list[tuple[int, str]] = []
    for line in reply.lines[1:]:
        if line.code == 1002:
            current = out.setdefault(line.text.split()[0], [])
        current.append((line.code, re.sub(r"\d+", "N", line.text)))
    return out


def test_speaker_output_is_shaped_like_real_bird16() -> None:
    """Same codes, same columns, same lines as the capture; only the numbers may differ
    (the capture's numbers all have one digit, and so do ours here, so widths line up)."""
    real_raw = (FIXTURES / "bird16_server_established.raw").read_text().split("\n", 1)[1]
    inventory = build_fabric(planes=2, racks=1, servers_per_rack=1, route_reflectors_per_plane=1)
    speaker = BirdSpeaker(inventory, "/nonexistent", start_ts=START)
    node = speaker.servers[0]
    asyncio.run(speaker.update([
        BgpSession(ts=START + 5, plane=1, node=node, protocol="Node_10_2_255_1", peer_ip="10.2.255.1", state="Established"),
        BgpRouteCounters(ts=START + 6, plane=1, node=node, protocol="Node_10_2_255_1", peer_ip="10.2.255.1",
                         routes_imported=3, routes_exported=2, import_updates=3, import_withdraws=0, export_updates=2, export_withdraws=0),
    ], alive=[node]))
    ours_raw = speaker.answer(node, "show protocols all").decode()
    real, ours = _blocks(real_raw), _blocks(ours_raw)
    assert ours["Node_10_2_255_1"][:-2] == real["Node_10_2_255_1"][:-2]  # all but the hold/keepalive timers
    assert [c for c, _ in ours["Node_10_2_255_1"]] == [c for c, _ in real["Node_10_2_255_1"]]
    assert ours["device1"] == real["device1"]
    assert parse_reply(ours_raw).lines[0] == parse_reply(real_raw).lines[0]  # the header, byte for byte
    # framing: blank continuation after each block, "0000 " at the end
    assert ours_raw.endswith("\n \n0000 \n") and "\n \n1002-" in ours_raw
    status = speaker.answer(node, "show status").decode()
    assert re.sub(r"[\d.]+", "N", status) == re.sub(r"[\d.]+", "N", (FIXTURES / "bird16_show_status.raw").read_text().split("\n", 1)[1])
    assert speaker.answer(node, "show foo") == b"9001 syntax error\n"


@dataclasses.dataclass
class _Expect:
    """What a poller of real BIRD can know about one session: its last (state, since) and the counts since."""

    state: tuple[str, int] | None = None
    info: str = ""
    reported: tuple[str, int] | None = None
    pending: list[int] = dataclasses.field(default_factory=lambda: [0, 0, 0, 0])
    routes: tuple[int, int] = (0, 0)
    seen: bool = False


def test_round_trip_reproduces_the_simulator(tmp_path: Path) -> None:
    """Simulator -> speaker sockets -> collector: the same transitions (to BIRD's 1 s) and counter deltas.

    Per tick the collector polls once. It can only see the *last* state of a session in a
    tick, and (like on a real node) the counters a session accumulated before it restarted
    are gone; the expected records below follow exactly those two rules, nothing more.
    """
    inventory = build_fabric(planes=2, racks=2, servers_per_rack=3, route_reflectors_per_plane=2)
    flapper, victim = inventory.document.servers[1].name, inventory.document.servers[4].name
    faults = [
        Fault("bgp-flap", at=20, duration=120, plane=1, server=flapper, magnitude=15),
        Fault("server-down", at=60, duration=40, server=victim),
        Fault("plane-down", at=160, duration=40, plane=2),
    ]
    sim = Simulator(inventory, faults, start_ts=START, seed=3, tick=5.0)

    class SimClock:
        def now(self) -> float:
            return sim.now

        async def sleep(self, seconds: float) -> None:  # pragma: no cover - poll_once only
            raise AssertionError("not used")

    async def scenario() -> tuple[list[list[Record]], list[list[Record]], list[dict[str, object]]]:
        speaker = BirdSpeaker(inventory, tmp_path, start_ts=START)
        await speaker.start()
        collector = BirdCollector([BirdNode(s, speaker.socket_path(s)) for s in speaker.servers], inventory,
                                  clock=SimClock(), concurrency=4, connect_timeout=1, read_timeout=2)
        sim_ticks, got_ticks = [], []
        try:
            for _ in range(50):
                records = sim.step()
                await speaker.update(records)
                sim_ticks.append(records)
                got_ticks.append(await collector.poll_once())
            return sim_ticks, got_ticks, collector.status()
        finally:
            await collector.close()
            await speaker.stop()

    sim_ticks, got_ticks, status = asyncio.run(scenario())

    expect: dict[tuple[str, str], _Expect] = {}
    alive_before: set[str] = set()
    compared_sessions = compared_counters = nonzero = 0
    for tick, (records, got) in enumerate(zip(sim_ticks, got_ticks)):
        polled = {r.node for r in records if isinstance(r, BgpRouteCounters)}
        for r in sorted((r for r in records if isinstance(r, (BgpSession, BgpRouteCounters))), key=lambda r: r.ts):
            e = expect.setdefault((r.node, r.protocol), _Expect())
            if isinstance(r, BgpSession):
                new = (r.state, math.floor(r.ts))
                if e.state is not None and (new[0] == "Established") != (e.state[0] == "Established"):
                    e.pending, e.routes = [0, 0, 0, 0], (0, 0)  # BIRD restarts the session's statistics
                e.state, e.info = new, r.info
            else:
                e.pending = [a + b for a, b in zip(e.pending, (r.import_updates, r.import_withdraws, r.export_updates, r.export_withdraws))]
                e.routes = (r.routes_imported, r.routes_exported)
        want_sessions, want_counters = set(), set()
        for (node, protocol), e in expect.items():
            if node not in polled:
                continue
            revived = tick > 0 and node not in alive_before
            if e.state != e.reported:
                want_sessions.add((node, protocol, e.state[0], e.state[1], e.info))
                e.reported = e.state
            deltas = (0, 0, 0, 0) if not e.seen or revived else tuple(e.pending)
            want_counters.add((node, protocol, *e.routes, *deltas))
            e.pending, e.seen = [0, 0, 0, 0], True
        alive_before = polled
        got_sessions = {(r.node, r.protocol, r.state, int(r.ts), r.info) for r in got if isinstance(r, BgpSession)}
        got_counters = {(r.node, r.protocol, r.routes_imported, r.routes_exported, r.import_updates, r.import_withdraws,
                         r.export_updates, r.export_withdraws) for r in got if isinstance(r, BgpRouteCounters)}
        assert got_sessions == want_sessions, f"tick {tick}"
        assert got_counters == want_counters, f"tick {tick}"
        assert all(r.plane == inventory.plane_of_ip(r.peer_ip) != 0 for r in got if isinstance(r, (BgpSession, BgpRouteCounters)))
        compared_sessions += len(want_sessions)
        compared_counters += len(want_counters)
        nonzero += sum(1 for c in want_counters if any(c[4:]))

    transitions = compared_sessions - 6 * 2 * 2  # minus the initial state of every session
    assert transitions >= 20 and nonzero >= 10, (transitions, nonzero)
    by_node = {s["target"]: s for s in status}
    assert by_node[victim]["failures"] >= 7 and by_node[victim]["reconnects"] == 1 and by_node[victim]["bird_restarts"] == 1
    assert all(s["failures"] == 0 for n, s in by_node.items() if n != victim)
    assert all(s["unknown_plane"] == 0 and s["state"] == "up" for s in status)


def test_a_down_server_refuses_connections(tmp_path: Path) -> None:
    inventory = build_fabric(planes=2, racks=1, servers_per_rack=2, route_reflectors_per_plane=1)
    a, b = [s.name for s in inventory.document.servers]

    async def scenario() -> None:
        speaker = BirdSpeaker(inventory, tmp_path, start_ts=START)
        await speaker.start()
        try:
            client = BirdClient(speaker.socket_path(a))
            await client.connect()
            await speaker.update([], alive=[b])
            from planewatch.collectors.bird import BirdError
            try:
                await client.command("show status")
                raise AssertionError("a dead BIRD answered")
            except BirdError:
                pass
            try:
                await BirdClient(speaker.socket_path(a)).connect()
                raise AssertionError("a dead BIRD accepted a connection")
            except BirdError as error:
                assert "refused" in str(error)
            await speaker.update([], alive=[a, b])
            async with BirdClient(speaker.socket_path(a)) as again:
                assert "BIRD 1.6.8" in (await again.command("show status")).text
        finally:
            await speaker.stop()
    asyncio.run(scenario())
