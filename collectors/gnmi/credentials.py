"""gNMI credentials and TLS material of one switch, read from where the inventory points.

Secrets never enter the inventory, argv, logs or ``status()``: the inventory names an
environment variable or a file, the password is read at each connect (so a rotated
file is picked up on the next reconnect) and every message that leaves the collector
goes through :func:`redact`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from planewatch.inventory import GnmiTarget


class ConfigurationError(Exception):
    """A switch's gNMI settings cannot work as written; the message says what to fix."""


@dataclass(frozen=True)
class Credentials:
    username: str = ""
    password: str = field(default="", repr=False)


def read_credentials(gnmi: GnmiTarget) -> Credentials:
    """Username from ``username_env``; password from ``password_env`` or ``password_file``."""
    username = password = ""
    if gnmi.username_env:
        if gnmi.username_env not in os.environ:
            raise ConfigurationError(f"environment variable {gnmi.username_env} (username_env) is not set")
        username = os.environ[gnmi.username_env]
    if gnmi.password_env:
        if gnmi.password_env not in os.environ:
            raise ConfigurationError(f"environment variable {gnmi.password_env} (password_env) is not set")
        password = os.environ[gnmi.password_env]
    elif gnmi.password_file:
        try:
            password = Path(gnmi.password_file).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as error:
            raise ConfigurationError(f"cannot read password_file {gnmi.password_file}: {error.strerror or error}") from None
    return Credentials(username, password)


@dataclass(frozen=True)
class TlsFiles:
    """What pygnmi's ``gNMIclient`` needs for TLS, already mapped onto its odd parameters."""

    path_root: str | None
    path_cert: str | None
    path_key: str | None

    @property
    def mutual(self) -> bool:
        return self.path_key is not None


def tls_files(gnmi: GnmiTarget) -> TlsFiles | None:
    """pygnmi arguments for this switch's TLS, or ``None`` for ``insecure: true``.

    pygnmi quirks this works around: with a CA but no client certificate it *ignores*
    ``path_root`` and trusts whatever certificate the device presents (it downloads it
    first), and with ``path_cert`` alone it uses that file as the CA. So a CA is
    required, and a CA-only setup is passed as ``path_cert``.
    """
    if gnmi.insecure:
        return None
    if gnmi.ca_file is None:
        raise ConfigurationError(
            "TLS needs ca_file (the CA that signed the switch's certificate); "
            "set insecure: true only for a switch that really speaks plaintext gNMI"
        )
    for name in ("ca_file", "cert_file", "key_file"):
        path = getattr(gnmi, name)
        if path is not None and not Path(path).is_file():
            raise ConfigurationError(f"{name} {path} does not exist")
    if gnmi.cert_file is not None and gnmi.key_file is not None:
        return TlsFiles(path_root=str(gnmi.ca_file), path_cert=str(gnmi.cert_file), path_key=str(gnmi.key_file))
    return TlsFiles(path_root=None, path_cert=str(gnmi.ca_file), path_key=None)


def redact(message: str, *secrets: str) -> str:
    """``message`` with every non-empty secret replaced by ``***``."""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    return message
