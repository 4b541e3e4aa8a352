"""0.7.1 compatibility of the runs layer: ``WorkflowExecutor(checkpoint_interval=N,
checkpoint_dir=...).execute_plan(plan)`` runs durably."""

from __future__ import annotations

import os

from vibe_aigc.executor import ExecutionResult, WorkflowExecutor
from vibe_aigc.models import WorkflowPlan
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.runs.service import RunService


async def durable_run(
    executor: WorkflowExecutor,
    plan: WorkflowPlan,
    interval: int,
    checkpoint_dir: str | os.PathLike[str] | None,
) -> ExecutionResult:
    """``WorkflowExecutor(checkpoint_interval=N, checkpoint_dir=...).execute_plan(plan)``:
    a durable run of ``plan`` on that executor, as ``MetaPlanner(checkpoint_interval=N)
    .execute(plan)`` runs it (a fresh run; resume it with ``execute_with_resume``)."""
    manager = WorkflowPersistenceManager(checkpoint_dir)
    return await RunService(manager, executor, checkpoint_interval=interval).run(plan)


def install_durable_run() -> None:
    """Hand the scheduler the way to run ``execute_plan`` durably (see executor.core)."""
    from vibe_aigc.executor import core

    core.DURABLE_RUN = durable_run
