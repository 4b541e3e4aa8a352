"""Typed progress events emitted by the scheduler and the runs layer.

An event is plain data: :meth:`ProgressEvent.to_dict` / :meth:`ProgressEvent.from_dict` round
trip it through JSON (a log line, a web page, another process), with a snapshot of the run's
counts. ``state`` is the one in-process extra: the live result, for callbacks that want to
checkpoint from inside a run; it is never serialized.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Any

from vibe_aigc.results import iso_z, utc_now

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
    RUN_RESUMED = "run_resumed"


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
    counts: dict[str, int] = field(default_factory=dict)
    """Nodes per state at the time of the event: completed, failed, skipped, running."""
    run_id: str | None = None
    durable: int | None = None
    """Nodes whose completion is recorded durably (journaled or in a checkpoint)."""
    node_id: str | None = None
    description: str | None = None
    message: str | None = None
    attempt: int | None = None
    delay: float | None = None
    error: str | None = None
    checkpoint_id: str | None = None
    timestamp: datetime = field(default_factory=utc_now)
    state: ExecutionResult | None = field(default=None, repr=False, compare=False)
    """The live result of the run, in-process only (read it, do not mutate it)."""
    run_status: str | None = None
    """The run's status at a ``workflow_completed`` event (kept when serialized)."""

    @property
    def progress_percent(self) -> float:
        """0.7.1's name for :attr:`percent`."""
        return self.percent

    @property
    def metadata(self) -> dict[str, Any]:
        """0.7.1's free-form extras: the event's optional fields."""
        return {name: getattr(self, name) for name in _OPTIONAL if getattr(self, name) is not None}

    @property
    def event_type(self) -> str:
        """0.7.1's name for the kind (``"node_completed"``, ...)."""
        return self.kind.value

    def to_dict(self) -> dict[str, Any]:
        """The event as JSON data (no live objects)."""
        out: dict[str, Any] = {
            "kind": self.kind.value,
            "plan_id": self.plan_id,
            "done": self.done,
            "total": self.total,
            "percent": self.percent,
            "counts": dict(self.counts),
            "timestamp": iso_z(self.timestamp),
        }
        for name in _OPTIONAL:
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        status = self.status
        if status is not None:
            out["status"] = status
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ProgressEvent:
        """The event :meth:`to_dict` made (``state`` is not carried; ``status`` is)."""
        stamp = data.get("timestamp")
        moment = (
            datetime.fromisoformat(stamp.replace("Z", "+00:00"))
            if isinstance(stamp, str)
            else utc_now()
        )
        return cls(
            kind=EventKind(data["kind"]),
            plan_id=str(data["plan_id"]),
            done=int(data["done"]),
            total=int(data["total"]),
            counts={str(k): int(v) for k, v in dict(data.get("counts") or {}).items()},
            timestamp=moment,
            run_status=data.get("status"),
            **{name: data[name] for name in _OPTIONAL if data.get(name) is not None},
        )

    @property
    def percent(self) -> float:
        return 100.0 if self.total == 0 else round(100.0 * self.done / self.total, 1)

    @property
    def status(self) -> str | None:
        """The run's status, for ``workflow_completed`` events."""
        if self.run_status is not None:
            return self.run_status
        return None if self.state is None else self.state.status.value


_OPTIONAL = (
    "node_id",
    "description",
    "message",
    "attempt",
    "delay",
    "error",
    "checkpoint_id",
    "run_id",
    "durable",
)


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
