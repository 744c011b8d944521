"""A throw-away Open vSwitch lab that exports real sFlow v5, for the decoder's proof tests.

Wiring (every name carries a per-run tag, so parallel runs and leftovers never collide)::

    netns <tag>-sw   ovsdb-server + ovs-vswitchd (userspace datapath, no kernel module)
                     bridge br0, datapath_type=netdev; ports p1 p2 p3 (+ LOCAL br0)
                     lo 127.0.0.1 + 198.51.100.1/32 (TEST-NET-2: the sFlow agent address)
                     sFlow target 127.0.0.1:6343 on that lo; our UDP collector socket
                     is bound *inside* this namespace and tshark captures on its lo
    netns <tag>-h1   eth0 10.250.0.1/24 (02:00:00:00:00:01), eth0.10 10.250.10.1/24
    netns <tag>-h2   eth0 10.250.0.2/24 (02:00:00:00:00:02)
    netns <tag>-h3   eth0 10.250.0.3/24 (02:00:00:00:00:03), eth0.10 10.250.10.3/24
                     hN:eth0 <-veth-> sw:pN  (TX checksum offload off on both ends)

Nothing is created in the main network namespace: the veths are created directly inside
the namespaces, and the collector socket is opened in the switch namespace by a helper
thread that ``setns()``-es there and back (the socket keeps its namespace). So the
sFlow target can be plain 127.0.0.1 — the switch namespace's own loopback — and no route
or veth to the main namespace is needed.

The daemons are children of this process (``subprocess.Popen``, no ``--detach``): they are
stopped by their PID and reaped; OVS run/db/log files live in a private temp dir
(``OVS_RUNDIR``/``OVS_DBDIR``/... point there, so ``/var/run/openvswitch`` and
``/etc/openvswitch`` are never touched). :meth:`OvsLab.close` undoes everything and is
safe to call after a partial start.

Also usable outside pytest: ``python tests/collectors/sflow_ovs/make_capture.py`` rebuilds
the committed fixture capture with this same lab.
"""

from __future__ import annotations

import ctypes
import json
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

SFLOW_PORT = 6343
"""The standard sFlow port: the switch namespace is private, so nothing else can hold it."""
AGENT_ADDRESS = "198.51.100.1"
"""TEST-NET-2, on the switch namespace's lo: the datagrams' agent address (``agent=`` takes an IP)."""
SUBNET = "10.250.0"
VLAN_ID = 10
"""802.1Q VLAN of the tagged frames h3 sends raw (this kernel has no 8021q module: no eth0.10)."""
HOSTS = ("h1", "h2", "h3")
VSWITCH_SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
CLONE_NEWNET = 0x40000000
TAG_PREFIX = "pwovs"


def host_mac(n: int) -> str:
    return f"02:00:00:00:00:{n:02x}"


def switch_mac(n: int) -> str:
    return f"02:00:00:00:01:{n:02x}"


@dataclass
class Port:
    host: str
    """Logical host name (``h1``)."""
    netns: str
    """The host's network namespace."""
    name: str
    """Switch-side interface (``p1``), an OVS port of br0."""
    number: int
    ip: str
    mac: str
    """The host's eth0 MAC: the source MAC of every frame it sends."""
    ifindex: int = 0
    """Switch-side kernel ifindex (in the switch namespace): what OVS's sFlow reports."""
    ofport: int = 0


@dataclass
class Datagram:
    received: float
    """``time.monotonic()`` when our collector socket read it."""
    payload: bytes


@dataclass
class SentTraffic:
    """What :meth:`OvsLab.drive_traffic` sent, for exact-count assertions (sampling=1)."""

    echo_requests: dict[tuple[str, str], int] = field(default_factory=dict)
    """(src host, dst host) -> ICMP echo requests answered (ping's "received")."""
    broadcast_pings: dict[str, int] = field(default_factory=dict)
    """host -> IPv4 echo requests sent to the subnet broadcast (dst MAC all ones)."""
    arp_requests: dict[str, int] = field(default_factory=dict)
    """host -> ARP requests arping sent (broadcast)."""
    tagged_frames: list[tuple[str, str, int, int]] = field(default_factory=list)
    """(src host, dst MAC, VLAN id, inner ethertype) of each raw 802.1Q frame sent."""
    ipv6_multicast_pings: dict[str, int] = field(default_factory=dict)
    """host -> echo requests sent to ff02::1 (dst MAC 33:33:00:00:00:01)."""


