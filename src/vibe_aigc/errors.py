"""The one exception tree of vibe-aigc.

::

    VibeError
    ├── ConfigurationError            bad settings (an interval < 1, an unusable folder, ...)
    │   └── ClusterResourceError      no node of the cluster has the resources a node asks for
    ├── PlanError
    │   ├── PlanValidationError       a plan that must not run; ``.problems`` lists every fault
    │   └── PlanningError             a planner (LLM) could not produce a valid plan
    ├── ExecutionError
    │   ├── NodeExecutionError        a node's work failed (permanent)
    │   │   └── NodeOutputError       its output is not JSON data (``.path`` of the bad value)
    │   ├── TransientError            a failure worth retrying (``.retry_after`` seconds, optional)
    │   └── ToolError                 a tool is unknown or was misused
    └── CheckpointError
        ├── InvalidIdError            an id / plan id that is not a safe name (also a ValueError)
        ├── CheckpointNotFoundError   no such checkpoint / plan (also KeyError, FileNotFoundError)
        ├── CheckpointCorruptError    a record failed its checksum, schema or shape check
        │                             (also a RuntimeError)
        │   └── UnsupportedSchemaError  written by a newer vibe-aigc; upgrade to read it
        ├── CheckpointEncodeError     a record is not storable JSON data (also a ValueError)
        ├── CheckpointLockedError     another process is running the same plan
        ├── CheckpointWriteError      the disk refused a write (full, read-only, I/O error)
        ├── StoreUnavailableError     the database stayed away past ``retry_seconds`` (reads
        │                             and writes); nothing is corrupt, resume when it is back
        ├── PlanMismatchError         the stored plan differs from the plan given to resume
        ├── LineageError              a fork / retry that cannot be made (unknown node, taken id)
        └── ArchiveError              an export archive refused on import (``.member``, ``.reason``)

Every error carries structured fields and a message that says what to do next.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class VibeError(Exception):
    """Base class of every error raised by vibe-aigc."""


class ConfigurationError(VibeError, ValueError):
    """A setting is invalid (for example ``checkpoint_interval=0``)."""


class ClusterResourceError(ConfigurationError):
    """No alive node of the Ray cluster has what a node asks for (``parameters["resources"]``);
    the node fails at once instead of waiting forever for a machine that does not exist."""

    def __init__(self, node_id: str, wanted: dict[str, float], offered: list[dict[str, float]]):
        self.node_id = node_id
        self.wanted = dict(wanted)
        self.offered = [dict(o) for o in offered]
        shown = "; ".join(
            ", ".join(f"{k}={v:g}" for k, v in sorted(o.items()) if k in self.wanted) or "none"
            for o in self.offered
        )
        super().__init__(
            f"node {node_id!r} asks for {', '.join(f'{k}={v:g}' for k, v in wanted.items())} "
            f"but no alive node of the cluster has that (nodes offer: {shown or 'no nodes'}); "
            "add a node with those resources (ray start --resources=...) or change the "
            "node's parameters['resources']"
        )

    def __reduce__(self) -> tuple[type[ClusterResourceError], tuple[object, ...]]:
        return (type(self), (self.node_id, self.wanted, self.offered))


# --------------------------------------------------------------------------- plans


@dataclass(frozen=True)
class PlanProblem:
    """One fault found while validating a plan."""

    kind: str  # duplicate_id | missing_dependency | cycle | invalid_id | empty_description | ...
    node_id: str | None
    message: str

    def __str__(self) -> str:
        where = f"[{self.node_id}] " if self.node_id is not None else ""
        return f"{self.kind}: {where}{self.message}"


class PlanError(VibeError):
    """Base class of planning and plan-shape errors."""


class PlanValidationError(PlanError, ValueError):
    """A plan failed validation. ``problems`` lists every fault at once."""

    def __init__(self, problems: Sequence[PlanProblem], plan_id: str | None = None) -> None:
        self.problems: list[PlanProblem] = list(problems)
        self.plan_id = plan_id
        head = f"plan {plan_id!r} is invalid" if plan_id else "plan is invalid"
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{head} ({len(self.problems)} problem(s)):\n{lines}")

    @property
    def kinds(self) -> set[str]:
        return {p.kind for p in self.problems}


class PlanningError(PlanError):
    """A planner could not produce a valid plan (e.g. a model kept answering badly)."""


# --------------------------------------------------------------------------- execution


class ExecutionError(VibeError):
    """Base class of errors raised while running nodes."""


class NodeExecutionError(ExecutionError):
    """A node's work failed for good (not retried)."""

    def __init__(self, message: str, node_id: str | None = None) -> None:
        self.node_id = node_id
        super().__init__(message)


class NodeOutputError(NodeExecutionError):
    """A node returned something that is not JSON data; the node fails, the run goes on.

    ``path`` names the bad value inside the output (``output.images[2]``)."""

    def __init__(self, node_id: str, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"output of node {node_id!r} is not JSON data at {path}: {reason}; return dicts "
            "with string keys, lists, strings, numbers, booleans or None, and store binary "
            "data as artifacts",
            node_id,
        )


