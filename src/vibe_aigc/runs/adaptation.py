"""``execute_with_adaptation``: when nodes fail, revise the failed part and run again.

1. Run the plan (``run(plan, {}, None)``: durably or not, as the caller wired it).
2. While the run failed and fewer than ``max_adaptations`` revisions were made: collect the
   failed nodes and their errors, ask the planner for a revised plan (``planner.revise(vibe,
   plan, failures, completed)``; a planner without ``revise`` plans the vibe again under the
   same plan id, which for the offline planner re-runs the failed subtree with the same ids),
   then run the revised plan with every completed node's result passed as ``completed=``: those
   nodes keep their ids and outputs and are not run (or paid for) again.
3. The last run's :class:`ExecutionResult` is returned; ``result.adaptations`` holds one entry
   per revision (``attempt``, ``failed`` {id: error}, ``kept``, ``added``, ``removed``,
   ``planner``, ``status``) and ``result.warnings`` says what was revised.

With checkpointing on, every run is checkpointed under the same plan id; a later resume uses
the newest (revised) plan.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol, runtime_checkable

from vibe_aigc.errors import ConfigurationError, PlanError
from vibe_aigc.models import Vibe, WorkflowPlan
from vibe_aigc.results import ExecutionResult, ExecutionStatus, NodeResult

RunWith = Callable[[WorkflowPlan, dict[str, NodeResult], str | None], Awaitable[ExecutionResult]]
"""Runs a plan with earlier completed results (and the checkpoint they came from)."""


class Planner(Protocol):
    async def plan(self, vibe: Vibe, plan_id: str | None = None) -> WorkflowPlan: ...


@runtime_checkable
class Reviser(Protocol):
    """A planner that can revise a plan after failures."""

    async def revise(
        self,
        vibe: Vibe,
        plan: WorkflowPlan,
        failures: Mapping[str, str],
        completed: Mapping[str, NodeResult],
    ) -> WorkflowPlan: ...


async def revise_plan(
    planner: Planner,
    check_plan: Callable[[WorkflowPlan], object],
    plan: WorkflowPlan,
    failures: Mapping[str, str],
    completed: Mapping[str, NodeResult],
) -> WorkflowPlan:
    if isinstance(planner, Reviser):
        revised = await planner.revise(plan.source_vibe, plan, failures, completed)
    else:
        revised = await planner.plan(plan.source_vibe, plan_id=plan.id)
    if revised.id != plan.id:
        revised = revised.model_copy(update={"id": plan.id})
    check_plan(revised)
    return revised


def _describe(entry: dict[str, Any]) -> str:
    failed = ", ".join(entry["failed"])
    added = ", ".join(entry["added"]) or "none"
    return (
        f"adaptation {entry['attempt']}: nodes {failed} failed; revised plan by "
        f"{entry['planner']} (kept {len(entry['kept'])} completed node(s), new: {added})"
    )


async def execute_with_adaptation(
    plan: WorkflowPlan,
    planner: Planner,
    check_plan: Callable[[WorkflowPlan], object],
    run: RunWith,
    max_adaptations: int = 2,
) -> ExecutionResult:
    """See the module docstring."""
    if isinstance(max_adaptations, bool) or not isinstance(max_adaptations, int):
        raise ConfigurationError("max_adaptations must be a whole number >= 0")
    if max_adaptations < 0:
        raise ConfigurationError("max_adaptations must be >= 0")
    result = await run(plan, {}, None)
    history: list[dict[str, Any]] = []
    notes: list[str] = []
    planner_name = str(getattr(planner, "name", type(planner).__name__))
    while result.status == ExecutionStatus.FAILED and len(history) < max_adaptations:
        failures = {
            node_id: r.error or "failed"
            for node_id, r in result.node_results.items()
            if r.status == ExecutionStatus.FAILED
        }
        if not failures:
            break
        completed = {
            node_id: r
            for node_id, r in result.node_results.items()
            if r.status == ExecutionStatus.COMPLETED
        }
        entry: dict[str, Any] = {
            "attempt": len(history) + 1,
            "failed": failures,
            "kept": sorted(completed),
            "planner": planner_name,
        }
        try:
            revised = await revise_plan(planner, check_plan, plan, failures, completed)
        except PlanError as exc:
            entry.update(added=[], removed=[], status="not revised", error=str(exc))
            history.append(entry)
            notes.append(f"adaptation {entry['attempt']}: the planner could not revise: {exc}")
            break
        old, new = set(plan.node_ids), set(revised.node_ids)
        entry["added"] = [n for n in revised.node_ids if n not in old]
        entry["removed"] = [n for n in plan.node_ids if n not in new]
        entry["dropped_completed"] = sorted(set(completed) - new)
        kept = {k: v for k, v in completed.items() if k in new}
        result = await run(revised, kept, result.checkpoint_id)
        entry["status"] = result.status.value
        history.append(entry)
        notes.append(_describe(entry))
        plan = revised
    result.adaptations = history
    result.warnings.extend(notes)
    return result
