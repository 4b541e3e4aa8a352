"""Recording a run as it goes: the scheduler hook that journals and snapshots.

:class:`CheckpointHook` is an :class:`~vibe_aigc.executor.ExecutionHook`. It writes a full,
guide-shaped checkpoint when a run starts, every ``interval`` completed nodes, and when the run
ends (completed, failed, or interrupted by cancellation / SIGINT / SIGTERM). Between them every
finished node is appended to the plan's journal, durably, before its dependents start;
completions that finish together share one write (group commit). Every write goes under the
run's lease, so once the lease is released nothing of this run can be written any more.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from vibe_aigc.bulk import bulk_load
from vibe_aigc.errors import CheckpointEncodeError, NodeExecutionError
from vibe_aigc.jsondata import JsonText, KnownJson, check_json_data, json_data
from vibe_aigc.models import WorkflowPlan
from vibe_aigc.persistence import Lease, WorkflowPersistenceManager
from vibe_aigc.persistence.jsontext import canonical_text
from vibe_aigc.persistence.records import memo_entry, result_entry
from vibe_aigc.persistence.redaction import has_secret_values, redact_record
from vibe_aigc.results import (
    ExecutionResult,
    ExecutionStatus,
    NodeResult,
    keep_snapshot_form,
    snapshot_form,
)
from vibe_aigc.runs.plantext import checked_plan_text
from vibe_aigc.runs.stored import result_text
from vibe_aigc.runs.writer import JournalWriter

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


class SnapshotParts:
    """What one run's snapshots share, built once instead of once per snapshot: the plan and
    the vibe in JSON (checked as JSON data once, then marked :class:`KnownJson`) and every
    finished result's JSON form (a result the run journaled is known JSON data; one taken
    from elsewhere, e.g. a resumed one, is marked once a snapshot holding it was checked)."""

    def __init__(
        self, plan: WorkflowPlan, stored: dict[str, Any] | JsonText | None = None
    ) -> None:
        """``stored``: the plan's JSON as a checkpoint holds it (or its canonical text), when
        the caller verified that it is exactly how ``plan`` stores (a resume with the stored
        plan): it is used as it is, instead of dumping and checking the plan once more."""
        self.plan = plan
        self._plan_json: dict[str, Any] | None = None
        self._plan_text: JsonText | None = None
        self._vibe_json: dict[str, Any] | None = None
        if isinstance(stored, JsonText):  # the redacted text: what every snapshot of the run holds
            self._take(stored)
        elif stored is not None:
            self._vibe_json = KnownJson(stored["source_vibe"])
            if has_secret_values():  # redacted afresh at every snapshot (see plan_json)
                nodes = [_known_node(n) for n in stored["root_nodes"]]
                self._plan_json = {**stored, "root_nodes": nodes}
            else:  # stored redacted: its text is what every snapshot of the run holds
                self._plan_text = canonical_text(stored)
        self._unchecked: list[NodeResult] = []  # dumped for a snapshot not saved yet

    def _take(self, text: JsonText) -> bool:
        """Use ``text``, the plan's redacted canonical text, with the vibe's JSON (checked
        here); False when the vibe is not JSON data (``plan_json`` goes the full way)."""
        vibe = self.plan.source_vibe.model_dump(mode="json")
        try:
            check_json_data({"vibe": vibe}, "record")
        except CheckpointEncodeError:
            return False
        self._plan_text, self._vibe_json = text, KnownJson(vibe)
        return True

    def plan_json(self) -> tuple[dict[str, Any] | JsonText, dict[str, Any]]:
        """The plan's JSON for a snapshot, redacted, as its canonical text (encoded once per
        run; redacted afresh at every snapshot instead while secret values are registered)
        and the vibe's."""
        secrets = has_secret_values()
        if self._plan_text is not None and self._vibe_json is not None and not secrets:
            return self._plan_text, self._vibe_json
        if not secrets and self._plan_json is None:  # spelled from the nodes, checked
            text = checked_plan_text(self.plan)
            if text is not None and self._take(text) and self._vibe_json is not None:
                return text, self._vibe_json
        if self._plan_json is None or self._vibe_json is None:
            vibe = self.plan.source_vibe.model_dump(mode="json")
            plan = self.plan.model_dump(mode="json")
            # checked as the codec would check it: after redaction, under the same path. JSON
            # data as it is stays JSON data redacted (redaction only puts strings in), so
            # the redacted copy is made only when the plan as it is fails the check
            try:
                check_json_data({"vibe": vibe, "workflow_plan": plan}, "record")
            except CheckpointEncodeError:
                check_json_data(redact_record({"vibe": vibe, "workflow_plan": plan}), "record")
            plan["root_nodes"] = [_known_node(n) for n in plan["root_nodes"]]
            self._plan_json, self._vibe_json = plan, KnownJson(vibe)
        if secrets:
            return self._plan_json, self._vibe_json
        redacted = redact_record({"workflow_plan": self._plan_json})["workflow_plan"]
        self._plan_text, self._plan_json = canonical_text(redacted), None  # the text will do
        return self._plan_text, self._vibe_json

    @staticmethod
    def journaled(result: NodeResult, dumped: KnownJson | JsonText) -> None:
        """``result`` was journaled as ``dumped``: the snapshots reuse it (kept with the
        result: a result replaced by another, a copy say, is dumped afresh)."""
        keep_snapshot_form(result, dumped)

    def result_json(self, result: NodeResult) -> dict[str, Any] | JsonText:
        cached = snapshot_form(result)
        if cached is not None:
            return cached
        dumped = result.model_dump(mode="json", exclude_none=True)
        keep_snapshot_form(result, dumped)
        self._unchecked.append(result)
        return dumped

    def checked(self) -> None:
        """A snapshot holding the results dumped so far was encoded (so checked) and saved."""
        for result in self._unchecked:
            dumped = snapshot_form(result)
            if type(dumped) is dict:
                keep_snapshot_form(result, KnownJson(dumped))
        self._unchecked.clear()


