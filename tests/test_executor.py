"""Scheduler properties, failure semantics, retries and the execute_node extension point."""

from __future__ import annotations

import asyncio
import random
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import dags
from vibe_aigc import (
    ExecutionStatus,
    MetaPlanner,
    NodeContext,
    RetryPolicy,
    TransientError,
    Vibe,
    WorkflowExecutor,
    WorkflowNode,
    WorkflowNodeType,
    WorkflowPlan,
)
from vibe_aigc.executor import EventKind, ProgressEvent


def make_plan(edges: list[tuple[str, list[str]]], **params: Any) -> WorkflowPlan:
    nodes = [
        WorkflowNode(
            id=n,
            type=WorkflowNodeType.GENERATE,
            description=f"do {n}",
            dependencies=d,
            parameters=dict(params),
        )
        for n, d in edges
    ]
    return WorkflowPlan(id="plan-x", source_vibe=Vibe(description="x"), root_nodes=nodes)


class Recorder(WorkflowExecutor):
    """Records start/finish times; sleeps ``durations[node]`` seconds; can fail nodes."""

    def __init__(
        self,
        durations: dict[str, float] | None = None,
        fail: dict[str, list[BaseException]] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(**kw)
        self.durations = durations or {}
        self.fail = {k: list(v) for k, v in (fail or {}).items()}
        self.started: dict[str, float] = {}
        self.finished: dict[str, float] = {}
        self.calls: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.contexts: dict[str, NodeContext] = {}

    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        loop = asyncio.get_running_loop()
        self.calls.append(node.id)
        self.started.setdefault(node.id, loop.time())
        self.contexts[node.id] = context
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.durations.get(node.id, 0))
            if self.fail.get(node.id):
                raise self.fail[node.id].pop(0)
        finally:
            self.in_flight -= 1
        self.finished[node.id] = loop.time()
        return {"node": node.id, "inputs": sorted(context.inputs)}


async def test_dependencies_respected_each_node_once() -> None:
    plan = make_plan([("a", []), ("b", ["a"]), ("c", ["a"]), ("d", ["b", "c"])])
    ex = Recorder(durations={"b": 0.02})
    result = await ex.execute(plan)
    assert result.status == ExecutionStatus.COMPLETED
    assert sorted(ex.calls) == ["a", "b", "c", "d"]
    assert ex.started["d"] >= ex.finished["b"]
    assert ex.contexts["d"].dependency_outputs == {
        "b": {"node": "b", "inputs": ["a"]},
        "c": {"node": "c", "inputs": ["a"]},
    }
    summary = result.get_summary()
    assert summary["completed"] == 4 and summary["total_nodes"] == 4
    assert summary["started_at"].endswith("Z") and summary["completed_at"].endswith("Z")


@given(dags(max_nodes=30), st.integers(1, 5), st.randoms(use_true_random=False))
@settings(max_examples=40, deadline=None)
def test_random_dags_order_once_and_bound(
    edges: list[tuple[str, list[str]]], bound: int, rnd: random.Random
) -> None:
    durations = {n: rnd.choice([0, 0, 0.001, 0.002]) for n, _ in edges}
    ex = Recorder(durations=durations, max_concurrency=bound)
    result = asyncio.run(ex.execute(make_plan(edges)))
    assert result.status == ExecutionStatus.COMPLETED
    assert sorted(ex.calls) == sorted(n for n, _ in edges)  # each exactly once
    for node_id, deps in edges:
        for dep in deps:
            assert ex.started[node_id] >= ex.finished[dep]
    assert ex.max_in_flight <= bound


def skewed_dag() -> tuple[list[tuple[str, list[str]]], dict[str, float]]:
    """A long chain beside wide short fans that feed into short chains."""
    edges: list[tuple[str, list[str]]] = [("long0", [])]
    durations = {"long0": 0.05}
    for i in range(1, 6):
        edges.append((f"long{i}", [f"long{i - 1}"]))
        durations[f"long{i}"] = 0.05
    edges.append(("root", []))
    durations["root"] = 0.01
    for i in range(20):
        edges.append((f"fan{i}", ["root"]))
        durations[f"fan{i}"] = 0.01 + 0.01 * (i % 5)
        edges.append((f"tail{i}", [f"fan{i}"]))
        durations[f"tail{i}"] = 0.02
    edges.append(("join", ["long5", *[f"tail{i}" for i in range(20)]]))
    durations["join"] = 0.01
    return edges, durations


async def test_makespan_close_to_critical_path_on_skewed_dag() -> None:
    edges, durations = skewed_dag()
    plan = make_plan(edges)
    ex = Recorder(durations=durations, max_concurrency=None)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    result = await ex.execute(plan)
    makespan = loop.time() - t0
    assert result.status == ExecutionStatus.COMPLETED
    critical = plan.validate_plan().critical_path(durations)
    assert makespan <= 1.1 * critical + 0.02, (makespan, critical)
    # the ready-queue property itself: nobody waits for a sibling level
    assert ex.started["tail0"] < ex.finished["long1"]


