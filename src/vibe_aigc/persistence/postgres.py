"""The PostgreSQL store: ``postgresql://user:password@host:port/dbname`` (psycopg 3 + a pool).

Why psycopg 3 (and not asyncpg): the store contract is synchronous (the runs layer calls it
from worker threads), psycopg 3 is synchronous-first with a maintained thread-safe pool
(``psycopg_pool.ConnectionPool``), binds parameters server-side and prepares hot statements
automatically, and is what LangGraph's PostgresSaver and DBOS use, so one server serves all.

Everything that decides what is written (rows, fenced leases in the server's clock, group
commit, migrations under an advisory lock) is :class:`~vibe_aigc.persistence.sql.base.SqlStore`;
this module opens connections and runs transactions.

**Connection loss.** When the server goes away (a restart, a failover, a network cut) every
operation is retried with exponential backoff (50 ms doubling to 2 s) for up to
``retry_seconds`` (default 60), so a run pauses rather than fails across a server restart. A
retried append whose first attempt did commit is recognised (same seqs, same bytes) and not
written twice. If the server stays away, reads and writes raise StoreUnavailableError (never
CheckpointCorruptError: an outage must not make a snapshot look damaged), and the run can
resume later. A wrong password or
database name is a ConfigurationError at once, not retried.

Query options (the rest of the URL goes to libpq as it is, e.g. ``sslmode``): ``lease_seconds``
(default 30), ``retry_seconds`` (default 60), ``artifact_dir`` (blobs as files there; default
``$VIBE_ARTIFACT_DIR``, else small blobs in the database).
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from typing import Any, TypeVar
from urllib.parse import urlencode, urlsplit, urlunsplit

import psycopg
from psycopg import conninfo as pg_conninfo
from psycopg_pool import ConnectionPool

from vibe_aigc import __name__ as _library
from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointLockedError,
    CheckpointWriteError,
    ConfigurationError,
    StoreUnavailableError,
)
from vibe_aigc.persistence.codec import Codec
from vibe_aigc.persistence.records import Record
from vibe_aigc.persistence.sql import statements as q
from vibe_aigc.persistence.sql.base import Op, SqlStore, Tx
from vibe_aigc.persistence.sql.lease import DEFAULT_LEASE_SECONDS
from vibe_aigc.persistence.sql.migrations import POSTGRES, migrate
from vibe_aigc.persistence.sql.options import number, split_options, text
from vibe_aigc.persistence.store import Lease

T = TypeVar("T")
log = logging.getLogger("vibe_aigc.persistence.postgres")

DEFAULT_RETRY_SECONDS = 60.0
POOL_SIZE = 8
_SCHEMA_LOCK = 0x7669626561696763  # pg_advisory_xact_lock key while migrating ("vibeaigc")
_CONFIG_STATES = {"28000", "28P01", "3D000", "42501"}  # bad login, no such database, denied
_CONFIG_HINTS = ("authentication failed", "does not exist", "no password supplied")


@functools.lru_cache(maxsize=256)
def _pg(sql: str) -> str:
    return sql.replace("?", "%s")  # our statements hold no literal '?' or '%'


class _Tx:
    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        cur = self.conn.execute(_pg(sql), params)
        return cur.fetchall() if cur.description is not None else []

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        return self.conn.execute(_pg(sql), params).rowcount

    def many(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        with self.conn.cursor() as cur:
            cur.executemany(_pg(sql), params)


def display_url(conninfo: str) -> str:
    """``postgresql://user@host:port/dbname`` of a conninfo, without its password."""
    try:
        parts = pg_conninfo.conninfo_to_dict(conninfo)
    except psycopg.ProgrammingError as exc:
        raise ConfigurationError(f"not a PostgreSQL connection string ({exc})") from None
    user = f"{parts['user']}@" if parts.get("user") else ""
    host = str(parts.get("host") or "localhost")
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{host}{port}/{parts.get('dbname') or ''}"


def _is_config_error(exc: BaseException) -> bool:
    if getattr(exc, "sqlstate", None) in _CONFIG_STATES:
        return True
    message = str(exc)
    return any(hint in message for hint in _CONFIG_HINTS)


