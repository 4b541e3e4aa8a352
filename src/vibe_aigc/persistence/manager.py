"""``WorkflowPersistenceManager``: the guide's public face of checkpoint storage.

A thin, synchronous facade over a :class:`~vibe_aigc.persistence.store.CheckpointStore`
(a :class:`~vibe_aigc.persistence.file_store.FileCheckpointStore` by default). It adds what
every saved checkpoint needs: a fresh checkpoint id, ``created_at``, redaction of secrets, and
pruning to ``keep_last`` checkpoints per plan.

The folder is ``checkpoint_dir``, else ``$VIBE_CHECKPOINT_DIR``, else ``.vibe_checkpoints``
(relative to the working directory at construction); nothing is created before the first write.
"""

from __future__ import annotations

import logging
import os
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from vibe_aigc import results
from vibe_aigc.errors import CheckpointError, ConfigurationError
from vibe_aigc.persistence.file_store import FileCheckpointStore
from vibe_aigc.persistence.ids import new_checkpoint_id, validate_plan_id
from vibe_aigc.persistence.redaction import redact
from vibe_aigc.persistence.store import CheckpointStore

log = logging.getLogger("vibe_aigc.checkpoints")

ENV_VAR = "VIBE_CHECKPOINT_DIR"
DEFAULT_DIR = ".vibe_checkpoints"

Record = dict[str, Any]