@given(dags(max_nodes=20), st.randoms(use_true_random=False))
@settings(max_examples=8, deadline=None)
def test_makespan_property_random_dags(
    edges: list[tuple[str, list[str]]], rnd: random.Random
) -> None:
    durations = {n: rnd.uniform(0.02, 0.06) for n, _ in edges}
    plan = make_plan(edges)
    ex = Recorder(durations=durations, max_concurrency=None)

    async def timed() -> float:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        await ex.execute(plan)
        return loop.time() - t0

    makespan = asyncio.run(timed())
    critical = plan.validate_plan().critical_path(durations)
    # 1.1x the critical path, plus a fixed allowance for timer overshoot on a loaded 2-core box
    assert makespan <= 1.1 * critical + 0.04, (makespan, critical)


async def test_failure_skips_dependents_and_keeps_independent_branch() -> None:
    plan = make_plan([("a", []), ("b", ["a"]), ("c", ["b"]), ("x", []), ("y", ["x"])])
    ex = Recorder(fail={"a": [ValueError("bad input")]}, durations={"x": 0.01, "y": 0.01})
    result = await ex.execute(plan)
    assert result.status == ExecutionStatus.FAILED
    r = result.node_results
    assert r["a"].status == ExecutionStatus.FAILED and "bad input" in (r["a"].error or "")
    assert r["a"].attempts == 1  # permanent errors are not retried
    assert r["b"].status == r["c"].status == ExecutionStatus.SKIPPED
    assert "'a'" in (r["c"].error or "")
    assert r["x"].status == r["y"].status == ExecutionStatus.COMPLETED
    assert r["b"].output is None and r["c"].output is None
    assert result.get_summary() | {} == result.get_summary()
    assert (result.get_summary()["failed"], result.get_summary()["skipped"]) == (1, 2)


async def test_hierarchy_children_inherit_dependencies_parent_waits() -> None:
    parent = WorkflowNode(
        id="draft",
        type=WorkflowNodeType.GENERATE,
        description="combine sections",
        dependencies=["outline"],
        children=[
            WorkflowNode(id="intro", type=WorkflowNodeType.GENERATE, description="intro"),
            WorkflowNode(id="body", type=WorkflowNodeType.GENERATE, description="body"),
        ],
    )
    group = WorkflowNode(
        id="group",
        type=WorkflowNodeType.COMPOSITE,
        description="group",
        children=[WorkflowNode(id="g1", type=WorkflowNodeType.ANALYZE, description="g1")],
    )
    plan = WorkflowPlan(
        id="p",
        source_vibe=Vibe(description="v"),
        root_nodes=[
            WorkflowNode(id="outline", type=WorkflowNodeType.GENERATE, description="outline"),
            parent,
            group,
            WorkflowNode(
                id="final", type=WorkflowNodeType.VALIDATE, description="f", dependencies=["draft"]
            ),
        ],
    )
    ex = Recorder(durations={"outline": 0.01})
    result = await ex.execute(plan)
    assert result.status == ExecutionStatus.COMPLETED
    assert ex.started["intro"] >= ex.finished["outline"]  # inherited dependency
    assert ex.started["draft"] >= max(ex.finished["intro"], ex.finished["body"])
    assert set(ex.contexts["draft"].child_outputs) == {"intro", "body"}
    assert "outline" in ex.contexts["intro"].dependency_outputs
    assert "group" not in ex.calls  # composite: no work of its own
    assert result.node_results["group"].output == {"g1": {"node": "g1", "inputs": []}}
    assert ex.started["final"] >= ex.finished["draft"]


async def test_failed_child_skips_parent() -> None:
    parent = WorkflowNode(
        id="p",
        type=WorkflowNodeType.COMPOSITE,
        description="p",
        children=[WorkflowNode(id="c", type=WorkflowNodeType.GENERATE, description="c")],
    )
    plan = WorkflowPlan(id="p1", source_vibe=Vibe(description="v"), root_nodes=[parent])
    result = await Recorder(fail={"c": [RuntimeError("boom")]}).execute(plan)
    assert result.node_results["p"].status == ExecutionStatus.SKIPPED


class FakeHTTPError(Exception):
    def __init__(self, status: int, headers: dict[str, str] | None = None) -> None:
        super().__init__(f"HTTP {status}")

        class Response:
            status_code = status

        Response.headers = headers or {}  # type: ignore[attr-defined]
        self.response = Response()