class PostgresStore(SqlStore):
    """Plans in a PostgreSQL database (see the module docstring)."""

    dialect = POSTGRES

    def __init__(
        self,
        conninfo: str,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        retry_seconds: float = DEFAULT_RETRY_SECONDS,
        pool_size: int = POOL_SIZE,
        artifact_dir: str | os.PathLike[str] | None = None,
        codec: Codec | None = None,
    ) -> None:
        if not 0 <= retry_seconds <= 86400:
            raise ConfigurationError(f"retry_seconds must be 0-86400, not {retry_seconds!r}")
        if not 1 <= pool_size <= 1000:
            raise ConfigurationError(f"pool_size must be 1-1000, not {pool_size!r}")
        super().__init__(
            display_url(conninfo),
            lease_seconds=lease_seconds,
            artifact_dir=artifact_dir,
            codec=codec,
        )
        self.retry_seconds = float(retry_seconds)
        self.retries = 0
        """How many times an operation was retried after a connection problem."""
        self._conninfo = conninfo
        self._pool_size = pool_size
        self._pool: ConnectionPool[psycopg.Connection[Any]] | None = None
        self._pool_guard = threading.Lock()
        self.found_version = self.migrate()

    @classmethod
    def from_url(cls, url: str) -> PostgresStore:
        parts = urlsplit(url)
        options, rest = split_options(
            parts.query, ("lease_seconds", "retry_seconds", "artifact_dir")
        )
        conninfo = urlunsplit(("postgresql", parts.netloc, parts.path, urlencode(rest), ""))
        return cls(
            conninfo,
            lease_seconds=number(options, "lease_seconds", DEFAULT_LEASE_SECONDS),
            retry_seconds=number(options, "retry_seconds", DEFAULT_RETRY_SECONDS),
            artifact_dir=text(options, "artifact_dir"),
        )

    # ------------------------------------------------------------------ connections

    def _get_pool(self) -> ConnectionPool[psycopg.Connection[Any]]:
        with self._pool_guard:
            if self._pool is None:
                pool: ConnectionPool[psycopg.Connection[Any]] = ConnectionPool(
                    self._conninfo,
                    min_size=1,
                    max_size=self._pool_size,
                    kwargs={"autocommit": True},  # transactions are explicit
                    open=False,
                    name=f"vibe-{self.url}",
                )
                pool.open(wait=False)
                self._pool = pool
            return self._pool

    def close(self) -> None:
        with self._pool_guard:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.close()

    def _migrate(self, tx: Tx, attempt: int) -> int:
        tx.rows("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))
        return migrate(tx.rows, self.dialect, self.url, _library)

    # ------------------------------------------------------------------ one-entry appends

    single_statement_append = True
    """Append one journal entry with one statement in autocommit (fence check, highest-seq
    check and insert together: one round trip instead of BEGIN, fence, insert, COMMIT)."""

    def append_entries(self, lease: Lease, entries: list[Record]) -> None:
        if len(entries) != 1 or not self.single_statement_append:
            super().append_entries(lease, entries)
            return
        fenced = self._fenced(lease)
        rows = self._entry_rows(fenced, entries)
        plan_id, seq, line = rows[0]
        params = (self.lease_seconds, plan_id, fenced.token, plan_id, plan_id, seq, line, seq)

        def op(tx: Tx, attempt: int) -> None:
            renewed, top, inserted = tx.rows(self._sql(q.APPEND_ONE), params)[0]
            if inserted:
                return
            if not renewed:
                why = self._lost_message(tx, fenced)
                fenced.lose(why)
                raise CheckpointLockedError(plan_id, why)
            self._not_above(tx, rows, int(top), attempt)

        with fenced.writing():
            self._transact(op, write=True, what="append 1 journal entry", transaction=False)

    # ------------------------------------------------------------------ transactions

    def _transact(
        self,
        op: Op[T],
        *,
        write: bool,
        what: str,
        patient: bool = True,
        transaction: bool = True,
    ) -> T:
        """``transaction=False``: ``op`` runs one statement, in autocommit."""
        deadline = time.monotonic() + (self.retry_seconds if patient else 0.0)
        delay = 0.05
        attempt = 0
        while True:
            wait = max(0.5, min(5.0, deadline - time.monotonic()))
            try:
                with self._get_pool().connection(timeout=wait) as conn:
                    if not transaction:
                        return op(_Tx(conn), attempt)
                    with conn.transaction():
                        return op(_Tx(conn), attempt)
            except CheckpointError:
                raise
            except (psycopg.OperationalError, psycopg.InterfaceError) as exc:
                if _is_config_error(exc):
                    raise ConfigurationError(
                        f"cannot use the PostgreSQL store {self.url}: {exc}".strip()
                    ) from None
                left = deadline - time.monotonic()
                if left <= 0:
                    self._give_up(exc, what)
                if attempt == 0:
                    log.warning("%s: could not %s (%s); retrying", self.url, what, exc)
                self.retries += 1
                time.sleep(min(delay, left))
                delay = min(delay * 2, 2.0)
                attempt += 1
            except psycopg.Error as exc:
                if write:
                    raise CheckpointWriteError(self.url, exc) from exc
                raise CheckpointCorruptError(self.url, f"could not {what} ({exc})") from None

    def _give_up(self, exc: BaseException, what: str) -> None:
        why = f"the server was unreachable for {self.retry_seconds:g} s: {exc}".strip()
        raise StoreUnavailableError(self.url, what, why) from exc
