"""What a node's work sees: the vibe, the plan, and the outputs it depends on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from vibe_aigc.models import Vibe, WorkflowPlan


class Memo(Protocol):
    """Per-node notes that survive a crash (e.g. a provider's job id, recorded before polling).

    ``remember`` returns only once the note is durable (journaled and fsync'd when the run is
    checkpointed). ``recall`` gives back what an earlier attempt or an earlier process recorded.
    """

    async def remember(self, node_id: str, key: str, value: Any) -> None: ...

    def recall(self, node_id: str, key: str) -> Any: ...


class InMemoryMemo:
    """The memo of a run without checkpoints: survives retries, not crashes."""

    def __init__(self, initial: dict[str, dict[str, Any]] | None = None) -> None:
        self.notes: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (initial or {}).items()}

    async def remember(self, node_id: str, key: str, value: Any) -> None:
        self.notes.setdefault(node_id, {})[key] = value

    def recall(self, node_id: str, key: str) -> Any:
        return self.notes.get(node_id, {}).get(key)


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
    node_id: str = ""
    memo: Memo = field(default_factory=InMemoryMemo)

    async def remember(self, key: str, value: Any) -> None:
        """Durably note ``value`` (JSON data) for this node, e.g. a submitted job's id."""
        await self.memo.remember(self.node_id, key, value)

    def recall(self, key: str) -> Any:
        """What this node noted earlier (in an earlier attempt or process), or None."""
        return self.memo.recall(self.node_id, key)

    @property
    def inputs(self) -> dict[str, Any]:
        """Dependency outputs then child outputs, in one mapping."""
        return {**self.dependency_outputs, **self.child_outputs}
