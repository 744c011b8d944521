"""A simulated gNMI target per switch, serving the simulator's records over real gRPC.

**One gRPC server per switch, each on its own port** (by default ephemeral ports on
127.0.0.1): that is what a fabric looks like to a collector — every switch its own
gNMI endpoint — and it needs nothing from the client to pick the device (the request
prefix's ``target`` is optional in gNMI and most clients leave it empty; when it is set
to another switch's name the request is refused with NOT_FOUND, and it is echoed in
responses). :attr:`GnmiSpeaker.endpoints` gives ``{switch: (host, port)}`` for
:class:`~planewatch.collectors.gnmi.GnmiCollector`'s ``endpoints`` argument.

Served (built with pygnmi's generated ``gnmi_pb2`` and grpcio):

* **Capabilities** — OpenConfig models, encodings JSON, JSON_IETF and PROTO, gNMI 0.8.0.
* **Get** — the latest state under any of the paths.
* **Subscribe** — ONCE, POLL and STREAM with SAMPLE (the latest values every
  ``sample_interval`` of the *clock*), ON_CHANGE (every new value) and TARGET_DEFINED
  (= ON_CHANGE); ``updates_only``, ``suppress_redundant``; a ``sync_response`` after the
  initial state.

Values are typed scalars whatever the requested encoding: counters ``uint_val``, strings
``string_val``; no leaf-lists and no doubles (what pygnmi can read). Each notification
carries the timestamp of the record it comes from (its event time, in ns, never 0), so a
collector reproduces the simulator's records exactly.

Data paths: ``/interfaces/interface[name]/state/counters/*`` (from PortCounters),
``/interfaces/interface[name]/state/oper-status`` (InterfaceStatus) and
``/network-instances/network-instance[name=default]/fdb/mac-table/entries/entry[mac-address][vlan]/interface/interface-ref/state/interface``
(the latest FdbSnapshot). FdbChange records are not served: the FDB is sampled whole.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import threading
from collections import deque
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Mapping

import grpc
from pygnmi.spec.v080 import gnmi_pb2 as pb
from pygnmi.spec.v080 import gnmi_pb2_grpc

from planewatch.clock import Clock, WallClock
from planewatch.schemas.records import FdbSnapshot, InterfaceStatus, PortCounters, Record

log = logging.getLogger(__name__)

GNMI_VERSION = "0.8.0"
MODELS = (
    ("openconfig-interfaces", "OpenConfig working group", "3.7.1"),
    ("openconfig-if-ethernet", "OpenConfig working group", "2.13.0"),
    ("openconfig-network-instance", "OpenConfig working group", "4.4.1"),
)
ENCODINGS = (pb.JSON, pb.JSON_IETF, pb.PROTO)
NETWORK_INSTANCE = "default"
FDB_CHUNK = 2000
"""FDB entries per notification: a 20k-MAC table in one message would pass gRPC's 4 MiB default."""
POLL_STEP = 0.05
"""Real seconds a stream waits at most before looking at the clock again (works with any clock)."""
MIN_SAMPLE_INTERVAL = 0.01

COUNTER_LEAVES = (
    ("in-octets", "in_octets"), ("out-octets", "out_octets"),
    ("in-unicast-pkts", "in_unicast_pkts"), ("out-unicast-pkts", "out_unicast_pkts"),
    ("in-broadcast-pkts", "in_broadcast_pkts"), ("out-broadcast-pkts", "out_broadcast_pkts"),
    ("in-multicast-pkts", "in_multicast_pkts"), ("out-multicast-pkts", "out_multicast_pkts"),
    ("in-discards", "in_discards"), ("out-discards", "out_discards"),
    ("in-errors", "in_errors"), ("out-errors", "out_errors"),
)

Elem = tuple[str, tuple[tuple[str, str], ...]]
"""A path element as a hashable value: name and sorted keys."""


