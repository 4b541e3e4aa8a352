"""``WorkflowPersistenceManager``: the guide's public face of checkpoint storage.

A synchronous facade over one :class:`~vibe_aigc.persistence.store.Store`. It adds what every
saved checkpoint needs: a fresh checkpoint id, ``created_at``, redaction of secrets (by name and
by value), pruning to ``keep_last`` checkpoints per plan, and collection of blobs nothing
references any more. Every write is made under the plan's lease: the one a run holds in this
process, or a short one taken for the call (so a manual write never slips past a running plan).

Which store (first that applies): ``store`` (a Store or a URL), ``checkpoint_dir`` (a folder),
``$VIBE_STORE_URL``, ``$VIBE_CHECKPOINT_DIR``, else ``.vibe_checkpoints`` in the working
directory. Nothing is created before the first write.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import threading
from collections.abc import Callable, Collection, Iterator
from pathlib import Path

from vibe_aigc import results
from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointNotFoundError,
    ConfigurationError,
    StoreUnavailableError,
)
from vibe_aigc.persistence.blobs import BlobStore, artifact_refs
from vibe_aigc.persistence.factory import DEFAULT_DIR, ENV_DIR, ENV_URL, open_store
from vibe_aigc.persistence.file import FileCheckpointStore
from vibe_aigc.persistence.ids import new_checkpoint_id, validate_checkpoint_id, validate_plan_id
from vibe_aigc.persistence.records import (
    Record,
    corrupt_summary,
    fill_defaults,
    lineage_of,
    summary_of,
)
from vibe_aigc.persistence.redaction import has_secret_values, redact_record, scrub_values
from vibe_aigc.persistence.store import JournalRead, Lease, Store

log = logging.getLogger("vibe_aigc.checkpoints")

ENV_VAR = ENV_DIR

# (store url, plan id) -> the lease a run of this process holds on it
_ACTIVE: dict[tuple[str, str], Lease] = {}
_ACTIVE_GUARD = threading.Lock()
# run id -> lineage keys every checkpoint of that run carries (see records: "Lineage")
_RUN_EXTRAS: dict[str, Record] = {}


class WorkflowPersistenceManager:
    """Save, load, list and delete checkpoints (see the module docstring)."""

    def __init__(
        self,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        *,
        keep_last: int | None = 20,
        store: Store | str | None = None,
    ) -> None:
        if keep_last is not None and (
            not isinstance(keep_last, int) or isinstance(keep_last, bool) or keep_last < 1
        ):
            raise ConfigurationError(
                f"keep_last must be None (keep all) or an integer >= 1, not {keep_last!r}"
            )
        if isinstance(store, str):
            store = open_store(store)
        if store is None:
            if checkpoint_dir is not None:
                store = open_store(os.fspath(checkpoint_dir))
            elif os.environ.get(ENV_URL):
                store = open_store(os.environ[ENV_URL])
            else:
                store = open_store(os.environ.get(ENV_DIR) or DEFAULT_DIR)
        self.store: Store = store
        self._keeps_text = _takes_keep_text(store)
        self.keep_last = keep_last
        root = store.root if isinstance(store, FileCheckpointStore) else None
        self.checkpoint_dir: Path | None = root
        """The folder of a file store (None for a database store)."""
        # (plan id, checkpoint id) -> lineage_of(record): snapshots do not change once written
        self._lineage: dict[tuple[str, str], tuple[str, str | None, str] | None] = {}

    def __repr__(self) -> str:
        return f"WorkflowPersistenceManager({self.url!r})"

    def close(self) -> None:
        """Release the store's connections and open files (a database pool, say); the
        manager may be used again after (the store reopens what it needs)."""
        self.store.close()

    def __enter__(self) -> WorkflowPersistenceManager:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return self.store.url

    @property
    def blobs(self) -> BlobStore:
        return self.store.blobs

    # ------------------------------------------------------------------ leases

    @contextlib.contextmanager
    def lease(self, plan_id: str) -> Iterator[Lease]:
        """Hold the plan's lease (one writer per plan); writes of this manager (and of any
        manager of the same store in this process) made meanwhile go under it."""
        lease = self.store.lease(validate_plan_id(plan_id))
        with lease:
            key = (self.url, plan_id)
            with _ACTIVE_GUARD:
                _ACTIVE[key] = lease
            try:
                yield lease
            finally:
                with _ACTIVE_GUARD:
                    if _ACTIVE.get(key) is lease:
                        del _ACTIVE[key]

    def lock(self, plan_id: str) -> contextlib.AbstractContextManager[Lease]:
        """The guide-era name of :meth:`lease`: ``with manager.lock(plan_id): ...``."""
        return self.lease(plan_id)

    @contextlib.contextmanager
    def _writing(self, plan_id: str, lease: Lease | None = None) -> Iterator[Lease]:
        if lease is not None:
            yield lease
            return
        with _ACTIVE_GUARD:
            active = _ACTIVE.get((self.url, plan_id))
        if active is not None and active.held:
            yield active
            return
        with self.lease(plan_id) as short:
            yield short

    @contextlib.contextmanager
    def run_lineage(self, run_id: str, extras: Record) -> Iterator[None]:
        """While the block runs, every checkpoint saved for ``run_id`` carries ``extras``
        (the run's lineage keys: parent run, parent checkpoint, origins)."""
        with _ACTIVE_GUARD:
            _RUN_EXTRAS[run_id] = dict(extras)
        try:
            yield
        finally:
            with _ACTIVE_GUARD:
                _RUN_EXTRAS.pop(run_id, None)

    def running(self, plan_id: str) -> bool:
        """True while a run of this process holds the plan."""
        with _ACTIVE_GUARD:
            active = _ACTIVE.get((self.url, validate_plan_id(plan_id)))
        return active is not None and active.held

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self, plan_id: str, record_body: Record, lease: Lease | None = None) -> str:
        """Write a checkpoint of ``plan_id``; returns its new id.

        ``record_body`` holds the guide's keys (``vibe``, ``workflow_plan``,
        ``completed_nodes``, ``node_results``, ``pending_nodes``) and ``state``,
        ``total_nodes``, ``run_id``, ``journal_seq`` (filled in when missing). Its
        ``checkpoint_id``, ``plan_id`` and ``created_at`` are assigned here.
        """
        plan_id = validate_plan_id(plan_id)
        record = redact_record(record_body)
        record["checkpoint_id"] = new_checkpoint_id()
        record["plan_id"] = plan_id
        record["created_at"] = results.iso_z(results.utc_now())
        fill_defaults(record)
        with _ACTIVE_GUARD:
            extras = _RUN_EXTRAS.get(str(record["run_id"]))
        for key, value in (extras or {}).items():
            record.setdefault(key, value)
        self._lineage[(plan_id, str(record["checkpoint_id"]))] = lineage_of(record)
        with self._writing(plan_id, lease) as held:
            self.store.write_snapshot(held, record)
            try:
                self._prune(held, self.keep_last)
            except CheckpointError as exc:  # the checkpoint is saved; pruning is housekeeping
                log.warning("could not prune old checkpoints of plan %r: %s", plan_id, exc)
        return str(record["checkpoint_id"])

    def load_checkpoint(
        self, checkpoint_id: str, plan_id: str | None = None, keep_text: Collection[str] = ()
    ) -> Record:
        """The checkpoint's record (CheckpointNotFoundError / CheckpointCorruptError).
        ``keep_text``: see :meth:`.store.Store.read_snapshot` (a store of one's own written
        before it existed is asked without it, and hands every value over parsed)."""
        if keep_text and self._keeps_text:
            return self.store.read_snapshot(checkpoint_id, plan_id, keep_text=keep_text)
        return self.store.read_snapshot(checkpoint_id, plan_id)

    def list_checkpoints(self, plan_id: str | None = None) -> list[Record]:
        """Summaries, newest first; corrupt records are listed with ``corrupt: True``."""
        plans = [validate_plan_id(plan_id)] if plan_id is not None else self.plan_ids()
        out: list[Record] = []
        for plan in plans:
            for checkpoint_id in self.store.snapshot_ids(plan):
                try:
                    record = self.store.read_snapshot(checkpoint_id, plan)
                except CheckpointNotFoundError:
                    continue  # deleted meanwhile
                except StoreUnavailableError:
                    raise  # the database is away: nothing is corrupt
                except CheckpointError as exc:
                    reason = getattr(exc, "reason", str(exc))
                    out.append(dict(corrupt_summary(checkpoint_id, plan, reason)))
                    continue
                out.append(dict(summary_of(record)))
        kept = self._kept(set(plans))
        for entry in out:
            why = kept.get((entry["plan_id"], entry["checkpoint_id"]))
            if why is not None:
                entry["kept_for"] = why
        out.sort(key=lambda e: (e["checkpoint_id"], e["plan_id"]), reverse=True)
        return out

    def plan_of(self, checkpoint_id: str) -> str | None:
        """The plan holding ``checkpoint_id`` (found by listing, without decoding)."""
        checkpoint_id = validate_checkpoint_id(checkpoint_id)
        for plan in self.plan_ids():
            if checkpoint_id in self.store.snapshot_ids(plan):
                return plan
        return None

    def delete_checkpoint(self, checkpoint_id: str, plan_id: str | None = None) -> bool:
        """Remove one checkpoint; False when no such checkpoint exists. Refused with
        CheckpointLockedError while another process runs the plan.

        Blobs (images, audio) that no remaining checkpoint or journal entry of the plan
        references are removed too.
        """
        checkpoint_id = validate_checkpoint_id(checkpoint_id)
        owner = validate_plan_id(plan_id) if plan_id is not None else self.plan_of(checkpoint_id)
        if owner is None:
            return False
        in_run = self.running(owner)  # a running node may hold a blob it has not reported yet
        with self._writing(owner) as held:
            deleted = self.store.delete_snapshot(held, checkpoint_id)
            if deleted and not in_run:
                self._collect(owner)
        return deleted

    def collect_artifacts(self, plan_id: str, *, min_age_seconds: float = 0.0) -> list[str]:
        """Delete the plan's blobs no checkpoint or journal entry references; returns them.
        Call it with no run of the plan in flight (a running node may have saved a blob it has
        not reported yet); ``min_age_seconds`` spares blobs younger than that."""
        with self._writing(validate_plan_id(plan_id)):
            return self._collect(plan_id, min_age_seconds)

    def _collect(self, plan_id: str, min_age_seconds: float = 0.0) -> list[str]:
        if not self.blobs.digests(plan_id):
            return []
        refs: set[str] = set()
        try:
            for checkpoint_id in self.store.snapshot_ids(plan_id):
                record = self.store.read_snapshot(checkpoint_id, plan_id)
                refs |= artifact_refs(record.get("node_results"))
                refs |= artifact_refs(record.get("memos"))
            found = self.store.read_entries(plan_id, -1)
        except CheckpointError as exc:
            log.warning("not collecting artifacts of plan %r: %s", plan_id, exc)
            return []
        if found.damage is not None:
            return []  # an unreadable entry may reference anything
        for entry in found.entries:
            refs |= artifact_refs(entry.get("result"))
            refs |= artifact_refs(entry.get("value"))
        return self.blobs.remove(plan_id, refs, min_age_seconds)

    def delete_plan(self, plan_id: str) -> list[str]:
        """Remove everything the store wrote for the plan; returns what was removed."""
        return self.store.delete_plan(plan_id)

    def plan_ids(self) -> list[str]:
        return self.store.plan_ids()

    def holder(self, plan_id: str) -> str | None:
        """Who runs the plan now, or None (read-only; see ``Store.holder``)."""
        return self.store.holder(validate_plan_id(plan_id))

    def latest_checkpoint_ids(self, plan_id: str) -> list[str]:
        return self.store.snapshot_ids(plan_id)

    def prune(self, plan_id: str, keep_last: int | None = None) -> list[str]:
        """Delete the oldest checkpoints beyond ``keep_last`` (default: the manager's)."""
        with self._writing(validate_plan_id(plan_id)) as held:
            return self._prune(held, self.keep_last if keep_last is None else keep_last)

    def _prune(self, lease: Lease, keep_last: int | None) -> list[str]:
        if keep_last is None:
            return []
        if not isinstance(keep_last, int) or isinstance(keep_last, bool) or keep_last < 0:
            raise ConfigurationError(
                f"keep_last must be None or an integer >= 0, not {keep_last!r}"
            )
        doomed = self.store.snapshot_ids(lease.plan_id)[keep_last:]
        if not doomed:
            return []
        kept = self.kept_for_lineage(lease.plan_id)
        return [c for c in doomed if c not in kept and self.store.delete_snapshot(lease, c)]

    # ------------------------------------------------------------------ lineage

    def _lineage_info(self, plan_id: str, checkpoint_id: str) -> tuple[str, str | None, str] | None:
        key = (plan_id, checkpoint_id)
        if key not in self._lineage:
            try:
                self._lineage[key] = lineage_of(self.store.read_snapshot(checkpoint_id, plan_id))
            except CheckpointError:
                self._lineage[key] = None  # unreadable: it descends from nothing we know
        return self._lineage[key]

    def kept_for_lineage(self, plan_id: str) -> dict[str, str]:
        """Checkpoints of ``plan_id`` that retention keeps because another run descends
        from their run: ``{checkpoint_id: why}``, the newest checkpoint of each such run."""
        return {c: why for (_, c), why in self._kept({plan_id}).items()}

    def _kept(self, plans: set[str]) -> dict[tuple[str, str], str]:
        newest: dict[tuple[str, str], str] = {}  # (plan, run id) -> its newest checkpoint
        children: dict[tuple[str, str], str] = {}  # (plan, parent run id) -> a descendant
        for plan in self.plan_ids():
            for checkpoint_id in self.store.snapshot_ids(plan):  # newest first
                info = self._lineage_info(plan, checkpoint_id)
                if info is None:
                    continue
                run_id, parent, parent_plan = info
                if plan in plans:
                    newest.setdefault((plan, run_id), checkpoint_id)
                if parent is not None and parent_plan in plans and parent != run_id:
                    where = run_id if plan == parent_plan else f"{run_id} (plan {plan})"
                    children.setdefault((parent_plan, parent), where)
        return {
            (key[0], newest[key]): f"run {child} descends from run {key[1]}"
            for key, child in children.items()
            if key in newest
        }

    # ------------------------------------------------------------------ journal

    def append_entries(self, lease: Lease, entries: list[Record]) -> None:
        if has_secret_values():  # the configured key never reaches disk, whatever carries it
            entries = [scrub_values(e) for e in entries]
        self.store.append_entries(lease, entries)

    def read_entries(
        self, plan_id: str, after_seq: int = -1, into: Callable[[Record], None] | None = None
    ) -> JournalRead:
        """Journal entries after ``after_seq`` (``into``: handed over one by one)."""
        return self.store.read_entries(validate_plan_id(plan_id), after_seq, into)

    def trim_entries(self, lease: Lease, covered_seq: int) -> None:
        self.store.trim_entries(lease, covered_seq)

    def discard_entries(self, lease: Lease, after_seq: int) -> list[str]:
        return self.store.discard_entries(lease, after_seq)

    def read_journal(self, plan_id: str, after_seq: int = -1) -> tuple[list[Record], list[str]]:
        """Entries after ``after_seq`` and warnings (damage: CheckpointCorruptError)."""
        found = self.read_entries(plan_id, after_seq)
        if found.damage is not None:
            where, _, reason = found.damage.partition(": ")
            raise CheckpointCorruptError(where, reason)
        return found.entries, found.warnings

    def append_journal(self, plan_id: str, records: list[Record]) -> None:
        """Append entries under the plan's lease (this process's run's, or a short one)."""
        with self._writing(validate_plan_id(plan_id)) as held:
            self.store.append_entries(held, records)


def describe_store(manager: WorkflowPersistenceManager) -> str:
    """Where a manager keeps its data, for messages: the folder, or the URL."""
    return str(manager.checkpoint_dir) if manager.checkpoint_dir is not None else manager.url


__all__ = ["ENV_VAR", "WorkflowPersistenceManager", "describe_store"]


def _takes_keep_text(store: Store) -> bool:
    """Whether ``store.read_snapshot`` takes ``keep_text`` (the library's stores do)."""
    try:
        parameters = inspect.signature(store.read_snapshot).parameters
    except (TypeError, ValueError):  # no signature to read: ask the plain way
        return False
    return "keep_text" in parameters or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()
    )
