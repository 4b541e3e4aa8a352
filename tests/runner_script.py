"""A real workload run in a subprocess by the durability tests (not a test module).

Usage: python runner_script.py CHECKPOINT_DIR LEDGER N_NODES SLEEP_SECONDS [INTERVAL]

Runs a deterministic plan of N nodes (a chain with side branches) through
``MetaPlanner.execute_with_resume``; each execution appends "start <id>" / "done <id>" to the
ledger (outside the checkpoint folder) so the parent can count re-executions. Every node's
output is derived from its dependencies' outputs, so a resumed run that fed different inputs
would produce different final outputs. Prints the final outputs as JSON on success.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sys
from typing import Any

from vibe_aigc import (
    MetaPlanner,
    Vibe,
    WorkflowExecutor,
    WorkflowNode,
    WorkflowNodeType,
    WorkflowPlan,
)
from vibe_aigc.context import NodeContext


def build_plan(n: int) -> WorkflowPlan:
    nodes = []
    for i in range(n):
        deps = [f"n{i - 1}"] if i else []
        if i >= 3 and i % 3 == 0:
            deps.append(f"n{i - 3}")
        nodes.append(
            WorkflowNode(
                id=f"n{i}",
                type=WorkflowNodeType.GENERATE,
                description=f"step {i}",
                dependencies=deps,
            )
        )
    return WorkflowPlan(
        id="plan-crash", source_vibe=Vibe(description="crash test"), root_nodes=nodes
    )


class LedgerExecutor(WorkflowExecutor):
    def __init__(self, ledger: str, delay: float) -> None:
        super().__init__(max_concurrency=4)
        self.ledger = ledger
        self.delay = delay

    def _log(self, line: str) -> None:
        fd = os.open(self.ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        self._log(f"start {node.id}")
        await asyncio.sleep(self.delay)
        digest = hashlib.sha256(
            json.dumps([node.id, context.dependency_outputs], sort_keys=True).encode()
        ).hexdigest()[:16]
        self._log(f"done {node.id}")
        return {"node": node.id, "digest": digest}


async def main() -> int:
    checkpoint_dir, ledger, n, delay = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        float(sys.argv[4]),
    )
    interval = int(sys.argv[5]) if len(sys.argv) > 5 else None
    planner = MetaPlanner(
        executor=LedgerExecutor(ledger, delay),
        checkpoint_dir=checkpoint_dir,
        checkpoint_interval=interval,
    )
    result = await planner.execute_with_resume(build_plan(n))
    print(
        json.dumps(
            {
                "status": result.status.value,
                "resumed_from": result.resumed_from,
                "outputs": {k: v.output for k, v in result.node_results.items()},
            }
        )
    )
    return 0 if result.status.value == "completed" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
