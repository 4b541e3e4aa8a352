"""The storage contract every store fulfils (files today; SQLite and PostgreSQL behind it too).

A store moves records (:mod:`.records`) and never interprets them beyond ids and journal
sequence numbers; the codec owns bytes, versions and checksums. No method takes or returns a
path: segments, rotation, quarantine and folder fsyncs are the file store's private business.
Stores are synchronous; the async runs layer calls them through a worker thread.

Lifecycle of a plan's data::

    with store.lease(plan_id) as lease:          # one writer per plan, else CheckpointLockedError
        store.write_snapshot(lease, snapshot)    # a full snapshot, atomically
        store.append_entries(lease, entries)     # each batch: durable before it returns
        store.trim_entries(lease, covered_seq)   # entries a snapshot covers may go
        store.discard_entries(lease, after_seq)  # set aside a damaged journal tail
        store.delete_snapshot(lease, old_id)     # retention
    store.delete_plan(plan_id)                   # everything of the plan (takes the lease)

**Fencing.** Every write names the :class:`Lease` it is made under. A lease that was released
(or, in a shared database, expired and taken over) refuses every later write with
:class:`~vibe_aigc.errors.CheckpointLockedError`; releasing waits for a write in progress. So
a run that lost its lease can never interleave with the new owner.

Resume from latest = the newest snapshot that decodes + ``read_entries(plan_id, its
journal_seq)``. Resume from a given checkpoint id = exactly that snapshot.

Errors: bad ids raise InvalidIdError before anything is touched; a missing checkpoint raises
CheckpointNotFoundError; bad stored data raises CheckpointCorruptError naming where; a refused
write raises CheckpointWriteError (earlier data intact); contention CheckpointLockedError.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from vibe_aigc.errors import CheckpointLockedError
from vibe_aigc.persistence.blobs import BlobStore
from vibe_aigc.persistence.records import Record


@dataclass
class JournalRead:
    """What :meth:`Store.read_entries` found.

    ``entries``: the valid entries after the asked seq, in order. ``warnings``: what was
    dropped and why (a torn last entry after a crash). ``damage``: why reading stopped early
    (an entry in the middle is damaged); ``entries`` then holds the valid ones before it,
    and the runs layer may :meth:`Store.discard_entries` the rest.
    """

    entries: list[Record] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    damage: str | None = None


@runtime_checkable
class Lease(Protocol):
    """One writer's hold on one plan (see *Fencing* in the module docstring)."""

    plan_id: str
    token: int

    def __enter__(self) -> Lease: ...

    def __exit__(self, *exc: object) -> None: ...

    @property
    def held(self) -> bool:
        """True from acquiring until release (or until the store saw it lost)."""
        ...


@runtime_checkable
class Store(Protocol):
    """Where snapshots, journals and blobs of plans live (see the module docstring)."""

    url: str
    blobs: BlobStore

    def lease(self, plan_id: str) -> Lease:
        """An unacquired lease; entering it raises CheckpointLockedError naming the holder."""
        ...

    def holder(self, plan_id: str) -> str | None:
        """Who holds the plan's lease now (a description), or None; read-only: it never takes,
        renews or creates anything, so asking cannot get in a starting runner's way. A holder
        that died without releasing (kill -9, a lost machine) is None once the store can tell:
        at once for a process of this host (file store), when its lease expires (SQL)."""
        ...

    # ------------------------------------------------------------------ snapshots

    def write_snapshot(self, lease: Lease, record: Record) -> None:
        """Store a full checkpoint record atomically (its ``checkpoint_id``/``plan_id`` name
        it; the plan must be the lease's). Overwrites one with the same id."""
        ...

    def read_snapshot(
        self, checkpoint_id: str, plan_id: str | None = None, keep_text: Collection[str] = ()
    ) -> Record:
        """The decoded (migrated) record; searches every plan when ``plan_id`` is None.
        ``keep_text``: the codec's (top-level values a sealed record may hand over as their
        text, :class:`~.kept.StoredText`)."""
        ...

    def snapshot_ids(self, plan_id: str) -> list[str]:
        """The plan's checkpoint ids, newest first, without decoding them."""
        ...

    def delete_snapshot(self, lease: Lease, checkpoint_id: str) -> bool:
        """Remove one checkpoint of the lease's plan; False when it did not exist."""
        ...

    # ------------------------------------------------------------------ journal

    def append_entries(self, lease: Lease, entries: list[Record]) -> None:
        """Durably append a batch (group commit); ``seq`` strictly increasing, and above
        every seq already stored for the plan."""
        ...

    def read_entries(
        self, plan_id: str, after_seq: int = -1, into: Callable[[Record], None] | None = None
    ) -> JournalRead:
        """Entries with ``seq > after_seq`` in order (see :class:`JournalRead`). ``into``:
        each valid entry is handed to it as it is read instead of being collected in
        ``entries`` (a resume replays 100k entries without holding them all)."""
        ...

    def trim_entries(self, lease: Lease, covered_seq: int) -> None:
        """Entries with ``seq <= covered_seq`` are covered by a snapshot and may be dropped
        (a store may keep some; the highest seq ever written stays known)."""
        ...

    def discard_entries(self, lease: Lease, after_seq: int) -> list[str]:
        """Set aside every entry with ``seq > after_seq`` (a damaged tail), kept for
        inspection but never read again; returns what was set aside."""
        ...

    # ------------------------------------------------------------------ plans

    def plan_ids(self) -> list[str]:
        """Every plan with stored data, sorted."""
        ...

    def delete_plan(self, plan_id: str) -> list[str]:
        """Remove everything the store wrote for the plan (never anything it did not write);
        returns what was removed. CheckpointLockedError while another writer holds it."""
        ...

    def close(self) -> None:
        """Release connections and open handles (the store may be used again after)."""
        ...


def released_lease(plan_id: str) -> CheckpointLockedError:
    """The error every store raises for a write under a lease that was released."""
    return CheckpointLockedError(
        plan_id,
        "this run no longer holds the plan's lease (it was released); the write "
        "was refused so it cannot interleave with the plan's next owner",
    )


def describe(store: Any) -> str:
    """A store's URL for messages (works for any object)."""
    return str(getattr(store, "url", store))
