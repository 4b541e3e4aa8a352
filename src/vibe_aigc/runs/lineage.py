"""Runs that continue another run: an edited plan, a fork from a checkpoint, a retry.

Everything here is pure planning of *what to keep*: which completed outputs a new run takes over
(same node fingerprint, :mod:`.fingerprint`) and which nodes run again (changed, asked for, or
downstream of either). :class:`~vibe_aigc.runs.service.RunService` does the running.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from vibe_aigc.errors import LineageError
from vibe_aigc.models import SAFE_ID_RULE, WorkflowPlan, is_safe_id, iter_nodes, plan_graph
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.persistence.blobs import is_artifact_ref
from vibe_aigc.persistence.records import Record
from vibe_aigc.results import ExecutionStatus, NodeResult
from vibe_aigc.runs.checked import plan_from_record, results_from_record
from vibe_aigc.runs.fingerprint import node_fingerprints
from vibe_aigc.runs.resume import ResumeState


@dataclass
class PlanChanges:
    """How a new plan relates to a stored run: the ``--dry-run`` diff.

    ``reused``: completed outputs taken over (same fingerprint). ``rerun``: nodes of both plans
    that run again (changed, asked for, or downstream of one). ``pending``: unchanged nodes that
    had not completed (they run, as on any resume). ``new`` / ``removed``: nodes of only the new
    / only the stored plan.
    """

    reused: list[str] = field(default_factory=list)
    rerun: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.rerun or self.new or self.removed)

    def as_dict(self) -> dict[str, list[str]]:
        return {
            "reused": self.reused,
            "rerun": self.rerun,
            "pending": self.pending,
            "new": self.new,
            "removed": self.removed,
        }


def plan_changes(
    stored: WorkflowPlan,
    completed: Mapping[str, NodeResult],
    given: WorkflowPlan,
    forced: Iterable[str] = (),
) -> PlanChanges:
    """Compare ``given`` with the ``stored`` plan of a run that completed ``completed``;
    ``forced`` nodes (with their sub-tasks, and everything downstream of them) run again
    whatever their fingerprint."""
    old, new = node_fingerprints(stored), node_fingerprints(given)
    graph = plan_graph(given)
    again: set[str] = set()
    for node_id in forced:
        if node_id not in graph.nodes:
            raise LineageError(
                f"plan {given.id!r} has no node {node_id!r}; its nodes are: "
                + ", ".join(graph.order[:20])
            )
        # the node, its sub-tasks, and everything that waits on any of them
        subtree = {n.id for n in iter_nodes([graph.nodes[node_id]])}
        for member in subtree:
            again |= {member, *graph.descendants_after(member)}
    out = PlanChanges()
    for node_id in given.node_ids:
        if node_id not in old:
            out.new.append(node_id)
        elif old[node_id] != new[node_id] or node_id in again:
            out.rerun.append(node_id)
        elif node_id in completed and completed[node_id].status == ExecutionStatus.COMPLETED:
            out.reused.append(node_id)
        else:
            out.pending.append(node_id)
    out.removed = [n for n in stored.node_ids if n not in new]
    return out


def kept_results(
    completed: Mapping[str, NodeResult], changes: PlanChanges
) -> dict[str, NodeResult]:
    return {n: completed[n] for n in changes.reused}


def origins_for(record: Record, kept: Iterable[str]) -> dict[str, str]:
    """Which run produced each kept output: the record's own ``origins``, else its run."""
    earlier = record.get("origins")
    earlier = earlier if isinstance(earlier, dict) else {}
    run_id = str(record.get("run_id"))
    return {n: str(earlier.get(n, run_id)) for n in kept}


def lineage_extras(record: Record, checkpoint_id: str, kept: Iterable[str]) -> Record:
    """The lineage keys of a run continuing the run of ``record`` (see records: Lineage)."""
    return {
        "parent_run_id": str(record.get("run_id")),
        "parent_checkpoint_id": checkpoint_id,
        "parent_plan_id": str(record.get("plan_id")),
        "origins": origins_for(record, kept),
    }


def parse_setting(text: str) -> tuple[str, str, Any]:
    """``NODE.PARAM=VALUE`` -> (node, param, value); VALUE is JSON when it parses, else text."""
    target, eq, raw = text.partition("=")
    node_id, dot, param = target.rpartition(".")
    if not eq or not dot or not node_id or not param:
        raise LineageError(f"--set {text!r}: write NODE.PARAM=VALUE (e.g. draft.words=300)")
    try:
        value: Any = json.loads(raw)
    except ValueError:
        value = raw
    return node_id, param, value


