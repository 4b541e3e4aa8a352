"""The parts of a stored checkpoint record, checked and built: its plan (compared with the
caller's as text when a sealed file hands it over so), its results (built one batch at a time
from a sealed file's entries) and its memos. Every fault is a CheckpointCorruptError naming
the record's source."""

from __future__ import annotations

from typing import Any

from vibe_aigc.errors import CheckpointCorruptError
from vibe_aigc.models import PlanGraph, WorkflowPlan, plan_graph
from vibe_aigc.persistence.codec import parse_kept
from vibe_aigc.persistence.kept import StoredEntries, StoredText, value_texts
from vibe_aigc.persistence.redaction import redact_record
from vibe_aigc.results import ExecutionStatus, NodeResult
from vibe_aigc.runs.plantext import plan_text
from vibe_aigc.runs.stored import (
    direct_result,
    keep_resumed_text,
    node_result_of,
    resumed_text_of,
)


def results_from_record(
    record: dict[str, Any],
    source: str = "checkpoint",
    keep_texts: bool = False,
    resumed: bool = False,
) -> dict[str, NodeResult]:
    """The node results of a checkpoint record; CheckpointCorruptError if one is invalid.
    Results a sealed file handed over unparsed (:class:`StoredEntries`) are parsed and built
    one at a time; with ``keep_texts``, each completed one keeps its snapshot text (see
    :func:`~vibe_aigc.runs.stored.resumed_text_of`, ``results.snapshot_form``).
    ``resumed``: completed ones built in the shapes the library writes come marked resumed
    already (see :func:`~vibe_aigc.runs.stored.direct_result`)."""
    stored = record.get("node_results") or {}
    if type(stored) is StoredText:
        stored = _parsed(stored)
    if type(stored) is not StoredEntries:
        if not isinstance(stored, dict):
            raise CheckpointCorruptError(source, "'node_results' must be an object of objects")
        return {
            node_id: _result(node_id, data, source, resumed) for node_id, data in stored.items()
        }
    out: dict[str, NodeResult] = {}
    for batch_text, lines in stored.batches():
        batch = parse_kept(batch_text, source, "node_results")
        for node_id, data in batch.items():
            out[node_id] = _result(node_id, data, source, resumed)
        if keep_texts:
            keys = list(batch)
            for node_id, text in zip(keys, value_texts(lines, keys), strict=True):
                kept = resumed_text_of(batch[node_id], text) if text is not None else None
                if kept is not None:
                    keep_resumed_text(out[node_id], kept)
    return out


def _result(node_id: str, data: Any, source: str, resumed: bool) -> NodeResult:
    quick = direct_result(node_id, data, resumed)  # the library's shapes: no message made
    if quick is not None:
        return quick
    return node_result_of(node_id, data, source, f"node_results[{node_id!r}]")


def memos_from_record(record: dict[str, Any], source: str) -> dict[str, dict[str, Any]]:
    memos = record.get("memos")
    if memos is None:  # written before memos existed
        return {}
    if not isinstance(memos, dict) or not all(isinstance(v, dict) for v in memos.values()):
        raise CheckpointCorruptError(source, "'memos' must map node ids to objects")
    return {str(k): dict(v) for k, v in memos.items()}


def plan_from_record(record: dict[str, Any], source: str) -> WorkflowPlan:
    """The stored plan; CheckpointCorruptError unless it is a runnable plan of this record."""
    try:
        plan = WorkflowPlan.model_validate(record["workflow_plan"])
    except Exception as exc:
        raise CheckpointCorruptError(source, f"workflow_plan is not a valid plan ({exc})") from None
    if plan.id != record.get("plan_id"):
        # resuming it would write into another plan's folder, without that plan's lock
        raise CheckpointCorruptError(
            source, f"workflow_plan has id {plan.id!r}, not {record.get('plan_id')!r}"
        )
    problems = plan.problems()
    if problems:
        raise CheckpointCorruptError(
            source, "workflow_plan cannot run: " + "; ".join(str(p) for p in problems[:5])
        )
    return plan


def plan_of_record(
    record: dict[str, Any], source: str, given: WorkflowPlan | None
) -> tuple[WorkflowPlan, bool]:
    """The stored plan, or ``given`` itself when it stores as exactly this record's plan: its
    stored form (JSON, redacted) is compared with the record's, so the stored copy need not be
    validated into a second plan (for 100k nodes that took seconds). Any difference takes the
    full path (:func:`plan_from_record`; the caller then compares the plans node by node).
    The flag: True when the plan returned was validated here (the full path).

    A sealed file hands its plan over as text (:class:`~vibe_aigc.persistence.kept.StoredText`,
    see :data:`KEEP_TEXT`): ``given``'s canonical text is compared with it, and the record then
    holds that text (a :class:`JsonText`, what the run's snapshots copy); it is parsed only
    when the two differ."""
    stored = record.get("workflow_plan")
    if (
        given is not None
        and given.id == record.get("plan_id")
        and isinstance(stored, dict | StoredText | StoredEntries)
    ):
        if type(stored) is StoredText:
            text = plan_text(given)
            if text is not None and text == stored.text:
                record["workflow_plan"] = text
                return given, False
        if isinstance(stored, StoredText | StoredEntries):
            stored = record["workflow_plan"] = _parsed(stored)
        mine = redact_record({"workflow_plan": given.model_dump(mode="json")})["workflow_plan"]
        if mine == stored:
            return given, False
    if isinstance(stored, StoredText | StoredEntries):
        record["workflow_plan"] = _parsed(stored)
    return plan_from_record(record, source), True


KEEP_TEXT = ("workflow_plan", "node_results")
"""What a resume asks a sealed checkpoint to hand over unparsed: the plan (compared as text
with the caller's) and the results (built one by one, with their texts)."""


def _parsed(stored: StoredText | StoredEntries) -> Any:
    """The value a sealed file handed over as its text."""
    if isinstance(stored, StoredText):
        return parse_kept(stored.text, stored.source, stored.key)
    value: dict[str, Any] = {}
    for batch_text, _ in stored.batches():
        value.update(parse_kept(batch_text, stored.source, stored.key))
    return value




def check_listed(results: dict[str, NodeResult], listed: Any, source: str) -> None:
    """CheckpointCorruptError unless a record's ``completed_nodes`` names exactly the
    completed entries of its ``node_results``."""
    done = {n for n, r in results.items() if r.status == ExecutionStatus.COMPLETED}
    if not isinstance(listed, list) or set(listed) != done:
        odd = sorted(set(listed if isinstance(listed, list) else []) ^ done)[:5]
        raise CheckpointCorruptError(
            source, f"completed_nodes disagrees with node_results (e.g. {', '.join(odd)})"
        )


def check_closed(
    plan: WorkflowPlan,
    results: dict[str, NodeResult],
    nodes: Any,
    source: str,
    graph: PlanGraph | None = None,
) -> None:
    """CheckpointCorruptError when one of ``nodes`` is completed but something it waits on is
    not: the scheduler never does that, so records in between were lost. ``graph``: the
    plan's, when the caller built it already."""
    if not nodes:
        return
    done = {n for n, r in results.items() if r.status == ExecutionStatus.COMPLETED}
    graph = graph if graph is not None else plan_graph(plan)
    for node_id in sorted(set(nodes) & done):
        waiting = sorted(b for b in graph.before.get(node_id, ()) if b not in done)
        if waiting:
            raise CheckpointCorruptError(
                source,
                f"node {node_id!r} is recorded as completed but {', '.join(waiting[:5])} "
                "(which it waits on) is not",
            )
