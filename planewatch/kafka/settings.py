"""Where the Kafka brokers are and how to reach them: plaintext, TLS, SASL (PLAIN or SCRAM).

One :class:`KafkaSettings` serves every Kafka client planewatch runs: the collectors'
publisher (kafka-python, :meth:`KafkaSettings.client_config`) and the Faust stream worker
(:meth:`KafkaSettings.faust_credentials`), so the two can never disagree.

The bootstrap servers come from the command line (``--kafka HOST:PORT[,HOST:PORT...]``);
everything about security comes from the environment, so nothing secret is ever on a
command line (where ``ps`` shows it to every user of the host):

==========================================  ==========================================
``PLANEWATCH_KAFKA_SECURITY_PROTOCOL``      ``PLAINTEXT`` (default), ``SSL``, ``SASL_PLAINTEXT``, ``SASL_SSL``
``PLANEWATCH_KAFKA_SASL_MECHANISM``         ``PLAIN``, ``SCRAM-SHA-256``, ``SCRAM-SHA-512`` (SASL only)
``PLANEWATCH_KAFKA_SASL_USERNAME``          the SASL user
``PLANEWATCH_KAFKA_SASL_PASSWORD_FILE``     a file holding the SASL password (one line; a Kubernetes secret mount)
``PLANEWATCH_KAFKA_CA_FILE``                PEM CA bundle that signed the brokers' certificates (TLS)
``PLANEWATCH_KAFKA_CERT_FILE``              PEM client certificate, for brokers that require mutual TLS
``PLANEWATCH_KAFKA_KEY_FILE``               its private key (PEM, unencrypted)
==========================================  ==========================================

The password is read from its file and held as a :class:`pydantic.SecretStr`: ``repr``,
``str``, ``model_dump`` and validation errors show ``**********``, never the password.
Only :meth:`client_config` and :meth:`faust_credentials` hand it out, to the Kafka
clients; never log what they return.
"""

from __future__ import annotations

import logging
import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator

from planewatch.cli.inputs import parse_host_port

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

ENV_PREFIX = "PLANEWATCH_KAFKA_"
ENV_VARS: dict[str, str] = {
    "security_protocol": "PLANEWATCH_KAFKA_SECURITY_PROTOCOL",
    "sasl_mechanism": "PLANEWATCH_KAFKA_SASL_MECHANISM",
    "sasl_username": "PLANEWATCH_KAFKA_SASL_USERNAME",
    "sasl_password_file": "PLANEWATCH_KAFKA_SASL_PASSWORD_FILE",
    "ca_file": "PLANEWATCH_KAFKA_CA_FILE",
    "cert_file": "PLANEWATCH_KAFKA_CERT_FILE",
    "key_file": "PLANEWATCH_KAFKA_KEY_FILE",
}
"""Settings field -> the environment variable it is read from (see :meth:`KafkaSettings.from_env`)."""

_SASL = ("SASL_PLAINTEXT", "SASL_SSL")
_TLS = ("SSL", "SASL_SSL")


class _SecretRedactor(logging.Filter):
    """Replaces known secrets (as text, or as they appear inside a ``bytes`` repr) in log messages.

    kafka-python logs its SASL requests at DEBUG -- the PLAIN mechanism's request holds the
    password in clear (``SaslAuthenticateRequest(... auth_bytes=b'user\\x00user\\x00PASSWORD')``).
    This filter sits on every ``kafka.*`` / ``aiokafka.*`` logger, so a DEBUG log level
    never writes the password anywhere.
    """

    MASK = "**********"

    def __init__(self) -> None:
        super().__init__("planewatch-secret-redactor")
        self.forms: set[str] = set()

    def add(self, secret: str) -> None:
        raw = secret.encode()
        forms = (secret, repr(secret)[1:-1], repr(raw)[2:-1], repr(bytearray(raw))[len("bytearray(b'"):-2])
        self.forms.update(form for form in forms if form)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.forms:
            return True
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is not ours to fix
            return True
        redacted = message
        for form in self.forms:
            if form in redacted:
                redacted = redacted.replace(form, self.MASK)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


_REDACTOR = _SecretRedactor()
CLIENT_LOGGERS = ("kafka", "aiokafka")


def _protect_client_logs(secret: str) -> None:
    """Arm the redactor for ``secret`` on every Kafka client logger that exists (import the clients first)."""
    _REDACTOR.add(secret)
    for name in [n for n in list(logging.Logger.manager.loggerDict) if n.split(".")[0] in CLIENT_LOGGERS] + list(CLIENT_LOGGERS):
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)


