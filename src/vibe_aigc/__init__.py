"""vibe-aigc: from a creative intent (a Vibe) to a durable, resumable workflow.

Public names only; ``tests/test_project.py`` checks this list.
"""

from typing import Any as _Any

from vibe_aigc.context import NodeContext
from vibe_aigc.errors import (
    ArchiveError,
    CheckpointCorruptError,
    CheckpointEncodeError,
    CheckpointError,
    CheckpointLockedError,
    CheckpointNotFoundError,
    CheckpointWriteError,
    ConfigurationError,
    ExecutionError,
    InvalidIdError,
    LineageError,
    NodeExecutionError,
    PlanError,
    PlanMismatchError,
    PlanningError,
    PlanValidationError,
    StoreUnavailableError,
    ToolError,
    TransientError,
    UnsupportedSchemaError,
    VibeError,
)
from vibe_aigc.executor import (
    EventKind,
    ExecutionResult,
    ExecutionStatus,
    NodeResult,
    ProgressEvent,
    RetryPolicy,
    WorkflowExecutor,
)
from vibe_aigc.llm import LLMConfig
from vibe_aigc.models import Vibe, WorkflowNode, WorkflowNodeType, WorkflowPlan
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.planner import MetaPlanner


def __getattr__(name: str) -> _Any:
    """``__version__``, read from the installed package's metadata when first asked for
    (importing ``importlib.metadata`` and finding the package took 40 ms at every start)."""
    if name != "__version__":
        raise AttributeError(f"module 'vibe_aigc' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        found = version("vibe-aigc")
    except PackageNotFoundError:  # running from a source tree that was never installed
        found = "0.0.0+unknown"
    globals()["__version__"] = found
    return found

__all__ = [
    "ArchiveError",
    "CheckpointCorruptError",
    "CheckpointEncodeError",
    "CheckpointError",
    "CheckpointLockedError",
    "CheckpointNotFoundError",
    "CheckpointWriteError",
    "ConfigurationError",
    "EventKind",
    "ExecutionError",
    "ExecutionResult",
    "ExecutionStatus",
    "InvalidIdError",
    "LLMConfig",
    "LineageError",
    "MetaPlanner",
    "NodeContext",
    "NodeExecutionError",
    "NodeResult",
    "PlanError",
    "PlanMismatchError",
    "PlanValidationError",
    "PlanningError",
    "ProgressEvent",
    "RetryPolicy",
    "StoreUnavailableError",
    "ToolError",
    "TransientError",
    "UnsupportedSchemaError",
    "Vibe",
    "VibeError",
    "WorkflowExecutor",
    "WorkflowNode",
    "WorkflowNodeType",
    "WorkflowPersistenceManager",
    "WorkflowPlan",
    "__version__",
]