class LabError(RuntimeError):
    pass


def _run(cmd: list[str], *, timeout: float = 20, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(cmd)} -> {proc.returncode}: {proc.stderr.strip() or proc.stdout.strip()}")
    return proc


def _stop(proc: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 5) -> None:
    """Stop one child by its PID, escalate to SIGKILL, and reap it."""
    if proc is None or proc.poll() is not None:
        return
    try:
        os.kill(proc.pid, sig)
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=timeout)
    except ProcessLookupError:
        pass


def udp_socket_in_netns(netns: str, address: tuple[str, int]) -> socket.socket:
    """A UDP socket bound inside ``netns`` (a helper thread setns()-es there and back)."""
    libc = ctypes.CDLL(None, use_errno=True)
    out: dict[str, object] = {}

    def worker() -> None:
        try:
            with open(f"/var/run/netns/{netns}") as target, open("/proc/thread-self/ns/net") as home:
                if libc.setns(target.fileno(), CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise OSError(err, f"setns({netns}): {os.strerror(err)}")
                try:
                    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
                    sock.bind(address)
                    out["sock"] = sock
                finally:
                    if libc.setns(home.fileno(), CLONE_NEWNET) != 0:  # pragma: no cover
                        out["error"] = OSError(ctypes.get_errno(), "setns back to the main namespace failed")
        except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
            out["error"] = error

    thread = threading.Thread(target=worker, name=f"setns-{netns}")
    thread.start()
    thread.join()
    if "error" in out:
        sock = out.get("sock")
        if isinstance(sock, socket.socket):
            sock.close()
        raise out["error"]  # type: ignore[misc]
    return out["sock"]  # type: ignore[return-value]


class Collector:
    """Reads sFlow datagrams off a socket into a list, on a thread, until closed."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.datagrams: list[Datagram] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        sock.settimeout(0.2)
        self._thread = threading.Thread(target=self._loop, name="sflow-collector", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                payload = self.sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            with self._lock:
                self.datagrams.append(Datagram(time.monotonic(), payload))

    def snapshot(self) -> list[Datagram]:
        with self._lock:
            return list(self.datagrams)

    def wait_for(self, predicate, timeout: float) -> list[Datagram]:
        """Poll until ``predicate(snapshot)`` is true; returns the snapshot (raises on timeout)."""
        deadline = time.monotonic() + timeout
        while True:
            snap = self.snapshot()
            if predicate(snap):
                return snap
            if time.monotonic() > deadline:
                raise LabError(f"collector: condition not met within {timeout}s ({len(snap)} datagrams)")
            time.sleep(0.05)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


class OvsLab:
    """One OVS switch namespace, three host namespaces, sFlow to a collector; see the module doc."""

    def __init__(self, *, tag: str | None = None, sampling: int = 1, polling: int = 1, header_bytes: int = 128):
        reap_stale_labs()
        # The owner's PID is in the tag, so a later run can tell a crashed run's leftovers.
        self.tag = tag or f"{TAG_PREFIX}{os.getpid()}x{secrets.token_hex(2)}"
        self.sw = f"{self.tag}-sw"
        self.sampling, self.polling, self.header_bytes = sampling, polling, header_bytes
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.tag}-"))  # short: unix socket paths <= 107 bytes
        self.db_sock = self.dir / "db.sock"
        self.env = dict(os.environ, OVS_RUNDIR=str(self.dir), OVS_LOGDIR=str(self.dir),
                        OVS_DBDIR=str(self.dir), OVS_SYSCONFDIR=str(self.dir), OVS_PKGDATADIR="/usr/share/openvswitch")
        self.ports: dict[str, Port] = {}
        self.namespaces: list[str] = []
        self.ovsdb: subprocess.Popen | None = None
        self.vswitchd: subprocess.Popen | None = None
        self.tshark: subprocess.Popen | None = None
        self.collector: Collector | None = None
        self.capture_path: Path | None = None
        self.sent = SentTraffic()
        self.ovs_version = ""
        self.local_ifindex = 0
        """ifindex of br0's LOCAL port (a tap, left down) in the switch namespace."""
        self.timings: dict[str, float] = {}

    # -- context management ----------------------------------------------------------------
    def __enter__(self) -> OvsLab:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # -- commands -------------------------------------------------------------------------
    def vsctl(self, *args: str, timeout: float = 15) -> str:
        return _run(["ovs-vsctl", f"--db=unix:{self.db_sock}", f"--timeout={int(timeout)}", *args],
                    timeout=timeout + 5, env=self.env).stdout.strip()

    def ofctl(self, *args: str) -> str:
        return _run(["ovs-ofctl", "-O", "OpenFlow13", *args], env=self.env).stdout

    def in_ns(self, netns: str, *cmd: str, timeout: float = 20, check: bool = True) -> subprocess.CompletedProcess:
        return _run(["ip", "netns", "exec", netns, *cmd], timeout=timeout, check=check, env=self.env)

    def host_ns(self, host: str) -> str:
        return f"{self.tag}-{host}"

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        t0 = time.monotonic()
        self._add_netns(self.sw)
        _run(["ip", "-n", self.sw, "link", "set", "lo", "up"])
        # The switch-side veths are bridge ports, not hosts: without this the switch
        # namespace's kernel answers the hosts' IPv6 multicast pings and sends DAD/MLD frames
        # out of the ports behind OVS's back (traffic the bridge never forwarded).
        self.in_ns(self.sw, "sysctl", "-q", "-w", "net.ipv6.conf.all.disable_ipv6=1",
                   "net.ipv6.conf.default.disable_ipv6=1")
        # The agent address lives on the namespace's lo (this kernel has no dummy interfaces).
        _run(["ip", "-n", self.sw, "addr", "add", f"{AGENT_ADDRESS}/32", "dev", "lo"])
        # The collector must be listening before OVS sends anything (else: ICMP port unreachable).
        self.collector = Collector(udp_socket_in_netns(self.sw, ("127.0.0.1", SFLOW_PORT)))
        self._start_ovs()
        self._start_capture()
        self._add_hosts()
        self.vsctl("--", "--id=@s", "create", "sflow", f"agent={AGENT_ADDRESS}", f'target="127.0.0.1:{SFLOW_PORT}"',
                   f"header={self.header_bytes}", f"sampling={self.sampling}", f"polling={self.polling}",
                   "--", "set", "bridge", "br0", "sflow=@s")
        # Links come up only now, so the hosts' first frames (IPv6 DAD / MLD) are sampled too.
        # Switch sides first: a port still down when a host's first frames flood would count them
        # as tx drops.
        for port in self.ports.values():
            _run(["ip", "-n", self.sw, "link", "set", port.name, "up"])
        for port in self.ports.values():
            _run(["ip", "-n", port.netns, "link", "set", "eth0", "up"])
        self.timings["start"] = time.monotonic() - t0

    def _add_netns(self, name: str) -> None:
        _run(["ip", "netns", "add", name])
        self.namespaces.append(name)

    def _start_ovs(self) -> None:
        d = self.dir
        _run(["ovsdb-tool", "create", str(d / "conf.db"), str(VSWITCH_SCHEMA)], env=self.env)
        self.ovsdb = subprocess.Popen(
            ["ip", "netns", "exec", self.sw, "ovsdb-server", str(d / "conf.db"),
             f"--remote=punix:{self.db_sock}", f"--unixctl={d / 'ovsdb-server.ctl'}",
             f"--log-file={d / 'ovsdb-server.log'}", "-vconsole:off", "--no-chdir"],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(d / "ovsdb-server.err", "wb"))
        deadline = time.monotonic() + 10
        while not self.db_sock.exists():
            if self.ovsdb.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"ovsdb-server did not start: {(d / 'ovsdb-server.err').read_text()}")
            time.sleep(0.02)
        self.vsctl("--no-wait", "init")
        self.vswitchd = subprocess.Popen(
            ["ip", "netns", "exec", self.sw, "ovs-vswitchd", f"unix:{self.db_sock}",
             f"--unixctl={d / 'ovs-vswitchd.ctl'}", f"--log-file={d / 'ovs-vswitchd.log'}",
             "-vconsole:off", "--no-chdir"],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(d / "ovs-vswitchd.err", "wb"))
        # Without --no-wait, ovs-vsctl waits until ovs-vswitchd has applied the change: readiness.
        self.vsctl("add-br", "br0", "--", "set", "bridge", "br0", "datapath_type=netdev",
                   "other_config:hwaddr=02:00:00:00:01:00")
        if self.vswitchd.poll() is not None:
            raise LabError(f"ovs-vswitchd exited: {(d / 'ovs-vswitchd.err').read_text()}")
        self.ovs_version = _run(["ovs-vswitchd", "--version"]).stdout.splitlines()[0].strip()
        self.local_ifindex = int(json.loads(_run(["ip", "-n", self.sw, "-j", "link", "show", "dev", "br0"]).stdout)[0]["ifindex"])

    def _start_capture(self) -> None:
        """tshark on the switch namespace's lo, classic pcap (what the decoder's pcap reader and fixtures use)."""
        if shutil.which("tshark") is None:
            return
        self.capture_path = self.dir / "sflow.pcap"
        err = self.dir / "tshark.err"
        self.tshark = subprocess.Popen(
            ["ip", "netns", "exec", self.sw, "tshark", "-q", "-n", "-i", "lo", "-f", f"udp dst port {SFLOW_PORT}",
             "-F", "pcap", "-w", str(self.capture_path)],
            env=self.env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=open(err, "wb"))
        deadline = time.monotonic() + 15
        while "Capturing on" not in err.read_text(errors="replace"):
            if self.tshark.poll() is not None or time.monotonic() > deadline:
                raise LabError(f"tshark did not start capturing: {err.read_text(errors='replace')}")
            time.sleep(0.05)

    def _add_hosts(self) -> None:
        for n, host in enumerate(HOSTS, start=1):
            ns = self.host_ns(host)
            self._add_netns(ns)
            port = Port(host=host, netns=ns, name=f"p{n}", number=n, ip=f"{SUBNET}.{n}", mac=host_mac(n))
            # Created inside the namespaces: the veth never exists in the main namespace.
            _run(["ip", "-n", self.sw, "link", "add", port.name, "address", switch_mac(n), "type", "veth",
                  "peer", "name", "eth0", "address", port.mac, "netns", ns])
            _run(["ip", "-n", ns, "link", "set", "lo", "up"])
            _run(["ip", "-n", ns, "addr", "add", f"{port.ip}/24", "dev", "eth0"])
            # Userspace datapath: no checksum offload, or TCP through the bridge breaks. VLAN
            # tags stay in the frame bytes (not skb metadata), as on a wire.
            self.in_ns(ns, "ethtool", "-K", "eth0", "tx", "off", "txvlan", "off", "rxvlan", "off")
            self.in_ns(self.sw, "ethtool", "-K", port.name, "tx", "off", "txvlan", "off", "rxvlan", "off")
            self.vsctl("add-port", "br0", port.name, "--", "set", "interface", port.name, f"ofport_request={n}")
            port.ifindex = int(json.loads(_run(["ip", "-n", self.sw, "-j", "link", "show", "dev", port.name]).stdout)[0]["ifindex"])
            port.ofport = int(self.vsctl("get", "interface", port.name, "ofport"))
            self.ports[host] = port

    def close(self) -> None:
        """Tear everything down; every step runs even if an earlier one fails."""
        errors: list[str] = []

        def attempt(what: str, fn, *args) -> None:
            try:
                fn(*args)
            except Exception as error:  # noqa: BLE001 - teardown must go on
                errors.append(f"{what}: {error}")

        attempt("tshark", self.stop_capture)
        if self.collector is not None:
            attempt("collector", self.collector.close)
        attempt("ovs-vswitchd", _stop, self.vswitchd)
        attempt("ovsdb-server", _stop, self.ovsdb)
        for ns in reversed(self.namespaces):  # deleting a namespace deletes its veth ends
            attempt(f"netns {ns}", _run, ["ip", "netns", "del", ns])
        self.namespaces.clear()
        if os.environ.get("PLANEWATCH_KEEP_OVS_LAB"):
            print(f"ovs lab files kept in {self.dir}")
        else:
            attempt("tempdir", shutil.rmtree, self.dir, True)
        if errors:
            raise LabError("teardown: " + "; ".join(errors))

    def stop_capture(self) -> Path | None:
        """Stop tshark (SIGINT flushes the file) and return the pcap path."""
        if self.tshark is not None and self.tshark.poll() is None:
            time.sleep(0.3)  # let the last datagram reach the capture buffer
            _stop(self.tshark, signal.SIGINT, timeout=10)
        return self.capture_path

    # -- traffic --------------------------------------------------------------------------
    def ping(self, src: str, *args: str, timeout: float = 15) -> tuple[int, int]:
        """Run ping in a host namespace; returns (transmitted, received)."""
        proc = self.in_ns(self.host_ns(src), "ping", "-n", *args, timeout=timeout, check=False)
        match = re.search(r"(\d+) packets transmitted, (\d+) (?:packets )?received", proc.stdout)
        if not match:
            raise LabError(f"ping {' '.join(args)} in {src}: {proc.stdout} {proc.stderr}")
        return int(match.group(1)), int(match.group(2))

    def drive_traffic(self) -> SentTraffic:
        """Unicast, broadcast, VLAN-tagged and IPv6 multicast frames, all counted (sampling=1 samples all)."""
        t0 = time.monotonic()
        s, p = self.sent, self.ports
        # ARP requests to the broadcast MAC (Habets arping: -W = interval between requests).
        proc = self.in_ns(self.host_ns("h1"), "arping", "-c", "2", "-W", "0.2", "-i", "eth0", p["h2"].ip, check=False)
        s.arp_requests["h1"] = 2 if proc.returncode == 0 else _arping_sent(proc.stdout)
        # Unicast echo h1 -> h2 (MACs learned by the ARP exchange above).
        tx, rx = self.ping("h1", "-c", "3", "-i", "0.2", "-W", "1", p["h2"].ip)
        s.echo_requests[("h1", "h2")] = tx
        # IPv4 broadcast echo: dst MAC all ones; hosts ignore it (icmp_echo_ignore_broadcasts).
        tx, _ = self.ping("h2", "-b", "-c", "2", "-i", "0.2", "-W", "1", f"{SUBNET}.255")
        s.broadcast_pings["h2"] = tx
        # Tagged frames, written raw by h3 (AF_PACKET): a broadcast ARP request and a unicast
        # IPv4 frame to h1's MAC, both on VLAN 10; the ports are trunks, so OVS floods them.
        frames = [("ff:ff:ff:ff:ff:ff", 0x0806), (p["h1"].mac, 0x0800)]
        self.send_tagged("h3", frames)
        s.tagged_frames += [("h3", dst, VLAN_ID, ethertype) for dst, ethertype in frames]
        # IPv6 all-nodes multicast echo; needs h2's link-local address out of DAD first.
        deadline = time.monotonic() + 5
        while True:
            proc = self.in_ns(self.host_ns("h2"), "ping", "-n", "-6", "-c", "2", "-i", "0.2", "-W", "1", "ff02::1%eth0",
                              check=False)
            match = re.search(r"(\d+) packets transmitted", proc.stdout)
            if match and int(match.group(1)) > 0:
                s.ipv6_multicast_pings["h2"] = int(match.group(1))
                break
            if time.monotonic() > deadline:
                raise LabError(f"ping -6 ff02::1 never ran: {proc.stdout} {proc.stderr}")
            time.sleep(0.2)
        self.timings["traffic"] = time.monotonic() - t0
        return s

    def send_tagged(self, host: str, frames: list[tuple[str, int]], vlan: int = VLAN_ID) -> None:
        """Send 802.1Q-tagged frames (dst MAC, inner ethertype) from ``host``'s eth0 through a raw socket."""
        src = self.ports[host].mac
        script = (
            "import socket, struct, sys\n"
            "s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)\n"
            "s.bind(('eth0', 0))\n"
            "src = bytes.fromhex(sys.argv[1].replace(':', ''))\n"
            "for item in sys.argv[3:]:\n"
            "    dst, ethertype = item.split('/')\n"
            "    head = bytes.fromhex(dst.replace(':', '')) + src + struct.pack('>HHH', 0x8100, int(sys.argv[2]), int(ethertype))\n"
            "    s.send(head + bytes(46))\n"
        )
        self.in_ns(self.host_ns(host), sys.executable, "-c", script, src, str(vlan),
                   *(f"{dst}/{ethertype}" for dst, ethertype in frames))

    # -- counters -------------------------------------------------------------------------
    def kernel_stats(self) -> dict[str, dict[str, int]]:
        """``ip -s link`` (64-bit stats) of the switch-side veths, by host."""
        out = json.loads(_run(["ip", "-n", self.sw, "-s", "-j", "link", "show"]).stdout)
        by_name = {link["ifname"].split("@")[0]: link["stats64"] for link in out}
        stats = {}
        for host, port in self.ports.items():
            s64 = by_name[port.name]
            stats[host] = {
                "rx_bytes": s64["rx"]["bytes"], "rx_packets": s64["rx"]["packets"], "rx_errors": s64["rx"]["errors"],
                "rx_dropped": s64["rx"]["dropped"], "rx_multicast": s64["rx"]["multicast"],
                "tx_bytes": s64["tx"]["bytes"], "tx_packets": s64["tx"]["packets"], "tx_errors": s64["tx"]["errors"],
                "tx_dropped": s64["tx"]["dropped"],
            }
        return stats

    def ofctl_stats(self) -> dict[str, dict[str, int]]:
        """OVS's own live port counters (``ovs-ofctl dump-ports``; the DB column lags by 5 s)."""
        text = self.ofctl("dump-ports", f"unix:{self.dir / 'br0.mgmt'}")
        by_port: dict[str, dict[str, int]] = {}
        for block in re.split(r"\n\s*port\s+", "\n" + text)[1:]:
            number = block.split(":", 1)[0].strip()
            rx = re.search(r"rx pkts=(\d+), bytes=(\d+), drop=(\d+), errs=(\d+)", block)
            tx = re.search(r"tx pkts=(\d+), bytes=(\d+), drop=(\d+), errs=(\d+)", block)
            if not (rx and tx):
                continue
            by_port[number] = {
                "rx_packets": int(rx.group(1)), "rx_bytes": int(rx.group(2)), "rx_dropped": int(rx.group(3)),
                "rx_errors": int(rx.group(4)), "tx_packets": int(tx.group(1)), "tx_bytes": int(tx.group(2)),
                "tx_dropped": int(tx.group(3)), "tx_errors": int(tx.group(4)),
            }
        return {host: by_port[str(port.ofport)] for host, port in self.ports.items() if str(port.ofport) in by_port}

    def link_speed(self, host: str) -> int:
        return int(self.vsctl("get", "interface", self.ports[host].name, "link_speed"))

    def flood_output_count(self) -> int:
        """How many ports a frame floods to: every other port of br0, LOCAL included."""
        return len(self.ports)  # the other hosts' ports plus LOCAL (br0)