def _readable_file(path: Path, what: str, env: str) -> Path:
    if not path.is_file():
        raise ValueError(f"{what} {str(path)!r} does not exist or is not a file (set {env} to a readable file)")
    if not os.access(path, os.R_OK):
        raise ValueError(f"{what} {str(path)!r} is not readable by this user (fix its permissions or {env})")
    return path


class KafkaSettings(BaseModel):
    """How to reach the Kafka cluster; build it with :meth:`from_env` (or directly in code)."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    bootstrap_servers: tuple[str, ...] = Field(
        description="Brokers to bootstrap from, HOST:PORT each (a comma-separated string is accepted).")
    security_protocol: SecurityProtocol = "PLAINTEXT"
    sasl_mechanism: Optional[SaslMechanism] = None
    sasl_username: Optional[str] = None
    sasl_password: Optional[SecretStr] = Field(default=None, description="Read from sasl_password_file; never from argv.")
    sasl_password_file: Optional[Path] = None
    ca_file: Optional[Path] = None
    cert_file: Optional[Path] = None
    key_file: Optional[Path] = None

    @field_validator("bootstrap_servers", mode="before")
    @classmethod
    def _split_bootstrap(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",")]
        if isinstance(value, (list, tuple)):
            servers = [str(v).strip() for v in value if str(v).strip()]
            if not servers:
                raise ValueError("no Kafka bootstrap server given: use HOST:PORT[,HOST:PORT...], e.g. 127.0.0.1:9092")
            for server in servers:
                try:
                    parse_host_port(server)
                except ValueError:
                    raise ValueError(f"Kafka bootstrap server {server!r}: use HOST:PORT, e.g. 127.0.0.1:9092 "
                                     "(several separated by commas)") from None
            return tuple(servers)
        return value

    @field_validator("security_protocol", "sasl_mechanism", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _consistent(self) -> "KafkaSettings":
        env = ENV_VARS
        sasl = self.security_protocol in _SASL
        tls = self.security_protocol in _TLS
        if sasl:
            if self.sasl_mechanism is None:
                raise ValueError(f"security protocol {self.security_protocol} needs a SASL mechanism: "
                                 f"set {env['sasl_mechanism']} to PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
            if not self.sasl_username:
                raise ValueError(f"SASL needs a username: set {env['sasl_username']}")
            if self.sasl_password is None and self.sasl_password_file is None:
                raise ValueError(f"SASL needs a password: set {env['sasl_password_file']} to a file holding it "
                                 "(passwords are never taken from the command line or the environment)")
            if self.sasl_password is None and self.sasl_password_file is not None:
                path = _readable_file(self.sasl_password_file, "SASL password file", env["sasl_password_file"])
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as error:
                    raise ValueError(f"SASL password file {str(path)!r} cannot be read ({type(error).__name__}): "
                                     f"fix it or {env['sasl_password_file']}") from None
                password = text.rstrip("\r\n")
                if not password:
                    raise ValueError(f"SASL password file {str(path)!r} is empty (set {env['sasl_password_file']} "
                                     "to a file holding the password)")
                object.__setattr__(self, "sasl_password", SecretStr(password))
        else:
            given = [env[name] for name in ("sasl_mechanism", "sasl_username", "sasl_password_file")
                     if getattr(self, name) is not None] + (["a SASL password"] if self.sasl_password is not None else [])
            if given:
                raise ValueError(f"{', '.join(given)} given but security protocol is {self.security_protocol}: "
                                 f"set {env['security_protocol']} to SASL_SSL (or SASL_PLAINTEXT) to use SASL")
        if not tls:
            given = [env[name] for name in ("ca_file", "cert_file", "key_file") if getattr(self, name) is not None]
            if given:
                raise ValueError(f"{', '.join(given)} given but security protocol is {self.security_protocol}: "
                                 f"set {env['security_protocol']} to SSL (or SASL_SSL) to use TLS")
        for name, what in (("ca_file", "CA file"), ("cert_file", "client certificate"), ("key_file", "client key")):
            path = getattr(self, name)
            if path is not None:
                _readable_file(path, what, env[name])
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError(f"a client certificate needs its key and a key its certificate: set both "
                             f"{env['cert_file']} and {env['key_file']} (or neither)")
        return self

    # -- construction ---------------------------------------------------------------

    @classmethod
    def from_env(cls, bootstrap: str, environ: Mapping[str, str] | None = None) -> "KafkaSettings":
        """Settings from ``--kafka``'s bootstrap string and the ``PLANEWATCH_KAFKA_*`` variables.

        Raises :class:`ValueError` whose message says what to fix (never the password).
        """
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {"bootstrap_servers": bootstrap}
        for field, var in ENV_VARS.items():
            raw = environ.get(var, "").strip()
            if raw:
                values[field] = raw
        unknown = sorted(k for k in environ if k.startswith(ENV_PREFIX) and k not in ENV_VARS.values())
        if "PLANEWATCH_KAFKA_SASL_PASSWORD" in unknown:
            raise ValueError("PLANEWATCH_KAFKA_SASL_PASSWORD is not read (environments leak): put the password "
                             "in a file and set PLANEWATCH_KAFKA_SASL_PASSWORD_FILE to it")
        try:
            return cls(**values)
        except ValidationError as error:
            raise ValueError(explain(error)) from None

    # -- what the clients take ------------------------------------------------------

    def client_config(self) -> dict[str, Any]:
        """kafka-python keyword arguments (KafkaProducer, KafkaConsumer, KafkaAdminClient).

        Holds the password: never log it. With SASL this also guards kafka-python's own
        loggers, which would otherwise print the PLAIN password at DEBUG level.
        """
        config: dict[str, Any] = {
            "bootstrap_servers": list(self.bootstrap_servers),
            "security_protocol": self.security_protocol,
        }
        if self.security_protocol in _SASL:
            assert self.sasl_password is not None  # guaranteed by validation
            import kafka  # noqa: F401  (its loggers must exist before they are guarded)
            import kafka.net.connection  # noqa: F401

            _protect_client_logs(self.sasl_password.get_secret_value())
            config.update(sasl_mechanism=self.sasl_mechanism, sasl_plain_username=self.sasl_username,
                          sasl_plain_password=self.sasl_password.get_secret_value())
        if self.security_protocol in _TLS:
            config["ssl_check_hostname"] = True
            if self.ca_file is not None:
                config["ssl_cafile"] = str(self.ca_file)
            if self.cert_file is not None:
                config["ssl_certfile"] = str(self.cert_file)
                config["ssl_keyfile"] = str(self.key_file)
        return config

    def ssl_context(self) -> ssl.SSLContext | None:
        """A client TLS context (server verified against ``ca_file`` or the system CAs; client cert if set); None without TLS."""
        if self.security_protocol not in _TLS:
            return None
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca_file) if self.ca_file else None)
        if self.cert_file is not None:
            context.load_cert_chain(str(self.cert_file), str(self.key_file))
        return context

    def faust_credentials(self) -> Any:
        """What Faust's ``broker_credentials`` setting takes: ``faust.SASLCredentials``, ``faust.SSLCredentials`` or None.

        With SASL this also guards aiokafka's and kafka-python's loggers against printing the password.
        """
        import faust

        if self.security_protocol in _SASL:
            assert self.sasl_password is not None
            _protect_client_logs(self.sasl_password.get_secret_value())
            return faust.SASLCredentials(
                username=self.sasl_username, password=self.sasl_password.get_secret_value(),
                mechanism=self.sasl_mechanism, ssl_context=self.ssl_context(),
            )
        if self.security_protocol == "SSL":
            return faust.SSLCredentials(self.ssl_context())
        return None

    def faust_broker(self) -> str:
        """Faust's ``broker`` URL: ``kafka://host1:9092;host2:9092``."""
        return ";".join(f"kafka://{server}" for server in self.bootstrap_servers)

    @property
    def target(self) -> str:
        """The bootstrap list as one string, for status lines and logs."""
        return ",".join(self.bootstrap_servers)

    def describe(self) -> str:
        """One safe line for logs: where, which protocol, which user (never the password)."""
        text = f"{self.target} ({self.security_protocol}"
        if self.security_protocol in _SASL:
            text += f", {self.sasl_mechanism} as {self.sasl_username!r}"
        if self.security_protocol in _TLS:
            text += f", CA {self.ca_file}" if self.ca_file else ", system CAs"
            if self.cert_file:
                text += f", client cert {self.cert_file}"
        return text + ")"


def explain(error: ValidationError) -> str:
    """A pydantic error as plain sentences (``field: what to fix``), without input values."""
    lines = []
    for item in error.errors(include_input=False, include_url=False):
        message = str(item.get("msg", "invalid"))
        message = message.removeprefix("Value error, ")
        location = ".".join(str(part) for part in item.get("loc", ()))
        env = ENV_VARS.get(location)
        if item.get("type") == "literal_error" and env:
            message = f"{env}: {message}"
        elif location and location != "bootstrap_servers" and item.get("type") != "value_error":
            message = f"{env or location}: {message}"
        lines.append(message)
    return "; ".join(lines) or "invalid Kafka settings"
