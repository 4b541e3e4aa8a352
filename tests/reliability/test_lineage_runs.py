"""Runs that continue other runs, through the API, with an execution ledger: a fork from a
middle node, an edited plan, ``retry_failed``, and retention that keeps what runs descend from.

Every node logs ``start``/``done`` to the ledger (:class:`reliability_kit.LedgerExecutor`), so
"exactly these nodes ran" is read from what actually executed, not from the result.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import pytest
from reliability_kit import LedgerExecutor, build_chaos_plan, read_ledger, tree_state

from vibe_aigc import ExecutionStatus, MetaPlanner, NodeExecutionError, WorkflowPlan
from vibe_aigc.context import NodeContext
from vibe_aigc.errors import LineageError, PlanMismatchError
from vibe_aigc.models import WorkflowNode, WorkflowNodeType, iter_nodes, plan_graph
from vibe_aigc.persistence import WorkflowPersistenceManager

pytest_plugins = ("pgcluster",)


def ran(ledger: Path) -> set[str]:
    return {e.node_id for e in read_ledger(ledger) if e.event == "start"}


def working(plan: WorkflowPlan, nodes: set[str]) -> set[str]:
    """The nodes of ``nodes`` that do work of their own (a composite parent only gathers)."""
    return {
        n.id
        for n in plan.iter_nodes()
        if n.id in nodes and not (n.type == WorkflowNodeType.COMPOSITE and n.children)
    }


def middle_node(plan: WorkflowPlan) -> str:
    """A node in the middle of the plan that has nodes downstream and is not a root task."""
    graph = plan_graph(plan)
    order = graph.topological_order()
    for node_id in order[len(order) // 3 :]:
        node = graph.nodes[node_id]
        if node.type == WorkflowNodeType.COMPOSITE and node.children:
            continue  # no work of its own: it could not fail
        if graph.descendants_after(node_id) and len(graph.descendants_after(node_id)) < 25:
            return node_id
    raise AssertionError("no middle node")


def downstream(plan: WorkflowPlan, node_id: str, with_subtree: bool) -> set[str]:
    graph = plan_graph(plan)
    start = {n.id for n in iter_nodes([graph.nodes[node_id]])} if with_subtree else {node_id}
    out = set(start)
    for member in start:
        out |= graph.descendants_after(member)
    return out


def file_bytes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


class Failing(LedgerExecutor):
    def __init__(self, ledger: str, failing: set[str]) -> None:
        super().__init__(ledger)
        self.failing = failing

    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        if node.id in self.failing:
            self.log(f"start {node.id}")
            raise NodeExecutionError("planned failure", node.id)
        return await super().execute_node(node, context)


async def test_fork_from_a_middle_node_reruns_exactly_it_and_downstream(tmp_path: Path) -> None:
    cps, ledger = tmp_path / "cps", tmp_path / "ledger"
    plan = build_chaos_plan(7, total=60, plan_id="plan-src")
    planner = MetaPlanner(checkpoint_dir=cps, executor=LedgerExecutor(str(ledger)))
    first = await planner.execute_with_resume(plan)
    assert first.status == ExecutionStatus.COMPLETED and first.checkpoint_id
    source_files = file_bytes(cps / "plan-src")
    source_tree = tree_state(cps / "plan-src")
    node = middle_node(plan)
    ledger.unlink()

    fork = await planner.runs.fork(first.checkpoint_id, from_nodes=[node], plan_id="plan-fork")

    expected = downstream(plan, node, with_subtree=True)
    assert node in working(plan, expected) and len(expected) < plan.total_nodes
    assert ran(ledger) == working(plan, expected)
    assert {n for n, r in fork.node_results.items() if not r.resumed} == expected
    assert fork.status == ExecutionStatus.COMPLETED and fork.plan_id == "plan-fork"
    for node_id, result in fork.node_results.items():  # outputs derive from inputs only
        assert result.output == first.node_results[node_id].output
    assert file_bytes(cps / "plan-src") == source_files  # the source run is only read
    assert tree_state(cps / "plan-src") == source_tree
    status = planner.runs.status("plan-fork")
    source_run = planner.runs.status("plan-src")["run"]["run_id"]
    assert status["run"]["parent_run_id"] == source_run
    assert status["run"]["parent_checkpoint_id"] == first.checkpoint_id
    assert status["run"]["parent_plan_id"] == "plan-src"
    for entry in status["nodes"]:
        assert entry["reused"] == (entry["node_id"] not in expected)
        if entry["reused"]:
            assert entry["produced_by"] == source_run

    with pytest.raises(LineageError, match="already has runs"):
        await planner.runs.fork(first.checkpoint_id, from_nodes=[node], plan_id="plan-fork")
    with pytest.raises(LineageError, match="no node"):
        await planner.runs.fork(first.checkpoint_id, from_nodes=["nope"], plan_id="plan-f2")
    assert file_bytes(cps / "plan-src") == source_files


async def test_fork_with_an_edited_parameter_reruns_the_node_and_downstream(
    tmp_path: Path,
) -> None:
    cps, ledger = tmp_path / "cps", tmp_path / "ledger"
    plan = build_chaos_plan(11, total=40, plan_id="plan-src")
    planner = MetaPlanner(checkpoint_dir=cps, executor=LedgerExecutor(str(ledger)))
    first = await planner.execute_with_resume(plan)
    assert first.checkpoint_id is not None
    node = middle_node(plan)
    ledger.unlink()
    fork = await planner.runs.fork(first.checkpoint_id, settings=[(node, "ms", 2)])
    assert ran(ledger) == working(plan, downstream(plan, node, with_subtree=False))
    forked = planner.get_plan(fork.plan_id)
    assert forked is not None and fork.plan_id.startswith("plan-src-fork-")
    changed = forked.get_node(node)
    assert changed is not None and changed.parameters["ms"] == 2


async def test_an_edited_plan_reruns_exactly_the_changed_nodes_and_downstream(
    tmp_path: Path,
) -> None:
    cps, ledger = tmp_path / "cps", tmp_path / "ledger"
    plan = build_chaos_plan(5, total=60, plan_id="plan-edit")
    planner = MetaPlanner(checkpoint_dir=cps, executor=LedgerExecutor(str(ledger)))
    assert (await planner.execute_with_resume(plan)).status == ExecutionStatus.COMPLETED
    edited = plan.model_copy(deep=True)
    node = middle_node(edited)
    target = edited.get_node(node)
    assert target is not None
    target.description += " (edited)"
    ledger.unlink()
    tree = tree_state(cps)

    changes = await planner.runs.preview(edited)  # the dry run runs and writes nothing
    assert not ledger.exists() and tree_state(cps) == tree
    expected = downstream(plan, node, with_subtree=False)
    assert set(changes.rerun) == expected and not changes.new and not changes.removed
    assert set(changes.reused) == set(plan.node_ids) - expected

    result = await planner.execute_with_resume(edited)
    assert result.status == ExecutionStatus.COMPLETED
    assert ran(ledger) == working(plan, expected)
    assert {n for n, r in result.node_results.items() if not r.resumed} == expected
    # the stored plan is the edited one now: running it again reuses everything
    ledger.unlink()
    again = await planner.execute_with_resume(edited)
    assert not ledger.exists() and all(r.resumed for r in again.node_results.values())


async def test_a_different_vibe_for_a_given_checkpoint_is_still_refused(tmp_path: Path) -> None:
    from vibe_aigc import Vibe

    planner = MetaPlanner(checkpoint_dir=tmp_path, executor=LedgerExecutor(None))
    plan = build_chaos_plan(2, total=10, plan_id="plan-vibe")
    first = await planner.execute_with_resume(plan)
    assert first.checkpoint_id is not None
    with pytest.raises(PlanMismatchError):
        await planner.execute_with_resume(
            Vibe(description="something else"),
            checkpoint_id=first.checkpoint_id,
            plan_id="plan-vibe",
        )


async def test_retry_failed_reruns_only_failed_and_skipped_nodes(tmp_path: Path) -> None:
    cps, ledger = tmp_path / "cps", tmp_path / "ledger"
    plan = build_chaos_plan(9, total=50, plan_id="plan-retry")
    node = middle_node(plan)
    failing = MetaPlanner(checkpoint_dir=cps, executor=Failing(str(ledger), {node}))
    first = await failing.execute_with_resume(plan)
    assert first.status == ExecutionStatus.FAILED
    targets = {
        n
        for n, r in first.node_results.items()
        if r.status in (ExecutionStatus.FAILED, ExecutionStatus.SKIPPED)
    }
    assert node in targets and len(targets) < plan.total_nodes
    ledger.unlink()

    planner = MetaPlanner(checkpoint_dir=cps, executor=LedgerExecutor(str(ledger)))
    result = await planner.runs.retry_failed("plan-retry")
    assert result.status == ExecutionStatus.COMPLETED
    assert ran(ledger) == working(plan, targets)
    with pytest.raises(LineageError, match="no failed or skipped node"):
        await planner.runs.retry_failed("plan-retry")
    runs = planner.runs.list_runs("plan-retry")
    assert [r["state"] for r in runs] == ["completed", "failed"]
    assert runs[0]["parent_run_id"] == runs[1]["run_id"]


@pytest.fixture(params=["file", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "file":
        return str(tmp_path / "store")
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/runs.db"
    return str(request.getfixturevalue("pg_url"))


async def test_retention_keeps_the_last_checkpoint_of_a_run_others_descend_from(
    store_url: str,
) -> None:
    manager = WorkflowPersistenceManager(keep_last=2, store=store_url)
    plan = build_chaos_plan(4, total=12, plan_id="plan-keep")
    planner = MetaPlanner(
        persistence_manager=manager, executor=LedgerExecutor(None), checkpoint_interval=1
    )
    first = await planner.execute_with_resume(plan)
    assert first.checkpoint_id is not None
    fork = await planner.runs.fork(first.checkpoint_id, from_nodes=[plan.node_ids[0]])
    edited = plan.model_copy(deep=True)
    edited.root_nodes[0].description += " again"
    second = await planner.execute_with_resume(edited)  # many snapshots: retention prunes
    assert second.status == ExecutionStatus.COMPLETED
    listed = {c["checkpoint_id"]: c for c in manager.list_checkpoints("plan-keep")}
    assert first.checkpoint_id in listed  # beyond keep_last=2, kept for its descendants
    assert len(listed) == 3
    why = listed[first.checkpoint_id]["kept_for"]
    assert "descends from run" in why
    manager.prune("plan-keep", 0)  # pruning to zero still spares the protected checkpoint
    assert manager.latest_checkpoint_ids("plan-keep") == [first.checkpoint_id]
    assert fork.plan_id in manager.plan_ids()
