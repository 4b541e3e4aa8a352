"""Spending limits for a run: ``--budget 0.50`` / ``MetaPlanner(budget=0.50)``.

:class:`BudgetGate` is both a scheduler hook (it adds up what every finished node cost, from
its usage's ``cost_usd``) and the scheduler's ``admit`` gate: before a paid node starts, its
worst case (prompt + ``max_tokens`` of answer at the configured price) is estimated, and when
that, with the worst cases of the paid nodes still in flight, could take the run over the limit,
no more nodes start. The nodes in flight finish, the
run is checkpointed as ``interrupted`` with the reason, and a resume with a larger budget
continues where it stopped (what resumed nodes cost counts against the new budget too).
"""

from __future__ import annotations

from collections.abc import Callable

from vibe_aigc.models import WorkflowNode
from vibe_aigc.pricing import Budget
from vibe_aigc.results import ExecutionResult, ExecutionStatus, NodeResult

Estimate = Callable[[WorkflowNode, ExecutionResult | None], float | None]
"""A node's worst-case cost in USD, or None when the node costs nothing (offline tools)."""


class BudgetGate:
    """Hook + admit gate over one :class:`~vibe_aigc.pricing.Budget` (module docstring)."""

    def __init__(self, budget: Budget, estimate: Estimate) -> None:
        self.budget = budget
        self.estimate = estimate
        self.state: ExecutionResult | None = None
        self.stopped_at: str | None = None
        self.reserved: dict[str, float] = {}  # worst cases of the paid nodes in flight

    async def on_run_start(self, state: ExecutionResult) -> None:
        self.state = state
        for result in state.node_results.values():  # resumed outputs were paid for too
            if result.status == ExecutionStatus.COMPLETED:
                self.budget.add(result.usage)

    async def on_node_finished(self, result: NodeResult, state: ExecutionResult) -> None:
        self.reserved.pop(result.node_id, None)
        self.budget.add(result.usage)

    async def on_run_end(self, state: ExecutionResult, interrupted: bool) -> None:
        return None

    async def admit(self, node: WorkflowNode) -> str | None:
        worst = self.estimate(node, self.state)
        if worst is None:
            return None
        # nodes in flight may still spend their worst case: count it as spent
        if not self.budget.would_exceed(worst + sum(self.reserved.values())):
            self.reserved[node.id] = worst
            return None
        self.stopped_at = node.id
        return self.budget.message(node.id, worst)
