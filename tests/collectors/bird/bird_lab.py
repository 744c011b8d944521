"""A small real BGP plane in network namespaces: one route reflector and two Calico-like servers.

``<p>rr`` holds a bridge (the plane's L2 segment, 10.2.0.0/16) with the RR on 10.2.255.1;
``<p>s1`` (10.2.0.11) and ``<p>s2`` (10.2.0.12) hang off it by veth pairs. Each runs real
BIRD — 1.6.8 unpacked by ``scripts/deps/bird.sh`` (Calico's lineage) or Debian's bird2 —
with Calico's shape: a ``bgp_template`` with ``debug { states }``, protocols named
``Node_10_2_255_1``, and /26 + /32 workload routes exported from a static protocol.
The RR is passive: when both sides connect at once, BIRD resolves the collision by
dropping a session that had just come up, which made start-up flap nondeterministically.
Hold timers are 30 s, so a loaded CI box starving BIRD for a few seconds cannot expire
one behind a test's back; only the test that *wants* a hold-timer expiry switches the
servers to hold 6 s (:meth:`Lab.set_fast_hold`; BGP negotiates the smaller of the two).

:meth:`Lab.wait_settled` waits for real quiescence, not just "Established": every session
in the expected state on *both* ends, with the expected routes, and unchanged (by BIRD's
own ``since``) for :data:`QUIET` seconds, so a session that is about to be torn down is
never taken as a baseline or as the state an assertion poll will see.
Daemons are stopped by PID and the namespaces deleted in :meth:`Lab.close`.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from planewatch.collectors.bird.client import BirdClient
from planewatch.collectors.bird.parse import ProtocolInfo, parse_protocols
from planewatch.collectors.bird.sessions import same_time

from tooling import require_tool  # noqa: E402

BIRD16_DIR = Path(os.environ.get("PLANEWATCH_BIRD16", "/var/cache/planewatch/bird16"))
BIRD16 = BIRD16_DIR / "usr/sbin/bird"
BIRD2 = Path("/usr/sbin/bird")
RR_IP = "10.2.255.1"
SERVERS = {"s1": "10.2.0.11", "s2": "10.2.0.12"}
PROTOCOL = "Node_10_2_255_1"
HOLD, FAST_HOLD, KEEPALIVE = 30, 6, 2
"""Keepalives stay at 2 s on every side: BIRD 1.6 does not scale its configured keepalive
down to a smaller negotiated hold time, so an RR sending every 10 s would let a server on
hold 6 s expire in the middle of a quiet session."""
QUIET = 1.5
"""Seconds every session must have stayed as it is before the lab counts as settled."""


def bird_binary(version: str) -> Path:
    return BIRD16 if version == "1.6" else BIRD2


def bird_version_ok(version: str) -> bool:
    binary = bird_binary(version)
    if not os.access(binary, os.X_OK):
        return False
    out = subprocess.run([binary, "--version"], capture_output=True, text=True).stderr
    return out.startswith("BIRD version 1.6" if version == "1.6" else "BIRD version 2")


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


def workload_routes(server: str, extra: int = 0) -> list[str]:
    n = SERVERS[server].rsplit(".", 1)[1]
    return [f"192.168.{n}.0/26", f"192.168.{n}.1/32"] + [f"192.168.{n}.{2 + k}/32" for k in range(extra)]


def rr_protocol(server: str) -> str:
    """The RR's protocol for a server: ``Node_10_2_0_11``."""
    return f"Node_{SERVERS[server].replace('.', '_')}"


def _server_conf(version: str, name: str, routes: list[str], log: Path, hold: int = HOLD) -> str:
    ip = SERVERS[name]
    statics = " ".join(f"route {r} blackhole;" for r in routes)
    if version == "1.6":
        timeformat = "timeformat protocol iso long;" if name == "s2" else ""
        static = f"protocol static workloads {{ {statics} }}"
        channel = "import all; export filter calico_export_to_bgp_peers; gateway direct; add paths on;"
    else:
        timeformat = "timeformat protocol iso long;" if name == "s2" else ""
        static = f"protocol static workloads {{ ipv4; {statics} }}"
        channel = "ipv4 { import all; export filter calico_export_to_bgp_peers; gateway direct; add paths on; };"
    return f"""log "{log}" all;
{timeformat}
router id {ip};
protocol device {{ debug {{ states }}; scan time 2; }}
{static}
filter calico_export_to_bgp_peers {{ if source = RTS_STATIC then accept; reject; }}
template bgp bgp_template {{
  debug {{ states }};
  description "Connection to BGP peer";
  local as 64512;
  direct;
  {channel}
  source address {ip};
  graceful restart;
  hold time {hold}; keepalive time {KEEPALIVE};
  connect delay time 1; connect retry time 2; error wait time 1,2;
}}
protocol bgp {PROTOCOL} from bgp_template {{ neighbor {RR_IP} as 64512; }}
"""


