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
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointEncodeError,
    NodeExecutionError,
    UnsupportedSchemaError,
)
from vibe_aigc.models import WorkflowPlan, plan_graph
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.persistence.writer import JournalWriter
from vibe_aigc.results import ExecutionResult, ExecutionStatus, NodeResult

log = logging.getLogger("vibe_aigc.checkpoints")

T = TypeVar("T")

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
    done = set(completed)  # built once: a per-node ``set(completed)`` made 10k nodes O(n^2)
    return {
        "plan_id": plan.id,
        "vibe": plan.source_vibe.model_dump(mode="json"),
        "workflow_plan": plan.model_dump(mode="json"),
        "completed_nodes": completed,
        "node_results": node_results,
        "pending_nodes": [n for n in plan.node_ids if n not in done],
        "state": state,
        "total_nodes": plan.total_nodes,
        "run_id": run_id,
        "journal_seq": journal_seq,
        "summary": result.get_summary(),
        "memos": {
            node_id: notes
            for node_id, notes in (memos or {}).items()
            if notes and node_id not in done
        },
    }


async def in_thread(func: Callable[..., T], *args: Any) -> T:
    """Run blocking I/O in a worker thread; when cancelled, wait for it before re-raising.

    ``asyncio.to_thread`` alone abandons the thread on cancellation, so a checkpoint write
    could still be running after the run stopped (and after the plan lock was released).
    """
    future = asyncio.ensure_future(asyncio.to_thread(func, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        while not future.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait([future])
        if not future.cancelled():
            future.exception()  # retrieved: the cancellation is what propagates
        raise


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
        self._snapshot_lock = asyncio.Lock()
        # One thread appends journal batches (group commit) and, in queue order, rotates and
        # compacts segments: a rotation lands exactly between the records numbered before
        # and after it, so a segment never starts above a seq still being written.
        self._writer = JournalWriter(
            lambda records: manager.append_journal(plan.id, records), f"vibe-journal-{plan.id}"
        )
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
                "plan_id": self.plan.id,
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
            "plan_id": self.plan.id,  # a line copied from another plan's journal is refused
            "node_id": result.node_id,
            "result": result.model_dump(mode="json", exclude_none=True),
        }
        await self._journal(record)
        if result.status == ExecutionStatus.COMPLETED:
            self.completed_since_snapshot += 1
            if self.interval is not None and self.completed_since_snapshot >= self.interval:
                await self.snapshot(state, "running")

    async def on_run_end(self, state: ExecutionResult, interrupted: bool) -> None:
        try:
            with contextlib.suppress(Exception):
                await self._writer.call(lambda: None)  # every queued record is settled
            await self.snapshot(state, state_of(state, interrupted))
            state.checkpoint_id = self.last_checkpoint_id
        finally:
            await in_thread(self._close_writer)

    def _close_writer(self) -> None:
        self._writer.stop()
        self.manager.close_journal(self.plan.id)

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
            checkpoint_id = await in_thread(self.manager.save_checkpoint, self.plan.id, body)
            self.last_checkpoint_id = checkpoint_id
            # what this snapshot covers (flushes may have moved last_flushed_seq meanwhile)
            self.snapshot_seqs.append(body["journal_seq"])
            rotate_at = self.next_seq
            await self._writer.call(lambda: self._after_snapshot(rotate_at))
        if self.on_checkpoint is not None:
            await self.on_checkpoint(checkpoint_id, run_state, state)
        return checkpoint_id

    def _after_snapshot(self, rotate_at: int) -> None:
        """Start a new journal segment; drop segments two snapshots old (kept for fallback).

        Runs on the journal writer thread, after every record numbered below ``rotate_at``.
        After a failed append nothing from the failed batch on was written, so the new
        segment starts there: a segment never starts above the next seq a later run uses.
        """
        if self._writer.failed_from is not None:
            rotate_at = min(rotate_at, self._writer.failed_from)
        try:
            self.manager.rotate_journal(self.plan.id, rotate_at)
        except CheckpointEncodeError:
            # A segment starts above next_seq: the records before it were lost (a damaged
            # disk). The snapshot just written covers every record we know of, so the journal
            # is moved aside rather than wedging this and every later run.
            moved = self.manager.quarantine_journal(self.plan.id)
            log.warning(
                "journal of plan %r starts above seq %d (earlier records are missing); "
                "moved aside: %s",
                self.plan.id,
                rotate_at,
                ", ".join(moved),
            )
            self.manager.rotate_journal(self.plan.id, rotate_at)
        if len(self.snapshot_seqs) >= 2:
            # "- 1": keep the segment holding the last record even when the last two snapshots
            # cover the same seq, so the journal always shows the highest seq used (a fresh
            # run numbers on from it; with no record left it restarted at 0, below the
            # current segment, and failed)
            self.manager.compact_journal(self.plan.id, self.snapshot_seqs[-2] - 1)

    async def _journal(self, record: dict[str, Any]) -> None:
        """Number ``record`` and return once it is durable (group-committed by the writer)."""
        if self._writer.failure is not None:
            raise self._writer.failure
        seq = record["seq"] = self.next_seq
        self.next_seq += 1
        try:
            await self._writer.append(record)
        except asyncio.CancelledError:
            raise
        except BaseException:
            # the store rolled the batch back and the writer fails every later append: no seq
            # at or above this one was written, so numbering resumes here
            self.next_seq = min(self.next_seq, seq)
            raise
        self.last_flushed_seq = max(self.last_flushed_seq, seq)


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


def _short(exc: Exception) -> str:
    return str(exc).replace("\n", " ")[:300]


def results_from_record(
    record: dict[str, Any], source: str = "checkpoint"
) -> dict[str, NodeResult]:
    """The node results of a checkpoint record; CheckpointCorruptError if one is invalid."""
    out: dict[str, NodeResult] = {}
    for node_id, data in (record.get("node_results") or {}).items():
        out[node_id] = _node_result(node_id, data, source, f"node_results[{node_id!r}]")
    return out


def _node_result(node_id: Any, data: Any, source: str, where: str) -> NodeResult:
    """A stored node result, checked: only finished results of the named node are stored."""
    if not isinstance(data, dict):
        raise CheckpointCorruptError(source, f"{where} is not an object")
    try:
        result = NodeResult.model_validate({"node_id": node_id, **data})
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise CheckpointCorruptError(
            source, f"{where} is not a node result ({_short(exc)})"
        ) from None
    if result.node_id != node_id or result.status not in _FINISHED:
        raise CheckpointCorruptError(
            source, f"{where} is not a finished result of node {node_id!r}"
        )
    return result


def memos_from_record(record: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    memos = record.get("memos")
    if memos is None:  # written before memos existed
        return {}
    if not isinstance(memos, dict) or not all(isinstance(v, dict) for v in memos.values()):
        raise CheckpointCorruptError(source, "'memos' must map node ids to objects")
    return {str(k): dict(v) for k, v in memos.items()}


def plan_from_record(record: dict[str, Any], source: str) -> WorkflowPlan:
    """The stored plan; CheckpointCorruptError unless it is a runnable plan of this record."""
    try:
        plan = WorkflowPlan.model_validate(record["workflow_plan"])
    except Exception as exc:
        raise CheckpointCorruptError(source, f"workflow_plan is not a valid plan ({exc})") from None
    if plan.id != record.get("plan_id"):
        # resuming it would write into another plan's folder, without that plan's lock
        raise CheckpointCorruptError(
            source, f"workflow_plan has id {plan.id!r}, not {record.get('plan_id')!r}"
        )
    problems = plan.problems()
    if problems:
        raise CheckpointCorruptError(
            source, "workflow_plan cannot run: " + "; ".join(str(p) for p in problems[:5])
        )
    return plan


def check_listed(results: dict[str, NodeResult], listed: Any, source: str) -> None:
    """CheckpointCorruptError unless a record's ``completed_nodes`` names exactly the
    completed entries of its ``node_results``."""
    done = {n for n, r in results.items() if r.status == ExecutionStatus.COMPLETED}
    if not isinstance(listed, list) or set(listed) != done:
        odd = sorted(set(listed if isinstance(listed, list) else []) ^ done)[:5]
        raise CheckpointCorruptError(
            source, f"completed_nodes disagrees with node_results (e.g. {', '.join(odd)})"
        )


def check_closed(
    plan: WorkflowPlan, results: dict[str, NodeResult], nodes: Any, source: str
) -> None:
    """CheckpointCorruptError when one of ``nodes`` is completed but something it waits on is
    not: the scheduler never does that, so records in between were lost."""
    done = {n for n, r in results.items() if r.status == ExecutionStatus.COMPLETED}
    graph = plan_graph(plan)
    for node_id in sorted(set(nodes) & done):
        waiting = sorted(b for b in graph.before.get(node_id, ()) if b not in done)
        if waiting:
            raise CheckpointCorruptError(
                source,
                f"node {node_id!r} is recorded as completed but {', '.join(waiting[:5])} "
                "(which it waits on) is not",
            )


def _replay(
    entries: list[dict[str, Any]],
    plan: WorkflowPlan,
    after_seq: int,
    results: dict[str, NodeResult],
    memos: dict[str, dict[str, Any]],
) -> int:
    """Apply journal records to ``results``/``memos`` in place; returns the last seq.

    Raises CheckpointCorruptError (and changes nothing) when a record is not what the hook
    writes, names another plan, or when records right after the checkpoint are missing:
    replaying later records without them would hand dependents outputs from a lost past.
    """
    source = f"journal of plan {plan.id!r}"
    known = set(plan.node_ids)
    new_results: dict[str, NodeResult] = {}
    new_memos: dict[str, dict[str, Any]] = {}
    last = after_seq
    for entry in entries:
        seq = entry["seq"]
        if seq != last + 1:
            raise CheckpointCorruptError(
                source, f"records {last + 1}..{seq - 1} are missing (expected seq {last + 1})"
            )
        last = seq
        if entry.get("plan_id", plan.id) != plan.id:
            raise CheckpointCorruptError(
                source, f"record {seq} belongs to plan {entry.get('plan_id')!r}"
            )
        node_id = entry.get("node_id")
        if not isinstance(node_id, str) or node_id not in known:  # not this plan's record
            raise CheckpointCorruptError(source, f"record {seq} names unknown node {node_id!r}")
        if entry.get("kind") == "memo":
            key = entry.get("key")
            if not isinstance(key, str):
                raise CheckpointCorruptError(source, f"record {seq}: a memo without a key")
            new_memos.setdefault(node_id, {})[key] = entry.get("value")
            continue
        new_results[node_id] = _node_result(node_id, entry.get("result"), source, f"record {seq}")
    check_closed(plan, {**results, **new_results}, new_results, source)
    results.update(new_results)
    for node_id, notes in new_memos.items():
        memos.setdefault(node_id, {}).update(notes)
    return last


def _quarantine(
    manager: WorkflowPersistenceManager, plan_id: str, reason: str, warnings: list[str]
) -> None:
    moved = manager.quarantine_journal(plan_id)
    message = (
        f"journal of plan {plan_id!r} is damaged ({reason}); moved aside: "
        f"{', '.join(moved) or '(nothing)'}; progress after the checkpoint is not replayed"
    )
    log.warning(message)
    warnings.append(message)


def journal_after(
    manager: WorkflowPersistenceManager, plan_id: str, seq: int, warnings: list[str]
) -> list[dict[str, Any]]:
    """Journal records after ``seq``; a damaged journal is quarantined, with a warning."""
    try:
        records, read_warnings = manager.read_journal(plan_id, seq)
    except UnsupportedSchemaError:
        raise  # written by a newer vibe-aigc: never move its journal aside; ask to upgrade
    except CheckpointCorruptError as exc:
        _quarantine(manager, plan_id, exc.reason, warnings)
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
        results = results_from_record(record, checkpoint_id)
        check_listed(results, record["completed_nodes"], checkpoint_id)
        completed = {k: v for k, v in results.items() if v.status == ExecutionStatus.COMPLETED}
        memos = memos_from_record(record, checkpoint_id)
        seq = record["journal_seq"]
        later = journal_after(manager, plan.id, seq, warnings)  # only to number new records
        last = max([seq, *(int(r["seq"]) for r in later)])
        return ResumeState(plan, checkpoint_id, completed, last + 1, warnings, record, memos)

    ids = manager.latest_checkpoint_ids(plan_id)
    if not ids:
        return None
    for candidate in ids:
        try:
            record = manager.load_checkpoint(candidate, plan_id)
            plan = plan_from_record(record, candidate)
            results = results_from_record(record, candidate)
            check_listed(results, record["completed_nodes"], candidate)
            memos = memos_from_record(record, candidate)
        except UnsupportedSchemaError:
            raise  # a newer vibe-aigc wrote it: falling back would hide its work; upgrade
        except CheckpointCorruptError as exc:
            message = f"skipped corrupt checkpoint {candidate}: {exc.reason}"
            log.warning(message)
            warnings.append(message)
            continue
        seq = record["journal_seq"]
        entries = journal_after(manager, plan_id, seq, warnings)
        try:
            last = _replay(entries, plan, seq, results, memos)
        except CheckpointCorruptError as exc:
            _quarantine(manager, plan_id, exc.reason, warnings)
            last = max([seq, *(int(r["seq"]) for r in entries)])
        completed = {k: v for k, v in results.items() if v.status == ExecutionStatus.COMPLETED}
        if warnings:
            warnings.append(f"resumed from {candidate}, the newest valid checkpoint")
        return ResumeState(plan, candidate, completed, last + 1, warnings, record, memos)
    raise CheckpointCorruptError(
        str(manager.checkpoint_dir / plan_id),
        f"none of the {len(ids)} checkpoint(s) of plan {plan_id!r} is valid",
    )
