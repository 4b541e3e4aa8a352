"""The life of a durable run: start, resume, checkpoint, list, get, delete.

:class:`RunService` is the only thing that knows both the scheduler and the store. It holds the
plan's lease for the whole run (one writer per plan; released only after every write of the run
has finished), decides resume-or-start, checks a given plan against the stored one, replays the
journal and hangs the :class:`~vibe_aigc.runs.recorder.CheckpointHook` off the scheduler.

``checkpoint_interval`` has one meaning everywhere: a full snapshot every N completed nodes
(``None``: snapshots only when the run starts and ends). Every finished node is journaled
regardless, whenever a run is durable.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

from vibe_aigc.bulk import run_scope
from vibe_aigc.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    ConfigurationError,
    LineageError,
    PlanMismatchError,
)
from vibe_aigc.executor import (
    EventKind,
    ExecutionResult,
    ExecutionStatus,
    NodeResult,
    ProgressCallback,
    ProgressEvent,
    WorkflowExecutor,
)
from vibe_aigc.executor.events import emit
from vibe_aigc.models import PlanGraph, Vibe, WorkflowPlan
from vibe_aigc.persistence import Lease, WorkflowPersistenceManager
from vibe_aigc.persistence.ids import validate_checkpoint_id, validate_plan_id
from vibe_aigc.persistence.records import Record
from vibe_aigc.persistence.redaction import redact
from vibe_aigc.runs import history
from vibe_aigc.runs.budget import BudgetGate
from vibe_aigc.runs.checked import plan_from_record
from vibe_aigc.runs.history import RunInfo, RunStatus
from vibe_aigc.runs.lineage import (
    PlanChanges,
    claim_fork,
    fork_start,
    lineage_extras,
    no_plan,
    plan_changes,
    retry_targets,
    take_over,
)
from vibe_aigc.runs.recorder import CheckpointHook, checkpoint_body, in_thread, state_of
from vibe_aigc.runs.resume import (
    ResumeState,
    journal_after,
    keep_stored_forms,
    keep_unchanged,
    load_resume_state,
    stored_result,
    take_stored_plan_json,
    validated_graph,
)

PlanMaker = Callable[[Vibe, str], Awaitable[WorkflowPlan]]
Retool = Callable[[WorkflowPlan, set[str]], tuple[WorkflowPlan, str | None]]
"""Given a stored plan and its completed node ids, the plan to finish it with using the tools
configured now (and a note saying what changed), e.g. offline steps written by a model."""
"""Plans a vibe under a given plan id (the planner's job; the runs layer only calls it)."""


def new_run_id() -> str:
    return uuid.uuid4().hex[:12]


class RunService:
    """Durable runs of plans over one persistence manager (see the module docstring)."""

    def __init__(
        self,
        manager: WorkflowPersistenceManager,
        executor: WorkflowExecutor,
        *,
        checkpoint_interval: int | None = None,
        cleanup_on_success: bool = False,
        callbacks: Callable[[], list[ProgressCallback]] = list,
        gate: Callable[[], BudgetGate | None] | None = None,
        retool: Retool | None = None,
    ) -> None:
        self.manager = manager
        self.gate = gate
        self.retool = retool
        self.executor = executor
        self.checkpoint_interval = checkpoint_interval
        self.cleanup_on_success = cleanup_on_success
        self._callbacks = callbacks
        self.plans: dict[str, WorkflowPlan] = {}
        self.planning_usage: dict[str, dict[str, float]] = {}
        """What planning a plan cost, counted in the usage of the next run of that plan."""

    # ------------------------------------------------------------------ running

    async def run(self, plan: WorkflowPlan) -> ExecutionResult:
        """Run ``plan`` fresh and durably (earlier checkpoints of the plan are kept)."""
        async with self.lease(plan.id) as lease:
            return await self._run(plan, lease, None)

    async def run_with(
        self, plan: WorkflowPlan, completed: dict[str, NodeResult], previous: str | None
    ) -> ExecutionResult:
        """Run ``plan`` durably, taking ``completed`` results as done (an adapted plan)."""
        async with self.lease(plan.id) as lease:
            warnings: list[str] = []
            next_seq = await asyncio.to_thread(self._next_seq, plan.id, lease, warnings)
            state = ResumeState(
                plan=plan,
                checkpoint_id=previous or "adaptation",
                completed=completed,
                next_seq=next_seq,
                warnings=warnings,
            )
            self.plans[plan.id] = plan
            return await self._run(plan, lease, state)

    @run_scope  # what the load builds lives as long as the run (vibe_aigc.bulk)
    async def resume(
        self,
        target: str,
        given: Vibe | WorkflowPlan | None,
        make_plan: PlanMaker,
        *,
        checkpoint_id: str | None = None,
        fresh: bool = False,
        retry_failed: bool = False,
        check: Callable[[WorkflowPlan, PlanGraph | None], PlanGraph] | None = None,
    ) -> ExecutionResult:
        """Resume plan ``target`` from its latest checkpoint (or exactly ``checkpoint_id``);
        start it when it has none (planning ``given`` when it is a vibe); ``fresh`` starts
        over. A plan whose latest checkpoint is complete is not run again: its stored result
        is returned (``fresh=True`` to run it anew).

        ``given`` a plan that differs from the stored one (an edited plan): outputs of nodes
        whose fingerprint is unchanged are kept, changed nodes and everything downstream run
        again (:func:`~vibe_aigc.runs.lineage.plan_changes`). ``retry_failed``: the checkpoint
        must hold failed or skipped nodes (LineageError otherwise); they run again.
        ``check``: validates ``given`` (a plan) and returns its graph (given the one the load
        built, if any) when it is to run; a plan stored exactly as given with nothing left to
        run is not checked again."""
        async with self.lease(target) as lease:
            state = (
                None
                if fresh
                else await in_thread(
                    load_resume_state,
                    self.manager,
                    lease,
                    target,
                    checkpoint_id,
                    given if isinstance(given, WorkflowPlan) else None,
                )
            )
            if state is None:
                if retry_failed:
                    raise LineageError(f"plan {target!r} has no checkpoint to retry")
                if given is None:
                    raise CheckpointNotFoundError(
                        target,
                        f"plan {target!r} has no checkpoint to resume; see the plans that "
                        "have one with `vibe-aigc checkpoints --list` (list_checkpoints())",
                    )
                plan = await make_plan(given, target) if isinstance(given, Vibe) else given
                self.plans[plan.id] = plan
                graph = check(plan, None) if check is not None and plan is given else None
                return await self._run(plan, lease, None, graph=graph)
            if retry_failed and not retry_targets(state):
                raise LineageError(
                    f"checkpoint {state.checkpoint_id} of plan {target!r} has no failed or "
                    "skipped node to retry; continue an interrupted run with `vibe-aigc resume`"
                )
            if state.plan is given:
                keep_unchanged(state)  # stored exactly as given: nothing to compare
            elif isinstance(given, WorkflowPlan):
                graph = check(given, None) if check is not None else None
                # keeps unchanged outputs; runs the caller's copy (the stored one is redacted)
                changes = plan_changes(state.plan, state.completed, given)
                take_over(state, changes, given)
                state.graph, state.validated, state.from_store = graph, graph is not None, False
                # the store holds the old plan: a crash before the first snapshot of the new
                # one would leave its journal entries to be read against the old plan
                state.covered = state.covered and not changes.changed
            elif (
                isinstance(given, Vibe)
                and checkpoint_id is not None
                and given.fingerprint() != state.plan.source_vibe.fingerprint()
            ):
                raise PlanMismatchError(state.plan.id, [])
            total = len(state.graph.order) if state.graph is not None else state.plan.total_nodes
            if checkpoint_id is None and len(state.completed) == total:
                self.plans[state.plan.id] = state.plan
                return stored_result(state)
            if check is not None and state.plan is given and not state.validated:
                state.graph, state.validated = check(given, state.graph), True
            if self.retool is not None and not isinstance(given, WorkflowPlan):
                state.plan, note = self.retool(state.plan, set(state.completed))
                state.graph, state.validated, state.as_stored = None, False, False  # new plan
                if note:
                    state.warnings.append(note)
            self.plans[state.plan.id] = state.plan
            await emit(
                self._callbacks(),
                ProgressEvent(
                    kind=EventKind.RUN_RESUMED,
                    plan_id=state.plan.id,
                    done=len(state.completed),
                    total=state.plan.total_nodes,
                    checkpoint_id=state.checkpoint_id,
                    message=f"resuming from {state.checkpoint_id}",
                ),
            )
            return await self._run(state.plan, lease, state)

    @contextlib.asynccontextmanager
    async def lease(self, plan_id: str) -> AsyncIterator[Lease]:
        """Hold the plan's lease; it is released only after every write of the run ended."""
        context = self.manager.lease(validate_plan_id(plan_id))
        try:
            # in_thread waits for the thread when cancelled: a lease taken just as the caller
            # was cancelled is released below, never left held by a forgotten thread
            lease = await in_thread(context.__enter__)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await _uncancellable(in_thread(context.__exit__, None, None, None))
            raise
        try:
            yield lease
        finally:
            await _uncancellable(in_thread(context.__exit__, None, None, None))

    async def _run(
        self,
        plan: WorkflowPlan,
        lease: Lease,
        resume: ResumeState | None,
        lineage: Record | None = None,
        graph: PlanGraph | None = None,
    ) -> ExecutionResult:
        """Run ``plan`` under ``lease`` (from ``resume`` when given). ``graph``: the graph of
        ``plan`` when the caller validated it already (else the resume's or the executor's)."""
        manager = self.manager
        callbacks = self._callbacks()
        run_id = new_run_id()
        if lineage is None and resume is not None and resume.record.get("run_id"):
            lineage = lineage_extras(resume.record, resume.checkpoint_id, resume.completed)

        async def announce(checkpoint_id: str, run_state: str, state: ExecutionResult) -> None:
            if not callbacks:
                return
            counts = {
                status.value: state.count(status)
                for status in (
                    ExecutionStatus.COMPLETED,
                    ExecutionStatus.FAILED,
                    ExecutionStatus.SKIPPED,
                    ExecutionStatus.RUNNING,
                )
            }
            event = ProgressEvent(
                kind=EventKind.CHECKPOINT_SAVED,
                plan_id=plan.id,
                done=counts["completed"] + counts["failed"] + counts["skipped"],
                total=plan.total_nodes,
                counts=counts,
                run_id=run_id,
                durable=len(resume.completed if resume else ()) + hook.durable_completed,
                checkpoint_id=checkpoint_id,
                message=run_state,
                state=state,
            )
            await emit(callbacks, event)

        warnings: list[str] = []
        next_seq = (
            resume.next_seq
            if resume
            else await asyncio.to_thread(self._next_seq, plan.id, lease, warnings)
        )
        hook = CheckpointHook(
            manager,
            plan,
            lease,
            interval=self.checkpoint_interval,
            run_id=run_id,
            next_seq=next_seq,
            on_checkpoint=announce,
            memos=resume.memos if resume else None,
            start_snapshot=not (resume is not None and resume.covered),
            stored_plan=take_stored_plan_json(plan, resume),
        )
        keep_stored_forms(resume)  # known JSON: not checked again
        gate = self.gate() if self.gate is not None else None
        planning = _PlanningUsage(self.planning_usage.pop(plan.id, None))
        hooks: list[Any] = [planning, hook] if gate is None else [gate, planning, hook]
        with manager.run_lineage(run_id, lineage or {}):
            result = await self.executor.execute(
                plan,
                completed=resume.completed if resume else None,
                hooks=hooks,
                progress_callbacks=callbacks,
                memo=hook,
                admit=gate.admit if gate is not None else None,
                validated=graph if graph is not None else validated_graph(plan, resume),
            )
        result.warnings.extend(warnings)
        if resume is not None:
            result.resumed_from = resume.checkpoint_id
            result.warnings.extend(resume.warnings)
        if self.cleanup_on_success and result.status == ExecutionStatus.COMPLETED:
            await asyncio.to_thread(manager.delete_plan, plan.id)
            result.checkpoint_id = None
        return result

    def _next_seq(self, plan_id: str, lease: Lease | None, warnings: list[str]) -> int:
        records = journal_after(self.manager, lease, plan_id, -1, warnings)
        return max((int(r["seq"]) for r in records), default=-1) + 1

    # ------------------------------------------------------------------ lineage

    async def preview(self, given: WorkflowPlan) -> PlanChanges:
        """What running ``given`` would reuse and re-run (``--dry-run``); runs nothing."""
        async with self.lease(given.id) as lease:
            state = await in_thread(load_resume_state, self.manager, lease, given.id, None)
        if state is None:
            return PlanChanges(new=given.node_ids)
        return plan_changes(state.plan, state.completed, given)

    async def fork(
        self,
        checkpoint_id: str,
        *,
        from_nodes: list[str] | None = None,
        settings: list[tuple[str, str, Any]] | None = None,
        plan_id: str | None = None,
        plan: WorkflowPlan | None = None,
    ) -> ExecutionResult:
        """Run a new plan (``plan_id``, default ``<source>-fork-<hex>``; or ``plan``) from
        checkpoint ``checkpoint_id``, keeping every completed output except ``from_nodes``,
        nodes whose parameters ``settings`` change, and everything downstream of them.
        The source run is only read; LineageError when the new id is taken."""
        validate_checkpoint_id(checkpoint_id)
        record = await asyncio.to_thread(self.manager.load_checkpoint, checkpoint_id, None)
        source, new_plan, kept = fork_start(
            record, checkpoint_id, from_nodes, settings, plan_id, plan
        )
        async with self.lease(new_plan.id) as lease:
            await asyncio.to_thread(claim_fork, self.manager, source.id, new_plan.id, kept)
            state = ResumeState(new_plan, checkpoint_id, kept, next_seq=0)
            self.plans[new_plan.id] = new_plan
            extras = lineage_extras(record, checkpoint_id, kept)
            return await self._run(new_plan, lease, state, extras)

    async def retry_failed(self, plan_id: str, checkpoint: str | None = None) -> ExecutionResult:
        """Re-run only the failed and skipped nodes (LineageError when there are none)."""
        retry = self.resume(plan_id, None, no_plan, checkpoint_id=checkpoint, retry_failed=True)
        return await retry

    def list_runs(self, plan_id: str | None = None, state: str | None = None) -> list[RunInfo]:
        """Every run in the store, newest first (see :mod:`vibe_aigc.runs.history`)."""
        return history.list_runs(self.manager, plan_id, state)

    def status(self, run_or_plan: str) -> RunStatus:
        """Every node of a run (or of a plan's latest run), with which run produced it."""
        return history.run_status(self.manager, run_or_plan)

    # ------------------------------------------------------------------ checkpoints

    def plan_of_checkpoint(self, checkpoint_id: str, plan_id: str | None = None) -> str:
        validate_checkpoint_id(checkpoint_id)
        record = self.manager.load_checkpoint(checkpoint_id, plan_id)
        return str(record["plan_id"])

    def create_checkpoint(
        self, plan_id: str, execution_state: ExecutionResult | Mapping[str, Any]
    ) -> str:
        """Write a checkpoint of ``execution_state`` for ``plan_id``; returns its ``cp-`` id."""
        validate_plan_id(plan_id)
        if isinstance(execution_state, ExecutionResult):
            plan = self.known_plan(plan_id)
            state = execution_state
        elif isinstance(execution_state, Mapping):
            plan, state = self._state_from_mapping(plan_id, dict(execution_state))
        else:
            raise TypeError("execution_state must be an ExecutionResult or a mapping")
        run_state = state_of(state)
        if not isinstance(execution_state, ExecutionResult):
            finished = len(state.completed_nodes) == plan.total_nodes
            run_state = str(
                execution_state.get("state") or ("completed" if finished else "interrupted")
            )
        seq = self._next_seq(plan_id, None, []) - 1
        body = checkpoint_body(plan, state, run_state, run_id="manual", journal_seq=seq)
        return self.manager.save_checkpoint(plan_id, body)

    def _state_from_mapping(
        self, plan_id: str, data: dict[str, Any]
    ) -> tuple[WorkflowPlan, ExecutionResult]:
        if data.get("workflow_plan") is not None:
            plan = WorkflowPlan.model_validate(data["workflow_plan"])
            if plan.id != plan_id:
                raise ConfigurationError(
                    f"execution_state['workflow_plan'] is plan {plan.id!r}, not {plan_id!r}; "
                    "a checkpoint is stored under the plan it describes"
                )
        else:
            plan = self.known_plan(plan_id)
        results = {
            node_id: NodeResult.model_validate({"node_id": node_id, **dict(value)})
            for node_id, value in (data.get("node_results") or {}).items()
        }
        for node_id in data.get("completed_nodes") or []:
            results.setdefault(
                node_id, NodeResult(node_id=node_id, status=ExecutionStatus.COMPLETED)
            )
        state = ExecutionResult(
            plan_id=plan_id,
            node_results={n: results.get(n, NodeResult(node_id=n)) for n in plan.node_ids},
        )
        return plan, state

    def known_plan(self, plan_id: str) -> WorkflowPlan:
        """A plan this service ran, or the one stored in the plan's newest valid checkpoint."""
        if plan_id in self.plans:
            return self.plans[plan_id]
        for checkpoint_id in self.manager.latest_checkpoint_ids(plan_id):
            try:
                record = self.manager.load_checkpoint(checkpoint_id, plan_id)
            except CheckpointError:
                continue
            return plan_from_record(record, checkpoint_id)
        raise CheckpointNotFoundError(
            plan_id,
            f"plan {plan_id!r} is unknown here and has no checkpoint; plan or run it first, "
            "or pass a mapping with 'workflow_plan'",
        )


def check_same_plan(given: WorkflowPlan, stored: WorkflowPlan) -> None:
    """PlanMismatchError listing the nodes in which ``given`` differs from ``stored`` (a strict
    check for callers that refuse edits; resuming itself re-runs what changed instead)."""

    def shape(plan: WorkflowPlan) -> dict[str, Any]:
        return {
            n.id: n.model_dump(mode="json", exclude={"children", "estimated_duration"})
            | {"children": [c.id for c in n.children], "parameters": redact(n.parameters)}
            for n in plan.iter_nodes()
        }  # compared as stored: secret parameters are redacted in checkpoints

    mine, theirs = shape(given), shape(stored)
    changed = sorted(n for n in set(mine) | set(theirs) if mine.get(n) != theirs.get(n))
    if changed:
        raise PlanMismatchError(given.id, changed)


class _PlanningUsage:
    """Puts what planning cost into the run's result before its first snapshot."""

    def __init__(self, usage: dict[str, float] | None) -> None:
        self.usage = usage

    async def on_run_start(self, state: ExecutionResult) -> None:
        if self.usage:
            state.planning_usage = dict(self.usage)

    async def on_node_finished(self, result: NodeResult, state: ExecutionResult) -> None:
        return None

    async def on_run_end(self, state: ExecutionResult, interrupted: bool) -> None:
        return None


async def _uncancellable(awaitable: Awaitable[Any]) -> Any:
    """Await to the end, however many cancellations arrive; then re-raise the first one."""
    future = asyncio.ensure_future(awaitable)
    cancelled = False
    while not future.done():
        try:
            await asyncio.shield(future)
        except asyncio.CancelledError:
            cancelled = True
    result = future.result()
    if cancelled:
        raise asyncio.CancelledError
    return result
