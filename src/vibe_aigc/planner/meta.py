"""MetaPlanner: the facade that plans a vibe, runs the plan, and checkpoints it.

Checkpointing is the planner's job, not the executor's: it works the same with any executor,
including a user's subclass that only overrides ``execute_node``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from vibe_aigc.artifacts import ArtifactStore
from vibe_aigc.checkpointing import (
    CheckpointHook,
    ResumeState,
    checkpoint_body,
    in_thread,
    journal_after,
    load_resume_state,
    plan_from_record,
    state_of,
)
from vibe_aigc.errors import (
    CheckpointError,
    CheckpointNotFoundError,
    ConfigurationError,
    PlanMismatchError,
    PlanProblem,
    PlanValidationError,
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
from vibe_aigc.llm import LLMClient, LLMConfig
from vibe_aigc.models import Vibe, WorkflowNodeType, WorkflowPlan, derive_plan_id
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.persistence.ids import validate_checkpoint_id, validate_plan_id
from vibe_aigc.persistence.redaction import redact
from vibe_aigc.planner.knowledge import KnowledgePlanner
from vibe_aigc.planner.llm import LLMPlanner, tool_problems
from vibe_aigc.tools import MODEL_DEFAULTS, ToolRegistry, default_registry, model_tools

OFFLINE_NOTE = (
    "offline mode: no model is configured, so the built-in offline planner and tools made "
    "template drafts; set OPENAI_API_KEY (and OPENAI_BASE_URL) or OLLAMA_HOST, or pass "
    "MetaPlanner(llm_config=LLMConfig(...)), for real generation"
)


class Planner(Protocol):
    """Anything that turns a vibe into a plan."""

    async def plan(self, vibe: Vibe, plan_id: str | None = None) -> WorkflowPlan: ...


class OfflinePlanner:
    """Async adapter over the deterministic :class:`KnowledgePlanner`."""

    name = "offline knowledge planner"

    def __init__(self) -> None:
        self._knowledge = KnowledgePlanner()

    async def plan(self, vibe: Vibe, plan_id: str | None = None) -> WorkflowPlan:
        return self._knowledge.plan(vibe, plan_id=plan_id)


class MetaPlanner:
    """Plans vibes into workflows and runs them, durably when asked.

    Checkpoint folder: ``persistence_manager``'s, else ``checkpoint_dir``, else the
    ``VIBE_CHECKPOINT_DIR`` environment variable, else ``.vibe_checkpoints/`` in the working
    directory. Nothing is created until the first write.

    Models: ``llm_config`` (an :class:`~vibe_aigc.llm.LLMConfig`), else
    :meth:`LLMConfig.from_env`; ``llm_config=False`` forces offline. With a model, plans come
    from the :class:`~vibe_aigc.planner.llm.LLMPlanner` and text nodes call the model; a model
    that fails raises (``PlanningError`` / failed nodes), never a silent offline fallback.
    Without one (``mode == "offline"``), offline results carry a warning saying so.
    ``$COMFYUI_URL`` adds the ``comfyui`` image tool. Binary outputs go to ``self.artifacts``.
    """

    def __init__(
        self,
        llm_config: LLMConfig | Literal[False] | None = None,
        progress_callback: ProgressCallback | None = None,
        executor: WorkflowExecutor | None = None,
        checkpoint_interval: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        persistence_manager: WorkflowPersistenceManager | None = None,
        *,
        planner: Planner | None = None,
        keep_last: int | None = 20,
        cleanup_on_success: bool = False,
    ) -> None:
        if checkpoint_interval is not None and (
            isinstance(checkpoint_interval, bool)
            or not isinstance(checkpoint_interval, int)
            or checkpoint_interval < 1
        ):
            raise ConfigurationError(
                f"checkpoint_interval must be a whole number >= 1, got {checkpoint_interval!r}"
            )
        if keep_last is not None and keep_last < 1:
            raise ConfigurationError("keep_last must be >= 1, or None to keep every checkpoint")
        if llm_config is None:
            llm_config = LLMConfig.from_env()
        elif llm_config is not False and not isinstance(llm_config, LLMConfig):
            raise ConfigurationError(
                "llm_config must be an LLMConfig (from vibe_aigc import LLMConfig), None to "
                f"read the environment, or False for offline; got {type(llm_config).__name__}"
            )
        self.llm_config: LLMConfig | None = llm_config or None
        self.llm: LLMClient | None = LLMClient(llm_config) if llm_config else None
        self.mode: Literal["llm", "offline"] = "llm" if self.llm else "offline"
        self.progress_callback = progress_callback
        self.checkpoint_interval = checkpoint_interval
        self.cleanup_on_success = cleanup_on_success
        self.persistence_manager = persistence_manager or WorkflowPersistenceManager(
            checkpoint_dir, keep_last=keep_last
        )
        self.artifacts = ArtifactStore(self.persistence_manager)
        comfyui_url = os.environ.get("COMFYUI_URL") or None
        if executor is None:
            executor = WorkflowExecutor(
                tools=default_registry(self.llm, self.artifacts, comfyui_url)
            )
        else:  # a caller's executor: add the configured model tools it lacks
            for tool in model_tools(self.llm, self.artifacts, comfyui_url):
                if tool.name not in executor.tools:
                    executor.tools.register(tool)
        self.executor = executor
        self.executor.services.setdefault("artifacts", self.artifacts)
        if self.llm is not None:
            self.executor.services.setdefault("llm", self.llm)
        if planner is None and self.llm is not None:
            offered = ToolRegistry(model_tools(self.llm, self.artifacts, comfyui_url))
            for node_type, name in MODEL_DEFAULTS.items():
                offered.set_default(WorkflowNodeType(node_type), name)
            planner = LLMPlanner(self.llm, offered)
        self.planner: Planner = planner or OfflinePlanner()
        self._plans: dict[str, WorkflowPlan] = {}

    def get_plan(self, plan_id: str) -> WorkflowPlan | None:
        """A plan this planner has planned, run or resumed, if any."""
        return self._plans.get(plan_id)

    @property
    def checkpoint_dir(self) -> Path:
        return Path(self.persistence_manager.checkpoint_dir)

    # ------------------------------------------------------------------ planning

    async def plan(self, vibe: Vibe, plan_id: str | None = None) -> WorkflowPlan:
        """Plan a vibe (validated; deterministic offline unless a model is configured)."""
        if plan_id is not None:
            validate_plan_id(plan_id)
        plan = await self.planner.plan(vibe, plan_id=plan_id)
        self.check_plan(plan)
        self._plans[plan.id] = plan
        return plan

    def check_plan(self, plan: WorkflowPlan) -> None:
        """Validate ``plan``; when the executor runs tools from its registry, a node naming a
        tool that is not registered is a problem too (the registry is the allow-list)."""
        problems = plan.problems()
        if type(self.executor).execute_node is WorkflowExecutor.execute_node:
            problems += [
                PlanProblem("unknown_tool", None, text)
                for text in tool_problems(plan, self.executor.tools)
            ]
        if problems:
            raise PlanValidationError(problems, plan_id=plan.id)

    async def _plan_for(self, vibe_or_plan: Vibe | WorkflowPlan) -> WorkflowPlan:
        if isinstance(vibe_or_plan, WorkflowPlan):
            self.check_plan(vibe_or_plan)
            self._plans[vibe_or_plan.id] = vibe_or_plan
            return vibe_or_plan
        if isinstance(vibe_or_plan, Vibe):
            return await self.plan(vibe_or_plan)
        raise TypeError(f"expected a Vibe or a WorkflowPlan, got {type(vibe_or_plan).__name__}")

    # ------------------------------------------------------------------ executing

    async def execute(self, vibe_or_plan: Vibe | WorkflowPlan) -> ExecutionResult:
        """Plan (unless given a plan) and run. Checkpoints when ``checkpoint_interval`` is set."""
        plan = await self._plan_for(vibe_or_plan)
        if self.checkpoint_interval is None:
            result = await self.executor.execute(plan, progress_callbacks=self._callbacks())
            return self._note_mode(result)
        async with self._plan_lock(plan.id):
            return await self._run_durably(plan, None)

    def _note_mode(self, result: ExecutionResult) -> ExecutionResult:
        """Say so in the result when offline template drafts stand in for a model."""
        drafts = any(
            isinstance(r.output, dict) and r.output.get("offline_draft")
            for r in result.node_results.values()
        )
        if self.mode == "offline" and drafts and OFFLINE_NOTE not in result.warnings:
            result.warnings.append(OFFLINE_NOTE)
        return result

    async def execute_with_adaptation(
        self, vibe_or_plan: Vibe | WorkflowPlan, max_adaptations: int = 2
    ) -> ExecutionResult:
        """Run; when nodes fail, ask the planner for a revised plan of the failed part, keep
        every completed output, and run again (at most ``max_adaptations`` revisions).
        ``result.adaptations`` holds the history. See :mod:`vibe_aigc.adaptation`."""
        from vibe_aigc.adaptation import execute_with_adaptation

        return await execute_with_adaptation(self, vibe_or_plan, max_adaptations)

    async def plan_and_execute(self, vibe: Vibe) -> tuple[WorkflowPlan, ExecutionResult]:
        plan = await self.plan(vibe)
        return plan, await self.execute(plan)

    async def execute_with_visualization(
        self, vibe_or_plan: Vibe | WorkflowPlan, *, console: Any = None, live: bool | None = None
    ) -> ExecutionResult:
        """:meth:`execute`, showing the run: a live view of the nodes on a terminal (or when
        ``live=True``), then the final ASCII diagram with its summary. ``console`` is a
        ``rich.console.Console`` (default: stdout). See :mod:`vibe_aigc.display`."""
        from vibe_aigc.display import run_with_visualization  # presentation; loaded on use

        return await run_with_visualization(self, vibe_or_plan, console=console, live=live)

    async def execute_with_resume(
        self,
        vibe_or_plan: Vibe | WorkflowPlan | None = None,
        checkpoint_id: str | None = None,
        plan_id: str | None = None,
        *,
        fresh: bool = False,
    ) -> ExecutionResult:
        """Run durably, resuming from the latest checkpoint (or exactly ``checkpoint_id``).

        Without a checkpoint for the plan, this runs fresh. A resumed run reuses the stored
        plan; it does not plan again. ``fresh=True`` starts over (earlier checkpoints are kept).
        """
        if plan_id is not None:
            validate_plan_id(plan_id)
        if checkpoint_id is not None:
            validate_checkpoint_id(checkpoint_id)
        if fresh and checkpoint_id is not None:
            raise ConfigurationError("fresh=True starts over; it cannot take a checkpoint_id")
        target = self._target_plan_id(vibe_or_plan, plan_id)
        if checkpoint_id is not None:
            target = await asyncio.to_thread(self._plan_of_checkpoint, checkpoint_id, target)
        if target is None:
            raise ConfigurationError("give a vibe, a plan, a plan_id or a checkpoint_id")
        async with self._plan_lock(target):
            resume = (
                None
                if fresh
                else await asyncio.to_thread(
                    load_resume_state, self.persistence_manager, target, checkpoint_id
                )
            )
            if resume is None:
                if vibe_or_plan is None:
                    raise CheckpointNotFoundError(
                        target,
                        f"plan {target!r} has no checkpoint to resume; "
                        "use list_checkpoints() to see the plans that have one",
                    )
                if isinstance(vibe_or_plan, Vibe):
                    plan = await self.plan(vibe_or_plan, plan_id=target)
                else:
                    plan = await self._plan_for(vibe_or_plan)
                return await self._run_durably(plan, None)
            if isinstance(vibe_or_plan, WorkflowPlan):
                self._check_same_plan(vibe_or_plan, resume.plan)
                # run the caller's copy: the stored one has its secret parameters redacted
                resume.plan = vibe_or_plan
            elif isinstance(vibe_or_plan, Vibe) and checkpoint_id is not None:
                stored = resume.plan.source_vibe
                if vibe_or_plan.fingerprint() != stored.fingerprint():
                    raise PlanMismatchError(resume.plan.id, [])
            self._plans[resume.plan.id] = resume.plan
            return await self._run_durably(resume.plan, resume)

    @contextlib.asynccontextmanager
    async def _plan_lock(self, plan_id: str) -> AsyncIterator[None]:
        """Hold the plan's one-writer lock (released by the OS if the process dies)."""
        lock = self.persistence_manager.lock(plan_id)
        try:
            # in_thread waits for the thread when cancelled: a lock taken just as the caller
            # was cancelled is released below, never left held by a forgotten thread
            await in_thread(lock.__enter__)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                await asyncio.shield(in_thread(lock.__exit__, None, None, None))
            raise
        try:
            yield
        finally:
            await in_thread(lock.__exit__, None, None, None)

    def _target_plan_id(
        self, vibe_or_plan: Vibe | WorkflowPlan | None, plan_id: str | None
    ) -> str | None:
        if plan_id is not None:
            return plan_id
        if isinstance(vibe_or_plan, WorkflowPlan):
            return vibe_or_plan.id
        if isinstance(vibe_or_plan, Vibe):
            return derive_plan_id(vibe_or_plan)
        return None

    def _plan_of_checkpoint(self, checkpoint_id: str, plan_id: str | None) -> str:
        record = self.persistence_manager.load_checkpoint(checkpoint_id, plan_id)
        return str(record["plan_id"])

    @staticmethod
    def _check_same_plan(given: WorkflowPlan, stored: WorkflowPlan) -> None:
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

    async def _run_durably(self, plan: WorkflowPlan, resume: ResumeState | None) -> ExecutionResult:
        manager = self.persistence_manager
        callbacks = self._callbacks()

        async def announce(checkpoint_id: str, run_state: str, state: ExecutionResult) -> None:
            if not callbacks:
                return
            finished = sum(
                1
                for r in state.node_results.values()
                if r.status
                in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.SKIPPED)
            )
            event = ProgressEvent(
                kind=EventKind.CHECKPOINT_SAVED,
                plan_id=plan.id,
                done=finished,
                total=plan.total_nodes,
                checkpoint_id=checkpoint_id,
                message=run_state,
                state=state,
            )
            await emit(callbacks, event)

        warnings: list[str] = []
        next_seq = (
            resume.next_seq
            if resume
            else await asyncio.to_thread(self._next_seq, plan.id, warnings)
        )
        hook = CheckpointHook(
            manager,
            plan,
            interval=self.checkpoint_interval,
            run_id=uuid.uuid4().hex[:12],
            next_seq=next_seq,
            on_checkpoint=announce,
            memos=resume.memos if resume else None,
        )
        result = await self.executor.execute(
            plan,
            completed=resume.completed if resume else None,
            hooks=[hook],
            progress_callbacks=callbacks,
            memo=hook,
        )
        result.warnings.extend(warnings)
        if resume is not None:
            result.resumed_from = resume.checkpoint_id
            result.warnings.extend(resume.warnings)
        self._note_mode(result)
        if self.cleanup_on_success and result.status == ExecutionStatus.COMPLETED:
            await asyncio.to_thread(manager.delete_plan, plan.id)
            result.checkpoint_id = None
        return result

    def _next_seq(self, plan_id: str, warnings: list[str]) -> int:
        records = journal_after(self.persistence_manager, plan_id, -1, warnings)
        return max((int(r["seq"]) for r in records), default=-1) + 1

    def _callbacks(self) -> list[ProgressCallback]:
        return [self.progress_callback] if self.progress_callback else []

    # ------------------------------------------------------------------ checkpoint management

    def create_checkpoint(
        self, plan_id: str, execution_state: ExecutionResult | Mapping[str, Any]
    ) -> str:
        """Write a checkpoint of ``execution_state`` for ``plan_id``; returns its ``cp-`` id."""
        validate_plan_id(plan_id)
        manager = self.persistence_manager
        if isinstance(execution_state, ExecutionResult):
            plan = self._known_plan(plan_id)
            body = checkpoint_body(
                plan,
                execution_state,
                state_of(execution_state),
                run_id="manual",
                journal_seq=self._next_seq(plan_id, []) - 1,
            )
            return manager.save_checkpoint(plan_id, body)
        if not isinstance(execution_state, Mapping):
            raise TypeError("execution_state must be an ExecutionResult or a mapping")
        data = dict(execution_state)
        if data.get("workflow_plan") is not None:
            plan = WorkflowPlan.model_validate(data["workflow_plan"])
            if plan.id != plan_id:
                raise ConfigurationError(
                    f"execution_state['workflow_plan'] is plan {plan.id!r}, not {plan_id!r}; "
                    "a checkpoint is stored under the plan it describes"
                )
        else:
            plan = self._known_plan(plan_id)
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
        run_state = str(
            data.get("state")
            or ("completed" if len(state.completed_nodes) == plan.total_nodes else "interrupted")
        )
        body = checkpoint_body(
            plan, state, run_state, run_id="manual", journal_seq=self._next_seq(plan_id, []) - 1
        )
        return manager.save_checkpoint(plan_id, body)

    def _known_plan(self, plan_id: str) -> WorkflowPlan:
        if plan_id in self._plans:
            return self._plans[plan_id]
        ids = self.persistence_manager.latest_checkpoint_ids(plan_id)
        for checkpoint_id in ids:
            try:
                record = self.persistence_manager.load_checkpoint(checkpoint_id, plan_id)
            except CheckpointError:
                continue
            return plan_from_record(record, checkpoint_id)
        raise CheckpointNotFoundError(
            plan_id,
            f"plan {plan_id!r} is unknown to this planner and has no checkpoint; plan or run "
            "it first, or pass a mapping with 'workflow_plan'",
        )

    def list_checkpoints(self, plan_id: str | None = None) -> list[dict[str, Any]]:
        """Checkpoints, newest first (a broken file appears with ``corrupt: True``)."""
        return self.persistence_manager.list_checkpoints(plan_id)

    def get_checkpoint(self, checkpoint_id: str) -> dict[str, Any]:
        """A checkpoint's full contents (the guide's keys plus ``state``)."""
        return self.persistence_manager.load_checkpoint(checkpoint_id)

    def delete_checkpoint(self, checkpoint_id: str) -> bool:
        """Delete one checkpoint; False when there is no such checkpoint."""
        return self.persistence_manager.delete_checkpoint(checkpoint_id)
