"""Run validated plans: the ready-queue scheduler, retry policy and progress events."""

from vibe_aigc.context import NodeContext
from vibe_aigc.executor.core import ExecutionHook, WorkflowExecutor
from vibe_aigc.executor.events import EventKind, ProgressCallback, ProgressEvent
from vibe_aigc.executor.runners import LocalRunner, NodeRunner
from vibe_aigc.results import ExecutionResult, ExecutionStatus, NodeResult
from vibe_aigc.retry import RetryPolicy, is_transient, retry_after_of

__all__ = [
    "EventKind",
    "ExecutionHook",
    "ExecutionResult",
    "ExecutionStatus",
    "LocalRunner",
    "NodeContext",
    "NodeResult",
    "NodeRunner",
    "ProgressCallback",
    "ProgressEvent",
    "RetryPolicy",
    "WorkflowExecutor",
    "is_transient",
    "retry_after_of",
]