def edited_plan(
    source: WorkflowPlan, plan_id: str, settings: Iterable[tuple[str, str, Any]]
) -> WorkflowPlan:
    """A copy of ``source`` under ``plan_id`` with the parameters ``settings`` changed."""
    if not is_safe_id(plan_id):
        raise LineageError(f"plan id {plan_id!r}: {SAFE_ID_RULE}")
    plan = source.model_copy(deep=True, update={"id": plan_id})
    for node_id, param, value in settings:
        node = plan.get_node(node_id)
        if node is None:
            raise LineageError(f"--set: plan {source.id!r} has no node {node_id!r}")
        node.parameters[param] = value
    return plan


def fork_plan_id(source_id: str) -> str:
    """A new plan id for a fork of ``source_id`` (always a safe id)."""
    return f"{source_id[:100]}-fork-{uuid.uuid4().hex[:8]}"


def retry_targets(state: ResumeState) -> list[str]:
    """The failed and skipped nodes of a resumed state, in plan order."""
    wanted = set(state.retryable)
    return [n for n in state.plan.node_ids if n in wanted]


def take_over(state: ResumeState, changes: PlanChanges, given: WorkflowPlan) -> None:
    """Make ``state`` the start of a run of ``given``: only reused outputs stay completed,
    and only unchanged pending nodes keep their notes."""
    state.completed = kept_results(state.completed, changes)
    pending = set(changes.pending)
    state.memos = {n: m for n, m in state.memos.items() if n in pending}
    state.plan = given
    if changes.changed:
        state.warnings.append(
            f"plan {given.id!r} was edited: {len(changes.reused)} output(s) reused, "
            f"re-running {len(changes.rerun)} changed or downstream node(s), "
            f"{len(changes.new)} new, {len(changes.removed)} removed"
        )


def has_data(manager: WorkflowPersistenceManager, plan_id: str) -> bool:
    """True when the store holds a checkpoint or a journal entry of ``plan_id``."""
    if manager.latest_checkpoint_ids(plan_id):
        return True
    return bool(manager.read_entries(plan_id, -1).entries)


def copy_blobs(
    manager: WorkflowPersistenceManager, src: str, dst: str, kept: Mapping[str, NodeResult]
) -> None:
    """Blobs are per plan: the media of outputs a fork keeps go along to the fork."""
    stack: list[Any] = [r.output for r in kept.values()]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if is_artifact_ref(item):
                data = manager.blobs.get(src, item)
                manager.blobs.put(dst, data, item.get("media_type"))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def fork_start(
    record: Record,
    checkpoint_id: str,
    from_nodes: list[str] | None,
    settings: list[tuple[str, str, Any]] | None,
    plan_id: str | None,
    plan: WorkflowPlan | None,
) -> tuple[WorkflowPlan, WorkflowPlan, dict[str, NodeResult]]:
    """``(source plan, new plan, kept results)`` of a fork from ``record``
    (see :meth:`~vibe_aigc.runs.service.RunService.fork`)."""
    source = plan_from_record(record, checkpoint_id)
    results = results_from_record(record, checkpoint_id)
    completed = {k: v for k, v in results.items() if v.status == ExecutionStatus.COMPLETED}
    new_id = plan.id if plan is not None else plan_id or fork_plan_id(source.id)
    if new_id == source.id:
        raise LineageError(
            f"a fork needs a new plan id, not {new_id!r}; to continue the same plan use "
            "`vibe-aigc resume`"
        )
    new_plan = plan if plan is not None else edited_plan(source, new_id, settings or [])
    changes = plan_changes(source, completed, new_plan, from_nodes or [])
    return source, new_plan, kept_results(completed, changes)


def claim_fork(
    manager: WorkflowPersistenceManager, src: str, dst: str, kept: Mapping[str, NodeResult]
) -> None:
    """Under the new plan's lease: refuse a plan id that has data; bring the kept media."""
    if has_data(manager, dst):
        raise LineageError(
            f"plan {dst!r} already has runs in {manager.url}; choose another --plan-id"
        )
    copy_blobs(manager, src, dst, kept)


async def no_plan(given: Any, plan_id: str) -> WorkflowPlan:
    """The plan maker of a retry: a retry never plans (it needs a checkpoint)."""
    raise LineageError(f"plan {plan_id!r} has no checkpoint to retry")  # pragma: no cover