def _redact_node(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    out = dict(node)
    if "parameters" in out:
        out["parameters"] = redact(out["parameters"])
    if isinstance(out.get("children"), list):
        out["children"] = [_redact_node(child) for child in out["children"]]
    return out


def _redact_vibe(vibe: Any) -> Any:
    if not isinstance(vibe, dict) or "metadata" not in vibe:
        return vibe
    return {**vibe, "metadata": redact(vibe["metadata"])}


def redact_record(record: Record) -> Record:
    """A copy with secrets removed from ``vibe.metadata``, the plan's ``source_vibe.metadata``
    and every plan node's ``parameters``. Node results are kept as they are."""
    out = dict(record)
    if "vibe" in out:
        out["vibe"] = _redact_vibe(out["vibe"])
    plan = out.get("workflow_plan")
    if isinstance(plan, dict):
        plan = dict(plan)
        if "source_vibe" in plan:
            plan["source_vibe"] = _redact_vibe(plan["source_vibe"])
        if isinstance(plan.get("root_nodes"), list):
            plan["root_nodes"] = [_redact_node(node) for node in plan["root_nodes"]]
        out["workflow_plan"] = plan
    return out


def _fill_defaults(record: Record) -> None:
    """Fill v2 keys a caller left out (same rules as the v1 -> v2 migration)."""
    completed = record.get("completed_nodes")
    pending = record.get("pending_nodes")
    if isinstance(completed, list) and isinstance(pending, list):
        record.setdefault("state", "interrupted" if pending else "completed")
        record.setdefault("total_nodes", len(completed) + len(pending))
    record.setdefault("run_id", "manual")
    record.setdefault("journal_seq", -1)  # covers no journal record


class WorkflowPersistenceManager:
    """Save, load, list and delete checkpoints (see the module docstring)."""

    def __init__(
        self,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        *,
        keep_last: int | None = 20,
        store: CheckpointStore | None = None,
    ) -> None:
        if keep_last is not None and (
            not isinstance(keep_last, int) or isinstance(keep_last, bool) or keep_last < 1
        ):
            raise ConfigurationError(
                f"keep_last must be None (keep all) or an integer >= 1, not {keep_last!r}"
            )
        if checkpoint_dir is None and isinstance(store, FileCheckpointStore):
            checkpoint_dir = store.root
        if checkpoint_dir is None:
            checkpoint_dir = os.environ.get(ENV_VAR) or DEFAULT_DIR
        self.checkpoint_dir = Path(os.path.abspath(os.path.expanduser(os.fspath(checkpoint_dir))))
        self.keep_last = keep_last
        self.store: CheckpointStore = (
            store if store is not None else FileCheckpointStore(self.checkpoint_dir)
        )

    def __repr__(self) -> str:
        return f"WorkflowPersistenceManager({str(self.checkpoint_dir)!r})"

    # ------------------------------------------------------------------ checkpoints

    def save_checkpoint(self, plan_id: str, record_body: Record) -> str:
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
        _fill_defaults(record)
        checkpoint_id = self.store.write_checkpoint(record)
        try:
            self.store.prune(plan_id, self.keep_last)
        except CheckpointError as exc:  # the checkpoint is saved; pruning is housekeeping
            log.warning("could not prune old checkpoints of plan %r: %s", plan_id, exc)
        return checkpoint_id

    def load_checkpoint(self, checkpoint_id: str, plan_id: str | None = None) -> Record:
        """The checkpoint's record (CheckpointNotFoundError / CheckpointCorruptError)."""
        return self.store.read_checkpoint(checkpoint_id, plan_id)

    def list_checkpoints(self, plan_id: str | None = None) -> list[Record]:
        """Summaries, newest first; corrupt files are listed with ``corrupt: True``."""
        return self.store.list_checkpoints(plan_id)

    def delete_checkpoint(self, checkpoint_id: str, plan_id: str | None = None) -> bool:
        """Remove one checkpoint; False when no such checkpoint exists.

        Artifact files (images, audio) that no remaining checkpoint or journal record of the
        plan references are removed too, unless a run of that plan holds its lock.
        """
        owner = plan_id
        if owner is None:
            try:
                owner = str(self.store.read_checkpoint(checkpoint_id)["plan_id"])
            except CheckpointError:
                owner = None  # not found or unreadable: the store decides below
        deleted = self.store.delete_checkpoint(checkpoint_id, plan_id)
        if deleted and owner is not None:
            self._collect_artifacts(owner)
        return deleted

    def _collect_artifacts(self, plan_id: str) -> None:
        if not self.store.artifacts_dir(plan_id).is_dir():
            return
        from vibe_aigc.artifacts import gc_artifacts  # artifacts imports this module

        try:
            with self.store.lock(plan_id):
                gc_artifacts(self, plan_id)
        except CheckpointError as exc:  # a run holds the plan: it keeps its files for now
            log.info("artifacts of plan %r not collected: %s", plan_id, exc)

    def delete_plan(self, plan_id: str) -> list[str]:
        """Remove everything stored for the plan; returns the removed paths."""
        return self.store.delete_plan(plan_id)

    def plan_ids(self) -> list[str]:
        return self.store.plan_ids()

    def latest_checkpoint_ids(self, plan_id: str) -> list[str]:
        return self.store.latest_checkpoint_ids(plan_id)

    def prune(self, plan_id: str, keep_last: int | None = None) -> list[str]:
        """Delete the oldest checkpoints beyond ``keep_last`` (default: the manager's)."""
        return self.store.prune(plan_id, self.keep_last if keep_last is None else keep_last)

    # ------------------------------------------------------------------ journal and lock

    def append_journal(self, plan_id: str, records: list[Record]) -> None:
        self.store.append_journal(plan_id, records)

    def read_journal(self, plan_id: str, after_seq: int = -1) -> tuple[list[Record], list[str]]:
        return self.store.read_journal(plan_id, after_seq)

    def rotate_journal(self, plan_id: str, next_seq: int) -> None:
        self.store.rotate_journal(plan_id, next_seq)

    def compact_journal(self, plan_id: str, covered_seq: int) -> list[str]:
        return self.store.compact_journal(plan_id, covered_seq)

    def quarantine_journal(self, plan_id: str) -> list[str]:
        return self.store.quarantine_journal(plan_id)

    def close_journal(self, plan_id: str) -> None:
        """Release what the store keeps open for appending to the plan's journal."""
        self.store.close_journal(plan_id)

    def lock(self, plan_id: str) -> AbstractContextManager[Any]:
        """The plan's runner lock: ``with manager.lock(plan_id): ...``."""
        return self.store.lock(plan_id)

    def artifacts_dir(self, plan_id: str) -> Path:
        return self.store.artifacts_dir(plan_id)