async def test_retries_transient_errors_with_backoff_and_retry_after() -> None:
    sleeps: list[float] = []

    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)

    ex = Recorder(
        fail={
            "a": [FakeHTTPError(429, {"Retry-After": "7"}), FakeHTTPError(503)],
            "b": [TransientError("rate limited", retry_after=2.5)],
            "c": [TimeoutError(), ConnectionError("reset"), ConnectionError("reset")],
        },
        retry_policy=RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=60.0),
        sleep=fake_sleep,
        rng=random.Random(1),
    )
    events: list[ProgressEvent] = []
    ex.progress_callback = events.append
    result = await ex.execute(make_plan([("a", []), ("b", []), ("c", [])]))
    r = result.node_results
    assert r["a"].status == ExecutionStatus.COMPLETED and r["a"].attempts == 3
    assert r["b"].status == ExecutionStatus.COMPLETED and r["b"].attempts == 2
    assert r["c"].status == ExecutionStatus.FAILED and r["c"].attempts == 3
    assert 7.0 in sleeps and 2.5 in sleeps
    jittered = [s for s in sleeps if s not in (7.0, 2.5)]
    assert all(0 <= s <= 2.0 for s in jittered)  # full jitter within base * 2**(k-1)
    retrying = [e for e in events if e.kind == EventKind.NODE_RETRYING]
    assert len(retrying) == len(sleeps) == 5


async def test_permanent_http_error_fails_at_once() -> None:
    ex = Recorder(fail={"a": [FakeHTTPError(400)]}, sleep=lambda d: asyncio.sleep(0))
    result = await ex.execute(make_plan([("a", [])]))
    assert result.node_results["a"].attempts == 1
    assert result.status == ExecutionStatus.FAILED


async def test_per_node_retry_override_and_timeout() -> None:
    plan = make_plan([("a", [])], retry={"max_attempts": 2, "base_delay": 0}, timeout=0.05)
    ex = Recorder(durations={"a": 1.0})
    result = await ex.execute(plan)
    node = result.node_results["a"]
    assert node.status == ExecutionStatus.FAILED
    assert node.attempts == 2
    assert "timed out" in (node.error or "")


async def test_progress_events_counts_and_percent() -> None:
    events: list[ProgressEvent] = []
    ex = Recorder(fail={"b": [ValueError("no")]}, progress_callback=events.append)
    await ex.execute(make_plan([("a", []), ("b", ["a"]), ("c", ["b"]), ("d", [])]))
    kinds = [e.kind for e in events]
    assert kinds[0] == EventKind.WORKFLOW_STARTED and kinds[-1] == EventKind.WORKFLOW_COMPLETED
    assert EventKind.NODE_SKIPPED in kinds and EventKind.NODE_FAILED in kinds
    last = events[-1]
    assert (last.done, last.total, last.percent) == (4, 4, 100.0)
    assert last.status == "failed"


async def test_async_callback_and_broken_callback_do_not_break_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    async def good(event: ProgressEvent) -> None:
        seen.append(event.kind.value)

    def broken(event: ProgressEvent) -> None:
        raise RuntimeError("display bug")

    ex = Recorder(progress_callback=good)
    result = await ex.execute(make_plan([("a", [])]), progress_callbacks=[broken])
    assert result.status == ExecutionStatus.COMPLETED
    assert "node_completed" in seen
    assert "display bug" in caplog.text


class Shouting(WorkflowExecutor):
    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        self.seen.append(node.id)
        result = await super().execute_node(node, context)
        assert isinstance(result, dict)
        return {**result, "shout": node.description.upper()}


async def test_execute_node_override_through_metaplanner() -> None:
    executor = Shouting()
    planner = MetaPlanner(executor=executor)
    vibe = Vibe(description="Write a blog post about durable workflows", style="friendly")
    plan, result = await planner.plan_and_execute(vibe)
    assert result.status == ExecutionStatus.COMPLETED
    leaf_ids = {n.id for n in plan.iter_nodes() if n.type != WorkflowNodeType.COMPOSITE}
    assert leaf_ids <= set(executor.seen)
    for node_id in executor.seen:
        assert result.node_results[node_id].output["shout"].isupper()


async def test_execute_accepts_a_ready_plan() -> None:
    plan = make_plan([("a", []), ("b", ["a"])], tool="brief")
    result = await MetaPlanner().execute(plan)
    assert result.status == ExecutionStatus.COMPLETED
    assert result.node_results["b"].output["offline_draft"] is True


async def test_invalid_plan_never_runs() -> None:
    ex = Recorder()
    plan = make_plan([("a", ["b"]), ("b", ["a"])])
    with pytest.raises(Exception, match="cycle"):
        await ex.execute(plan)
    assert ex.calls == []


async def test_cancellation_marks_in_flight_pending() -> None:
    ex = Recorder(durations={"a": 0.0, "b": 10.0})
    task = asyncio.create_task(ex.execute(make_plan([("a", []), ("b", ["a"])])))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
