"""The server store: planewatch's tables in a ClickHouse server, over the native protocol.

Distributed mode writes here (from the Faust workers) instead of the embedded chdb
store; :meth:`ServerStore.write` and :meth:`ServerStore.query` keep the embedded
store's contract (rows written; an Arrow table back; ``{name:Type}`` parameters).

* **Transport**: clickhouse-driver, one columnar ``INSERT … VALUES`` per record type per
  call (the data travels as native blocks, never as SQL text).
* **Dialects**: :meth:`ServerStore.open` asks ``SELECT version()``; servers older than
  20.1 get the legacy dialect of :mod:`planewatch.schemas.ddl` (said once in the log),
  newer ones the migration files. Values are converted per dialect on write.
* **Outages**: every network failure (refused, reset, timed out) becomes
  :class:`StoreUnavailable` within the configured timeouts; the next call reconnects
  by itself, so a caller retries the same batch until it is written (a batch whose
  fate is unknown may land twice: the tables' record identity absorbs that).
  Credentials the server rejects raise :class:`StoreAuthError` (retrying cannot help).
* **Credentials**: :class:`ClickHouseSettings.from_env` reads the user from
  ``PLANEWATCH_CLICKHOUSE_USER`` and the password from the file named by
  ``PLANEWATCH_CLICKHOUSE_PASSWORD_FILE``; the password is a ``SecretStr`` and never
  appears in a repr, a log line or a command line.

One :class:`ServerStore` is safe to share between threads (calls are serialized).
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import math
import os
import re
import ssl
import threading
import typing
import zoneinfo
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from planewatch.schemas.columns import JSON_TEXT, columns_of
from planewatch.schemas.ddl import (
    Dialect,
    check_identifier,
    column_drift,
    column_type,
    create_cluster_sql,
    create_database_sql,
    create_table_sql,
    dialect_for,
    local_table,
)
from planewatch.schemas.migrations import apply_migrations, discover
from planewatch.schemas.records import STORED_RECORDS, Record
from planewatch.store.embedded import QueryError, StoreError

log = logging.getLogger(__name__)

USER_ENV = "PLANEWATCH_CLICKHOUSE_USER"
PASSWORD_FILE_ENV = "PLANEWATCH_CLICKHOUSE_PASSWORD_FILE"
DEFAULT_PORT = 9000
DEFAULT_SECURE_PORT = 9440

# ClickHouse error codes the store explains (others pass through as QueryError).
_UNKNOWN_TABLE, _UNKNOWN_DATABASE = 60, 81
_AUTH_CODES = frozenset({192, 193, 194, 516})  # UNKNOWN_USER, WRONG_PASSWORD, REQUIRED_PASSWORD, AUTHENTICATION_FAILED
_DATABASE_ACCESS_DENIED = 291

_PLACEHOLDER = re.compile(
    r"""(?P<quoted>'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|"(?:[^"\\]|\\.)*")"""
    r"|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*):(?P<type>[^{}]+)\}"
    r"|(?P<percent>%)"
)


class StoreUnavailable(StoreError):
    """The server cannot be reached right now (refused, reset, timed out). Retry the same call later."""


class StoreAuthError(StoreError):
    """The server rejected the credentials or the TLS trust failed (or the user may not use the database).

    Retrying will not help: the message says what to fix.
    """