def _rr_conf(version: str, log: Path) -> str:
    channel = "import all; export all; gateway direct;" if version == "1.6" else "ipv4 { import all; export all; gateway direct; };"
    peers = "\n".join(
        f"protocol bgp Node_{ip.replace('.', '_')} from rr_client {{ neighbor {ip} as 64512; }}" for ip in SERVERS.values()
    )
    return f"""log "{log}" all;
router id {RR_IP};
protocol device {{ scan time 2; }}
template bgp rr_client {{
  debug {{ states }};
  local as 64512;
  rr client;
  rr cluster id {RR_IP};
  passive on;  # servers connect; no connection collisions (they flap a fresh session)
  direct;
  {channel}
  hold time {HOLD}; keepalive time {KEEPALIVE};
  connect delay time 1; connect retry time 2; error wait time 1,2;
}}
{peers}
"""


def _running(pid: int) -> bool:
    """Alive and not a zombie (daemonised BIRD is reparented to PID 1, which may never reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


class _NotYet(Exception):
    """The lab is not (yet) in the state waited for; the message says what is missing."""


class Lab:
    """The namespaces, configs and BIRD daemons of one BIRD version."""

    def __init__(self, version: str, workdir: Path):
        self.version = version
        self.dir = workdir
        self.prefix = f"pwb{os.getpid() % 100000}{'a' if version == '1.6' else 'b'}"
        self.pids: dict[str, int] = {}
        self.netns: list[str] = []
        self.extra_routes = {name: 0 for name in SERVERS}
        self.fast_hold = False

    # -- set-up / tear-down ----------------------------------------------------------
    def ns(self, node: str) -> str:
        return f"{self.prefix}{node}"

    def socket(self, node: str) -> Path:
        return self.dir / f"{node}.ctl"

    def start_network(self) -> None:
        rr = self.ns("rr")
        _ip("netns", "add", rr)
        self.netns.append(rr)
        _ip("-n", rr, "link", "set", "lo", "up")
        _ip("-n", rr, "link", "add", "br0", "type", "bridge")
        _ip("-n", rr, "addr", "add", f"{RR_IP}/16", "dev", "br0")
        _ip("-n", rr, "link", "set", "br0", "up")
        for name, address in SERVERS.items():
            ns = self.ns(name)
            _ip("netns", "add", ns)
            self.netns.append(ns)
            _ip("link", "add", "eth0", "netns", ns, "type", "veth", "peer", "name", f"to-{name}", "netns", rr)
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "addr", "add", f"{address}/16", "dev", "eth0")
            _ip("-n", ns, "link", "set", "eth0", "up")
            _ip("-n", rr, "link", "set", f"to-{name}", "master", "br0")
            _ip("-n", rr, "link", "set", f"to-{name}", "up")

    def write_config(self, node: str) -> Path:
        path = self.dir / f"{node}.conf"
        log = self.dir / f"{node}.log"
        if node == "rr":
            path.write_text(_rr_conf(self.version, log))
        else:
            hold = FAST_HOLD if self.fast_hold else HOLD
            path.write_text(_server_conf(self.version, node, workload_routes(node, self.extra_routes[node]), log, hold))
        return path

    def start_bird(self, node: str) -> None:
        conf = self.write_config(node)
        pidfile = self.dir / f"{node}.pid"
        pidfile.unlink(missing_ok=True)
        self.socket(node).unlink(missing_ok=True)
        subprocess.run(
            ["ip", "netns", "exec", self.ns(node), str(bird_binary(self.version)),
             "-c", str(conf), "-s", str(self.socket(node)), "-P", str(pidfile)],
            check=True, capture_output=True, text=True,
        )
        deadline = time.monotonic() + 5
        while not (pidfile.exists() and pidfile.read_text().strip() and self.socket(node).exists()):
            if time.monotonic() > deadline:
                raise RuntimeError(f"BIRD {self.version} on {node} did not start; see {self.dir / (node + '.log')}")
            time.sleep(0.05)
        self.pids[node] = int(pidfile.read_text().strip())

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        self.start_network()
        for node in ("rr", *SERVERS):
            self.start_bird(node)

    def signal(self, node: str, sig: signal.Signals) -> None:
        os.kill(self.pids[node], sig)

    def kill(self, node: str) -> None:
        """SIGKILL by PID and wait until it is gone (a crash: no goodbye to peers beyond TCP's)."""
        pid = self.pids.pop(node)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and _running(pid):
            time.sleep(0.02)

    def close(self) -> None:
        for node in list(self.pids):
            self.kill(node)
        for ns in self.netns:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        self.netns.clear()

    # -- looking and waiting -----------------------------------------------------------
    async def command(self, node: str, command: str) -> str:
        async with BirdClient(self.socket(node)) as bird:
            return (await bird.command(command)).text

    async def session(self, node: str) -> ProtocolInfo:
        text = await self.command(node, f"show protocols all {PROTOCOL}")
        return parse_protocols(text, now=time.time())[0]

    async def wait_for(self, what: str, predicate, timeout: float = 20.0) -> None:  # type: ignore[no-untyped-def]
        """Poll (through our own client) until ``await predicate()`` holds."""
        deadline = time.monotonic() + timeout
        last: object = None
        while time.monotonic() < deadline:
            try:
                last = await predicate()
                if last:
                    return
            except Exception as error:  # BIRD restarting: keep waiting
                last = error
            await asyncio.sleep(0.1)
        raise AssertionError(f"BIRD {self.version}: timed out waiting for {what} (last: {last!r}); logs in {self.dir}")

    async def wait_settled(self, down: tuple[str, ...] = (), quiet: float = QUIET, timeout: float = 30.0) -> None:
        """Real quiescence: the servers not in ``down`` Established on both ends, each
        importing what the other up server announces (and the RR what each announces); the
        ``down`` ones not Established on either end; and no session changed for ``quiet``
        seconds — by BIRD's own ``since`` (with a second's slack for 1.6's whole-second,
        jittery clock), confirmed unchanged across two consecutive looks."""
        up = [n for n in SERVERS if n not in down]
        previous: dict[str, tuple[str | None, float | None, str]] | None = None

        async def look() -> dict[str, tuple[str | None, float | None, str]]:
            views: dict[str, ProtocolInfo] = {}
            for node in SERVERS:
                views[node] = await self.session(node)
            rr = {p.name: p for p in parse_protocols(await self.command("rr", "show protocols all"), now=time.time())}
            for node in SERVERS:
                views[f"rr:{node}"] = rr[rr_protocol(node)]
            now = time.time()
            problems = []
            for key, p in views.items():
                server = key.removeprefix("rr:")
                established = p.bgp_state == "Established"
                if server in down:
                    if established:
                        problems.append(f"{key} still Established")
                    continue
                if not established:
                    problems.append(f"{key} {p.bgp_state}")
                    continue
                if key.startswith("rr:"):
                    want = 2 + self.extra_routes[server]
                else:
                    want = sum(2 + self.extra_routes[o] for o in up if o != server)
                if p.routes_imported != want:
                    problems.append(f"{key} imports {p.routes_imported} routes, not {want}")
                slack = 0.0 if re.search(r":\d\d\.\d", p.since_text) else 1.0
                if p.since is None or now - p.since < quiet + slack:
                    problems.append(f"{key} changed {now - (p.since or 0):.1f} s ago")
            if problems:
                raise _NotYet("; ".join(problems))
            return {key: (p.bgp_state, p.since, p.since_text) for key, p in views.items()}

        async def quiet_now() -> bool:
            nonlocal previous
            try:
                current = await look()
            except Exception:
                previous = None
                raise
            same = previous is not None and all(
                previous[k][0] == v[0] and same_time(previous[k][1], v[1], v[2]) for k, v in current.items()
            )
            previous = current
            return same

        await self.wait_for(f"quiescence ({', '.join(up) or 'no server'} up, {', '.join(down) or 'none'} down)",
                            quiet_now, timeout=timeout)

    async def set_fast_hold(self, fast: bool, settle: bool = True) -> None:
        """Servers' hold timer 6 s (the test that needs an expiry) or back to 30 s; ``configure``
        restarts their sessions, so wait for quiescence again (unless ``settle`` is False: the
        caller does, e.g. with the RR down and the sessions not up anyway)."""
        if self.fast_hold == fast:
            return
        self.fast_hold = fast
        for node in SERVERS:
            before = await self.session(node)
            self.write_config(node)
            text = await self.command(node, "configure")
            # New timers restart the session, so BIRD answers before it is done.
            assert "Reconfigured" in text or "Reconfiguration in progress" in text, text

            async def restarted(node: str = node, before: ProtocolInfo = before) -> bool:
                now = await self.session(node)
                return now.bgp_state != "Established" or not same_time(before.since, now.since, now.since_text)
            await self.wait_for(f"{node}'s session to restart with the new hold time", restarted)
        if settle:
            await self.wait_settled()

    async def restore(self) -> None:
        """Back to the settled state after a test, even a failed one: all daemons running and
        not stopped, sessions enabled, default routes, both sessions Established."""
        for node in ("rr", *SERVERS):
            if node in self.pids and _running(self.pids[node]):
                os.kill(self.pids[node], signal.SIGCONT)
            else:
                self.pids.pop(node, None)
                self.start_bird(node)
        for node in SERVERS:
            if self.extra_routes[node]:
                await self.set_extra_routes(node, 0)
            await self.command(node, f"enable {PROTOCOL}")
        if self.fast_hold:
            await self.set_fast_hold(False)
        await self.wait_settled()

    async def set_extra_routes(self, node: str, extra: int) -> None:
        """Change a server's workload routes and ``configure`` (what calico-node does when pods come and go)."""
        self.extra_routes[node] = extra
        self.write_config(node)
        text = await self.command(node, "configure")
        assert "Reconfigured" in text, text
