"""Execution results: pure data shared by the executor, persistence and the CLI."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel, Field, field_validator

from vibe_aigc.jsondata import JsonText
from vibe_aigc.lean import LeanRecord, lean_build, shared_fields_set


def utc_now() -> datetime:
    """The current time in UTC. Tests patch this for hermetic clocks."""
    return datetime.now(UTC)


def iso_z(moment: datetime | None) -> str | None:
    """ISO-8601 UTC with a ``Z`` suffix."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class ExecutionStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"
    INTERRUPTED = "interrupted"  # a run stopped before the end (a budget), resumable


class TextOutput(dict[str, Any]):
    """A node output that carries text: a JSON mapping (``output["text"]``, ``output["tool"]``,
    ...) that also reads as its text, as 0.7.1's string outputs did: ``str(output)`` is the
    text and ``output[:100]`` its first 100 characters (workflows.md, "Handling Results")."""

    @property
    def text(self) -> str:
        return str(dict.get(self, "text", ""))

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, slice):
            return self.text[key]
        return dict.__getitem__(self, key)

    def __str__(self) -> str:
        return self.text

    def __format__(self, spec: str) -> str:
        return format(self.text, spec)


def as_output(value: Any) -> Any:
    """``value``, as a :class:`TextOutput` when it is a mapping with a ``"text"`` string."""
    if type(value) is dict and isinstance(value.get("text"), str):
        return TextOutput(value)
    return value


class NodeResult(LeanRecord):
    """What happened to one node.

    Compatibility with 0.7.1: ``NodeResult("n", status, result=..., error=...)`` positionally,
    and ``.result`` for the output.
    """

    __slots__ = ("_snapshot_form",)  # see snapshot_form

    node_id: str
    status: ExecutionStatus = ExecutionStatus.PENDING
    output: Any = None
    error: str | None = None
    attempts: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    duration: float | None = None
    usage: dict[str, float] | None = None
    resumed: bool = False  # True when the output came from a checkpoint, not this run

    def __init__(
        self,
        node_id: str | None = None,
        status: ExecutionStatus | str | None = None,
        result: Any = None,
        error: str | None = None,
        duration: float | None = None,
        **data: Any,
    ) -> None:
        positional = {"node_id": node_id, "status": status, "error": error, "duration": duration}
        data.update({k: v for k, v in positional.items() if v is not None})
        if result is not None:
            data.setdefault("output", result)
        super().__init__(**data)

    @field_validator("output", mode="after")
    @classmethod
    def _text_output(cls, value: Any) -> Any:
        return as_output(value)

    @property
    def result(self) -> Any:
        """0.7.1's name for :attr:`output`."""
        return self.output

    @classmethod
    def trusted(cls, fields: dict[str, Any]) -> NodeResult:
        """A result from ``fields`` the caller built with the right types (the scheduler):
        what ``model_construct(**fields)`` makes (no validation, the other fields at their
        defaults, the given ones the fields set), at a third of its cost: one is made per
        node attempt. ``fields`` is not kept."""
        if _LEAN_OK:
            return _lean_result(fields)
        return cls.model_construct(**fields)


SnapshotForm = dict[str, Any] | JsonText
"""A result's JSON form in a snapshot: its canonical text, or its JSON data."""


def snapshot_form(result: NodeResult) -> SnapshotForm | None:
    """The JSON form a run's snapshots hold for ``result`` (its canonical text, mostly), kept
    with the result by :func:`keep_snapshot_form`; None when none was kept. Kept in a slot of
    the result itself: no table of its own (~100 bytes a result at 100k nodes), and a copy of
    the result, a different result, has none (pydantic's copies and pickles skip slots)."""
    form: SnapshotForm | None = getattr(result, "_snapshot_form", None)
    return form


def keep_snapshot_form(result: NodeResult, form: SnapshotForm | None) -> None:
    """Keep ``form`` as the JSON form of ``result`` as it is now (see :func:`snapshot_form`)."""
    object.__setattr__(result, "_snapshot_form", form)


# NodeResult.trusted's starting point: each field's default (None for the required node_id)
_RESULT_TEMPLATE: dict[str, Any] = {
    name: None if info.is_required() else info.get_default(call_default_factory=True)
    for name, info in NodeResult.model_fields.items()
}


_FIELDS_SETS: dict[tuple[str, ...], set[str]] = {}  # given field names -> the shared set


def _lean_result(fields: dict[str, Any]) -> NodeResult:
    values = dict(_RESULT_TEMPLATE)  # every field, in the model's order
    values.update(fields)
    names = tuple(fields)
    fields_set = _FIELDS_SETS.get(names)
    if fields_set is None:  # a handful of distinct ones per run
        fields_set = _FIELDS_SETS.setdefault(names, shared_fields_set(set(names)))
    return lean_build(NodeResult, values, fields_set)


