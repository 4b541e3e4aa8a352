"""MetaPlanner: plans a vibe and wires the pieces that run it (the guide's facade).

Planning is its own; running durably is the runs layer's (:class:`~vibe_aigc.runs.RunService`,
``planner.runs``), which every documented method here delegates to. Durability works the same
with any executor, including a user's subclass that only overrides ``execute_node``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from vibe_aigc.artifacts import ArtifactStore
from vibe_aigc.errors import ConfigurationError, PlanProblem, PlanValidationError
from vibe_aigc.executor import (
    ExecutionResult,
    NodeResult,
    ProgressCallback,
    WorkflowExecutor,
)
from vibe_aigc.llm import LLMClient, LLMConfig, secret_values
from vibe_aigc.models import (
    PlanGraph,
    Vibe,
    WorkflowNode,
    WorkflowNodeType,
    WorkflowPlan,
    checked_graph,
    derive_plan_id,
    is_safe_id,
)
from vibe_aigc.persistence import Store, WorkflowPersistenceManager
from vibe_aigc.persistence.ids import validate_checkpoint_id, validate_plan_id
from vibe_aigc.persistence.redaction import add_secret_values
from vibe_aigc.planner.choice import (
    OfflinePlanner,
    Planner,
    PlannerMode,
    choose_planner,
    model_written,
    offline_written,
    planner_mode,
)
from vibe_aigc.planner.cluster import check_backend, ray_runner
from vibe_aigc.planner.llm import tool_problems
from vibe_aigc.pricing import Budget, estimate_usd, price_for, prompt_tokens_of
from vibe_aigc.runs import RunService, execute_with_adaptation
from vibe_aigc.runs.budget import BudgetGate
from vibe_aigc.tools import MODEL_DEFAULTS, ToolRegistry, default_registry, model_tools

OFFLINE_NOTE = (
    "offline mode: no model is configured, so the built-in offline planner and tools made "
    "production kits (brief, outline with word budgets, shot list, prompts, checklist), not "
    "finished prose; set OPENAI_API_KEY (and OPENAI_BASE_URL) or OLLAMA_HOST, or pass "
    "MetaPlanner(llm_config=LLMConfig(...)), for real generation"
)


PROMPT_OVERHEAD = 512
"""Tokens a model tool adds to a node's own text (system prompt, style, scaffold), for the
worst-case estimates of ``budget``: an estimate must not come out below the real cost."""


class MetaPlanner:
    """Plans vibes into workflows and runs them, durably when asked.

    Store: ``persistence_manager``'s, else ``store`` (a Store or a URL such as
    ``sqlite:///runs.db``), else the folder ``checkpoint_dir``, else ``$VIBE_STORE_URL``, else
    ``$VIBE_CHECKPOINT_DIR``, else ``.vibe_checkpoints/`` in the working directory. Nothing is
    created until the first write.

    Durability: :meth:`execute_with_resume` always records the run; :meth:`execute` does when
    ``checkpoint_interval`` is set or ``durable=True``. ``checkpoint_interval=N`` means one thing
    everywhere: a full snapshot every N completed nodes (``None``: at start and end only);
    every finished node of a durable run is journaled either way.

    Models: ``llm_config`` (an :class:`~vibe_aigc.llm.LLMConfig`), else
    :meth:`LLMConfig.from_env`; ``llm_config=False`` forces offline. With a model, plans come
    from the :class:`~vibe_aigc.planner.llm.LLMPlanner` and text nodes call the model; a model
    that fails raises (``PlanningError`` / failed nodes), never a silent offline fallback.
    Without one (``mode == "offline"``), offline results carry a warning saying so.
    ``$COMFYUI_URL`` adds the ``comfyui`` image tool. Binary outputs go to ``self.artifacts``.

    Backend: ``backend="ray"`` runs each node's ``execute_node`` as a Ray task on the cluster at
    ``ray_address`` (None: ``$VIBE_RAY_ADDRESS``, else a local instance); scheduling, retries
    and every write of the run stay here (:mod:`vibe_aigc.executor.ray_runner`).
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
        planner: Planner | PlannerMode | None = None,
        keep_last: int | None = 20,
        cleanup_on_success: bool = False,
        store: Store | str | None = None,
        durable: bool | None = None,
        budget: float | None = None,
        backend: str = "local",
        ray_address: str | None = None,
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
        if llm_config:  # the key and URL credentials never reach disk, whatever carries them
            add_secret_values(secret_values(llm_config))
        self.mode: Literal["llm", "offline"] = "llm" if self.llm else "offline"
        self.progress_callback = progress_callback
        self._subscribers: list[ProgressCallback] = []
        self.checkpoint_interval = checkpoint_interval
        self.durable = checkpoint_interval is not None if durable is None else durable
        self.persistence_manager = persistence_manager or WorkflowPersistenceManager(
            checkpoint_dir, keep_last=keep_last, store=store
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
        check_backend(backend)  # "ray": node work runs as Ray tasks (planner/cluster.py)
        if backend == "ray":
            self.executor.runner = ray_runner(ray_address)
        self.executor.services.setdefault("artifacts", self.artifacts)
        if self.llm is not None:
            self.executor.services.setdefault("llm", self.llm)
        if planner is None or isinstance(planner, str):
            offered = ToolRegistry(model_tools(self.llm, self.artifacts, comfyui_url))
            if self.llm is not None:
                for node_type, name in MODEL_DEFAULTS.items():
                    offered.set_default(WorkflowNodeType(node_type), name)
            # a mode ("auto" | "offline" | "model"), else $VIBE_PLANNER, else auto
            planner = choose_planner(planner_mode(planner), self.llm, offered)
        self.planner: Planner = planner
        self._paid_tools = {t.name for t in model_tools(self.llm, self.artifacts, comfyui_url)}
        self._paid_tools.discard("join")
        self.budget = _check_budget(budget)
        self.runs = RunService(
            self.persistence_manager,
            self.executor,
            checkpoint_interval=checkpoint_interval,
            cleanup_on_success=cleanup_on_success,
            callbacks=self._callbacks,
            gate=self._budget_gate,
            retool=self._retool,
        )

    def _retool(self, plan: WorkflowPlan, done: set[str]) -> tuple[WorkflowPlan, str | None]:
        """A resumed run finishes with the tools configured now: steps left to do that name
        the built-in text tools go to the model when one is configured, and model steps go
        back to their built-in tools when none is (completed steps keep their outputs)."""
        if type(self.executor).execute_node is not WorkflowExecutor.execute_node:
            return plan, None  # a user's execute_node decides for itself
        if self.llm is not None and "generate_text" in self.executor.tools:
            retooled, now = model_written(plan, keep=done), "the model (generate_text)"
        elif self.llm is None:
            retooled, now = offline_written(plan, keep=done), "the built-in offline tools"
        else:
            return plan, None
        changed = [
            n.id
            for n, m in zip(plan.iter_nodes(), retooled.iter_nodes(), strict=True)
            if n.parameters.get("tool") != m.parameters.get("tool")
        ]
        if not changed:
            return plan, None
        return retooled, (
            f"resumed with the tools configured now: {len(changed)} remaining step(s) "
            f"({', '.join(changed[:6])}{', ...' if len(changed) > 6 else ''}) run with {now}; "
            f"{len(done)} completed step(s) keep their outputs"
        )

    def _budget_gate(self) -> BudgetGate | None:
        if self.budget is None:
            return None
        return BudgetGate(Budget(self.budget), self._worst_case)

    def _worst_case(self, node: WorkflowNode, state: ExecutionResult | None) -> float | None:
        """A paid node's worst-case cost (its prompt, ``max_tokens`` of answer, its images)."""
        try:
            tool = self.executor.tools.select(node)
        except Exception:  # a user's execute_node: its costs are its own
            return None
        if tool.name not in self._paid_tools or self.llm_config is None:
            return None
        price = price_for(self.llm_config.prices, self.llm_config.model)
        inputs = ""
        if state is not None:
            inputs = " ".join(
                str(state.node_results[d].output)
                for d in node.dependencies
                if d in state.node_results
            )
        limit = node.parameters.get("max_tokens") or self.llm_config.max_tokens or 4096
        images = float(node.parameters.get("count", 1)) if "image" in tool.name else 0.0
        return estimate_usd(
            price,
            # + the tool's own instructions and scaffold, which the node does not show
            prompt_tokens=prompt_tokens_of(node.description + " " + inputs) + PROMPT_OVERHEAD,
            max_tokens=float(limit) if not images else 0.0,
            images=images,
        )

    def close(self) -> None:
        """Release the store's connections (a PostgreSQL pool opened from a URL)."""
        self.persistence_manager.close()

    def __enter__(self) -> MetaPlanner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get_plan(self, plan_id: str) -> WorkflowPlan | None:
        """A plan this planner has planned, run or resumed, if any."""
        return self.runs.plans.get(plan_id)

    @property
    def checkpoint_dir(self) -> Path | None:
        """The checkpoint folder (None when the store is a database)."""
        return self.persistence_manager.checkpoint_dir

    @property
    def cleanup_on_success(self) -> bool:
        return self.runs.cleanup_on_success

    # ------------------------------------------------------------------ events

    @contextlib.contextmanager
    def subscribed(self, callback: ProgressCallback) -> Iterator[None]:
        """Deliver every event of the runs started meanwhile to ``callback`` as well."""
        self._subscribers.append(callback)
        try:
            yield
        finally:
            self._subscribers.remove(callback)

    def _callbacks(self) -> list[ProgressCallback]:
        own = [self.progress_callback] if self.progress_callback else []
        return [*own, *self._subscribers]

    # ------------------------------------------------------------------ planning

    async def plan(self, vibe: Vibe, plan_id: str | None = None) -> WorkflowPlan:
        """Plan a vibe (validated; deterministic offline unless a model is configured)."""
        if plan_id is not None:
            validate_plan_id(plan_id)
        before = dict(getattr(self.planner, "usage", None) or {})
        plan = await self.planner.plan(vibe, plan_id=plan_id)
        after = dict(getattr(self.planner, "usage", None) or {})
        spent = {k: v - before.get(k, 0.0) for k, v in after.items() if v != before.get(k, 0.0)}
        if spent:
            self.runs.planning_usage[plan.id] = spent
        self.check_plan(plan)
        self.runs.plans[plan.id] = plan
        return plan

    def check_plan(self, plan: WorkflowPlan, graph: PlanGraph | None = None) -> PlanGraph:
        """Validate ``plan``; when the executor runs tools from its registry, a node naming a
        tool that is not registered is a problem too (the registry is the allow-list).
        Returns the plan's graph (built to find cycles; ``graph``: built already)."""
        problems, graph = checked_graph(plan, graph)
        if type(self.executor).execute_node is WorkflowExecutor.execute_node:
            problems += [
                PlanProblem("unknown_tool", None, text)
                for text in tool_problems(plan, self.executor.tools)
            ]
        if problems:
            raise PlanValidationError(problems, plan_id=plan.id)
        return graph

    async def _plan_for(self, vibe_or_plan: Vibe | WorkflowPlan) -> WorkflowPlan:
        if isinstance(vibe_or_plan, WorkflowPlan):
            self.check_plan(vibe_or_plan)
            self.runs.plans[vibe_or_plan.id] = vibe_or_plan
            return vibe_or_plan
        if isinstance(vibe_or_plan, Vibe):
            return await self.plan(vibe_or_plan)
        raise TypeError(f"expected a Vibe or a WorkflowPlan, got {type(vibe_or_plan).__name__}")

    async def _plan_under(self, vibe: Vibe | WorkflowPlan, plan_id: str) -> WorkflowPlan:
        if isinstance(vibe, WorkflowPlan):
            return await self._plan_for(vibe)
        return await self.plan(vibe, plan_id=plan_id)

    # ------------------------------------------------------------------ executing

    async def execute(self, vibe_or_plan: Vibe | WorkflowPlan) -> ExecutionResult:
        """Plan (unless given a plan) and run; durably when ``checkpoint_interval`` is set (or
        ``durable=True``)."""
        plan = await self._plan_for(vibe_or_plan)
        return self._note_mode(await self._run_with(plan, {}, None))

    async def _run_with(
        self, plan: WorkflowPlan, completed: dict[str, NodeResult], previous: str | None
    ) -> ExecutionResult:
        if not self.durable:
            result = await self.executor.execute(
                plan, completed=completed or None, progress_callbacks=self._callbacks()
            )
            result.planning_usage = self.runs.planning_usage.pop(plan.id, {})
            return result
        if not completed and previous is None:
            return await self.runs.run(plan)
        return await self.runs.run_with(plan, completed, previous)

    def _note_mode(self, result: ExecutionResult) -> ExecutionResult:
        """Say so in the result when offline template drafts stand in for a model."""
        if self.mode != "offline" or OFFLINE_NOTE in result.warnings:
            return result
        drafts = any(
            isinstance(r.output, dict) and r.output.get("offline_draft")
            for r in result.node_results.values()
        )
        if drafts:
            result.warnings.append(OFFLINE_NOTE)
        return result

    async def execute_with_adaptation(
        self, vibe_or_plan: Vibe | WorkflowPlan, max_adaptations: int = 2
    ) -> ExecutionResult:
        """Run; when nodes fail, ask the planner for a revised plan of the failed part, keep
        every completed output, and run again (at most ``max_adaptations`` revisions).
        ``result.adaptations`` holds the history. See :mod:`vibe_aigc.runs.adaptation`."""
        plan = await self._plan_for(vibe_or_plan)
        result = await execute_with_adaptation(
            plan, self.planner, self.check_plan, self._run_with, max_adaptations
        )
        return self._note_mode(result)

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
        plan; it does not plan again. A plan already complete is not run again (its stored
        result is returned). ``fresh=True`` starts over (earlier checkpoints are kept).
        """
        if plan_id is not None:
            validate_plan_id(plan_id)
        if checkpoint_id is not None:
            validate_checkpoint_id(checkpoint_id)
        if fresh and checkpoint_id is not None:
            raise ConfigurationError("fresh=True starts over; it cannot take a checkpoint_id")
        plan = vibe_or_plan if isinstance(vibe_or_plan, WorkflowPlan) else None
        if plan is not None and (plan_id is not None or not is_safe_id(plan.id)):
            self.check_plan(plan)  # refused before its id is used anywhere
        target = self._target_plan_id(vibe_or_plan, plan_id)
        if checkpoint_id is not None:
            target = await asyncio.to_thread(self.runs.plan_of_checkpoint, checkpoint_id, target)
        if target is None:
            raise ConfigurationError("give a vibe, a plan, a plan_id or a checkpoint_id")
        result = await self.runs.resume(
            target,
            vibe_or_plan,
            self._plan_under,
            checkpoint_id=checkpoint_id,
            fresh=fresh,
            check=self.check_plan if plan is not None else None,  # when it is to run
        )
        return self._note_mode(result)

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

    # ------------------------------------------------------------------ checkpoint management

    def create_checkpoint(
        self, plan_id: str, execution_state: ExecutionResult | Mapping[str, Any]
    ) -> str:
        """Write a checkpoint of ``execution_state`` for ``plan_id``; returns its ``cp-`` id."""
        return self.runs.create_checkpoint(plan_id, execution_state)

    def list_checkpoints(self, plan_id: str | None = None) -> list[dict[str, Any]]:
        """Checkpoints, newest first (a broken one appears with ``corrupt: True``)."""
        return self.persistence_manager.list_checkpoints(plan_id)

    def get_checkpoint(self, checkpoint_id: str) -> dict[str, Any]:
        """A checkpoint's full contents (the guide's keys plus ``state``)."""
        return self.persistence_manager.load_checkpoint(checkpoint_id)

    def delete_checkpoint(self, checkpoint_id: str) -> bool:
        """Delete one checkpoint; False when there is no such checkpoint."""
        return self.persistence_manager.delete_checkpoint(checkpoint_id)


def _check_budget(budget: float | None) -> float | None:
    if budget is None:
        return None
    return Budget(budget).limit_usd  # validated: a number of US dollars >= 0


__all__ = ["OFFLINE_NOTE", "MetaPlanner", "OfflinePlanner", "Planner"]
