"""The SQL stores' schema: a version table and a list of migrations applied on open.

Like LangGraph's ``MIGRATIONS``, the schema is a list; migration ``n`` (1-based) brings a
database from version ``n - 1`` to ``n``, and ``vibe_schema`` records every version applied.
Opening a store applies the missing ones in one transaction (under the database's write lock in
SQLite, under an advisory lock in Postgres, so two processes opening at once do not race). A
database whose version is newer than :data:`LATEST` was written by a newer vibe-aigc and is
refused with :class:`~vibe_aigc.errors.UnsupportedSchemaError` before anything is touched.

Records keep their checksum and schema version inside the row (``data`` and ``line`` hold the
codec's bytes), so a damaged or hand-edited row fails its checksum on read.

Tables (all prefixed ``vibe_`` so the store can share a database with other software)::

    vibe_schema             version, applied_at, library
    vibe_snapshots          plan_id, checkpoint_id, data (codec bytes), written_at
    vibe_entries            plan_id, seq, line (one codec journal line)
    vibe_discarded_entries  id, plan_id, seq, line, discarded_at   (a set-aside damaged tail)
    vibe_leases             plan_id, owner, token, expires_at, heartbeat   (epoch seconds)
    vibe_blobs              plan_id, sha256, media_type, size, data, created_at
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vibe_aigc.errors import UnsupportedSchemaError


@dataclass(frozen=True)
class Dialect:
    """How one database spells the few things that differ."""

    name: str
    blob: str  # a byte string column
    float: str  # a double precision column
    int: str  # a 64-bit integer column
    serial: str  # an auto-increment primary key column
    now: str  # the database clock in epoch seconds (an SQL expression, never user data)


SQLITE = Dialect(
    name="sqlite",
    blob="BLOB",
    float="REAL",
    int="INTEGER",
    serial="INTEGER PRIMARY KEY AUTOINCREMENT",
    now="((julianday('now') - 2440587.5) * 86400.0)",
)
POSTGRES = Dialect(
    name="postgresql",
    blob="BYTEA",
    float="DOUBLE PRECISION",
    int="BIGINT",
    serial="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
    now="(EXTRACT(EPOCH FROM clock_timestamp())::float8)",
)

VERSION_TABLE = """
CREATE TABLE IF NOT EXISTS vibe_schema (
    version INTEGER PRIMARY KEY,
    applied_at {float} NOT NULL,
    library TEXT NOT NULL
)"""

MIGRATIONS: list[tuple[str, ...]] = [
    # 1: snapshots, journal entries, leases, blobs
    (
        """CREATE TABLE vibe_snapshots (
            plan_id TEXT NOT NULL,
            checkpoint_id TEXT NOT NULL,
            data {blob} NOT NULL,
            written_at {float} NOT NULL,
            PRIMARY KEY (plan_id, checkpoint_id)
        )""",
        "CREATE INDEX vibe_snapshots_by_id ON vibe_snapshots (checkpoint_id)",
        """CREATE TABLE vibe_entries (
            plan_id TEXT NOT NULL,
            seq {int} NOT NULL,
            line {blob} NOT NULL,
            PRIMARY KEY (plan_id, seq)
        )""",
        """CREATE TABLE vibe_discarded_entries (
            id {serial},
            plan_id TEXT NOT NULL,
            seq {int} NOT NULL,
            line {blob} NOT NULL,
            discarded_at {float} NOT NULL
        )""",
        """CREATE TABLE vibe_leases (
            plan_id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            token {int} NOT NULL,
            expires_at {float} NOT NULL,
            heartbeat {float} NOT NULL
        )""",
        """CREATE TABLE vibe_blobs (
            plan_id TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            media_type TEXT NOT NULL,
            size {int} NOT NULL,
            data {blob} NOT NULL,
            created_at {float} NOT NULL,
            PRIMARY KEY (plan_id, sha256)
        )""",
    ),
]
"""``MIGRATIONS[n - 1]`` brings the schema from version ``n - 1`` to ``n``. Append only."""

LATEST = len(MIGRATIONS)
"""The schema version this code writes."""


def render(sql: str, dialect: Dialect) -> str:
    """``sql`` with the dialect's type names filled in."""
    return sql.format(
        blob=dialect.blob,
        float=dialect.float,
        int=dialect.int,
        serial=dialect.serial,
        now=dialect.now,
    )


Execute = Callable[[str, tuple[object, ...]], list[tuple[object, ...]]]


def migrate(execute: Execute, dialect: Dialect, source: str, library: str) -> int:
    """Bring the database to :data:`LATEST` inside the caller's (locked) transaction; returns
    the version found. ``execute(sql, params)`` runs one statement and returns its rows."""
    execute(render(VERSION_TABLE, dialect), ())
    rows = execute("SELECT MAX(version) FROM vibe_schema", ())
    found = rows[0][0] if rows and rows[0][0] is not None else 0
    assert isinstance(found, int)
    if found > LATEST:
        raise UnsupportedSchemaError(source, found, LATEST)
    for version in range(found + 1, LATEST + 1):
        for statement in MIGRATIONS[version - 1]:
            execute(render(statement, dialect), ())
        execute(
            render(
                "INSERT INTO vibe_schema (version, applied_at, library) VALUES (?, {now}, ?)",
                dialect,
            ),
            (version, library),
        )
    return found