class TransientError(ExecutionError):
    """A failure worth retrying: rate limits, timeouts, 5xx. ``retry_after`` in seconds;
    ``host`` names the server that failed (``host:port``), when known."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status_code: int | None = None,
        host: str | None = None,
    ) -> None:
        self.retry_after = retry_after
        self.status_code = status_code
        self.host = host
        super().__init__(message)


class ToolError(ExecutionError):
    """A tool is unknown, not allowed, or was called with bad parameters."""


# --------------------------------------------------------------------------- checkpoints


class CheckpointError(VibeError):
    """Base class of checkpoint and persistence errors."""


class InvalidIdError(CheckpointError, ValueError):
    """An id is not a safe name; it never reaches the file system."""

    def __init__(self, kind: str, value: object, rule: str) -> None:
        self.kind = kind
        self.value = value
        self.rule = rule
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"invalid {kind} {shown}: {rule}")


class CheckpointNotFoundError(CheckpointError, KeyError, FileNotFoundError):
    """No checkpoint (or plan) with that id (also a ``KeyError`` and, as in 0.7.1, a
    ``FileNotFoundError``)."""

    def __init__(self, checkpoint_id: str, message: str | None = None) -> None:
        self.checkpoint_id = checkpoint_id
        self.message = message or (
            f"checkpoint {checkpoint_id!r} not found; "
            "use list_checkpoints() (or `vibe-aigc checkpoints --list`) to see the ids that exist"
        )
        super().__init__(self.message)

    def __str__(self) -> str:  # KeyError would quote the message
        return self.message


class CheckpointCorruptError(CheckpointError, RuntimeError):
    """A checkpoint or journal record failed its schema, shape or checksum check (also a
    ``RuntimeError``, as in 0.7.1)."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(
            f"checkpoint file {path} is corrupt: {reason}. "
            "Resume from an older checkpoint (list_checkpoints()) or delete this one."
        )


class CheckpointLockedError(CheckpointError):
    """Another process holds the plan's lock."""

    def __init__(self, plan_id: str, holder: str) -> None:
        self.plan_id = plan_id
        self.holder = holder
        super().__init__(
            f"plan {plan_id!r} is being run by another process ({holder}); "
            "wait for it to finish or stop it, then resume"
        )


class CheckpointWriteError(CheckpointError, OSError):
    """The disk refused a write; earlier checkpoints are intact."""

    def __init__(self, path: str, cause: BaseException) -> None:
        self.path = path
        self.cause = cause
        super().__init__(
            f"could not write checkpoint data under {path}: {cause}. "
            "Earlier checkpoints are intact; free space or fix permissions, then run the same "
            "command again (it continues from the last checkpoint, if there is one)."
        )


class StoreUnavailableError(CheckpointError):
    """A database store could not be reached (or stayed locked) for longer than its retry
    budget, on a read or a write. Nothing stored is damaged: never a reason to skip a
    checkpoint or fall back to an older one; resume once the database is back."""

    def __init__(self, url: str, what: str, reason: str) -> None:
        self.url = url
        self.what = what
        self.reason = reason
        super().__init__(
            f"the store {url} is unavailable: could not {what} ({reason}). Nothing recorded "
            "is lost; resume when the database is reachable again."
        )


class PlanMismatchError(CheckpointError):
    """The plan given to resume differs from the plan stored in the checkpoint."""

    def __init__(self, plan_id: str, changed: Sequence[str]) -> None:
        self.plan_id = plan_id
        self.changed = list(changed)
        super().__init__(
            f"plan {plan_id!r} differs from the stored plan in node(s): "
            f"{', '.join(self.changed) or '(plan attributes)'}; "
            "resume with the stored plan (pass the vibe or plan id), or use a new plan id"
        )


class LineageError(CheckpointError):
    """A fork, a retry or a run lookup that cannot be made; the message says why and what next."""


class ArchiveError(CheckpointError):
    """An archive refused by ``import``: an unsafe or unexpected member, a size over the
    limits, or a manifest that does not match the contents. Nothing was written."""

    def __init__(self, archive: str, member: str | None, reason: str) -> None:
        self.archive = archive
        self.member = member
        self.reason = reason
        where = f" (member {member!r})" if member is not None else ""
        super().__init__(
            f"refused archive {archive}{where}: {reason}; nothing was written. Import only "
            "archives made by `vibe-aigc export`"
        )


class UnsupportedSchemaError(CheckpointCorruptError):
    """A checkpoint or journal record was written by a newer vibe-aigc (its schema is unknown)."""

    def __init__(self, path: str, version: int, supported: int) -> None:
        self.path = path
        self.version = version
        self.supported = supported
        self.reason = (
            f"schema_version {version} is newer than {supported}: "
            "written by a newer vibe-aigc; upgrade"
        )
        CheckpointError.__init__(
            self,
            f"checkpoint file {path} was written by a newer vibe-aigc (schema_version "
            f"{version}; this one reads up to {supported}); upgrade vibe-aigc to load it",
        )


class CheckpointEncodeError(CheckpointError, ValueError):
    """A record cannot be stored as given (not JSON data, a reserved key, a bad ``seq``).

    Nothing was written. ``where`` names the offending part of the record.
    """

    def __init__(self, where: str, reason: str) -> None:
        self.where = where
        self.reason = reason
        super().__init__(
            f"cannot store checkpoint data: {where}: {reason}. "
            "Checkpoints hold JSON data only (dict with str keys, list, str, int, finite float, "
            "bool, None); store binary outputs as files and reference them by path"
        )