class ClickHouseSettings(BaseModel):
    """Where and how to reach the ClickHouse server; the password never shows in a repr."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    host: str
    port: int = Field(DEFAULT_PORT, gt=0, lt=65536)
    database: str = "planewatch"
    user: str = "default"
    password: SecretStr = SecretStr("")
    secure: bool = False
    ca_file: Path | None = None
    connect_timeout: float = Field(5.0, gt=0)
    """Seconds to establish a connection (TCP + handshake)."""
    send_receive_timeout: float = Field(30.0, gt=0)
    """Seconds any single socket read or write may block (a hung server fails after this)."""

    @field_validator("database")
    @classmethod
    def _plain_database(cls, value: str) -> str:
        return check_identifier(value, "database")

    @classmethod
    def from_env(
        cls,
        host_port: str,
        database: str = "planewatch",
        *,
        environ: Mapping[str, str] | None = None,
        **options: Any,
    ) -> ClickHouseSettings:
        """Settings for ``HOST:PORT`` with the credentials from the environment.

        ``PLANEWATCH_CLICKHOUSE_USER`` (default ``default``) and
        ``PLANEWATCH_CLICKHOUSE_PASSWORD_FILE`` (a file holding the password; one
        trailing newline is ignored; unset: empty password). Other fields (``secure``,
        ``ca_file``, timeouts) come from ``options``. Raises ``ValueError`` saying what
        to fix.
        """
        from planewatch.cli.inputs import parse_host_port  # the CLI's one HOST:PORT parser

        env = os.environ if environ is None else environ
        host, port = parse_host_port(host_port)
        password = SecretStr("")
        path = env.get(PASSWORD_FILE_ENV)
        if path:
            try:
                text = Path(path).expanduser().read_text(encoding="utf-8")
            except OSError as error:
                raise ValueError(f"{PASSWORD_FILE_ENV}={path}: cannot read the password file ({error.strerror})") from None
            password = SecretStr(text[:-1] if text.endswith("\n") else text)
            if password.get_secret_value().endswith("\r"):
                password = SecretStr(password.get_secret_value()[:-1])
        return cls(host=host, port=port, database=database, user=env.get(USER_ENV) or "default",
                   password=password, **options)

    @property
    def address(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


class ServerStore:
    """planewatch's tables in a ClickHouse server. Open with :meth:`open` (or :meth:`connect`)."""

    def __init__(self, settings: ClickHouseSettings, *, cluster: str | None = None) -> None:
        self.settings = settings
        self.cluster = None if cluster is None else check_identifier(cluster, "cluster")
        self.server_version = ""
        self.server_timezone = "UTC"
        self.dialect: Dialect = "modern"
        self._lock = threading.RLock()
        self._client: Any = None
        self._use_database = False
        self._closed = False

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        host: str,
        port: int = DEFAULT_PORT,
        database: str = "planewatch",
        *,
        user: str = "default",
        password: SecretStr | str | None = None,
        password_file: Path | str | None = None,
        secure: bool = False,
        ca_file: Path | str | None = None,
        connect_timeout: float = 5.0,
        send_receive_timeout: float = 30.0,
        cluster: str | None = None,
    ) -> ServerStore:
        """Connect, learn the server's version (and so its dialect); does not change the schema.

        ``password`` or ``password_file`` (whose one trailing newline is ignored).
        Raises :class:`StoreUnavailable` / :class:`StoreAuthError` with what to fix.
        """
        if password is not None and password_file is not None:
            raise ValueError("pass password or password_file, not both")
        if password_file is not None:
            try:
                text = Path(password_file).expanduser().read_text(encoding="utf-8")
            except OSError as error:
                raise ValueError(f"cannot read the ClickHouse password file {password_file} ({error.strerror})") from None
            secret = text.removesuffix("\n").removesuffix("\r")
        elif isinstance(password, SecretStr):
            secret = password.get_secret_value()
        else:
            secret = password or ""
        settings = ClickHouseSettings(
            host=host, port=port, database=database, user=user, password=SecretStr(secret), secure=secure,
            ca_file=Path(ca_file) if ca_file is not None else None, connect_timeout=connect_timeout,
            send_receive_timeout=send_receive_timeout,
        )
        return cls.connect(settings, cluster=cluster)

    @classmethod
    def connect(cls, settings: ClickHouseSettings, *, cluster: str | None = None) -> ServerStore:
        """Open a store from :class:`ClickHouseSettings` (see :meth:`open`)."""
        store = cls(settings, cluster=cluster)
        try:
            store._detect()
        except BaseException:
            store.close()
            raise
        return store

    def _detect(self) -> None:
        (version,), = self._execute("SELECT version()")
        self.server_version = str(version)
        (zone,), = self._execute("SELECT timezone()")
        self.server_timezone = str(zone)
        self.dialect = dialect_for(self.server_version)
        if self.dialect == "legacy":
            log.warning(
                "ClickHouse %s at %s is older than 20.1: using the legacy schema dialect "
                "(Float64 epoch-second timestamps, no TTL or codecs) -- fine for tests, not for production",
                self.server_version, self.settings.address,
            )
        else:
            log.info("ClickHouse %s at %s", self.server_version, self.settings.address)
        self._use_database = self._database_exists()
        if self._use_database:
            self._reconnect()

    @property
    def database(self) -> str:
        return self.settings.database

    def __repr__(self) -> str:
        s = self.settings
        return (f"ServerStore({s.address}, database={s.database!r}, user={s.user!r}, "
                f"version={self.server_version!r}, dialect={self.dialect!r}, cluster={self.cluster!r})")

    # -- schema --------------------------------------------------------------------------

    def migrate(self, cluster: str | None = None) -> list[str]:
        """Bring the database's schema up to date; return what was done (empty when nothing was).

        * modern server, single node: the migration files (``schema_migrations`` records them);
        * legacy server: the legacy DDL rendered from the records (``CREATE … IF NOT EXISTS``);
        * ``cluster`` (or the store's): ``CREATE DATABASE/TABLE … ON CLUSTER`` (local
          replicated tables and Distributed tables, see :func:`create_cluster_sql`);
          needs ZooKeeper and the ``shard``/``replica`` macros on every server.

        Idempotent; afterwards every table is checked against its record (raises
        :class:`StoreError` listing the differences).
        """
        cluster = cluster or self.cluster
        if cluster is not None:
            self.cluster = check_identifier(cluster, "cluster")
        database = self.database
        with self._lock:
            done: list[str]
            if cluster is None and self.dialect == "modern":
                versions = apply_migrations(self.rows, database)
                names = {m.version: m.name for m in discover()}
                done = [f"applied migration {names[v]}" for v in versions]
            else:
                done = self._create_missing(cluster)
            if not self._use_database:
                self._use_database = True
                self._reconnect()
            problems = self.schema_problems()
        if problems:
            raise StoreError(f"tables in {database} do not match the records:\n  " + "\n  ".join(problems))
        return done

    def _create_missing(self, cluster: str | None) -> list[str]:
        database = self.database
        done = []
        if not self._database_exists():
            self._execute(create_database_sql(database, cluster=cluster))
            done.append(f"created database {database}" + (f" on cluster {cluster}" if cluster else ""))
        existing = self._tables()
        for record_cls in STORED_RECORDS:
            if cluster is None:
                statements = [(record_cls.TABLE, create_table_sql(record_cls, database, dialect=self.dialect))]
            else:
                local, distributed = create_cluster_sql(record_cls, database, cluster, dialect=self.dialect)
                statements = [(local_table(record_cls), local), (record_cls.TABLE, distributed)]
            for table, sql in statements:
                if table in existing:
                    continue
                self._execute(sql)
                where = f" on cluster {cluster}" if cluster else ""
                done.append(f"created table {database}.{table}{where} ({self.dialect} dialect)")
        return done

    def schema_problems(self) -> list[str]:
        """Differences between the records and the tables the server holds (empty: none)."""
        # Servers before 19.x have neither compression_codec nor position (they list columns in order).
        codec, order = ("compression_codec", " ORDER BY table, position") if self.dialect == "modern" else ("''", "")
        rows = self._execute(
            f"SELECT table, name, type, {codec} FROM system.columns WHERE database = %(db)s{order}",
            {"db": self.database},
        )
        found: dict[str, list[tuple[str, str, str]]] = {}
        for table, name, kind, compression in rows:
            found.setdefault(table, []).append((name, kind, compression))
        problems = []
        for record_cls in STORED_RECORDS:
            table = local_table(record_cls) if self.cluster else record_cls.TABLE
            if table not in found:
                problems.append(f"{table}: missing (run planewatch init)")
                continue
            problems.extend(f"{table}: {p}" for p in column_drift(record_cls, found[table], dialect=self.dialect))
        return problems

    # -- data ----------------------------------------------------------------------------

    def write(self, records: Iterable[Record]) -> int:
        """Store records, one columnar insert per record type; return the number of rows written.

        Control records (``TABLE`` is ``None``) are skipped. Raises
        :class:`StoreUnavailable` if the server cannot be reached or the connection
        breaks (within the timeouts); writing the same batch again later is safe.
        """
        groups: dict[type[Record], list[Record]] = {}
        for record in records:
            if type(record).TABLE is not None:
                groups.setdefault(type(record), []).append(record)
        settings = {"insert_distributed_sync": 1} if self.cluster else None
        written = 0
        with self._lock:
            for record_type, group in groups.items():
                names, columns = insert_columns(record_type, group, self.dialect)
                sql = f"INSERT INTO {self.database}.{record_type.TABLE} ({', '.join(names)}) VALUES"
                try:
                    self._execute(sql, columns, columnar=True, types_check=True, settings=settings)
                except QueryError as error:
                    raise QueryError(f"writing {len(group)} {record_type.__name__} rows failed: {error}") from None
                written += len(group)
        return written

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run trusted SQL and return an Arrow table.

        Values go in ``params``, never in the SQL text: ``{name:Type}`` placeholders (as
        with the embedded store; each becomes ``CAST(<value> AS Type)``) or the driver's
        ``%(name)s``. A literal ``%`` needs no doubling with ``{name:Type}`` placeholders.
        """
        with self._lock:
            columns, types = self._execute(sql, params, with_column_types=True, columnar=True)
        if not types:
            return pa.table({})
        if not columns:
            columns = [()] * len(types)
        zone = _zone(self.server_timezone)
        arrays = [_arrow_array(list(values), kind, zone) for values, (_, kind) in zip(columns, types)]
        return pa.Table.from_arrays(arrays, names=[name for name, _ in types])

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Rows as tuples (the migration runner's :data:`~planewatch.schemas.migrations.Executor`)."""
        with self._lock:
            return [tuple(row) for row in self._execute(sql, params)]

    def close(self) -> None:
        """Disconnect (idempotent); a closed store refuses further calls."""
        with self._lock:
            self._closed = True
            self._drop_client()

    def __enter__(self) -> ServerStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    # -- internals -----------------------------------------------------------------------

    def _database_exists(self) -> bool:
        rows = self._execute("SELECT count() FROM system.databases WHERE name = %(db)s", {"db": self.database})
        return bool(rows[0][0])

    def _tables(self) -> set[str]:
        rows = self._execute("SELECT name FROM system.tables WHERE database = %(db)s", {"db": self.database})
        return {name for (name,) in rows}

    def _make_client(self) -> Any:
        from clickhouse_driver import Client

        s = self.settings
        options: dict[str, Any] = {}
        if s.secure:
            options.update(secure=True, verify=True)
            if s.ca_file is not None:
                options["ca_certs"] = str(s.ca_file)
        return Client(
            host=s.host, port=s.port, user=s.user, password=s.password.get_secret_value(),
            database=s.database if self._use_database else "default",
            connect_timeout=s.connect_timeout, send_receive_timeout=s.send_receive_timeout,
            sync_request_timeout=min(5.0, s.connect_timeout), client_name="planewatch", **options,
        )

    def _reconnect(self) -> None:
        self._drop_client()

    def _drop_client(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.disconnect()
            except Exception:  # noqa: BLE001 -- the socket may already be dead
                pass

    def _execute(self, sql: str, params: Any = None, **options: Any) -> Any:
        """One driver call with planewatch's errors; reconnects on the next call after a failure."""
        from clickhouse_driver import errors

        if self._closed:
            raise StoreError("the store is closed")
        if isinstance(params, Mapping):
            sql, params = bind_params(sql, params)
        with self._lock:
            if self._client is None:
                self._client = self._make_client()
            try:
                return self._client.execute(sql, params, **options)
            except errors.ServerException as error:
                raise self._server_error(error) from None
            except (errors.NetworkError, errors.SocketTimeoutError, errors.UnexpectedPacketFromServerError,
                    EOFError, OSError) as error:
                self._drop_client()
                raise self._network_error(error) from None
            except errors.Error as error:  # type checks of inserted values, unknown types …
                raise QueryError(f"{type(error).__name__}: {error}") from None

    def _network_error(self, error: BaseException) -> StoreError:
        from clickhouse_driver import errors

        s = self.settings
        detail = _one_line(getattr(error, "message", None) or str(error) or type(error).__name__)
        if isinstance(error, (TimeoutError, errors.SocketTimeoutError)):
            detail = (f"no answer within {s.connect_timeout:g} s (connect) / "
                      f"{s.send_receive_timeout:g} s (send/receive): {detail}")
        if "WRONG_VERSION_NUMBER" in detail:
            return StoreAuthError(
                f"TLS to ClickHouse at {s.address} failed: that port does not speak TLS ({detail}); "
                "use the server's secure port (tcp_port_secure, usually 9440) or turn TLS off"
            )
        if isinstance(error, ssl.SSLError) or "SSL" in detail or "certificate" in detail.lower():
            return StoreAuthError(
                f"TLS to ClickHouse at {s.address} failed ({detail}); check that the server's certificate is "
                f"signed by the CA file ({s.ca_file or 'none given: the system CAs'}) and names {s.host}"
            )
        hint = "is the server running, and is the address right?"
        if s.secure:
            hint += f" (TLS is on: is {s.port} the server's secure port?)"
        elif "reset" in detail.lower():
            hint += " (a reset right away can mean the port expects TLS)"
        return StoreUnavailable(f"ClickHouse at {s.address} is unavailable ({detail}); {hint} Retry later.")

    def _server_error(self, error: Any) -> StoreError:
        s = self.settings
        message = _first_line(error.message or "")
        if error.code in _AUTH_CODES:
            return StoreAuthError(
                f"ClickHouse at {s.address} rejected user {s.user!r} (wrong password or unknown user: {message}); "
                f"set {USER_ENV} and put the password in the file {PASSWORD_FILE_ENV} names"
            )
        if error.code == _DATABASE_ACCESS_DENIED:
            return StoreAuthError(f"ClickHouse user {s.user!r} lacks access to a database it needs "
                                  f"({s.database}, or 'default' before it exists): {message}")
        if error.code in (_UNKNOWN_TABLE, _UNKNOWN_DATABASE):
            return QueryError(f"{message} (create the schema first: planewatch init, or ServerStore.migrate())")
        return QueryError(f"Code {error.code}: {message}")


def _first_line(text: str) -> str:
    """The server's message without its stack trace."""
    line = text.strip().splitlines()[0] if text.strip() else ""
    return re.sub(r"[.,]?\s*Stack trace:.*$", "", line).strip()


def _one_line(text: str) -> str:
    return " ".join(text.split())


def bind_params(sql: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """``{name:Type}`` placeholders -> the driver's ``CAST(%(name)s AS Type)``; values made exact.

    The driver then escapes every value into a literal (client side: servers before
    19.x have no query parameters on the native protocol, and one way for all
    servers is one way to test).

    Without such placeholders the SQL is left for the driver's own ``%(name)s``
    substitution. Quoted text is copied as is (only ``%`` doubled, for the driver's
    ``%``-formatting). Datetimes become UTC text with microseconds (the driver's own
    datetime escaping drops fractions).
    """
    values = {name: _param_value(value) for name, value in params.items()}
    if not any(m.group("name") for m in _PLACEHOLDER.finditer(sql)):
        return sql, values
    missing = []

    def substitute(match: re.Match[str]) -> str:
        if match.group("quoted") is not None:
            return match.group("quoted").replace("%", "%%")
        if match.group("percent") is not None:
            return "%%"
        name = match.group("name")
        if name not in values:
            missing.append(name)
        return f"CAST(%({name})s AS {match.group('type').strip()})"

    bound = _PLACEHOLDER.sub(substitute, sql)
    if missing:
        raise QueryError(f"no value for query parameter(s) {', '.join(sorted(set(missing)))}")
    return bound, values


def _param_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime query parameter: pass an aware datetime or epoch seconds")
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    if isinstance(value, float) and not math.isfinite(value):
        raise TypeError(f"query parameter {value!r} is not a finite number")
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_param_value(v) for v in value]
    return value


def init_schema(settings: ClickHouseSettings, *, cluster: str | None = None) -> list[str]:
    """The ClickHouse half of ``planewatch init``: connect, migrate, say what happened (one line each).

    Idempotent: a second run reports the database as up to date. Raises the store's
    errors (:class:`StoreUnavailable`, :class:`StoreAuthError`, :class:`StoreError`),
    whose messages say what to fix.
    """
    with ServerStore.connect(settings, cluster=cluster) as store:
        done = store.migrate()
        where = f"ClickHouse {store.server_version} at {settings.address}"
        if cluster:
            where += f", cluster {cluster}"
        head = f"{where}: database {settings.database} ({store.dialect} schema dialect)"
        return [head, *(done or ["schema is up to date"])]


def insert_columns(
    record_type: type[Record], records: Sequence[Record], dialect: Dialect
) -> tuple[list[str], list[list[Any]]]:
    """Column names and columnar values of records of one type, as the driver inserts them into ``dialect`` tables.

    Modern: ``DateTime64(3)`` as integer milliseconds (exact; the driver passes raw
    ticks through without time-zone conversion). Legacy: epoch seconds as ``Float64``,
    ``Bool`` as ``0``/``1``. Both: JSON-text fields as the JSON text ``columns.py`` stores.
    """
    names, columns = [], []
    for name, convert in _converters(record_type, dialect):
        values = [getattr(r, name) for r in records]
        if convert is not None:
            values = [None if v is None else convert(v) for v in values]
        names.append(name)
        columns.append(values)
    return names, columns


@functools.cache
def _converters(record_type: type[Record], dialect: Dialect) -> tuple[tuple[str, Callable[[Any], Any] | None], ...]:
    """Per column: its name and the conversion of a non-None value for ``dialect`` (None: as is)."""
    hints = typing.get_type_hints(record_type, include_extras=True)
    result = []
    for spec in columns_of(record_type):
        if any(m is JSON_TEXT for m in getattr(hints[spec.name], "__metadata__", ())):
            result.append((spec.name, spec.to_arrow))  # the JSON text columns.py stores
            continue
        result.append((spec.name, _value_converter(spec.clickhouse, column_type(spec.clickhouse, dialect))))
    return tuple(result)


def _value_converter(declared: str, actual: str) -> Callable[[Any], Any] | None:
    """Record value -> driver value for a column declared ``declared`` and created as ``actual``."""
    inner = _unwrap(declared)
    if inner.startswith("Array("):
        element = _value_converter(inner[len("Array(") : -1], _unwrap(actual)[len("Array(") : -1])
        return None if element is None else (lambda items: [element(v) for v in items])
    kind = _unwrap(actual)
    if kind.startswith("DateTime64"):
        scale = 10 ** int(re.match(r"DateTime64\((\d+)", kind).group(1))  # type: ignore[union-attr]
        return lambda seconds: int(round(seconds * scale))  # raw ticks: exact, no time-zone conversion
    if kind == "Float64" and inner.startswith("DateTime64"):
        return float
    if inner == "Bool":
        return bool if kind == "Bool" else int
    return None


def _unwrap(clickhouse: str) -> str:
    for wrapper in ("Nullable", "LowCardinality", "Nullable"):
        if clickhouse.startswith(wrapper + "("):
            clickhouse = clickhouse[len(wrapper) + 1 : -1]
    return clickhouse


_ARROW_SIMPLE: dict[str, pa.DataType] = {
    "UInt8": pa.uint8(), "UInt16": pa.uint16(), "UInt32": pa.uint32(), "UInt64": pa.uint64(),
    "Int8": pa.int8(), "Int16": pa.int16(), "Int32": pa.int32(), "Int64": pa.int64(),
    "Float32": pa.float32(), "Float64": pa.float64(), "String": pa.string(), "Bool": pa.bool_(),
    "Date": pa.date32(), "UUID": pa.string(),
}


def _arrow_type(clickhouse: str) -> pa.DataType | None:
    """Arrow type of a result column (None: let Arrow infer it)."""
    inner = _unwrap(clickhouse)
    if inner.startswith("Array("):
        element = _arrow_type(inner[len("Array(") : -1])
        return None if element is None else pa.list_(element)
    if inner in _ARROW_SIMPLE:
        return _ARROW_SIMPLE[inner]
    if inner.startswith("FixedString("):
        return pa.string()
    if inner.startswith("DateTime64"):
        precision = int(re.match(r"DateTime64\((\d+)", inner).group(1))  # type: ignore[union-attr]
        return pa.timestamp("ms" if precision <= 3 else "us", tz="UTC")
    if inner.startswith("DateTime"):
        return pa.timestamp("s", tz="UTC")
    return None


def _arrow_array(values: list[Any], clickhouse: str, zone: dt.tzinfo) -> pa.Array:
    kind = _arrow_type(clickhouse)
    if kind is not None and pa.types.is_timestamp(kind):
        # The driver hands out naive datetimes, in the server's time zone, for zone-less columns.
        values = [v.replace(tzinfo=zone) if isinstance(v, dt.datetime) and v.tzinfo is None else v for v in values]
    if kind is not None and pa.types.is_string(kind):
        values = [None if v is None else str(v) for v in values]
    try:
        return pa.array(values, type=kind) if kind is not None else pa.array(values)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        return pa.array([None if v is None else str(v) for v in values], type=pa.string())


@functools.cache
def _zone(name: str) -> dt.tzinfo:
    try:
        return zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return dt.timezone.utc
