"""The systems under test ("runners") and the in-worker measurement of one point.

A runner is any object with:

* ``name`` (the row label) and ``modes``: the subset of ``plain`` (no persistence),
  ``durable`` (its default durable mode), ``every-node`` (a full snapshot after every node)
  and ``durable-nosync`` (diagnostic: ``durable`` with fsync made a no-op) that it supports;
* ``load()``: import the system (timed separately as the import cost);
* ``setup(n, mode, folder, calls, fail_at, crash_at) -> run``: build a chain of ``n``
  trivial nodes (``n00000`` … each depending on the one before) that stores its state under
  ``folder``, and whose node function appends its node id to ``calls`` first thing. ``run`` is
  an async callable that executes (or resumes) the chain and returns
  ``{"status": "completed" | "failed" | ..., "resumed": <nodes taken from storage>}``. The node
  ``fail_at`` raises a permanent error; inside the node ``crash_at`` the process calls
  ``os._exit(1)``.

Register a new runner in ``RUNNERS``; ``bench_durable.py`` picks it up for every workload.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from peerlib import Calls, disk_usage, max_rss_kb, proc_io

Run = Callable[[], Awaitable[dict[str, Any]]]


class VibeRunner:
    """vibe-aigc: a ``WorkflowExecutor`` subclass whose ``execute_node`` returns at once."""

    name = "vibe-aigc"
    modes = ("plain", "durable", "every-node", "durable-nosync")

    def load(self) -> None:
        import vibe_aigc  # noqa: F401

    def setup(
        self,
        n: int,
        mode: str,
        folder: Path,
        calls: list[str],
        fail_at: str | None = None,
        crash_at: str | None = None,
    ) -> Run:
        from vibe_aigc import MetaPlanner, Vibe, WorkflowExecutor, WorkflowNode, WorkflowPlan

        if mode == "durable-nosync":  # diagnostic: the store calls os.fsync/fdatasync at call time
            os.fsync = os.fdatasync = lambda fd: None

        class TrivialExecutor(WorkflowExecutor):
            async def execute_node(self, node: Any, context: Any) -> Any:
                calls.append(node.id)
                if node.id == crash_at:
                    os._exit(1)  # the process dies mid-node, as in a power cut
                if node.id == fail_at:
                    raise RuntimeError("planned failure (permanent, not retried)")
                return {"node": node.id, "ok": True}

        nodes = [
            WorkflowNode(
                id=f"n{i:05d}",
                type="transform",
                description=f"step {i}",
                dependencies=[f"n{i - 1:05d}"] if i else [],
            )
            for i in range(n)
        ]
        plan = WorkflowPlan(
            id=f"bench-chain-{n}",
            root_nodes=nodes,
            source_vibe=Vibe(description="durable overhead benchmark"),
        )
        planner = MetaPlanner(
            executor=TrivialExecutor(),
            checkpoint_dir=folder,
            checkpoint_interval=1 if mode == "every-node" else None,
        )

        async def run() -> dict[str, Any]:
            if mode == "plain":
                result = await planner.execute(plan)
            else:
                result = await planner.execute_with_resume(plan)
            resumed = sum(1 for r in result.node_results.values() if r.resumed)
            return {"status": result.status.value, "resumed": resumed}

        return run


RUNNERS: dict[str, Any] = {runner.name: runner for runner in [VibeRunner()]}


# ---------------------------------------------------------------------- measuring one point


def work(job: dict[str, Any]) -> dict[str, Any]:
    """Run one point in this (fresh) process and return its measurements."""
    runner = RUNNERS[job["runner"]]
    started = time.perf_counter()
    runner.load()
    import_ms = (time.perf_counter() - started) * 1e3
    folder = Path(job["folder"])
    calls = Calls(job.get("calls_log"))
    run = runner.setup(
        job["n"], job["mode"], folder, calls, job.get("fail_at"), job.get("crash_at")
    )
    rss_before = max_rss_kb()
    io0 = proc_io()

    async def timed() -> tuple[float, dict[str, Any]]:
        start = time.perf_counter()
        summary = await run()
        return time.perf_counter() - start, summary

    secs, summary = asyncio.run(timed())
    done_at = time.time()
    io1 = proc_io()
    disk, files = disk_usage(folder)
    return {
        **summary,
        "secs": secs,
        "import_ms": import_ms,
        "spawn_to_result": done_at - job["spawned_at"],
        "wchar": io1["wchar"] - io0["wchar"],
        "write_bytes": io1["write_bytes"] - io0["write_bytes"],
        "disk_bytes": disk,
        "files": files,
        "rss_before_kb": rss_before,
        "rss_peak_kb": max_rss_kb(),
        "executed": len(calls),
    }
