"""The SQLite store: ``sqlite:///abs/path/runs.db`` (stdlib ``sqlite3``, embedded).

Durability: WAL journal mode with ``synchronous=FULL``, so a committed transaction (a completed
node's journal entry) survives a power loss, and readers never block the writer. Every thread
gets its own connection (``threading.local``); writes take the database's write lock at once
(``BEGIN IMMEDIATE``) and wait up to ``busy_timeout`` seconds for another process's write.
The schema is created and migrated on open (see :mod:`.sql.migrations`). Everything else (the
rows, the fenced lease, group commit) is :class:`~vibe_aigc.persistence.sql.base.SqlStore`.

URL forms: ``sqlite:///abs/path.db`` (absolute), ``sqlite:relative/path.db`` (relative to the
working directory). Query options: ``lease_seconds`` (default 30), ``busy_timeout`` (seconds,
default 10), ``artifact_dir`` (blobs as files there; default ``$VIBE_ARTIFACT_DIR``, else small
blobs in the database).
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import unquote, urlsplit

from vibe_aigc import __name__ as _library
from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointWriteError,
    ConfigurationError,
    StoreUnavailableError,
)
from vibe_aigc.persistence.codec import Codec
from vibe_aigc.persistence.sql.base import Op, SqlStore, Tx
from vibe_aigc.persistence.sql.lease import DEFAULT_LEASE_SECONDS
from vibe_aigc.persistence.sql.migrations import SQLITE, migrate
from vibe_aigc.persistence.sql.options import number, split_options, text

T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT = 10.0


class _Tx:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        return self.conn.execute(sql, params).fetchall()

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self.conn.execute(sql, params).rowcount

    def many(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        self.conn.executemany(sql, params)


class SQLiteStore(SqlStore):
    """Plans in one SQLite database file (see the module docstring)."""

    dialect = SQLITE

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        busy_timeout: float = DEFAULT_BUSY_TIMEOUT,
        artifact_dir: str | os.PathLike[str] | None = None,
        codec: Codec | None = None,
    ) -> None:
        text_path = os.fspath(path)
        if text_path in ("", ":memory:") or text_path.startswith("file:"):
            raise ConfigurationError(
                f"the SQLite store needs a database file path, not {text_path!r}"
            )
        self.path = Path(os.path.abspath(os.path.expanduser(text_path)))
        if not 0 < busy_timeout <= 3600:
            raise ConfigurationError(f"busy_timeout must be 0-3600 seconds, not {busy_timeout!r}")
        self.busy_timeout = float(busy_timeout)
        super().__init__(
            "sqlite://" + self.path.as_posix(),
            lease_seconds=lease_seconds,
            artifact_dir=artifact_dir,
            codec=codec,
        )
        self._local = threading.local()
        self._conns: dict[int, sqlite3.Connection] = {}
        self._guard = threading.Lock()
        self.found_version = self.migrate()

    @classmethod
    def from_url(cls, url: str) -> SQLiteStore:
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise ConfigurationError(f"sqlite URLs name a local file; {url!r} names a host")
        path = unquote(parts.path)
        if not path:
            raise ConfigurationError(f"the store URL {url!r} names no database file")
        options, rest = split_options(
            parts.query, ("lease_seconds", "busy_timeout", "artifact_dir")
        )
        if rest:
            raise ConfigurationError(
                f"unknown option(s) {', '.join(k for k, _ in rest)} in the store URL; the "
                "SQLite store takes lease_seconds, busy_timeout and artifact_dir"
            )
        return cls(
            path,
            lease_seconds=number(options, "lease_seconds", DEFAULT_LEASE_SECONDS),
            busy_timeout=number(options, "busy_timeout", DEFAULT_BUSY_TIMEOUT),
            artifact_dir=text(options, "artifact_dir"),
        )

    # ------------------------------------------------------------------ connections

    def _open(self) -> sqlite3.Connection:
        try:
            os.makedirs(self.path.parent, mode=0o700, exist_ok=True)
            if not self.path.exists():  # created 0600; SQLite gives -wal/-shm the same mode
                os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError as exc:
            raise CheckpointWriteError(str(self.path), exc) from exc
        conn = sqlite3.connect(
            str(self.path),
            timeout=self.busy_timeout,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,  # each connection is still used by one thread only
        )
        try:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()
            conn.execute("PRAGMA synchronous=FULL")
            conn.execute(f"PRAGMA busy_timeout={int(self.busy_timeout * 1000)}")
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise CheckpointCorruptError(
                str(self.path), f"not a usable SQLite database ({exc})"
            ) from None
        if mode is None or str(mode[0]).lower() != "wal":
            conn.close()
            raise CheckpointWriteError(
                str(self.path), OSError(f"the database refused WAL mode (got {mode!r})")
            )
        return conn

    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._open()
            self._local.conn = conn
            with self._guard:
                alive = {t.ident for t in threading.enumerate()}
                for ident in [i for i in self._conns if i not in alive]:
                    with contextlib.suppress(sqlite3.Error):
                        self._conns.pop(ident).close()
                self._conns[threading.get_ident()] = conn
        return conn

    def _thread_done(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            self._local.conn = None
            with self._guard:
                self._conns.pop(threading.get_ident(), None)
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def close(self) -> None:
        with self._guard:
            conns, self._conns = list(self._conns.values()), {}
        self._local = threading.local()
        for conn in conns:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    # ------------------------------------------------------------------ transactions

    def _migrate(self, tx: Tx, attempt: int) -> int:
        return migrate(tx.rows, self.dialect, self.url, _library)

    def _transact(self, op: Op[T], *, write: bool, what: str, patient: bool = True) -> T:
        conn = self._conn()
        try:
            conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
            try:
                result = op(_Tx(conn), 0)
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        except CheckpointError:
            raise
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise StoreUnavailableError(  # another writer kept it past busy_timeout
                    self.url, what, f"locked by another connection for {self.busy_timeout:g} s"
                ) from exc
            if type(exc) is sqlite3.DatabaseError or "malformed" in str(exc):
                raise CheckpointCorruptError(
                    str(self.path), f"could not {what}: the database is damaged ({exc})"
                ) from None
            if write:
                raise CheckpointWriteError(str(self.path), exc) from exc
            raise CheckpointCorruptError(str(self.path), f"could not {what} ({exc})") from None
