"""Peer driver: this project's vibe-aigc (the working tree, from /work/main/.venv).

Nodes are a ``WorkflowExecutor`` subclass whose ``execute_node`` does the node's planned sleep (0
for the chains) and returns a small dict; ``max_concurrency=None`` (unlimited); a transient
failure is a ``TransientError`` retried at once (``RetryPolicy(base_delay=0)``).

Modes: ``plain`` = ``MetaPlanner.execute(plan)`` without checkpoints; ``durable`` =
``execute_with_resume(plan)`` with the default interval (a fsync'd journal record per node);
``every-node`` = the same with ``checkpoint_interval=1`` (a full snapshot after every node).
A resuming process calls ``execute_with_resume(plan)`` again: it resumes from the latest state.
With ``store`` in the job (a URL: ``sqlite:///...``, ``postgresql://...``) the run is kept
there (``MetaPlanner(store=url)``) instead of the folder.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import peerlib

started = time.perf_counter()
import vibe_aigc  # noqa: E402
from vibe_aigc import (  # noqa: E402
    MetaPlanner,
    RetryPolicy,
    TransientError,
    Vibe,
    WorkflowExecutor,
    WorkflowNode,
    WorkflowPlan,
)

IMPORT_MS = (time.perf_counter() - started) * 1e3


def run(job: dict[str, Any]) -> dict[str, Any]:
    spec = peerlib.shape(job)
    calls = peerlib.Calls(job.get("calls_log"))
    faults = peerlib.Faults(job, spec)
    seconds = {node: secs for node, _, secs in spec}

    class BenchExecutor(WorkflowExecutor):
        async def execute_node(self, node: Any, context: Any) -> Any:
            calls.append(node.id)
            fault = faults.check(node.id)
            if fault == "crash":
                peerlib.crash()
            if fault == "permanent":
                raise RuntimeError("planned failure (permanent)")
            if fault == "transient":
                raise TransientError("planned failure (transient, once)")
            if seconds[node.id]:
                await asyncio.sleep(seconds[node.id])
            return {"node": node.id, "ok": True}

    plan = WorkflowPlan(
        id=f"bench-{job['shape']}-{len(spec)}",
        root_nodes=[
            WorkflowNode(id=node, type="transform", description=node, dependencies=deps)
            for node, deps, _ in spec
        ],
        source_vibe=Vibe(description="peer benchmark"),
    )
    mode = job["mode"]
    folder = Path(job["folder"])
    planner = MetaPlanner(
        llm_config=False,
        executor=BenchExecutor(
            max_concurrency=None, retry_policy=RetryPolicy(max_attempts=3, base_delay=0.0)
        ),
        checkpoint_interval=1 if mode == "every-node" else None,
        **({"store": job["store"]} if job.get("store") else {"checkpoint_dir": folder}),
    )

    async def go() -> dict[str, Any]:
        with peerlib.Measure() as m:
            if mode == "plain":
                result = await planner.execute(plan)
            else:
                result = await planner.execute_with_resume(plan)
        resumed = sum(1 for r in result.node_results.values() if r.resumed)
        retried = sum(1 for r in result.node_results.values() if r.attempts > 1)
        return {
            **m.fields(folder),
            "status": result.status.value,
            "resumed": resumed,
            "retried": retried,
        }

    out = asyncio.run(go())  # returns a small dict: asyncio.run repr()s the result on exit
    return {**out, "executed": len(calls), "import_ms": IMPORT_MS, "version": vibe_aigc.__version__}


if __name__ == "__main__":
    peerlib.main(run)
