"""The ready-queue scheduler that runs a validated plan on asyncio.

Rules
-----
* **Ready queue, not levels.** A node starts the moment everything it waits on has completed
  and a concurrency slot is free (``max_concurrency`` bounds the nodes in flight). Among ready
  nodes, the one with the longest remaining path (by ``estimated_duration``, default 1) goes
  first, which keeps bounded runs close to the critical path.
* **Hierarchy.** A node's children are its sub-tasks. Children inherit the dependencies of all
  their ancestors. A parent completes after all its children: a ``composite`` parent has no work
  of its own (its output maps child id to child output); any other parent runs its own step
  after its children, with their outputs in ``context.child_outputs``.
* **Failure.** A node that fails (after its retries) fails the run; all that waits on it, directly
  or transitively (dependents, parents), is ``skipped`` with the reason. Independent branches
  run to the end, keeping their work; a node is ``completed`` only when its work returned.
* **Retries.** Transient errors are retried with backoff (see :mod:`.retry`); the per-node
  ``parameters["retry"]`` (a mapping) and ``parameters["timeout"]`` (seconds) override the
  executor's defaults.
* **Resume.** ``execute(plan, completed=...)`` takes results recorded earlier: those nodes are
  not run again; their outputs flow to dependents as in an uninterrupted run.
* **Hooks.** Each :class:`ExecutionHook` sees the run start, every node finish (awaited before
  its dependents are released: a durable hook records a completion before anything builds on
  it) and the run end. Persistence hangs off the scheduler this way; it imports no store.
* **Extension point.** ``execute_node(node, context)`` does one node's work; subclass and
  override it. The default dispatches to the tool registry.
* **Runner.** Each attempt's ``execute_node`` goes through ``executor.runner`` (a ``NodeRunner``):
  ``LocalRunner`` in this process by default, or a Ray cluster (:mod:`.ray_runner`). Everything
  else above stays here, in the driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import math
import os
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any, Protocol

from vibe_aigc.context import InMemoryMemo, Memo, NodeContext
from vibe_aigc.errors import (
    CheckpointEncodeError,
    ConfigurationError,
    NodeExecutionError,
    NodeOutputError,
)
from vibe_aigc.executor.events import EventKind, ProgressCallback, ProgressEvent, emit, log
from vibe_aigc.executor.runners import LocalRunner, NodeRunner
from vibe_aigc.executor.waiting import first_finished
from vibe_aigc.jsondata import json_data
from vibe_aigc.lean import lean_copy
from vibe_aigc.models import PlanGraph, WorkflowNode, WorkflowNodeType, WorkflowPlan
from vibe_aigc.results import ExecutionResult, ExecutionStatus, NodeResult, as_output, utc_now
from vibe_aigc.retry import RetryPolicy, is_transient, retry_notice
from vibe_aigc.tools import ToolRegistry, default_registry

Sleep = Callable[[float], Awaitable[None]]
Admit = Callable[[WorkflowNode], Awaitable[str | None]]
DurableRun = Callable[
    ["WorkflowExecutor", WorkflowPlan, int, "str | os.PathLike[str] | None"],
    Awaitable[ExecutionResult],
]
DURABLE_RUN: DurableRun | None = None
"""Set by the runs layer (``vibe_aigc.runs``) when it is imported: how ``execute_plan`` runs
durably. The scheduler imports no store; the layer above hands it the way."""
"""Asked before a node starts: None to start it, or the reason to start no more nodes."""


class ExecutionHook(Protocol):
    """Observer of a run's lifecycle; all methods are awaited by the scheduler. A hook that
    also has a ``watch_counts(counts)`` method is handed the run's live counts (a dict of
    ``running``, ``completed``, ``failed``, ``skipped``; read-only) before the run starts."""

    async def on_run_start(self, state: ExecutionResult) -> None: ...

    async def on_node_finished(self, result: NodeResult, state: ExecutionResult) -> None: ...

    async def on_run_end(self, state: ExecutionResult, interrupted: bool) -> None: ...


class WorkflowExecutor:
    """Runs a :class:`WorkflowPlan`; see the module docstring for the rules."""

    def __init__(
        self,
        progress_callback: ProgressCallback | None = None,
        max_concurrency: int | None = 8,
        retry_policy: RetryPolicy | None = None,
        node_timeout: float | None = None,
        tools: ToolRegistry | None = None,
        services: Mapping[str, Any] | None = None,
        *,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
        checkpoint_interval: int | None = None,
        checkpoint_dir: str | os.PathLike[str] | None = None,
        tool_registry: ToolRegistry | None = None,
        runner: NodeRunner | None = None,
    ) -> None:
        if max_concurrency is not None and max_concurrency < 1:
            raise ConfigurationError("max_concurrency must be >= 1 (or None for no bound)")
        if node_timeout is not None and node_timeout <= 0:
            raise ConfigurationError("node_timeout must be > 0 seconds")
        self.progress_callback = progress_callback
        self.max_concurrency = max_concurrency
        self.retry_policy = retry_policy or RetryPolicy()
        self.node_timeout = node_timeout
        tools = tools if tools is not None else tool_registry  # 0.7.1's name
        self.tools = tools if tools is not None else default_registry()
        # 0.7.1 compatibility: execute_plan() runs durably when an interval is given
        self.checkpoint_interval = checkpoint_interval
        self.checkpoint_dir = checkpoint_dir
        self.last_checkpoint_id: str | None = None
        self.services: dict[str, Any] = dict(services or {})
        self._sleep: Sleep = sleep or asyncio.sleep
        self._rng = rng or random.Random()
        self.runner: NodeRunner = runner or LocalRunner()

    # ------------------------------------------------------------------ extension point

    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        """Do one node's work and return its output (JSON data). Override to customise."""
        tool = self.tools.select(node)
        return await tool.run(node, context)

    # ------------------------------------------------------------------ running a plan

    async def execute(
        self,
        plan: WorkflowPlan,
        *,
        completed: Mapping[str, NodeResult] | None = None,
        hooks: Iterable[ExecutionHook] = (),
        progress_callbacks: Iterable[ProgressCallback] = (),
        memo: Memo | None = None,
        admit: Admit | None = None,
        validated: PlanGraph | None = None,
    ) -> ExecutionResult:
        """Run ``plan`` (validated first) and return its :class:`ExecutionResult`.

        ``validated``: the graph of ``plan`` from a caller that has validated this very plan
        already (``plan.problems()`` empty, the plan unchanged since): it is not validated a
        second time (a 100k-node plan takes seconds). The runs layer passes it on resume.

        ``memo`` keeps per-node notes (``context.remember``); a durable run passes its
        checkpoint hook so notes survive a crash. ``admit(node)`` is asked before each node
        starts; a reason (a string) instead of None stops the run from starting more nodes:
        the nodes in flight finish, the run ends ``interrupted`` with the reason as a warning
        (a budget that the next node could exceed, say).
        """
        graph = validated if validated is not None else plan.validate_plan()
        callbacks = self._callbacks(progress_callbacks)
        run = _Run(self, plan, graph, list(hooks), callbacks, completed or {})
        run.memo = memo if memo is not None else InMemoryMemo()
        run.admit = admit
        return await run.go(completed or {})

    async def execute_plan(self, plan: WorkflowPlan) -> ExecutionResult:
        """0.7.1's entry point: :meth:`execute`, durably (journal + checkpoints in
        ``checkpoint_dir``, the guide's layout) when ``checkpoint_interval`` was given, exactly
        as ``MetaPlanner(checkpoint_interval=N)`` runs it; ``last_checkpoint_id`` is the last
        checkpoint written."""
        if self.checkpoint_interval is None or DURABLE_RUN is None:
            return await self.execute(plan)
        result = await DURABLE_RUN(self, plan, self.checkpoint_interval, self.checkpoint_dir)
        self.last_checkpoint_id = result.checkpoint_id
        return result

    def _callbacks(self, extra: Iterable[ProgressCallback]) -> list[ProgressCallback]:
        callbacks = [self.progress_callback] if self.progress_callback else []
        return [*callbacks, *extra]

    # ------------------------------------------------------------------ one node, with retries

    async def _run_node(
        self, node: WorkflowNode, context: NodeContext, announce: _Announcer
    ) -> NodeResult:
        # the result's fields, made a NodeResult once at the end (no per-field assignments)
        started_at = utc_now()
        result: dict[str, Any] = {"node_id": node.id, "status": ExecutionStatus.RUNNING}
        result["started_at"] = started_at
        timeout = node.parameters.get("timeout", self.node_timeout)
        try:
            policy = self.retry_policy.with_overrides(node.parameters.get("retry"))
            if timeout is not None and (
                isinstance(timeout, bool)
                or not isinstance(timeout, int | float)
                or not 0 < timeout < 1e9
            ):
                raise ConfigurationError(
                    f"parameters['timeout'] must be seconds > 0, got {str(timeout)[:40]!r}"
                )
        except (ConfigurationError, TypeError, ValueError) as exc:
            # a bad per-node setting (a hand-edited or hostile plan) fails this node only
            result["status"] = ExecutionStatus.FAILED
            result["error"] = f"node {node.id!r} has invalid settings: {exc}"
            result["completed_at"] = utc_now()
            return NodeResult.trusted(result)
        attempt = 0
        while True:
            attempt += 1
            result["attempts"] = attempt
            context.attempt = attempt
            try:
                if node.type == WorkflowNodeType.COMPOSITE and node.children:
                    output: Any = dict(context.child_outputs)
                else:
                    # a subclass whose __init__ skipped ours has no runner: run locally
                    runner: NodeRunner = getattr(self, "runner", None) or _LOCAL
                    if timeout is None:  # what wait_for(..., None) does, one coroutine less
                        output = await runner.run(self, node, context)
                    else:
                        output = await asyncio.wait_for(
                            runner.run(self, node, context), timeout=float(timeout)
                        )
                if isinstance(output, NodeResult):  # an override may hand back a NodeResult
                    if output.status == ExecutionStatus.FAILED:
                        raise NodeExecutionError(output.error or "node reported failure", node.id)
                    output = output.output
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # classified below; nothing is swallowed
                message = _describe(exc, timeout)
                if attempt >= policy.max_attempts or not is_transient(exc):
                    result["status"] = ExecutionStatus.FAILED
                    result["error"] = message
                    break
                delay = policy.delay_for(attempt, exc, self._rng)
                await announce.retrying(node, attempt, delay, message, retry_notice(exc, delay))
                await self._sleep(delay)
                continue
            try:
                output = json_data(output, "output")
            except CheckpointEncodeError as exc:  # not retried: the same work returns the same
                result["status"] = ExecutionStatus.FAILED
                result["error"] = str(NodeOutputError(node.id, exc.where, exc.reason))
                break
            result["status"] = ExecutionStatus.COMPLETED
            result["output"] = as_output(output)
            result["usage"] = usage_of(output)
            break
        completed_at = result["completed_at"] = utc_now()
        result["duration"] = (completed_at - started_at).total_seconds()
        return NodeResult.trusted(result)


