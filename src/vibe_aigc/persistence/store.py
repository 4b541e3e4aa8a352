"""The storage contract every checkpoint store fulfils (files today; SQLite/Postgres later).

Stores are synchronous; the async scheduler calls them through ``asyncio.to_thread``. A store
moves records (plain JSON-able dicts) and never interprets them beyond the ids; the codec owns
the byte format, schema versions and checksums.

Lifecycle of a plan's data::

    with store.lock(plan_id):                    # one runner per plan, else CheckpointLockedError
        store.write_checkpoint(snapshot)         # full snapshot, atomically (journal_seq = S)
        store.rotate_journal(plan_id, S + 1)     # the following records go to a new segment
        store.append_journal(plan_id, records)   # each batch: one write + one fsync
        ...                                      # more appends, more snapshots
        store.compact_journal(plan_id, S_old)    # drop segments an older snapshot covers
        store.prune(plan_id, keep_last)          # drop the oldest snapshots
    store.delete_plan(plan_id)                   # everything of the plan, when done

Resume from latest = the newest snapshot that decodes + ``read_journal(plan_id, its
journal_seq)``. Resume from a given checkpoint id = exactly that snapshot.

Records: a checkpoint record has the guide's keys (``checkpoint_id``, ``plan_id``,
``created_at``, ``vibe``, ``workflow_plan``, ``completed_nodes``, ``node_results``,
``pending_nodes``) and ``state``, ``total_nodes``, ``run_id``, ``journal_seq``; extra keys are
kept. A journal record is a dict with an int ``seq``, strictly increasing over the plan's
journal (gaps allowed); the caller assigns seqs.

Errors: bad ids raise InvalidIdError before any path is built; a missing checkpoint raises
CheckpointNotFoundError; bad stored data raises CheckpointCorruptError naming the file; a
refused write raises CheckpointWriteError (earlier data intact).
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

Record = dict[str, Any]


@runtime_checkable
class CheckpointStore(Protocol):
    """Where checkpoints and journals live (see the module docstring for the lifecycle)."""

    # ------------------------------------------------------------------ snapshots

    def write_checkpoint(self, record: Record) -> str:
        """Store a full snapshot atomically; ``record`` holds its ``checkpoint_id`` and
        ``plan_id``. Overwrites a checkpoint with the same id. Returns the checkpoint id."""
        ...

    def read_checkpoint(self, checkpoint_id: str, plan_id: str | None = None) -> Record:
        """The decoded (migrated) record; searches every plan when ``plan_id`` is None."""
        ...

    def list_checkpoints(self, plan_id: str | None = None) -> list[Record]:
        """Summaries, newest first: ``checkpoint_id, plan_id, created_at, completed_nodes``
        (a count), ``total_nodes, state, path, corrupt`` (False). A record that fails to decode
        is listed as ``{checkpoint_id, plan_id, path, corrupt: True, error}``; never raises
        for bad data."""
        ...

    def latest_checkpoint_ids(self, plan_id: str) -> list[str]:
        """The plan's checkpoint ids, newest first, without decoding them."""
        ...

    def delete_checkpoint(self, checkpoint_id: str, plan_id: str | None = None) -> bool:
        """Remove one checkpoint; False when it did not exist."""
        ...

    def prune(self, plan_id: str, keep_last: int | None) -> list[str]:
        """Delete the plan's oldest checkpoints beyond ``keep_last`` (None keeps all)."""
        ...

    # ------------------------------------------------------------------ plans

    def plan_ids(self) -> list[str]:
        """Every plan with stored data, sorted."""
        ...

    def delete_plan(self, plan_id: str) -> list[str]:
        """Remove everything the plan stored; returns what was removed. Raises
        CheckpointLockedError while another runner holds the plan."""
        ...

    def lock(self, plan_id: str) -> AbstractContextManager[Any]:
        """An unacquired lock; entering it raises CheckpointLockedError on contention."""
        ...

    def artifacts_dir(self, plan_id: str) -> Path:
        """Where large binary outputs of the plan may be written (not created)."""
        ...

    # ------------------------------------------------------------------ journal

    def append_journal(self, plan_id: str, records: list[Record]) -> None:
        """Durably append a batch (group commit: one write, one fsync)."""
        ...

    def read_journal(self, plan_id: str, after_seq: int = -1) -> tuple[list[Record], list[str]]:
        """Records with ``seq > after_seq`` in order, and warnings (a torn last record
        is dropped with a warning; damage elsewhere raises CheckpointCorruptError)."""
        ...

    def rotate_journal(self, plan_id: str, next_seq: int) -> None:
        """Send the following appends (seq >= ``next_seq``) to a new segment."""
        ...

    def close_journal(self, plan_id: str) -> None:
        """Release any handle kept open for appending (a later append reopens it)."""
        ...

    def quarantine_journal(self, plan_id: str) -> list[str]:
        """Move a damaged journal aside so a resumed run can journal afresh; returns paths."""
        ...

    def compact_journal(self, plan_id: str, covered_seq: int) -> list[str]:
        """Delete segments whose every record has ``seq <= covered_seq``; returns them."""
        ...
