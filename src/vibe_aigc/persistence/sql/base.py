"""The store contract over SQL rows, shared by the SQLite and PostgreSQL stores.

A backend supplies :meth:`SqlStore._transact` (run one function in one transaction, retrying
it when the backend knows how) and a :class:`~.migrations.Dialect`; this class decides every
statement. All SQL is parameterised (``?`` placeholders; the Postgres backend turns them into
``%s``): ids, bytes and numbers are always bound, never spliced into the text. The only text
spliced in is the dialect's own type names and clock expression.

Rows hold the codec's bytes: a snapshot row holds exactly what the file store would write to a
``cp-*.json`` file, a journal row one journal line, so checksums and schema versions live
inside the row and a damaged or hand-edited row is a CheckpointCorruptError (snapshots) or a
``JournalRead.damage`` (entries), never a wrong load.

Every write (snapshot, entries, trim, discard, delete) first renews the caller's lease in the
same transaction with ``UPDATE vibe_leases ... WHERE plan_id = ? AND token = ? AND expires_at >
now``; no row updated means the lease was lost and the write is refused (see ``lease.py``).
``append_entries`` writes its whole batch in that one transaction (group commit).
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import os
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointEncodeError,
    CheckpointLockedError,
    CheckpointNotFoundError,
    CheckpointWriteError,
    ConfigurationError,
    StoreUnavailableError,
    UnsupportedSchemaError,
)
from vibe_aigc.persistence.blobs import BlobStore, FileBlobStore
from vibe_aigc.persistence.codec import Codec, JsonCodec
from vibe_aigc.persistence.ids import validate_checkpoint_id, validate_plan_id
from vibe_aigc.persistence.records import MAX_SEQ, Record
from vibe_aigc.persistence.sql import statements as q
from vibe_aigc.persistence.sql.lease import (
    DEFAULT_LEASE_SECONDS,
    SqlLease,
    describe_holder,
    held_here,
)
from vibe_aigc.persistence.sql.lease import owner_info as _owner_info
from vibe_aigc.persistence.sql.migrations import Dialect, render
from vibe_aigc.persistence.store import JournalRead, Lease

T = TypeVar("T")

ENV_ARTIFACT_DIR = "VIBE_ARTIFACT_DIR"


class Tx(Protocol):
    """One open transaction, as a backend hands it to an operation."""

    def rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; its result rows (empty for statements without any)."""
        ...

    def run(self, sql: str, params: tuple[Any, ...] = ()) -> int:
        """Run one statement; the number of rows it changed."""
        ...

    def many(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        """Run one statement once per parameter tuple."""
        ...


Op = Callable[[Tx, int], T]
"""An operation: gets the transaction and the attempt number (0, then 1, 2 on retries)."""

@functools.lru_cache(maxsize=256)
def sql(statement: str, dialect: Dialect) -> str:
    """A statement in the dialect (cached: the same text is rendered once)."""
    return render(statement, dialect)


def check_seq(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CheckpointEncodeError(what, f"must be an integer, found {type(value).__name__}")
    return value


def row_bytes(value: Any, source: str) -> bytes:
    """A BLOB/BYTEA cell as bytes (a hand-edited row may hold text instead)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    raise CheckpointCorruptError(source, f"holds {type(value).__name__}, not bytes")


def check_lease_seconds(value: object) -> float:
    if (
        not isinstance(value, int | float)
        or isinstance(value, bool)
        or not 0.2 <= float(value) <= 86400
    ):
        raise ConfigurationError(
            f"lease_seconds must be a number of seconds from 0.2 to 86400, not {value!r}"
        )
    return float(value)


def artifact_dir_from(value: str | os.PathLike[str] | None) -> Path | None:
    """The configured artifact folder: the argument, else ``$VIBE_ARTIFACT_DIR``, else None."""
    chosen = os.fspath(value) if value is not None else os.environ.get(ENV_ARTIFACT_DIR)
    if chosen is None or not str(chosen).strip():
        return None
    return Path(os.path.abspath(os.path.expanduser(chosen)))


class SqlStore:
    """Snapshots, journals, leases and blobs of plans in SQL tables (see the module
    docstring). Subclasses: :class:`~vibe_aigc.persistence.sqlite.SQLiteStore`,
    :class:`~vibe_aigc.persistence.postgres.PostgresStore`."""

    dialect: ClassVar[Dialect]

    def __init__(
        self,
        url: str,
        *,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        artifact_dir: str | os.PathLike[str] | None = None,
        codec: Codec | None = None,
    ) -> None:
        from vibe_aigc.persistence.sql.blobs import SqlBlobStore

        self.url = url
        self.lease_seconds = check_lease_seconds(lease_seconds)
        self.codec: Codec = codec if codec is not None else JsonCodec()
        self.artifact_dir = artifact_dir_from(artifact_dir)
        self.blobs: BlobStore = (
            FileBlobStore(self.artifact_dir)
            if self.artifact_dir is not None
            else SqlBlobStore(self)
        )
        self._owner = _owner_info()
        self.found_version = 0
        """The schema version the database had when this store opened it (0: new)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"

    # ------------------------------------------------------------------ backend hooks

    def _transact(self, op: Op[T], *, write: bool, what: str, patient: bool = True) -> T:
        """Run ``op`` in one transaction (committed when it returns, rolled back when it
        raises). ``patient=False``: one attempt, no retries (heartbeats)."""
        raise NotImplementedError

    def _thread_done(self) -> None:
        """A lease's heartbeat thread ends (a backend may drop its connection)."""

    def _migrate(self, tx: Tx, attempt: int) -> int:
        """Bring the schema to LATEST inside ``tx`` (under the backend's lock); the version
        found before."""
        raise NotImplementedError

    def migrate(self) -> int:
        """Apply the missing schema migrations now (opening a store does it too); returns the
        version the database had before. UnsupportedSchemaError when it is newer than this
        code's :data:`~.migrations.LATEST`."""
        return self._transact(self._migrate, write=True, what="create or migrate the schema")

    def _sql(self, statement: str) -> str:
        return sql(statement, self.dialect)

    def _source(self, plan_id: str, what: str) -> str:
        return f"{self.url}#{plan_id}/{what}"

    # ------------------------------------------------------------------ leases

    def lease(self, plan_id: str) -> SqlLease:
        return SqlLease(self, validate_plan_id(plan_id))

    def holder(self, plan_id: str) -> str | None:
        plan_id = validate_plan_id(plan_id)

        def op(tx: Tx, attempt: int) -> str | None:
            found = self._lease_row(tx, plan_id)
            # never leased, released (expires_at = 0) or expired: nobody
            return found[0] if found is not None and found[1] else None

        return self._transact(op, write=False, what=f"read the lease of {plan_id!r}")

    def _holder(self, tx: Tx, plan_id: str) -> str:
        found = self._lease_row(tx, plan_id)
        return "nobody holds it now" if found is None else found[0]

    def _lease_row(self, tx: Tx, plan_id: str) -> tuple[str, bool] | None:
        """The plan's lease row described, and whether it is unexpired; None without one."""
        rows = tx.rows(self._sql(q.HOLDER), (plan_id,))
        if not rows:
            return None
        owner, token, expires_at, now = rows[0]
        text = describe_holder(str(owner), int(token), float(expires_at), float(now))
        return text, float(expires_at) > float(now)

    def _acquire(self, lease: SqlLease) -> int:
        def op(tx: Tx, attempt: int) -> int:
            rows = tx.rows(self._sql(q.ACQUIRE), (lease.plan_id, self._owner, self.lease_seconds))
            if not rows:
                raise CheckpointLockedError(lease.plan_id, self._holder(tx, lease.plan_id))
            return int(rows[0][0])

        return self._transact(op, write=True, what=f"acquire the lease of {lease.plan_id!r}")

    def _renew(self, lease: SqlLease) -> str | None:
        """None when renewed; else why the lease is lost."""

        def op(tx: Tx, attempt: int) -> str | None:
            params = (self.lease_seconds, lease.plan_id, lease.token)
            if tx.run(self._sql(q.FENCE), params) == 1:
                return None
            return self._lost_message(tx, lease)

        return self._transact(op, write=True, what="renew a lease", patient=False)

    def _release(self, lease: SqlLease) -> None:
        def op(tx: Tx, attempt: int) -> None:
            tx.run(self._sql(q.RELEASE), (lease.plan_id, lease.token))

        # the database is away: the lease simply expires
        with contextlib.suppress(CheckpointWriteError, StoreUnavailableError):
            self._transact(op, write=True, what="release a lease", patient=False)

    def _lost_message(self, tx: Tx, lease: SqlLease) -> str:
        return (
            f"this run's lease (token {lease.token}) expired or was taken over; now: "
            f"{self._holder(tx, lease.plan_id)}. The write was refused so it cannot interleave "
            "with the plan's next owner"
        )

    def _fenced(self, lease: Lease, plan_id: str | None = None) -> SqlLease:
        if not isinstance(lease, SqlLease) or lease.store.url != self.url:
            raise CheckpointWriteError(self.url, OSError("the lease belongs to another store"))
        if plan_id is not None and plan_id != lease.plan_id:
            raise CheckpointWriteError(
                self.url,
                OSError(f"the lease is for plan {lease.plan_id!r}, not {plan_id!r}; refused"),
            )
        return lease

    def _fence(self, tx: Tx, lease: SqlLease, *, top: bool = False) -> int | None:
        """Renew ``lease`` inside the write's transaction or raise CheckpointLockedError; with
        ``top``, also the highest seq stored for the plan."""
        params: tuple[Any, ...] = (self.lease_seconds, lease.plan_id, lease.token)
        if top:
            rows = tx.rows(self._sql(q.FENCE_TOP), (*params, lease.plan_id))
            if rows:
                value = rows[0][0]
                return None if value is None else int(value)
        elif tx.run(self._sql(q.FENCE), params) == 1:
            return None
        why = self._lost_message(tx, lease)
        lease.lose(why)
        raise CheckpointLockedError(lease.plan_id, why)

    # ------------------------------------------------------------------ snapshots

    def write_snapshot(self, lease: Lease, record: Record) -> None:
        plan_id = validate_plan_id(record.get("plan_id"))
        checkpoint_id = validate_checkpoint_id(record.get("checkpoint_id"))
        fenced = self._fenced(lease, plan_id)
        data = self.codec.encode(record)

        def op(tx: Tx, attempt: int) -> None:
            self._fence(tx, fenced)
            tx.run(self._sql(q.PUT_SNAPSHOT), (plan_id, checkpoint_id, data))

        with fenced.writing():
            self._transact(op, write=True, what=f"write snapshot {checkpoint_id}")

    def read_snapshot(
        self, checkpoint_id: str, plan_id: str | None = None, keep_text: Collection[str] = ()
    ) -> Record:
        checkpoint_id = validate_checkpoint_id(checkpoint_id)
        statement = q.GET_SNAPSHOT
        params: tuple[str, ...] = (checkpoint_id,)
        if plan_id is not None:
            statement += " AND plan_id = ?"
            params = (checkpoint_id, validate_plan_id(plan_id))

        def op(tx: Tx, attempt: int) -> list[tuple[Any, ...]]:
            return tx.rows(self._sql(statement), params)

        rows = self._transact(op, write=False, what=f"read snapshot {checkpoint_id}")
        if not rows:
            raise CheckpointNotFoundError(checkpoint_id)
        plan, data = min(rows, key=lambda row: str(row[0]))
        source = self._source(str(plan), checkpoint_id)
        record = self.codec.decode(row_bytes(data, source), source, keep_text)
        if record["checkpoint_id"] != checkpoint_id or record["plan_id"] != plan:
            raise CheckpointCorruptError(
                source,
                f"spliced: the row holds checkpoint {record['checkpoint_id']!r} of plan "
                f"{record['plan_id']!r} but is stored as {plan}/{checkpoint_id}",
            )
        return record

    def snapshot_ids(self, plan_id: str) -> list[str]:
        plan_id = validate_plan_id(plan_id)

        def op(tx: Tx, attempt: int) -> list[tuple[Any, ...]]:
            return tx.rows(self._sql(q.SNAPSHOT_IDS), (plan_id,))

        rows = self._transact(op, write=False, what=f"list the snapshots of {plan_id!r}")
        return sorted((str(row[0]) for row in rows), reverse=True)  # not the DB's collation

    def delete_snapshot(self, lease: Lease, checkpoint_id: str) -> bool:
        checkpoint_id = validate_checkpoint_id(checkpoint_id)
        fenced = self._fenced(lease)

        def op(tx: Tx, attempt: int) -> bool:
            self._fence(tx, fenced)
            return tx.run(self._sql(q.DELETE_SNAPSHOT), (fenced.plan_id, checkpoint_id)) > 0

        with fenced.writing():
            return self._transact(op, write=True, what=f"delete snapshot {checkpoint_id}")

    # ------------------------------------------------------------------ journal

    def append_entries(self, lease: Lease, entries: list[Record]) -> None:
        fenced = self._fenced(lease)
        if not entries:
            with fenced.writing():
                return
        rows = self._entry_rows(fenced, entries)
        seqs = [seq for _, seq, _ in rows]

        def op(tx: Tx, attempt: int) -> None:
            top = self._fence(tx, fenced, top=True)
            if top is not None and top >= seqs[0]:
                self._not_above(tx, rows, top, attempt)
                return
            if len(rows) == 1:
                tx.run(self._sql(q.PUT_ENTRY), rows[0])
            else:
                tx.many(self._sql(q.PUT_ENTRY), rows)

        with fenced.writing():
            self._transact(op, write=True, what=f"append {len(rows)} journal entries")

    def _not_above(
        self, tx: Tx, rows: list[tuple[str, int, bytes]], top: int, attempt: int
    ) -> None:
        """The batch starts at or below the highest stored seq: fine when a previous attempt
        committed exactly these rows before the connection broke, else CheckpointEncodeError."""
        if attempt > 0 and self._already_written(tx, rows):
            return
        raise CheckpointEncodeError(
            "journal record 'seq'",
            f"{rows[0][1]} is not above {top}, the highest seq stored for the plan",
        )

    def _entry_rows(self, fenced: SqlLease, entries: list[Record]) -> list[tuple[str, int, bytes]]:
        """``(plan_id, seq, line)`` rows of a batch; CheckpointEncodeError for bad seqs."""
        lines = [self.codec.encode_line(entry) for entry in entries]
        seqs = [check_seq(entry["seq"], "journal record 'seq'") for entry in entries]
        for before, after in itertools.pairwise(seqs):
            if after <= before:
                raise CheckpointEncodeError(
                    "journal batch", f"seq {after} follows {before}; seqs must increase"
                )
        if seqs[0] < 0 or seqs[-1] > MAX_SEQ:
            raise CheckpointEncodeError("journal record 'seq'", "must be from 0 to 2**62")
        return [(fenced.plan_id, seq, line) for seq, line in zip(seqs, lines, strict=True)]

    def _already_written(self, tx: Tx, rows: list[tuple[str, int, bytes]]) -> bool:
        found = tx.rows(self._sql(q.SAME_ENTRIES), (rows[0][0], rows[0][1], rows[-1][1]))
        return [(int(s), row_bytes(line, "")) for s, line in found] == [
            (seq, line) for _, seq, line in rows
        ]

    def read_entries(
        self, plan_id: str, after_seq: int = -1, into: Callable[[Record], None] | None = None
    ) -> JournalRead:
        plan_id = validate_plan_id(plan_id)
        after_seq = check_seq(after_seq, "after_seq")

        def op(tx: Tx, attempt: int) -> list[tuple[Any, ...]]:
            return tx.rows(self._sql(q.GET_ENTRIES), (plan_id, after_seq))

        found = JournalRead()
        add = into if into is not None else found.entries.append
        for seq, line in self._transact(op, write=False, what=f"read the journal of {plan_id!r}"):
            source = self._source(plan_id, f"entries/{seq}")
            try:
                entry = self.codec.decode_line(row_bytes(line, source), source)
                if entry["seq"] != seq:
                    raise CheckpointCorruptError(source, f"holds seq {entry['seq']}; spliced")
                if entry.get("plan_id", plan_id) != plan_id:
                    raise CheckpointCorruptError(source, "holds another plan's entry; spliced")
            except UnsupportedSchemaError:
                raise  # written by a newer vibe-aigc: not damage, never dropped
            except CheckpointCorruptError as exc:
                found.damage = f"{source}: {exc.reason}"
                break
            add(entry)
        return found

    def trim_entries(self, lease: Lease, covered_seq: int) -> None:
        fenced = self._fenced(lease)
        covered_seq = check_seq(covered_seq, "covered_seq")

        def op(tx: Tx, attempt: int) -> None:
            self._fence(tx, fenced)
            tx.run(self._sql(q.TRIM), (fenced.plan_id, covered_seq, fenced.plan_id))

        with fenced.writing():
            self._transact(op, write=True, what="trim the journal")

    def discard_entries(self, lease: Lease, after_seq: int) -> list[str]:
        fenced = self._fenced(lease)
        after_seq = check_seq(after_seq, "after_seq")
        plan_id = fenced.plan_id

        def op(tx: Tx, attempt: int) -> list[str]:
            self._fence(tx, fenced)
            seqs = [int(row[0]) for row in tx.rows(self._sql(q.TAIL), (plan_id, after_seq))]
            if not seqs:
                return []
            tx.run(self._sql(q.SET_ASIDE), (plan_id, after_seq))
            tx.run(self._sql(q.DROP_TAIL), (plan_id, after_seq))
            return [
                f"{self._source(plan_id, 'entries')} {seqs[0]}..{seqs[-1]} ({len(seqs)} "
                "entries) set aside in vibe_discarded_entries"
            ]

        with fenced.writing():
            return self._transact(op, write=True, what="set aside a journal tail")

    # ------------------------------------------------------------------ plans

    def plan_ids(self) -> list[str]:
        def op(tx: Tx, attempt: int) -> list[tuple[Any, ...]]:
            return tx.rows(self._sql(q.PLANS))

        return sorted({str(row[0]) for row in self._transact(op, write=False, what="list plans")})

    def delete_plan(self, plan_id: str) -> list[str]:
        plan_id = validate_plan_id(plan_id)
        mine = held_here(self.url, plan_id)  # a run of this process deleting its own plan
        temporary = None if mine is not None else SqlLease(self, plan_id, heartbeat=False)
        if temporary is not None:
            temporary.acquire()  # CheckpointLockedError while another writer holds it
        lease = mine if mine is not None else temporary
        assert lease is not None
        try:
            with lease.writing():
                removed = self._transact(
                    lambda tx, attempt: self._delete_rows(tx, lease),
                    write=True,
                    what=f"delete plan {plan_id!r}",
                )
            if isinstance(self.blobs, FileBlobStore):
                removed += self.blobs.remove(plan_id, set())
                for folder in (self.blobs.folder(plan_id), self.blobs.folder(plan_id).parent):
                    try:
                        folder.rmdir()
                    except OSError:
                        break
                    removed.append(str(folder))
            return removed
        finally:
            if temporary is not None:
                temporary.release()

    def _delete_rows(self, tx: Tx, lease: SqlLease) -> list[str]:
        self._fence(tx, lease)
        plan_id = lease.plan_id
        removed = [
            self._source(plan_id, str(row[0]))
            for row in tx.rows(self._sql(q.SNAPSHOT_IDS), (plan_id,))
        ]
        for table in q.PLAN_TABLES:  # table names are constants of this module
            count = tx.run(f"DELETE FROM {table} WHERE plan_id = ?", (plan_id,))
            if count and table != "vibe_snapshots":
                removed.append(f"{self._source(plan_id, table)} ({count} rows)")
        return sorted(removed)

    def close(self) -> None:
        """Release connections (subclasses); the store may be used again after."""