def timestamp_ns(ts: float) -> int:
    """Seconds -> ns without the float rounding of ``ts * 1e9`` (so ns / 1e9 gives ``ts`` back exactly)."""
    whole = int(ts // 1)
    return whole * 1_000_000_000 + round((ts - whole) * 1_000_000_000)


def _elem(elem_name: str, **keys: str) -> Elem:
    return elem_name, tuple(sorted(keys.items()))


def _to_pb(elems: Iterable[Elem], target: str = "") -> pb.Path:
    return pb.Path(elem=[pb.PathElem(name=n, key=dict(k)) for n, k in elems], target=target)


def _from_pb(path: pb.Path) -> list[Elem]:
    return [(e.name.split(":", 1)[-1], tuple(sorted(e.key.items()))) for e in path.elem]


def _matches(pattern: list[Elem], path: tuple[Elem, ...]) -> bool:
    """Does a request path (keys optional, ``*`` wildcards, ``...`` rest) select ``path`` or its subtree?"""
    for i, (name, keys) in enumerate(pattern):
        if name == "...":
            return True
        if i >= len(path):
            return False
        have_name, have_keys = path[i]
        if name not in ("*", have_name):
            return False
        have = dict(have_keys)
        if any(v != "*" and have.get(k) != v for k, v in keys):
            return False
    return True


# -- device state ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    """Leaves that one record produced: one notification (its prefix, timestamp, updates)."""

    prefix: tuple[Elem, ...]
    ts_ns: int
    leaves: tuple[tuple[tuple[Elem, ...], pb.TypedValue], ...]
    version: int

    def notification(self, patterns: list[list[Elem]] | None, target: str) -> list[pb.Notification]:
        """Notifications of the leaves any of ``patterns`` selects (all when ``None``); [] if none."""
        leaves = [
            (rel, value) for rel, value in self.leaves
            if patterns is None or any(_matches(p, self.prefix + rel) for p in patterns)
        ]
        prefix = _to_pb(self.prefix, target)
        return [
            pb.Notification(
                timestamp=self.ts_ns, prefix=prefix,
                update=[pb.Update(path=_to_pb(rel), val=value) for rel, value in leaves[i : i + FDB_CHUNK]],
            )
            for i in range(0, len(leaves), FDB_CHUNK)
        ]

    def selected_by(self, pattern: list[Elem]) -> bool:
        return any(_matches(pattern, self.prefix + rel) for rel, _ in self.leaves)


def _interface(port: str) -> tuple[Elem, ...]:
    return (_elem("interfaces"), _elem("interface", name=port), _elem("state"))


def _group_of(record: Record, version: int) -> tuple[tuple[str, ...], _Group] | None:
    ts = timestamp_ns(record.ts)
    if isinstance(record, PortCounters):
        leaves = tuple(
            ((_elem(leaf),), pb.TypedValue(uint_val=getattr(record, field)))
            for leaf, field in COUNTER_LEAVES if getattr(record, field) is not None
        )
        return ("counters", record.port), _Group(_interface(record.port) + (_elem("counters"),), ts, leaves, version)
    if isinstance(record, InterfaceStatus):
        leaves = (((_elem("oper-status"),), pb.TypedValue(string_val=record.oper_status)),)
        return ("oper", record.port), _Group(_interface(record.port), ts, leaves, version)
    if isinstance(record, FdbSnapshot):
        prefix = (
            _elem("network-instances"), _elem("network-instance", name=NETWORK_INSTANCE),
            _elem("fdb"), _elem("mac-table"), _elem("entries"),
        )
        ref = (_elem("interface"), _elem("interface-ref"), _elem("state"), _elem("interface"))
        leaves = tuple(
            ((_elem("entry", **{"mac-address": mac, "vlan": str(vlan)}),) + ref, pb.TypedValue(string_val=port))
            for mac, vlan, port in zip(record.macs, record.vlans, record.ports)
        )
        return ("fdb",), _Group(prefix, ts, leaves, version)
    return None


class _Device:
    """The latest state of one switch, shared by its RPC threads (guarded by ``changed``)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.changed = threading.Condition()
        self.groups: dict[tuple[str, ...], _Group] = {}
        self._records: dict[tuple[str, ...], Record] = {}
        self.version = 0
        self.paused = False

    def update(self, records: Iterable[Record]) -> None:
        with self.changed:
            for record in records:
                key_group = _group_of(record, self.version + 1)
                if key_group is None:
                    continue
                key, group = key_group
                if self._records.get(key) == record:
                    continue
                self.version += 1
                self._records[key] = record
                self.groups[key] = group
            self.changed.notify_all()

    def snapshot(self) -> list[_Group]:
        with self.changed:
            return list(self.groups.values())


# -- the gNMI service --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Subscription:
    pattern: list[Elem]
    mode: int
    interval: float
    suppress_redundant: bool


class _Service(gnmi_pb2_grpc.gNMIServicer):
    """gNMI for one switch."""

    def __init__(self, speaker: "GnmiSpeaker", device: _Device) -> None:
        self.speaker = speaker
        self.device = device

    # -- helpers ------------------------------------------------------------------------
    def _authorize(self, context: grpc.ServicerContext) -> None:
        required = self.speaker.credentials
        metadata = dict(context.invocation_metadata())
        username = str(metadata.get("username", ""))
        ok = required is None or (username, str(metadata.get("password", ""))) == required
        self.speaker.auth_log.append((self.device.name, username, ok))
        if not ok:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, f"invalid username or password for user {username!r}")

    def _check_target(self, prefix: pb.Path, context: grpc.ServicerContext) -> str:
        if prefix.target and prefix.target != self.device.name:
            context.abort(grpc.StatusCode.NOT_FOUND, f"this is {self.device.name}, not target {prefix.target!r}")
        return prefix.target

    @staticmethod
    def _check_encoding(encoding: int, context: grpc.ServicerContext) -> None:
        if encoding not in ENCODINGS:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"encoding {pb.Encoding.Name(encoding)} is not supported")

    # -- RPCs ---------------------------------------------------------------------------
    def Capabilities(self, request: pb.CapabilityRequest, context: grpc.ServicerContext) -> pb.CapabilityResponse:
        self._authorize(context)
        return pb.CapabilityResponse(
            supported_models=[pb.ModelData(name=n, organization=o, version=v) for n, o, v in MODELS],
            supported_encodings=list(ENCODINGS),
            gNMI_version=GNMI_VERSION,
        )

    def Get(self, request: pb.GetRequest, context: grpc.ServicerContext) -> pb.GetResponse:
        self._authorize(context)
        target = self._check_target(request.prefix, context)
        self._check_encoding(request.encoding, context)
        prefix = _from_pb(request.prefix)
        patterns = [prefix + _from_pb(p) for p in request.path] or [prefix]
        notifications = [n for g in self.device.snapshot() for n in g.notification(patterns, target)]
        if not notifications:
            context.abort(grpc.StatusCode.NOT_FOUND, "no data under the requested paths")
        return pb.GetResponse(notification=notifications)

    def Set(self, request: pb.SetRequest, context: grpc.ServicerContext) -> pb.SetResponse:
        self._authorize(context)
        context.abort(grpc.StatusCode.UNIMPLEMENTED, "the simulated target is read-only")

    def Subscribe(
        self, request_iterator: Iterator[pb.SubscribeRequest], context: grpc.ServicerContext
    ) -> Iterator[pb.SubscribeResponse]:
        self._authorize(context)
        first = next(request_iterator, None)
        if first is None or not first.HasField("subscribe"):
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "the first SubscribeRequest must carry a SubscriptionList")
        request = first.subscribe
        target = self._check_target(request.prefix, context)
        self._check_encoding(request.encoding, context)
        prefix = _from_pb(request.prefix)
        subs = [
            _Subscription(
                prefix + _from_pb(s.path),
                s.mode,
                max(MIN_SAMPLE_INTERVAL, s.sample_interval / 1e9 if s.sample_interval else self.speaker.default_sample_interval),
                s.suppress_redundant,
            )
            for s in request.subscription
        ] or [_Subscription(prefix, pb.TARGET_DEFINED, self.speaker.default_sample_interval, False)]
        done = threading.Event()

        def finished() -> None:
            done.set()
            with self.device.changed:
                self.device.changed.notify_all()

        context.add_callback(finished)
        patterns = [s.pattern for s in subs]
        if not request.updates_only:
            yield from self._responses(self.device.snapshot(), patterns, target)
        yield pb.SubscribeResponse(sync_response=True)
        if request.mode == pb.SubscriptionList.ONCE:
            return
        if request.mode == pb.SubscriptionList.POLL:
            yield from self._poll(request_iterator, patterns, target)
            return
        yield from self._stream(subs, target, done)

    def _responses(self, groups: Iterable[_Group], patterns: list[list[Elem]], target: str) -> Iterator[pb.SubscribeResponse]:
        for group in groups:
            for notification in group.notification(patterns, target):
                yield pb.SubscribeResponse(update=notification)

    def _poll(
        self, request_iterator: Iterator[pb.SubscribeRequest], patterns: list[list[Elem]], target: str
    ) -> Iterator[pb.SubscribeResponse]:
        for request in request_iterator:
            if request.HasField("poll"):
                yield from self._responses(self.device.snapshot(), patterns, target)
                yield pb.SubscribeResponse(sync_response=True)

    def _stream(self, subs: list[_Subscription], target: str, done: threading.Event) -> Iterator[pb.SubscribeResponse]:
        clock, device = self.speaker.clock, self.device
        now = clock.now()
        due = {i: now + s.interval for i, s in enumerate(subs) if s.mode == pb.SAMPLE}
        with device.changed:
            watermark = device.version
        sent: dict[tuple[int, tuple[str, ...]], int] = {}
        while not done.is_set() and not self.speaker.stopping.is_set():
            with device.changed:
                if device.paused:
                    device.changed.wait(POLL_STEP)
                    continue
                wait = min([POLL_STEP] + [max(0.0, d - clock.now()) for d in due.values()])
                if device.version == watermark and wait > 0:
                    device.changed.wait(wait)
                groups = dict(device.groups)
                version = device.version
            now = clock.now()
            out: list[_Group] = []
            patterns: list[list[Elem]] = []
            for i, sub in enumerate(subs):
                if sub.mode == pb.SAMPLE:
                    if now < due[i]:
                        continue
                    due[i] = max(due[i] + sub.interval, now)
                    chosen = [
                        (k, g) for k, g in groups.items()
                        if g.selected_by(sub.pattern) and not (sub.suppress_redundant and sent.get((i, k)) == g.version)
                    ]
                else:  # ON_CHANGE and TARGET_DEFINED: every new value
                    chosen = [(k, g) for k, g in groups.items() if g.version > watermark and g.selected_by(sub.pattern)]
                for k, g in chosen:
                    sent[(i, k)] = g.version
                    out.append(g)
                if chosen:
                    patterns.append(sub.pattern)
            watermark = version
            seen: set[int] = set()
            for group in out:
                if id(group) not in seen:
                    seen.add(id(group))
                    yield from self._responses([group], patterns, target)


# -- TLS material --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerTls:
    """PEM bytes for a TLS gNMI server; ``client_ca`` set means client certificates are checked."""

    certificate: bytes
    private_key: bytes
    client_ca: bytes | None = None
    require_client_cert: bool = False

    def credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.private_key, self.certificate)],
            root_certificates=self.client_ca,
            require_client_auth=self.require_client_cert,
        )


@dataclass(frozen=True)
class ThrowawayPki:
    """Files of a throwaway CA, a server certificate for the speaker and a client certificate."""

    ca_file: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    def server_tls(self, *, require_client_cert: bool = False) -> ServerTls:
        return ServerTls(
            self.server_cert.read_bytes(), self.server_key.read_bytes(),
            client_ca=self.ca_file.read_bytes(), require_client_cert=require_client_cert,
        )


def write_throwaway_pki(directory: Path | str, hosts: Iterable[str] = ("127.0.0.1", "localhost")) -> ThrowawayPki:
    """Create a CA, a server certificate for ``hosts`` (IPs or DNS names) and a client certificate.

    For tests and demos only: keys are unencrypted and the CA lives a day.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    now = datetime.datetime.now(datetime.timezone.utc)

    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    def key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder().subject_name(name("planewatch throwaway CA")).issuer_name(name("planewatch throwaway CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )

    def leaf(cn: str, usage: x509.ObjectIdentifier, sans: list[x509.GeneralName]) -> tuple[bytes, bytes]:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (
            x509.CertificateBuilder().subject_name(name(cn)).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if sans:
            builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        return cert.public_bytes(serialization.Encoding.PEM), key_pem(key)

    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    server_cert, server_key = leaf("planewatch simulated switch", ExtendedKeyUsageOID.SERVER_AUTH, sans)
    client_cert, client_key = leaf("planewatch collector", ExtendedKeyUsageOID.CLIENT_AUTH, [])
    pki = ThrowawayPki(
        directory / "ca.pem", directory / "server.pem", directory / "server.key",
        directory / "client.pem", directory / "client.key",
    )
    pki.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    for path, data in ((pki.server_cert, server_cert), (pki.server_key, server_key),
                       (pki.client_cert, client_cert), (pki.client_key, client_key)):
        path.write_bytes(data)
    for path in (pki.server_key, pki.client_key):
        path.chmod(0o600)
    return pki


# -- the speaker ------------------------------------------------------------------------------------------


class GnmiSpeaker:
    """gNMI targets for ``switches``, fed with :meth:`update` from the simulator each tick.

    ``ports`` maps a switch to a fixed port (default: an ephemeral one each); ``tls``
    ``None`` serves plaintext (``insecure: true`` on the collector side);
    ``credentials`` ``(username, password)`` makes every RPC check the gRPC metadata.
    """

    def __init__(
        self,
        switches: Iterable[str],
        *,
        clock: Clock | None = None,
        tls: ServerTls | None = None,
        credentials: tuple[str, str] | None = None,
        host: str = "127.0.0.1",
        ports: Mapping[str, int] | None = None,
        default_sample_interval: float = 10.0,
        max_workers: int = 16,
    ) -> None:
        self.clock = clock or WallClock()
        self.tls = tls
        self.credentials = credentials
        self.host = host
        self.default_sample_interval = default_sample_interval
        self.devices = {name: _Device(name) for name in switches}
        self._wanted_ports = dict(ports or {})
        self._max_workers = max_workers
        self._servers: dict[str, grpc.Server] = {}
        self.endpoints: dict[str, tuple[str, int]] = {}
        self.auth_log: deque[tuple[str, str, bool]] = deque(maxlen=1000)
        """(switch, username, accepted) per RPC — lets tests see what the collector sent, never the password."""
        self.stopping = threading.Event()

    # -- lifecycle ----------------------------------------------------------------------
    def start(self) -> "GnmiSpeaker":
        for name, device in self.devices.items():
            server = grpc.server(futures.ThreadPoolExecutor(self._max_workers, thread_name_prefix=f"gnmi-sim-{name}"))
            gnmi_pb2_grpc.add_gNMIServicer_to_server(_Service(self, device), server)
            address = f"{self.host}:{self._wanted_ports.get(name, 0)}"
            port = server.add_secure_port(address, self.tls.credentials()) if self.tls else server.add_insecure_port(address)
            if not port:
                raise OSError(f"cannot listen on {address} for {name}")
            server.start()
            self._servers[name] = server
            self.endpoints[name] = (self.host, port)
        log.info("simulated gNMI targets for %d switches on %s", len(self.devices), self.host)
        return self

    def stop(self, grace: float | None = 0.5) -> None:
        """Stop every server (streams end with CANCELLED/UNAVAILABLE on the client side)."""
        self.stopping.set()
        for device in self.devices.values():
            with device.changed:
                device.changed.notify_all()
        events = [server.stop(grace) for server in self._servers.values()]
        for event in events:
            event.wait(5)
        self._servers.clear()

    def stop_switch(self, name: str) -> None:
        """Take one switch's target down (its port closes; others keep serving)."""
        server = self._servers.pop(name, None)
        if server is not None:
            server.stop(None).wait(5)

    def __enter__(self) -> "GnmiSpeaker":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    # -- feeding ------------------------------------------------------------------------
    def update(self, records: Iterable[Record]) -> None:
        """Take the simulator's records of one tick; each switch keeps the latest per port / table."""
        by_device: dict[str, list[Record]] = {}
        for record in records:
            device = getattr(record, "device", None)
            if device in self.devices:
                by_device.setdefault(device, []).append(record)
        for name, batch in by_device.items():
            self.devices[name].update(batch)

    def pause(self, name: str) -> None:
        """The switch's agent hangs: streams stay open but send nothing (a silent stall)."""
        with self.devices[name].changed:
            self.devices[name].paused = True

    def resume(self, name: str) -> None:
        with self.devices[name].changed:
            self.devices[name].paused = False
            self.devices[name].changed.notify_all()


__all__ = ["GnmiSpeaker", "ServerTls", "ThrowawayPki", "timestamp_ns", "write_throwaway_pki"]
