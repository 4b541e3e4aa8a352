"""A chain runs one node at a time, and the scheduler waits on that lone node's task directly
(issue 15): a cancelled run still stops as it did, also when the node in flight swallows the
cancellation and returns, and nothing after it starts."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from vibe_aigc import MetaPlanner, Vibe, WorkflowExecutor, WorkflowNode, WorkflowPlan
from vibe_aigc.results import ExecutionStatus


def chain(ids: list[str]) -> WorkflowPlan:
    nodes = [
        WorkflowNode(id=n, type="transform", description=n, dependencies=ids[i - 1 : i])
        for i, n in enumerate(ids)
    ]
    return WorkflowPlan(id="chain", root_nodes=nodes, source_vibe=Vibe(description="chain"))


class Stubborn(WorkflowExecutor):
    """Node ``b`` waits until cancelled, then swallows the cancellation and returns."""

    def __init__(self) -> None:
        super().__init__()
        self.ran: list[str] = []
        self.b_started = asyncio.Event()

    async def execute_node(self, node: Any, context: Any) -> Any:
        self.ran.append(node.id)
        if node.id == "b":
            self.b_started.set()
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                return {"swallowed": True}  # bad manners, but it happens
        return {"node": node.id}


async def test_a_swallowed_cancellation_still_stops_the_chain() -> None:
    executor = Stubborn()
    task = asyncio.create_task(executor.execute(chain(["a", "b", "c"])))
    await asyncio.wait_for(executor.b_started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert executor.ran == ["a", "b"]  # c never starts


async def test_a_swallowed_cancellation_stops_a_durable_chain(tmp_path: Path) -> None:
    executor = Stubborn()
    planner = MetaPlanner(executor=executor, checkpoint_dir=tmp_path)
    task = asyncio.create_task(planner.execute_with_resume(chain(["a", "b", "c"])))
    await asyncio.wait_for(executor.b_started.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert executor.ran == ["a", "b"]
    assert planner.persistence_manager.list_checkpoints("chain")[0]["state"] == "interrupted"
    again = Stubborn()
    resumed = await MetaPlanner(executor=again, checkpoint_dir=tmp_path).execute_with_resume(
        chain(["a", "b", "c"])
    )
    assert resumed.status == ExecutionStatus.COMPLETED
    assert "a" not in again.ran and again.ran[-1] == "c"  # a was recorded; c runs only now


async def test_a_chain_and_a_fan_out_finish_alike() -> None:
    class Echo(WorkflowExecutor):
        async def execute_node(self, node: Any, context: Any) -> Any:
            await asyncio.sleep(0)
            return {"n": node.id, "from": sorted(context.dependency_outputs)}

    result = await Echo().execute(chain(["a", "b", "c", "d"]))
    assert result.status == ExecutionStatus.COMPLETED
    assert [result.node_results[n].output["from"] for n in "abcd"] == [[], ["a"], ["b"], ["c"]]
    fan = WorkflowPlan(
        id="fan",
        root_nodes=[
            WorkflowNode(id="r", type="transform", description="r"),
            *(
                WorkflowNode(id=f"x{i}", type="transform", description="x", dependencies=["r"])
                for i in range(5)
            ),
        ],
        source_vibe=Vibe(description="fan"),
    )
    wide = await Echo(max_concurrency=2).execute(fan)
    assert wide.status == ExecutionStatus.COMPLETED
    assert all(wide.node_results[f"x{i}"].output["from"] == ["r"] for i in range(5))
