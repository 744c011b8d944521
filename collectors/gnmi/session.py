"""One gNMI session to one switch, on its own thread: connect, subscribe, read until it ends.

pygnmi is blocking, so each session runs on a thread and hands every message to the
asyncio side through callbacks (the collector makes them thread-safe). One slow or
dead switch therefore only ever blocks its own thread.

Why ``gNMIclient.subscribe()`` (the raw gRPC stream) and not ``subscribe2()``: pygnmi's
``StreamSubscriber`` reads the stream on a background thread that swallows errors (a
dead stream just looks quiet), and it merges every notification before the first
``sync_response`` into one dict with the *last* timestamp and prefix, which would give
the whole initial state one event time. The raw stream raises its errors here, can be
cancelled from outside (stall handling), and each message still goes through pygnmi's
own ``telemetryParser``.

``connect(timeout=0)`` skips pygnmi's ``wait_for_connect``: that waits the full timeout
twice on a TLS failure (and sets ``GRPC_SSL_CIPHER_SUITES`` in ``os.environ`` for the
whole process between the two), whereas the Capabilities call it makes next fails at
once with gRPC's own reason (connection refused, handshake failed, unauthenticated).
"""

from __future__ import annotations

import logging
import sys
import threading
from typing import Any, Callable

import grpc
from pygnmi.client import gNMIclient, gNMIException, telemetryParser

from planewatch.collectors.gnmi import paths
from planewatch.collectors.gnmi.credentials import Credentials, TlsFiles, redact

log = logging.getLogger(__name__)

# pygnmi attaches a StreamHandler(sys.stdout) to its logger at import time, so its
# CRITICAL "GRPC ERROR" lines for every unreachable switch would land on stdout (the
# terminal UI of `planewatch up`). Let its records propagate to the application's
# logging configuration instead.
_pygnmi_log = logging.getLogger("pygnmi.client")
for _handler in list(_pygnmi_log.handlers):
    if isinstance(_handler, logging.StreamHandler) and getattr(_handler, "stream", None) is sys.stdout:
        _pygnmi_log.removeHandler(_handler)


class StreamEnded(Exception):
    """The target closed a STREAM subscription that should run forever."""


def subscription_request(sample_interval: float, fdb_interval: float) -> dict[str, Any]:
    """The pygnmi subscribe dict: SAMPLE counters, ON_CHANGE oper-status, SAMPLE FDB."""
    return {
        "mode": "stream",
        "subscription": [
            {"path": paths.COUNTERS, "mode": "sample", "sample_interval": round(sample_interval * 1e9)},
            {"path": paths.OPER_STATUS, "mode": "on_change"},
            {"path": paths.FDB, "mode": "sample", "sample_interval": round(fdb_interval * 1e9)},
        ],
    }


def describe_error(error: BaseException, address: str, tls: bool) -> str:
    """A one-line reason a person can act on (gRPC status, plus a hint for the usual causes)."""
    cause = error.orig_exc if isinstance(error, gNMIException) and error.orig_exc is not None else error
    if isinstance(cause, grpc.RpcError) and hasattr(cause, "code"):
        code = cause.code()
        message = f"{code.name if code else 'UNKNOWN'}: {cause.details()}"
    else:
        message = str(error) or type(error).__name__
    lowered = message.lower()
    if "connection refused" in lowered:
        message += f" (nothing is listening on {address})"
    elif tls and any(s in lowered for s in ("handshake", "ssl", "tls", "wrong_version", "socket closed")):
        message += (
            " (TLS handshake failed: check ca_file/cert_file/key_file, or the switch serves plaintext gNMI;"
            " only then set insecure: true)"
        )
    elif not tls and "socket closed" in lowered:
        message += " (the switch may require TLS: give its ca_file instead of insecure: true)"
    return message


class Session:
    """A single attempt: runs ``on_connected`` once subscribed, ``on_message`` per message, ``on_end`` last.

    ``on_end`` receives the error that ended the session (``StreamEnded`` if the target
    closed it), or ``None`` if :meth:`cancel` ended it.
    """

    def __init__(
        self,
        name: str,
        host: str,
        port: int,
        credentials: Credentials,
        tls: TlsFiles | None,
        request: dict[str, Any],
        on_connected: Callable[[], None],
        on_message: Callable[[dict[str, Any] | None], None],
        on_end: Callable[[str | None], None],
    ) -> None:
        self.name = name
        self.address = f"{host}:{port}"
        self._host, self._port = host, port
        self._credentials = credentials
        self._tls = tls
        self._request = request
        self._on_connected, self._on_message, self._on_end = on_connected, on_message, on_end
        self._lock = threading.Lock()
        self._client: gNMIclient | None = None
        self._call: Any = None
        self.cancelled = False
        self.thread = threading.Thread(target=self._run, name=f"gnmi-{name}", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def cancel(self) -> None:
        """Tear the session down from any thread: cancel the stream and close the channel."""
        with self._lock:
            self.cancelled = True
            call, client = self._call, self._client
        if call is not None:
            call.cancel()
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a channel that never opened
                pass

    def _run(self) -> None:
        error: str | None = None
        try:
            tls = self._tls
            client = gNMIclient(
                target=(self._host, self._port),
                username=self._credentials.username,
                password=self._credentials.password,
                insecure=tls is None,
                path_root=tls.path_root if tls else None,
                path_cert=tls.path_cert if tls else None,
                path_key=tls.path_key if tls else None,
            )
            with self._lock:
                if self.cancelled:
                    return
                self._client = client
            client.connect(timeout=0)
            call = client.subscribe(subscribe=self._request)
            with self._lock:
                self._call = call
                if self.cancelled:
                    call.cancel()
                    return
            self._on_connected()
            for response in call:
                self._on_message(telemetryParser(response))
                if self.cancelled:
                    return
            error = str(StreamEnded("the target closed the stream"))
        except BaseException as exc:  # noqa: BLE001 - every failure is reported, none escapes the thread
            if not self.cancelled:
                error = describe_error(exc, self.address, self._tls is not None)
        finally:
            if self._client is not None:
                try:
                    self._client.close()
                except Exception:
                    pass
            error = None if self.cancelled else redact(error or "session ended", self._credentials.password)
            self._on_end(error)