def _lean_matches() -> bool:
    """A lean result is what pydantic's model_construct makes (else, another pydantic:
    NodeResult.trusted leaves it to pydantic)."""
    probe: dict[str, Any] = {"node_id": "x", "status": ExecutionStatus.COMPLETED, "attempts": 1}
    lean, built = _lean_result(probe), NodeResult.model_construct(**probe)
    return (
        lean == built
        and list(vars(lean)) == list(vars(built))
        and lean.model_fields_set == built.model_fields_set
    )


_LEAN_OK = _lean_matches()


def pending_results(
    node_ids: Iterable[str], taken: Mapping[str, NodeResult]
) -> dict[str, NodeResult]:
    """``{node_id: NodeResult(node_id=node_id)}`` for every id, in order, each made by
    :meth:`NodeResult.trusted` (for 100k nodes pydantic's constructor alone took most of a
    second); a node completed in ``taken`` gets that result instead."""
    done = ExecutionStatus.COMPLETED
    return {
        n: r if (r := taken.get(n)) is not None and r.status == done else _pending(n)
        for n in node_ids
    }


def _pending(node_id: str) -> NodeResult:
    return NodeResult.trusted({"node_id": node_id})


class ExecutionResult(BaseModel):
    """The outcome of running a plan (0.7.1: ``ExecutionResult("plan-1")`` and
    ``add_node_result(result)`` work too)."""

    plan_id: str
    status: ExecutionStatus = ExecutionStatus.PENDING
    node_results: dict[str, NodeResult] = Field(default_factory=dict)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    resumed_from: str | None = None
    warnings: list[str] = Field(default_factory=list)
    checkpoint_id: str | None = None  # the last checkpoint written for this run, if any
    # execute_with_adaptation: one entry per revised plan (failed nodes, kept, added, removed)
    adaptations: list[dict[str, Any]] = Field(default_factory=list)
    # tokens (and cost) the planner spent planning this run's plan, counted in total_usage
    planning_usage: dict[str, float] = Field(default_factory=dict)

    def __init__(self, plan_id: str | None = None, **data: Any) -> None:
        if plan_id is not None:
            data["plan_id"] = plan_id
        super().__init__(**data)

    @classmethod
    def starting(
        cls, plan_id: str, node_ids: Iterable[str], taken: Mapping[str, NodeResult] | None = None
    ) -> ExecutionResult:
        """A run's state before it starts: pending, one result per node, in order. A node
        completed in ``taken`` holds that result (the run takes it over, as it is or as a
        copy), not a pending one made only to be replaced (45k of them on a resume at 90 %)."""
        results = pending_results(node_ids, taken or {})
        return cls(plan_id=plan_id, status=ExecutionStatus.PENDING, node_results=results)

    def add_node_result(self, result: NodeResult) -> None:
        """Record a node's result (0.7.1's way of building a result by hand)."""
        self.node_results[result.node_id] = result

    def count(self, status: ExecutionStatus) -> int:
        return sum(1 for r in self.node_results.values() if r.status == status)

    @property
    def completed_nodes(self) -> list[str]:
        return [k for k, r in self.node_results.items() if r.status == ExecutionStatus.COMPLETED]

    @property
    def pending_nodes(self) -> list[str]:
        return [k for k, r in self.node_results.items() if r.status != ExecutionStatus.COMPLETED]

    def outputs(self) -> dict[str, Any]:
        return {k: r.output for k, r in self.node_results.items() if r.output is not None}

    def total_usage(self) -> dict[str, float]:
        total: dict[str, float] = dict(self.planning_usage)
        for r in self.node_results.values():
            for key, value in (r.usage or {}).items():
                total[key] = total.get(key, 0) + value
        return total

    def failed_checks(self) -> dict[str, list[str]]:
        """Checks that completed nodes reported as failed: ``{node_id: [check, ...]}`` for every
        output with ``"passed": False`` (a review that found the brief not met)."""
        out: dict[str, list[str]] = {}
        for node_id, r in self.node_results.items():
            output = r.output
            if (
                r.status == ExecutionStatus.COMPLETED
                and isinstance(output, dict)
                and output.get("passed") is False
            ):
                checks = output.get("failed_checks") or ["a check failed"]
                out[node_id] = [str(c) for c in checks] if isinstance(checks, list) else []
        return out

    def get_summary(self) -> dict[str, Any]:
        duration = None
        if self.started_at is not None and self.completed_at is not None:
            duration = round((self.completed_at - self.started_at).total_seconds(), 6)
        summary: dict[str, Any] = {
            "plan_id": self.plan_id,
            "status": self.status.value,
            "total_nodes": len(self.node_results),
            "completed": self.count(ExecutionStatus.COMPLETED),
            "failed": self.count(ExecutionStatus.FAILED),
            "skipped": self.count(ExecutionStatus.SKIPPED),
            "total_duration": duration,
            "started_at": iso_z(self.started_at),
            "completed_at": iso_z(self.completed_at),
        }
        if self.resumed_from is not None:
            summary["resumed_from"] = self.resumed_from
        usage = self.total_usage()
        if usage:
            summary["usage"] = usage
        failed_checks = self.failed_checks()
        summary["checks_passed"] = not failed_checks
        if failed_checks:
            summary["failed_checks"] = failed_checks
        return summary
