"""Where a node's work runs: the :class:`NodeRunner` the scheduler hands each call to.

The scheduler (:mod:`.core`) keeps everything that makes a run durable and predictable: the
ready queue, priorities, ``max_concurrency``, retries with backoff, timeouts, hooks (journal,
snapshots) and events. Only the call ``executor.execute_node(node, context)`` goes through a
runner, once per attempt:

* :class:`LocalRunner` (the default) awaits it in this process, on the scheduler's loop.
* :class:`~vibe_aigc.executor.ray_runner.RayRunner` ships it to a Ray task on a cluster and
  awaits the task's result; the driver still records it.

A runner returns what ``execute_node`` returned, or raises what it raised (the scheduler
classifies the error for its retry policy); cancelling the await cancels the work.
"""

from __future__ import annotations

from typing import Any, Protocol

from vibe_aigc.context import NodeContext
from vibe_aigc.models import WorkflowNode


class NodeWork(Protocol):
    """What a runner calls: a :class:`~vibe_aigc.executor.WorkflowExecutor` (or subclass)."""

    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any: ...


class NodeRunner(Protocol):
    """Runs one attempt of one node's work somewhere and returns its output."""

    async def run(self, work: NodeWork, node: WorkflowNode, context: NodeContext) -> Any: ...


class LocalRunner:
    """Runs ``execute_node`` in this process (the behaviour of every run without a backend)."""

    name = "local"

    async def run(self, work: NodeWork, node: WorkflowNode, context: NodeContext) -> Any:
        return await work.execute_node(node, context)

    def __repr__(self) -> str:
        return "LocalRunner()"
