"""The glue between the scheduler and persistence: record as you go, rebuild on resume.

* :class:`CheckpointHook` is an :class:`~vibe_aigc.executor.ExecutionHook`. It writes a full,
  guide-shaped checkpoint when a run starts, every ``interval`` completed nodes, and when the run
  ends (completed, failed, or interrupted by cancellation / SIGINT / SIGTERM). Between them every
  finished node is appended to the plan's journal and fsync'd before its dependents start;
  completions that finish together share one write and one fsync (group commit).
* :func:`load_resume_state` rebuilds what a run had: exactly one checkpoint when an id is given,
  else the newest valid checkpoint plus every journal record after it.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from vibe_aigc.errors import CheckpointCorruptError, NodeExecutionError
from vibe_aigc.models import WorkflowPlan
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.results import ExecutionResult, ExecutionStatus, NodeResult

log = logging.getLogger("vibe_aigc.checkpoints")

_FINISHED = (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.SKIPPED)


def state_of(result: ExecutionResult, interrupted: bool = False) -> str:
    """The checkpoint ``state`` for a run: running / failed / interrupted / completed."""
    if interrupted:
        return "interrupted"
    return {
        ExecutionStatus.COMPLETED: "completed",
        ExecutionStatus.FAILED: "failed",
        ExecutionStatus.RUNNING: "running",
    }.get(result.status, "interrupted")


def checkpoint_body(
    plan: WorkflowPlan,
    result: ExecutionResult,
    state: str,
    *,
    run_id: str,
    journal_seq: int,
    memos: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The record of a checkpoint, in the guide's shape (ids and time are added on save).

    ``memos`` are per-node notes (e.g. provider job ids) of nodes not yet completed.
    """
    node_results = {
        node_id: r.model_dump(mode="json", exclude_none=True)
        for node_id, r in result.node_results.items()
        if r.status in _FINISHED
    }
    completed = result.completed_nodes
    return {
        "plan_id": plan.id,
        "vibe": plan.source_vibe.model_dump(mode="json"),
        "workflow_plan": plan.model_dump(mode="json"),
        "completed_nodes": completed,
        "node_results": node_results,
        "pending_nodes": [n for n in plan.node_ids if n not in set(completed)],
        "state": state,
        "total_nodes": plan.total_nodes,
        "run_id": run_id,
        "journal_seq": journal_seq,
        "summary": result.get_summary(),
        "memos": {
            node_id: notes
            for node_id, notes in (memos or {}).items()
            if notes and node_id not in set(completed)
        },
    }