def reap_stale_labs() -> list[str]:
    """Remove what a *killed* run left (its namespaces, their processes, its temp dir).

    Only names this module makes (``pwovs<pid>x<hex>-…``) whose owner PID is gone are touched;
    processes are ended by the PIDs ``ip netns pids`` lists for that namespace.
    """
    pattern = re.compile(rf"^({TAG_PREFIX}(\d+)x[0-9a-f]+)-")
    reaped: list[str] = []
    netns_dir = Path("/var/run/netns")
    names = sorted(p.name for p in netns_dir.iterdir()) if netns_dir.is_dir() else []
    for name in names:
        match = pattern.match(name)
        if not match or Path(f"/proc/{match.group(2)}").exists():
            continue
        pids = _run(["ip", "netns", "pids", name], check=False).stdout.split()
        for pid in pids:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        _run(["ip", "netns", "del", name], check=False)
        reaped.append(name)
    tmp = Path(tempfile.gettempdir())
    for entry in tmp.glob(f"{TAG_PREFIX}*x*-*"):
        match = pattern.match(entry.name)
        if match and entry.is_dir() and not Path(f"/proc/{match.group(2)}").exists():
            shutil.rmtree(entry, ignore_errors=True)
            reaped.append(str(entry))
    return reaped


def _arping_sent(stdout: str) -> int:
    match = re.search(r"(\d+) packets transmitted", stdout)
    return int(match.group(1)) if match else 0


# -- pcap --------------------------------------------------------------------------------


def read_pcap_udp_payloads(path: Path) -> list[bytes]:
    """UDP payloads of a classic little/big-endian pcap of Ethernet (or Linux cooked) IPv4 frames."""
    data = path.read_bytes()
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        endian = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        endian = ">"
    else:
        raise ValueError(f"{path}: not a classic pcap (pcapng? write with tshark -F pcap)")
    (linktype,) = struct.unpack_from(endian + "I", data, 20)
    link_header = {1: 14, 113: 16}.get(linktype)
    if link_header is None:
        raise ValueError(f"{path}: unsupported link type {linktype}")
    payloads, offset = [], 24
    while offset + 16 <= len(data):
        _, _, caplen, _ = struct.unpack_from(endian + "IIII", data, offset)
        frame = data[offset + 16 : offset + 16 + caplen]
        offset += 16 + caplen
        ip = frame[link_header:]
        if len(ip) < 20 or ip[0] >> 4 != 4 or ip[9] != 17:
            continue
        udp = ip[(ip[0] & 0x0F) * 4 :]
        (udp_length,) = struct.unpack_from(">H", udp, 4)
        payloads.append(bytes(udp[8:udp_length]))
    return payloads
