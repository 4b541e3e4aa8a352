"""A durable run on the Ray backend in its own process (a driver), driven by tests/ray.

Usage::

    python ray_driver.py ADDRESS STORE_URL LEDGER [--nodes N] [--ms MS] [--concurrency K]
                         [--gpu-every K] [--unsat] [--flaky NODE] [--blob NODE]

Runs a layered DAG through ``MetaPlanner(executor=LedgerRayExecutor(...), backend="ray",
ray_address=ADDRESS).execute_with_resume(plan)`` (so a second driver resumes what a killed one
left). The executor is defined here, in ``__main__``: Ray's cloudpickle ships it by value. Each
attempt appends two JSON lines to LEDGER (start, done) naming the driver, the worker pid and the
Ray node. Prints one JSON line with the result; waits (bounded) for a dead driver's lease.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import sys
import time
from typing import Any

from vibe_aigc import CheckpointLockedError, MetaPlanner, Vibe, WorkflowExecutor, WorkflowPlan
from vibe_aigc.errors import TransientError
from vibe_aigc.executor import NodeContext, RetryPolicy
from vibe_aigc.models import WorkflowNode

PLAN_ID = "ray-dag"


def build_plan(nodes: int, ms: int, gpu_every: int, unsat: bool) -> WorkflowPlan:
    width = 4
    items = []
    for i in range(nodes):
        layer = i // width
        deps = [f"n{(layer - 1) * width + j}" for j in range(width) if (i + j) % 2 == 0]
        parameters: dict[str, Any] = {"ms": ms}
        if gpu_every and i % gpu_every == 1:
            parameters["resources"] = {"gpu_sim": 1}
        if unsat and i == 2:
            parameters["resources"] = {"tpu_sim": 1}
        items.append(
            WorkflowNode(
                id=f"n{i}",
                type="generate",
                description=f"node {i}",
                dependencies=deps if layer else [],
                parameters=parameters,
            )
        )
    return WorkflowPlan(id=PLAN_ID, source_vibe=Vibe(description="ray dag"), root_nodes=items)


def expected_value(node_id: str, inputs: dict[str, Any]) -> str:
    text = node_id + "|" + "|".join(f"{k}={inputs[k]['value']}" for k in sorted(inputs))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class LedgerRayExecutor(WorkflowExecutor):
    """Sleeps ``parameters["ms"]``, derives its output from its inputs, logs where it ran."""

    def __init__(
        self, ledger: str, concurrency: int, flaky: str | None, blob: str | None = None
    ) -> None:
        super().__init__(
            max_concurrency=concurrency,
            retry_policy=RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2),
        )
        self.ledger = ledger
        self.driver = os.getpid()  # pickled with the executor: the worker logs its driver
        self.flaky = flaky
        self.blob = blob

    def log(self, **entry: Any) -> None:
        fd = os.open(self.ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (json.dumps(entry) + "\n").encode())
        finally:
            os.close(fd)

    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        import ray

        where = ray.get_runtime_context().get_node_id()
        here = {"driver": self.driver, "pid": os.getpid(), "ray_node": where}
        self.log(event="start", node=node.id, attempt=context.attempt, **here)
        earlier = context.recall("first_node")
        if earlier is None:
            await context.remember("first_node", where)  # journaled by the driver first
        if node.id == self.flaky and context.attempt == 1:
            raise TransientError("first attempt fails on purpose, after its memo")
        await asyncio.sleep(float(node.parameters.get("ms", 0)) / 1000)
        extra: dict[str, Any] = {}
        if node.id == self.blob:  # a large binary output: into the shared store, from here
            data = hashlib.sha256(node.id.encode()).digest() * 32768  # 1 MiB
            extra["artifact"] = context.services["artifacts"].save(context.plan.id, data)
        self.log(event="done", node=node.id, attempt=context.attempt, **here)
        return {
            "value": expected_value(node.id, context.dependency_outputs),
            "recalled": earlier,
            **here,
            **extra,
        }


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("address")
    parser.add_argument("store")
    parser.add_argument("ledger")
    parser.add_argument("--nodes", type=int, default=40)
    parser.add_argument("--ms", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--gpu-every", type=int, default=0)
    parser.add_argument("--unsat", action="store_true")
    parser.add_argument("--flaky", default=None)
    parser.add_argument("--blob", default=None)
    args = parser.parse_args()

    plan = build_plan(args.nodes, args.ms, args.gpu_every, args.unsat)
    planner = MetaPlanner(
        executor=LedgerRayExecutor(args.ledger, args.concurrency, args.flaky, args.blob),
        store=args.store,
        llm_config=False,
        backend="ray",
        ray_address=args.address,
    )
    started = time.monotonic()
    deadline = started + 60
    while True:
        try:
            result = await planner.execute_with_resume(plan)
            break
        except CheckpointLockedError:  # a killed driver's lease: taken over once it expires
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.3)
    import ray

    gpu_nodes = [n["NodeID"] for n in ray.nodes() if n["Alive"] and "gpu_sim" in n["Resources"]]
    print(
        "RESULT "
        + json.dumps(
            {
                "driver": os.getpid(),
                "status": result.status.value,
                "resumed_from": result.resumed_from,
                "outputs": {k: v.output for k, v in result.node_results.items()},
                "statuses": {k: v.status.value for k, v in result.node_results.items()},
                "errors": {k: v.error for k, v in result.node_results.items() if v.error},
                "gpu_nodes": gpu_nodes,
                "driver_node": ray.get_runtime_context().get_node_id(),
                "elapsed": time.monotonic() - started,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
