"""Typed progress events emitted by the scheduler."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from vibe_aigc.results import utc_now

if TYPE_CHECKING:
    from vibe_aigc.results import ExecutionResult

log = logging.getLogger("vibe_aigc.executor")


class EventKind(str, Enum):
    WORKFLOW_STARTED = "workflow_started"
    WORKFLOW_COMPLETED = "workflow_completed"
    NODE_STARTED = "node_started"
    NODE_COMPLETED = "node_completed"
    NODE_FAILED = "node_failed"
    NODE_RETRYING = "node_retrying"
    NODE_SKIPPED = "node_skipped"
    CHECKPOINT_SAVED = "checkpoint_saved"


@dataclass(frozen=True)
class ProgressEvent:
    """One thing that happened during a run.

    ``done`` counts finished nodes (completed, failed or skipped) out of ``total``.
    ``state`` is the live :class:`ExecutionResult` of the run (read it, do not mutate it);
    pass it to ``MetaPlanner.create_checkpoint`` to checkpoint from inside a callback.
    """

    kind: EventKind
    plan_id: str
    done: int
    total: int
    node_id: str | None = None
    description: str | None = None
    message: str | None = None
    attempt: int | None = None
    delay: float | None = None
    error: str | None = None
    checkpoint_id: str | None = None
    timestamp: datetime = field(default_factory=utc_now)
    state: ExecutionResult | None = field(default=None, repr=False, compare=False)

    @property
    def percent(self) -> float:
        return 100.0 if self.total == 0 else round(100.0 * self.done / self.total, 1)

    @property
    def status(self) -> str | None:
        """The run's status, for ``workflow_completed`` events."""
        return None if self.state is None else self.state.status.value


ProgressCallback = Callable[[ProgressEvent], Awaitable[None] | None]


async def emit(callbacks: list[ProgressCallback], event: ProgressEvent) -> None:
    """Deliver an event to every callback; a failing callback is logged, never fatal."""
    for callback in callbacks:
        try:
            outcome: Any = callback(event)
            if inspect.isawaitable(outcome):
                await outcome
        except Exception:  # a display bug must not lose paid-for work
            log.warning(
                "progress callback %r failed on %s", callback, event.kind.value, exc_info=True
            )
