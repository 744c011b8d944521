"""The embedded store: ClickHouse in-process (chdb) on a local data directory.

One process owns a data directory. chdb itself refuses a second process (it locks
``<dir>/status``) but only says "Error initializing EmbeddedServer" and prints the
cause to stderr, so :meth:`EmbeddedStore.open` takes its own ``flock`` first and tells
the user *which* process holds the directory. chdb also allows one data directory per
process at a time (close a store before opening another path).

Writes are columnar (one ``INSERT … SELECT FROM Python(batch)`` per record type per
call) and synchronous: rows are queryable as soon as :meth:`EmbeddedStore.write`
returns. User SQL goes through :meth:`EmbeddedStore.query_readonly`, which runs on a
second chdb connection that is locked into ``readonly=1``.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any

import pyarrow as pa

from planewatch.schemas.columns import arrow_table, columns_of
from planewatch.schemas.ddl import check_identifier
from planewatch.schemas.migrations import apply_migrations
from planewatch.schemas.records import Record

LOCK_FILE = "planewatch.lock"

_READ_STATEMENTS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS"})
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"")
_CLIENT_SIDE_OUTPUT = re.compile(r"\bINTO\s+OUTFILE\b|\bFORMAT\s+[A-Za-z]")


class StoreError(RuntimeError):
    """The store cannot do what was asked; the message says why and what to do."""


class StoreInUseError(StoreError):
    """The data directory belongs to another running process."""


class QueryError(StoreError, ValueError):
    """ClickHouse rejected a query (syntax, unknown table, bad parameter …).

    A ``ValueError`` too, so a CLI that reports bad user input plainly reports this.
    """


class ReadOnlyQueryError(QueryError):
    """A query given to :meth:`EmbeddedStore.query_readonly` would write, change schema, or is not one statement."""


class EmbeddedStore:
    """planewatch's tables in an in-process ClickHouse (chdb) data directory. Open with :meth:`open`."""

    def __init__(self, path: Path, database: str, lock_fd: int, session: Any, readonly: Any) -> None:
        self._path = path
        self._database = database
        self._lock_fd: int | None = lock_fd
        self._session = session
        self._readonly = readonly

    @classmethod
    def open(cls, path: Path | str, database: str = "planewatch") -> EmbeddedStore:
        """Lock ``path`` for this process, open chdb on it and bring ``database`` up to date.

        The lock comes first so a second planewatch gets a one-line
        :class:`StoreInUseError` naming the holder's PID instead of chdb's stderr noise.
        """
        check_identifier(database, "database")
        directory = Path(path).expanduser().resolve()
        directory.mkdir(parents=True, exist_ok=True)
        lock_fd = _lock(directory)
        session = readonly = None
        try:
            session = _connect(directory)
            readonly = _connect(directory)
            store = cls(directory, database, lock_fd, session, readonly)
            apply_migrations(store._rows, database)
            session.query(f"USE {database}")
            readonly.query(f"USE {database}")
            readonly.query("SET readonly = 1")
            return store
        except BaseException:
            for connection in (readonly, session):
                if connection is not None:
                    connection.close()
            _unlock(lock_fd)
            raise

    @property
    def path(self) -> Path:
        """The data directory (absolute)."""
        return self._path

    @property
    def database(self) -> str:
        """The ClickHouse database holding planewatch's tables."""
        return self._database

    def write(self, records: Iterable[Record]) -> int:
        """Store records, one columnar insert per record type; return the number of rows written.

        Control records (``TABLE`` is ``None``, e.g. watermarks) are skipped. Rows are
        visible to queries when this returns. Rows whose ``ts`` is already past their
        table's TTL are dropped by ClickHouse on insert (they still count here).
        """
        session = self._open_session()
        groups: dict[type[Record], list[Record]] = {}
        for record in records:
            if type(record).TABLE is not None:
                groups.setdefault(type(record), []).append(record)
        written = 0
        for record_type, group in groups.items():
            batch = arrow_table(record_type, group)  # noqa: F841 -- read by name by chdb's Python()
            names = ", ".join(spec.name for spec in columns_of(record_type))
            sql = f"INSERT INTO {self._database}.{record_type.TABLE} ({names}) SELECT {names} FROM Python(batch)"
            try:
                session.query(sql)
            except RuntimeError as error:
                raise StoreError(f"writing {len(group)} {record_type.__name__} rows failed: {error}") from error
            written += len(group)
        return written

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run trusted (planewatch's own) SQL; values go in ``params`` as ``{name:Type}`` placeholders."""
        return _run(self._open_session(), sql, params)

    def query_readonly(self, sql: str, params: Mapping[str, Any] | None = None) -> pa.Table:
        """Run user-supplied SQL that may only read: one SELECT/WITH/SHOW/DESCRIBE/EXPLAIN/EXISTS.

        It runs on a connection held at ``readonly=1`` (which cannot be lifted from
        SQL), after ClickHouse's own parser has confirmed it is a single read
        statement without ``INTO OUTFILE`` (which ``readonly`` does not stop) or
        ``FORMAT`` (results come back as Arrow).
        """
        readonly = self._readonly
        if readonly is None:
            raise StoreError("the store is closed")
        if not sql.strip():
            raise ReadOnlyQueryError("the query is empty")
        try:
            parsed = _run(readonly, "SELECT formatQuerySingleLine({q:String}) AS q", {"q": sql})
        except QueryError as error:
            if "Multi-statements are not allowed" in str(error):
                raise ReadOnlyQueryError("only one statement is allowed (drop what follows the first ';')") from None
            raise
        normalized = parsed.column("q")[0].as_py()
        keyword = normalized.lstrip("( ").split(None, 1)[0].upper() if normalized.strip("( ") else ""
        if keyword not in _READ_STATEMENTS:
            raise ReadOnlyQueryError(
                f"only read queries are allowed ({', '.join(sorted(_READ_STATEMENTS))}), not {keyword or 'this'}"
            )
        if _CLIENT_SIDE_OUTPUT.search(_QUOTED.sub("''", normalized)):
            raise ReadOnlyQueryError("INTO OUTFILE and FORMAT are not allowed: results are returned as a table")
        try:
            return _run(readonly, sql, params)
        except QueryError as error:
            if "(READONLY)" in str(error):
                raise ReadOnlyQueryError(
                    f"the query needs more than read access (writes, settings, file/url functions): {error}"
                ) from None
            raise

    def close(self) -> None:
        """Close chdb and release the directory lock (idempotent)."""
        for connection in (self._readonly, self._session):
            if connection is not None:
                connection.close()
        self._readonly = self._session = None
        if self._lock_fd is not None:
            _unlock(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> EmbeddedStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def _open_session(self) -> Any:
        if self._session is None:
            raise StoreError("the store is closed")
        return self._session

    def _rows(self, sql: str, params: Mapping[str, Any] | None) -> list[tuple[Any, ...]]:
        """Rows as tuples: the executor the migration runner needs."""
        table = _run(self._open_session(), sql, params)
        return list(zip(*(column.to_pylist() for column in table.columns)))


def _connect(directory: Path) -> Any:
    from chdb.session import Session  # imported late: loading the engine costs ~0.4 s

    try:
        return Session(str(directory))
    except RuntimeError as error:
        message = str(error)
        if "Error initializing EmbeddedServer" in message:
            raise StoreInUseError(
                f"data directory {directory} is in use by another process (ClickHouse could not lock it); "
                "stop it or pass a different --data"
            ) from None
        if "EmbeddedServer already initialized" in message:
            raise StoreError(
                f"cannot open {directory}: this process already has another chdb data directory open "
                "(chdb allows one per process); close that store first"
            ) from None
        raise StoreError(f"cannot open chdb on {directory}: {message}") from error


def _lock(directory: Path) -> int:
    """Take the exclusive lock on ``<directory>/planewatch.lock`` and write our PID into it."""
    fd = os.open(directory / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "unknown"
        os.close(fd)
        if holder == str(os.getpid()):
            raise StoreInUseError(
                f"data directory {directory} is already open in this process (pid {holder}); "
                "close the other store first"
            ) from None
        raise StoreInUseError(
            f"data directory {directory} is in use by another planewatch process (pid {holder}); "
            "stop it or pass a different --data"
        ) from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _unlock(fd: int) -> None:
    fcntl.flock(fd, fcntl.LOCK_UN)
    os.close(fd)


def _run(connection: Any, sql: str, params: Mapping[str, Any] | None) -> pa.Table:
    try:
        return connection.query(sql, "ArrowTable", params=_encode_params(params))
    except pa.ArrowInvalid:
        raise QueryError("the query's result is not a table (remove its FORMAT / INTO OUTFILE clause)") from None
    except RuntimeError as error:
        raise QueryError(str(error).strip()) from None


def _encode_params(params: Mapping[str, Any] | None) -> dict[str, str] | None:
    """Query parameters as the text ClickHouse expects.

    chdb passes each value through as text that ClickHouse parses with the type's
    text format: a ``String`` in the *escaped* format (a raw newline, tab or backslash
    would cut it short or be reinterpreted), an ``Array`` as a literal with quoted
    elements (chdb would ``str()`` a list Python-style). Encoding here makes any
    value round-trip exactly.
    """
    if params is None:
        return None
    return {name: "\\N" if value is None else _param_text(value) for name, value in params.items()}


def _param_text(value: Any) -> str:
    if isinstance(value, str):
        return _escaped(value)
    if isinstance(value, dt.datetime):
        return _literal(value)[1:-1]
    return _literal(value)


def _escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace("\r", "\\r")


def _literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return "'" + _escaped(value).replace("'", "\\'") + "'"
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise TypeError("naive datetime query parameter: pass an aware datetime or epoch seconds")
        utc = value.astimezone(dt.timezone.utc)
        return utc.strftime("'%Y-%m-%d %H:%M:%S.%f'" if utc.microsecond else "'%Y-%m-%d %H:%M:%S'")
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(_literal(item) for item in value) + "]"
    raise TypeError(f"unsupported query parameter type {type(value).__name__}")
