"""What a node's work sees: the vibe, the plan, and the outputs it depends on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vibe_aigc.models import Vibe, WorkflowPlan


@dataclass
class NodeContext:
    """Passed to ``WorkflowExecutor.execute_node`` and to tools.

    ``dependency_outputs`` maps each dependency in force (own and inherited) to its output;
    ``child_outputs`` maps each child of a parent node to its output. ``services`` carries
    optional collaborators (an LLM client, an artifact store) keyed by name.
    """

    vibe: Vibe
    plan: WorkflowPlan
    dependency_outputs: dict[str, Any] = field(default_factory=dict)
    child_outputs: dict[str, Any] = field(default_factory=dict)
    attempt: int = 1
    services: dict[str, Any] = field(default_factory=dict)

    @property
    def inputs(self) -> dict[str, Any]:
        """Dependency outputs then child outputs, in one mapping."""
        return {**self.dependency_outputs, **self.child_outputs}
