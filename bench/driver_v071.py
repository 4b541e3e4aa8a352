"""Peer driver: the public ``vibe-aigc==0.7.1`` from PyPI, in its own virtual environment.

0.7.1 has no executor extension point for a user's node function; its ``WorkflowExecutor``
dispatches on ``node_handlers[node.type]``, so the benchmark replaces the ``transform`` handler
with the node function (sleep, return a small dict). A plan runs through
``planner.executor.execute_plan(plan)``; ``MetaPlanner.execute`` only takes a vibe and plans it
with a model. The scheduler runs the plan level by level (``asyncio.gather`` per level). It has
no retries: a failing node fails, and everything after it is skipped.

Modes: ``plain`` = no checkpoints (its default); ``every-node`` = ``checkpoint_interval=1``, a
full JSON checkpoint after every node (its only durable mode). A resuming process takes the
newest checkpoint of the plan from ``list_checkpoints(plan_id)`` and calls
``execute_with_resume(vibe, checkpoint_id=...)``: 0.7.1 has no resume-from-latest.
"""

from __future__ import annotations

import asyncio
import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import peerlib

started = time.perf_counter()
from vibe_aigc import MetaPlanner, Vibe, WorkflowNode, WorkflowPlan  # noqa: E402
from vibe_aigc.models import WorkflowNodeType  # noqa: E402

IMPORT_MS = (time.perf_counter() - started) * 1e3


def run(job: dict[str, Any]) -> dict[str, Any]:
    spec = peerlib.shape(job)
    calls = peerlib.Calls(job.get("calls_log"))
    faults = peerlib.Faults(job, spec)
    seconds = {node: secs for node, _, secs in spec}

    async def handler(node: Any) -> Any:
        calls.append(node.id)
        fault = faults.check(node.id)
        if fault == "crash":
            peerlib.crash()
        if fault is not None:  # no retries in 0.7.1: a transient error fails the node too
            raise RuntimeError(f"planned failure ({fault})")
        if seconds[node.id]:
            await asyncio.sleep(seconds[node.id])
        return {"node": node.id, "ok": True}

    vibe = Vibe(description="peer benchmark")
    plan = WorkflowPlan(
        id=f"bench-{job['shape']}-{len(spec)}",
        root_nodes=[
            WorkflowNode(
                id=node,
                type=WorkflowNodeType.TRANSFORM,
                description=node,
                dependencies=deps,
            )
            for node, deps, _ in spec
        ],
        source_vibe=vibe,
    )
    mode = job["mode"]
    folder = Path(job["folder"])
    planner = MetaPlanner(
        checkpoint_interval=1 if mode == "every-node" else None, checkpoint_dir=str(folder)
    )
    planner.executor.node_handlers[WorkflowNodeType.TRANSFORM] = handler

    async def go() -> dict[str, Any]:
        checkpoint_id = None
        with peerlib.Measure() as m:
            latest = planner.list_checkpoints(plan.id) if mode == "every-node" else []
            if latest:
                checkpoint_id = latest[0]["checkpoint_id"]
                out = await planner.execute_with_resume(vibe, checkpoint_id=checkpoint_id)
                status = out["status"]
            else:
                status = (await planner.executor.execute_plan(plan)).status.value
        resumed = 0
        if checkpoint_id is not None:  # counted after the timed call
            results = planner.get_checkpoint(checkpoint_id).execution_result.node_results
            resumed = sum(1 for r in results.values() if r.status.value == "completed")
        return {**m.fields(folder), "status": status, "resumed": resumed, "retried": 0}

    out = asyncio.run(go())
    return {**out, "executed": len(calls), "import_ms": IMPORT_MS, "version": version("vibe-aigc")}


if __name__ == "__main__":
    peerlib.main(run)