class CheckpointHook:
    """Durable recording of one run (see the module docstring)."""

    def __init__(
        self,
        manager: WorkflowPersistenceManager,
        plan: WorkflowPlan,
        *,
        interval: int | None,
        run_id: str,
        next_seq: int,
        on_checkpoint: Callable[[str, str, ExecutionResult], Awaitable[None]] | None = None,
        memos: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.manager = manager
        self.plan = plan
        self.interval = interval
        self.run_id = run_id
        self.next_seq = next_seq
        self.last_flushed_seq = next_seq - 1
        self.on_checkpoint = on_checkpoint
        self.completed_since_snapshot = 0
        self.last_checkpoint_id: str | None = None
        self.snapshot_seqs: list[int] = []
        self._pending: list[tuple[dict[str, Any], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._snapshot_lock = asyncio.Lock()
        self.memos: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (memos or {}).items()}

    # ------------------------------------------------------------------ memo protocol

    async def remember(self, node_id: str, key: str, value: Any) -> None:
        """Journal a node's note (fsync'd) before returning: it survives a crash."""
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise NodeExecutionError(f"memo {key!r} is not JSON data ({exc})", node_id) from None
        self.memos.setdefault(node_id, {})[key] = value
        await self._journal(
            {
                "seq": 0,
                "run_id": self.run_id,
                "kind": "memo",
                "node_id": node_id,
                "key": key,
                "value": value,
            }
        )

    def recall(self, node_id: str, key: str) -> Any:
        return self.memos.get(node_id, {}).get(key)

    # ------------------------------------------------------------------ hook protocol

    async def on_run_start(self, state: ExecutionResult) -> None:
        await self.snapshot(state, "running")

    async def on_node_finished(self, result: NodeResult, state: ExecutionResult) -> None:
        if result.status == ExecutionStatus.COMPLETED:
            try:
                json.dumps(result.output, allow_nan=False)
            except (TypeError, ValueError) as exc:
                raise NodeExecutionError(
                    f"output of node {result.node_id!r} is not JSON data ({exc}); "
                    "return dicts, lists, strings, numbers, booleans or None, and store "
                    "binary data as files",
                    result.node_id,
                ) from None
        record = {
            "seq": 0,  # assigned at flush time, in write order
            "run_id": self.run_id,
            "node_id": result.node_id,
            "result": result.model_dump(mode="json", exclude_none=True),
        }
        await self._journal(record)
        if result.status == ExecutionStatus.COMPLETED:
            self.completed_since_snapshot += 1
            if self.interval is not None and self.completed_since_snapshot >= self.interval:
                await self.snapshot(state, "running")

    async def on_run_end(self, state: ExecutionResult, interrupted: bool) -> None:
        if self._flusher is not None:
            await asyncio.gather(self._flusher, return_exceptions=True)
        await self.snapshot(state, state_of(state, interrupted))
        state.checkpoint_id = self.last_checkpoint_id

    # ------------------------------------------------------------------ writing

    async def snapshot(self, state: ExecutionResult, run_state: str) -> str:
        async with self._snapshot_lock:
            self.completed_since_snapshot = 0
            body = checkpoint_body(
                self.plan,
                state,
                run_state,
                run_id=self.run_id,
                journal_seq=self.last_flushed_seq,
                memos=self.memos,
            )
            checkpoint_id = await asyncio.to_thread(
                self.manager.save_checkpoint, self.plan.id, body
            )
            self.last_checkpoint_id = checkpoint_id
            self.snapshot_seqs.append(self.last_flushed_seq)
            await asyncio.to_thread(self._after_snapshot)
        if self.on_checkpoint is not None:
            await self.on_checkpoint(checkpoint_id, run_state, state)
        return checkpoint_id

    def _after_snapshot(self) -> None:
        """Start a new journal segment; drop segments two snapshots old (kept for fallback)."""
        self.manager.rotate_journal(self.plan.id, self.next_seq)
        if len(self.snapshot_seqs) >= 2:
            self.manager.compact_journal(self.plan.id, self.snapshot_seqs[-2])

    async def _journal(self, record: dict[str, Any]) -> None:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((record, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            records = []
            for record, _ in batch:
                record["seq"] = self.next_seq
                self.next_seq += 1
                records.append(record)
            try:
                await asyncio.to_thread(self.manager.append_journal, self.plan.id, records)
            except BaseException as exc:
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                raise
            self.last_flushed_seq = records[-1]["seq"]
            for _, future in batch:
                if not future.done():
                    future.set_result(None)


# ---------------------------------------------------------------------- resume


@dataclass
class ResumeState:
    """What a resumed run starts from."""

    plan: WorkflowPlan
    checkpoint_id: str
    completed: dict[str, NodeResult]
    next_seq: int
    warnings: list[str] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)
    memos: dict[str, dict[str, Any]] = field(default_factory=dict)


def results_from_record(record: dict[str, Any]) -> dict[str, NodeResult]:
    out: dict[str, NodeResult] = {}
    for node_id, data in (record.get("node_results") or {}).items():
        payload = dict(data)
        payload.setdefault("node_id", node_id)
        out[node_id] = NodeResult.model_validate(payload)
    return out


def plan_from_record(record: dict[str, Any], source: str) -> WorkflowPlan:
    try:
        return WorkflowPlan.model_validate(record["workflow_plan"])
    except Exception as exc:
        raise CheckpointCorruptError(source, f"workflow_plan is not a valid plan ({exc})") from None


def journal_after(
    manager: WorkflowPersistenceManager, plan_id: str, seq: int, warnings: list[str]
) -> list[dict[str, Any]]:
    """Journal records after ``seq``; a damaged journal is quarantined, with a warning."""
    try:
        records, read_warnings = manager.read_journal(plan_id, seq)
    except CheckpointCorruptError as exc:
        moved = manager.quarantine_journal(plan_id)
        message = (
            f"journal of plan {plan_id!r} is damaged ({exc.reason}); moved aside: "
            f"{', '.join(moved) or '(nothing)'}; progress after the checkpoint is not replayed"
        )
        log.warning(message)
        warnings.append(message)
        return []
    warnings.extend(read_warnings)
    return records


def load_resume_state(
    manager: WorkflowPersistenceManager, plan_id: str, checkpoint_id: str | None = None
) -> ResumeState | None:
    """Rebuild a plan's state; ``None`` when the plan has no checkpoint at all.

    Call it while holding the plan's lock: a damaged journal is moved aside.
    """
    warnings: list[str] = []
    if checkpoint_id is not None:
        record = manager.load_checkpoint(checkpoint_id, plan_id)
        plan = plan_from_record(record, checkpoint_id)
        completed = {
            k: v
            for k, v in results_from_record(record).items()
            if v.status == ExecutionStatus.COMPLETED
        }
        seq = int(record.get("journal_seq", -1))
        later = journal_after(manager, plan.id, seq, warnings)  # only to number new records
        last = max([seq, *(int(r["seq"]) for r in later)])
        memos: dict[str, dict[str, Any]] = {
            k: dict(v) for k, v in (record.get("memos") or {}).items()
        }
        return ResumeState(plan, checkpoint_id, completed, last + 1, warnings, record, memos)

    ids = manager.latest_checkpoint_ids(plan_id)
    if not ids:
        return None
    for candidate in ids:
        try:
            record = manager.load_checkpoint(candidate, plan_id)
            plan = plan_from_record(record, candidate)
        except CheckpointCorruptError as exc:
            message = f"skipped corrupt checkpoint {candidate}: {exc.reason}"
            log.warning(message)
            warnings.append(message)
            continue
        results = results_from_record(record)
        seq = int(record.get("journal_seq", -1))
        known = set(plan.node_ids)
        memos = {k: dict(v) for k, v in (record.get("memos") or {}).items()}
        last = seq
        for entry in journal_after(manager, plan_id, seq, warnings):
            last = max(last, int(entry["seq"]))
            node_id = entry.get("node_id")
            if entry.get("kind") == "memo":
                if node_id in known:
                    memos.setdefault(str(node_id), {})[str(entry["key"])] = entry.get("value")
                continue
            if node_id in known:
                payload = dict(entry["result"])
                payload.setdefault("node_id", node_id)
                results[node_id] = NodeResult.model_validate(payload)
        completed = {k: v for k, v in results.items() if v.status == ExecutionStatus.COMPLETED}
        if warnings:
            warnings.append(f"resumed from {candidate}, the newest valid checkpoint")
        return ResumeState(plan, candidate, completed, last + 1, warnings, record, memos)
    raise CheckpointCorruptError(
        str(manager.checkpoint_dir / plan_id),
        f"none of the {len(ids)} checkpoint(s) of plan {plan_id!r} is valid",
    )