# shared by every cached plan node without parameters / children (read only: a snapshot's
# redaction copies what it changes)
_NO_PARAMETERS: dict[str, Any] = {}
_NO_CHILDREN: list[Any] = []


def _known_node(node: Any) -> Any:
    if isinstance(node, dict):
        children = node.get("children")
        if isinstance(children, list):
            node["children"] = [_known_node(c) for c in children] if children else _NO_CHILDREN
        if node.get("parameters") == {}:
            node["parameters"] = _NO_PARAMETERS
        return KnownJson(node)
    return node


def checkpoint_body(
    plan: WorkflowPlan,
    result: ExecutionResult,
    state: str,
    *,
    run_id: str,
    journal_seq: int,
    memos: dict[str, dict[str, Any]] | None = None,
    parts: SnapshotParts | None = None,
) -> dict[str, Any]:
    """The record of a checkpoint, in the guide's shape (ids and time are added on save).

    ``memos`` are per-node notes (e.g. provider job ids) of nodes not yet completed. ``parts``
    (a run's :class:`SnapshotParts`) reuses what earlier snapshots of the run built.
    """
    node_results: dict[str, dict[str, Any] | JsonText]
    plan_json: dict[str, Any] | JsonText
    if parts is None:
        node_results = {
            node_id: r.model_dump(mode="json", exclude_none=True)
            for node_id, r in result.node_results.items()
            if r.status in _FINISHED
        }
        plan_json = plan.model_dump(mode="json")
        vibe_json = plan.source_vibe.model_dump(mode="json")
    else:
        node_results = {
            node_id: parts.result_json(r)
            for node_id, r in result.node_results.items()
            if r.status in _FINISHED
        }
        plan_json, vibe_json = parts.plan_json()
    completed = result.completed_nodes
    done = set(completed)  # built once: a per-node ``set(completed)`` made 10k nodes O(n^2)
    return {
        "plan_id": plan.id,
        "vibe": vibe_json,
        "workflow_plan": plan_json,
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
        lease: Lease,
        *,
        interval: int | None,
        run_id: str,
        next_seq: int,
        on_checkpoint: Callable[[str, str, ExecutionResult], Awaitable[None]] | None = None,
        memos: dict[str, dict[str, Any]] | None = None,
        start_snapshot: bool = True,
        stored_plan: dict[str, Any] | JsonText | None = None,
    ) -> None:
        """``start_snapshot=False``: the store already holds exactly the state this run starts
        from (a resume from the latest checkpoint and the journal after it), so a snapshot at
        the start would only repeat it; the first snapshot is the next one due.
        ``stored_plan``: see :class:`SnapshotParts`."""
        self.manager = manager
        self.start_snapshot = start_snapshot
        self.parts = SnapshotParts(plan, stored_plan)
        self.plan = plan
        self.lease = lease
        self.interval = interval
        self.run_id = run_id
        self.next_seq = next_seq
        self.last_flushed_seq = next_seq - 1
        self.on_checkpoint = on_checkpoint
        self.completed_since_snapshot = 0
        self.durable_completed = 0  # completions journaled by this run
        self.last_checkpoint_id: str | None = None
        self.snapshot_seqs: list[int] = []
        self._snapshot_lock = asyncio.Lock()
        # One thread appends journal batches (group commit) and, in queue order, rotates and
        # compacts segments: a rotation lands exactly between the records numbered before
        # and after it, so a segment never starts above a seq still being written.
        self._writer = JournalWriter(
            lambda records: manager.append_entries(lease, records), f"vibe-journal-{plan.id}"
        )
        self.memos: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (memos or {}).items()}
        self._counts: Mapping[str, int] | None = None  # the scheduler's, see watch_counts

    # ------------------------------------------------------------------ memo protocol

    async def remember(self, node_id: str, key: str, value: Any) -> None:
        """Journal a node's note (durably) before returning: it survives a crash."""
        try:
            value = json_data(value, f"memo {key!r}")
        except CheckpointEncodeError as exc:
            raise NodeExecutionError(
                f"memo {key!r} is not JSON data ({exc.where}: {exc.reason})", node_id
            ) from None
        self.memos.setdefault(node_id, {})[key] = value
        await self._journal(KnownJson(memo_entry(self.run_id, self.plan.id, node_id, key, value)))

    def recall(self, node_id: str, key: str) -> Any:
        return self.memos.get(node_id, {}).get(key)

    # ------------------------------------------------------------------ hook protocol

    def watch_counts(self, counts: Mapping[str, int]) -> None:
        """The scheduler's live counts: a record journaled while no other node runs cannot
        share its fsync, so the writer may write it without a thread hand-off."""
        self._counts = counts

    async def on_run_start(self, state: ExecutionResult) -> None:
        if self.start_snapshot:
            await self.snapshot(state, "running")

    async def on_node_finished(self, result: NodeResult, state: ExecutionResult) -> None:
        # the scheduler already made the output JSON data (executor.core / jsondata)
        # known JSON data: the output went through json_data, the rest is pydantic's JSON mode;
        # encoded once, here: the journal line and every snapshot copy this text
        secrets = has_secret_values()  # then the store scrubs the values (see redaction)
        dumped: KnownJson | JsonText | None = None if secrets else result_text(result)
        if dumped is None:
            dumped = KnownJson(result.model_dump(mode="json", exclude_none=True))
            if not secrets:
                dumped = canonical_text(dumped)
        record = KnownJson(
            result_entry(
                self.run_id,
                self.plan.id,  # a line copied from another plan's journal is refused
                result.node_id,
                dumped,
            )
        )
        await self._journal(record)
        self.parts.journaled(result, dumped)  # the snapshots reuse it
        if result.status == ExecutionStatus.COMPLETED:
            self.completed_since_snapshot += 1
            self.durable_completed += 1
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

    # ------------------------------------------------------------------ writing

    async def snapshot(self, state: ExecutionResult, run_state: str) -> str:
        async with self._snapshot_lock:
            self.completed_since_snapshot = 0
            with bulk_load():  # a snapshot builds only acyclic JSON (see vibe_aigc.bulk)
                body = checkpoint_body(
                    self.plan,
                    state,
                    run_state,
                    run_id=self.run_id,
                    journal_seq=self.last_flushed_seq,
                    memos=self.memos,
                    parts=self.parts,
                )
                checkpoint_id = await in_thread(
                    self.manager.save_checkpoint, self.plan.id, body, self.lease
                )
                self.parts.checked()
            self.last_checkpoint_id = checkpoint_id
            # what this snapshot covers (flushes may have moved last_flushed_seq meanwhile)
            self.snapshot_seqs.append(body["journal_seq"])
            rotate_at = self.next_seq
            await self._writer.call(lambda: self._after_snapshot(rotate_at))
        if self.on_checkpoint is not None:
            await self.on_checkpoint(checkpoint_id, run_state, state)
        return checkpoint_id

    def _after_snapshot(self, rotate_at: int) -> None:
        """Trim the journal: entries two snapshots old go (the last one is kept as a fallback).

        Runs on the journal writer thread, after every record numbered below ``rotate_at``.
        "- 1": the entry holding the highest seq always stays, so a fresh run numbers on from
        it even when the last two snapshots cover the same seq.
        """
        del rotate_at  # the store starts its next segment with the next batch
        covered = self.snapshot_seqs[-2] - 1 if len(self.snapshot_seqs) >= 2 else -1
        self.manager.trim_entries(self.lease, covered)

    async def _journal(self, record: dict[str, Any]) -> None:
        """Number ``record`` and return once it is durable (group-committed by the writer)."""
        if self._writer.failure is not None:
            raise self._writer.failure
        seq = record["seq"] = self.next_seq
        self.next_seq += 1
        counts = self._counts
        try:
            # alone (no other node running, so nothing could share the fsync): written here
            # when the writer thread is idle, else queued to it
            if counts is None or counts.get("running", 0) > 1 or not self._writer.write_now(record):
                await self._writer.append(record)
        except asyncio.CancelledError:
            raise
        except BaseException:
            # the store rolled the batch back and the writer fails every later append: no seq
            # at or above this one was written, so numbering resumes here
            self.next_seq = min(self.next_seq, seq)
            raise
        self.last_flushed_seq = max(self.last_flushed_seq, seq)