_LOCAL = LocalRunner()


def usage_of(output: Any) -> dict[str, float] | None:
    """The usage numbers a node reported (``output["usage"]``): finite, non-negative numbers
    only; anything else a provider sent (NaN, inf, negative, text) is dropped."""
    usage = output.get("usage") if isinstance(output, dict) else None
    if not isinstance(usage, dict):
        return None
    clean = {
        str(k): float(v)
        for k, v in usage.items()
        if isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(float(v))
        and 0 <= float(v) < 1e15
    }
    return clean or None


def _describe(exc: BaseException, timeout: Any) -> str:
    if isinstance(exc, TimeoutError) and not str(exc):
        return f"timed out after {timeout}s" if timeout is not None else "timed out"
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}"


class _Announcer(Protocol):
    async def retrying(
        self, node: WorkflowNode, attempt: int, delay: float, error: str, notice: str
    ) -> None: ...


class _Run:
    """The state of one execution; lives for one ``execute`` call."""

    def __init__(
        self,
        executor: WorkflowExecutor,
        plan: WorkflowPlan,
        graph: PlanGraph,
        hooks: list[ExecutionHook],
        callbacks: list[ProgressCallback],
        completed: Mapping[str, NodeResult],
    ) -> None:
        self.executor = executor
        self.plan = plan
        self.graph = graph
        self.hooks = hooks
        self.callbacks = callbacks
        self.state = ExecutionResult.starting(plan.id, graph.order, completed)
        # per-node scheduling state in lists by position in graph.order (~50 B/node < dicts)
        self.position = {n: i for i, n in enumerate(graph.order)}
        self.priority: list[float] = []  # longest remaining path, ranked in go()

        self.admit: Admit | None = None
        self.stopped: str | None = None  # why no more nodes start (admit said so)
        self.done = 0  # nodes finished: completed, failed or skipped
        self.counts = {"completed": 0, "failed": 0, "skipped": 0, "running": 0}
        self.memo: Memo = InMemoryMemo()

    async def event(self, kind: EventKind, node_id: str | None = None, **kw: Any) -> None:
        if not self.callbacks:
            return
        description = self.graph.nodes[node_id].description if node_id else None
        await emit(
            self.callbacks,
            ProgressEvent(
                kind=kind,
                plan_id=self.plan.id,
                done=self.done,
                total=len(self.graph.order),
                node_id=node_id,
                description=description,
                counts=dict(self.counts),
                state=self.state,
                **kw,
            ),
        )

    async def retrying(
        self, node: WorkflowNode, attempt: int, delay: float, error: str, notice: str
    ) -> None:
        await self.event(
            EventKind.NODE_RETRYING,
            node.id,
            attempt=attempt,
            delay=delay,
            error=error,
            # "attempt 1 failed; rate limited by api.example:443, retrying in 42 s"
            message=f"attempt {attempt} failed; {notice}",
        )

    def context_for(self, node_id: str) -> NodeContext:
        results = self.state.node_results
        node = self.graph.nodes[node_id]
        return NodeContext(
            vibe=self.plan.source_vibe,
            plan=self.plan,
            dependency_outputs={d: results[d].output for d in self.graph.dependency_ids(node_id)},
            child_outputs={c.id: results[c.id].output for c in node.children},
            services=self.executor.services,
            node_id=node_id,
            memo=self.memo,
        )

    async def go(self, completed: Mapping[str, NodeResult]) -> ExecutionResult:
        state = self.state
        for node_id, previous in completed.items():
            if node_id in state.node_results and previous.status == ExecutionStatus.COMPLETED:
                # one marked resumed already is taken as it is (never changed here): no copy
                state.node_results[node_id] = (
                    previous if previous.resumed else lean_copy(previous, {"resumed": True})
                )
                self.done += 1
                self.counts["completed"] += 1
        state.status = ExecutionStatus.RUNNING
        state.started_at = utc_now()
        for hook in self.hooks:
            watch = getattr(hook, "watch_counts", None)
            if watch is not None:
                watch(self.counts)
            await hook.on_run_start(state)
        await self.event(EventKind.WORKFLOW_STARTED, message=f"{len(self.graph.order)} nodes")

        done = {n for n, r in state.node_results.items() if r.status == ExecutionStatus.COMPLETED}
        self.priority = self.graph.remaining_path(self.position, done)  # the nodes left only
        before = self.graph.before
        # what each node left waits on (a completed node waits on nothing: it never runs)
        waiting = [
            0 if n in done else sum(1 for b in before[n] if b not in done) for n in self.graph.order
        ]
        ready: list[tuple[float, int, str]] = []
        for i, n in enumerate(self.graph.order):
            if waiting[i] == 0 and n not in done:
                heapq.heappush(ready, (-self.priority[i], i, n))
        del done  # a set of the plan's size, not kept for the run
        running: dict[asyncio.Task[NodeResult], str] = {}
        limit = self.executor.max_concurrency
        try:
            while ready or running:
                while ready and self.stopped is None and (limit is None or len(running) < limit):
                    if self.admit is not None:
                        self.stopped = await self.admit(self.graph.nodes[ready[0][2]])
                        if self.stopped is not None:
                            break
                    _, _, node_id = heapq.heappop(ready)
                    running_now = {"node_id": node_id, "status": ExecutionStatus.RUNNING}
                    state.node_results[node_id] = NodeResult.trusted(running_now)
                    self.counts["running"] += 1
                    if self.callbacks:  # no event coroutine per node when nobody listens
                        await self.event(EventKind.NODE_STARTED, node_id)
                    task = asyncio.create_task(self.run_one(node_id), name=f"node:{node_id}")
                    running[task] = node_id
                if not running:
                    break  # stopped with nothing in flight
                for task in await first_finished(running):
                    node_id = running.pop(task)
                    result = task.result()  # run_one returns a result; hook errors propagate
                    self.done += 1
                    self.counts["running"] -= 1
                    ok = result.status == ExecutionStatus.COMPLETED
                    self.counts["completed" if ok else "failed"] += 1
                    if ok:
                        if self.callbacks:
                            await self.event(EventKind.NODE_COMPLETED, node_id)
                        for m in self.graph.after[node_id]:
                            i = self.position[m]
                            waiting[i] -= 1
                            if waiting[i] == 0 and state.node_results[m].status == (
                                ExecutionStatus.PENDING
                            ):
                                heapq.heappush(ready, (-self.priority[i], i, m))
                    else:
                        await self.event(EventKind.NODE_FAILED, node_id, error=result.error)
                        await self.skip_after(node_id)
        except BaseException:
            await self.abort(running)
            raise
        if all(r.status == ExecutionStatus.COMPLETED for r in state.node_results.values()):
            state.status = ExecutionStatus.COMPLETED
        elif self.stopped is not None and not state.count(ExecutionStatus.FAILED):
            state.status = ExecutionStatus.INTERRUPTED
            state.warnings.append(self.stopped)
        else:
            state.status = ExecutionStatus.FAILED
        state.completed_at = utc_now()
        for hook in self.hooks:
            await hook.on_run_end(state, interrupted=state.status == ExecutionStatus.INTERRUPTED)
        await self.event(EventKind.WORKFLOW_COMPLETED, message=state.status.value)
        return state

    async def run_one(self, node_id: str) -> NodeResult:
        node = self.graph.nodes[node_id]
        result = await self.executor._run_node(node, self.context_for(node_id), self)
        self.state.node_results[node_id] = result
        for hook in self.hooks:
            try:
                await hook.on_node_finished(result, self.state)
            except NodeExecutionError as exc:  # e.g. an output that cannot be stored
                result.status = ExecutionStatus.FAILED
                result.output = None
                result.error = str(exc)
                await hook.on_node_finished(result, self.state)
        return result

    async def skip_after(self, failed_id: str) -> None:
        results = self.state.node_results
        waiting_on_failure = self.graph.descendants_after(failed_id)
        for n in self.graph.order:
            if n in waiting_on_failure and results[n].status == ExecutionStatus.PENDING:
                results[n].status = ExecutionStatus.SKIPPED
                results[n].error = f"skipped: waits on {failed_id!r}, which failed"
                self.done += 1
                self.counts["skipped"] += 1
                await self.event(EventKind.NODE_SKIPPED, n, message=results[n].error)

    async def abort(self, running: dict[asyncio.Task[NodeResult], str]) -> None:
        """Cancel in-flight nodes, mark them pending again, and tell the hooks."""
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)
        for node_id in running.values():
            current = self.state.node_results[node_id]
            if current.status == ExecutionStatus.RUNNING:
                self.state.node_results[node_id] = NodeResult(node_id=node_id)
        self.state.status = ExecutionStatus.FAILED
        self.state.completed_at = utc_now()
        for hook in self.hooks:
            # Shielded, and waited for however many cancellations arrive: the caller (and the
            # lease it releases afterwards) must not move on while the hook still writes.
            ending = asyncio.ensure_future(hook.on_run_end(self.state, interrupted=True))
            while not ending.done():
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.wait([ending])
            if not ending.cancelled() and ending.exception() is not None:
                log.error(  # keep the original error; this one is secondary
                    "hook %r failed while stopping the run",
                    hook,
                    exc_info=ending.exception(),
                )
