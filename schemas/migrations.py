"""Schema migrations: numbered SQL files applied in order, each exactly once per database.

Migrations live in ``planewatch/schemas/sql/NNNN_name.sql`` (shipped as package data)
and are found through :mod:`importlib.resources`, so an installed wheel migrates the
same way a checkout does. Each database records what it has applied in
``<database>.schema_migrations`` with a checksum of the statements, so editing an
applied migration is reported instead of silently leaving databases different.

ClickHouse has no transactional DDL: a migration interrupted half-way is re-run from
its first statement next time, so every statement must be idempotent
(``CREATE … IF NOT EXISTS``, ``ADD COLUMN IF NOT EXISTS`` …). The runner talks to the
store through an :data:`Executor`, so the embedded and the server store share it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.resources
import re
from collections.abc import Callable, Mapping, Sequence
from importlib.resources.abc import Traversable
from typing import Any

from planewatch.schemas.ddl import check_identifier

Executor = Callable[[str, Mapping[str, Any] | None], list[tuple[Any, ...]]]
"""Runs one SQL statement (``{name:Type}`` parameters) and returns its rows as tuples."""

PLACEHOLDER = "{database}"
"""Stands for the target database in migration files; replaced by a validated identifier."""

_FILE_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql\Z")


class MigrationError(RuntimeError):
    """The migrations cannot be applied as they are (bad file, edited history, newer database)."""


@dataclasses.dataclass(frozen=True)
class Migration:
    """One migration file: its version (the ``NNNN`` prefix), file name and SQL text."""

    version: int
    name: str
    sql: str

    def statements(self, database: str) -> list[str]:
        """The file's statements with the database placeholder filled in."""
        check_identifier(database, "database")
        return [s.replace(PLACEHOLDER, database) for s in split_statements(self.sql)]

    @property
    def checksum(self) -> str:
        """SHA-256 of the statements only, so editing comments does not count as a change."""
        return hashlib.sha256("\n;\n".join(split_statements(self.sql)).encode()).hexdigest()


def split_statements(sql: str) -> list[str]:
    """Split SQL text into statements at ``;`` that ends a line (comment-only chunks dropped).

    Only a line-ending ``;`` separates, so ``;`` inside a line (a string literal, a
    comment) never splits; the one rule for migration authors is not to end a line
    inside a string literal with ``;``.
    """
    statements: list[str] = []
    current: list[str] = []
    for line in sql.splitlines():
        stripped = line.strip()
        is_comment = stripped.startswith("--")
        if not is_comment and stripped.endswith(";"):
            current.append(line.rstrip()[:-1])
            _keep(statements, current)
            current = []
        else:
            current.append(line)
    _keep(statements, current)
    return statements


def _keep(statements: list[str], lines: list[str]) -> None:
    code = [line for line in lines if not line.strip().startswith("--")]
    text = "\n".join(code).strip()
    if text:
        statements.append(text)


def discover(folder: Traversable | None = None) -> tuple[Migration, ...]:
    """All migrations in ``folder`` (default: the packaged ``sql`` folder), ordered by version.

    A ``.sql`` file whose name does not follow ``NNNN_name.sql`` is an error rather
    than being skipped: a mistyped name would otherwise never be applied.
    """
    folder = folder if folder is not None else importlib.resources.files("planewatch.schemas") / "sql"
    found: dict[int, Migration] = {}
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        match = _FILE_NAME.match(entry.name)
        if match is None:
            raise MigrationError(f"migration file {entry.name!r} is not named NNNN_lower_case_name.sql")
        version = int(match.group(1))
        if version in found:
            raise MigrationError(f"migrations {found[version].name} and {entry.name} share version {version}")
        found[version] = Migration(version, entry.name, entry.read_text(encoding="utf-8"))
    return tuple(found[v] for v in sorted(found))


def applied(execute: Executor, database: str) -> dict[int, str]:
    """Versions already applied to ``database`` and their checksums (creating the bookkeeping table)."""
    check_identifier(database, "database")
    execute(f"CREATE DATABASE IF NOT EXISTS {database}", None)
    execute(
        f"CREATE TABLE IF NOT EXISTS {database}.schema_migrations "
        "(version UInt32, name String, checksum String, applied_at DateTime64(3, 'UTC') DEFAULT now64(3)) "
        "ENGINE = MergeTree ORDER BY version",
        None,
    )
    rows = execute(f"SELECT version, checksum FROM {database}.schema_migrations ORDER BY version", None)
    return {int(version): str(checksum) for version, checksum in rows}


def apply_migrations(
    execute: Executor, database: str, migrations: Sequence[Migration] | None = None
) -> list[int]:
    """Apply the migrations ``database`` has not had yet, in order; return their versions.

    Running it again applies nothing. Raises :class:`MigrationError` if an applied
    migration was edited since, or the database knows versions this code does not
    (it was migrated by a newer planewatch).
    """
    migrations = discover() if migrations is None else migrations
    done = applied(execute, database)
    known = {m.version: m for m in migrations}
    newer = sorted(set(done) - set(known))
    if newer:
        raise MigrationError(
            f"database {database} has migrations {newer} that this planewatch does not know; "
            "upgrade planewatch or use another database"
        )
    for version, checksum in done.items():
        if known[version].checksum != checksum:
            raise MigrationError(
                f"migration {known[version].name} changed after it was applied to database {database}; "
                "applied migrations are append-only: add a new NNNN_*.sql file instead"
            )
    applied_now = []
    for migration in migrations:
        if migration.version in done:
            continue
        for statement in migration.statements(database):
            execute(statement, None)
        execute(
            f"INSERT INTO {database}.schema_migrations (version, name, checksum) "
            "SELECT {version:UInt32}, {name:String}, {checksum:String}",
            {"version": migration.version, "name": migration.name, "checksum": migration.checksum},
        )
        applied_now.append(migration.version)
    return applied_now
