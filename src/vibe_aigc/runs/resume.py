"""Rebuilding a run's state on resume: exactly one checkpoint when an id is given, else the
newest valid checkpoint plus every journal entry after it (a damaged journal keeps the valid
entries before the damage; the rest is set aside with a warning).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from vibe_aigc.bulk import bulk_load
from vibe_aigc.errors import CheckpointCorruptError, StoreUnavailableError, UnsupportedSchemaError
from vibe_aigc.jsondata import JsonText, KnownJson
from vibe_aigc.models import PlanGraph, WorkflowPlan, plan_graph
from vibe_aigc.persistence import Lease, WorkflowPersistenceManager
from vibe_aigc.persistence.records import is_memo
from vibe_aigc.results import (
    ExecutionResult,
    ExecutionStatus,
    NodeResult,
    keep_snapshot_form,
    snapshot_form,
)
from vibe_aigc.runs.checked import (
    KEEP_TEXT,
    check_closed,
    check_listed,
    memos_from_record,
    plan_of_record,
    results_from_record,
)
from vibe_aigc.runs.stored import keep_resumed_text, mark_resumed, node_result_of, resumed_text

log = logging.getLogger("vibe_aigc.checkpoints")


@dataclass
class ResumeState:
    """What a resumed run starts from."""

    plan: WorkflowPlan
    checkpoint_id: str
    completed: dict[str, NodeResult]
    next_seq: int
    warnings: list[str] = field(default_factory=list)
    record: dict[str, Any] = field(default_factory=dict)
    memos: dict[str, dict[str, Any]] = field(default_factory=dict)
    covered: bool = False
    """True when the store alone reproduces this state (the newest checkpoint, valid, plus the
    journal after it): a snapshot of it at the resumed run's start would only repeat it."""
    graph: PlanGraph | None = None
    """The graph of ``plan`` (built once while loading), None when not built."""
    validated: bool = False
    """True when ``plan`` passed validation while loading (it was the stored plan, checked by
    :func:`plan_from_record`): ``graph`` may then be handed to the scheduler as validated."""
    as_stored: bool = False
    """True when ``plan`` is the caller's plan and stores exactly as ``record``'s
    ``workflow_plan`` (compared while loading): snapshots may reuse that JSON."""
    from_store: bool = True
    """True while every result in ``completed`` is as the load decoded it from the store
    (exact JSON data: see :func:`keep_stored_forms`)."""
    retryable: list[str] = field(default_factory=list)
    """The loaded results that are not completed (failed or skipped)."""


class _Replay:
    """Journal records applied to ``results``/``memos`` one by one, as the store reads them
    (none is held: :meth:`add` is the read's ``into``); :meth:`finish` applies them all and
    returns the last seq. Each completed result read with its text keeps it as its snapshot
    form (see :func:`~vibe_aigc.runs.stored.resumed_text`, ``keep_resumed_text``).

    :meth:`finish` raises CheckpointCorruptError (and changes nothing) when a record is not
    what the hook writes, names another plan, or when records right after the checkpoint are
    missing: replaying later records without them would hand dependents outputs from a lost
    past. ``top``: the highest seq read, whatever the records hold."""

    def __init__(
        self,
        plan: WorkflowPlan,
        after_seq: int,
        results: dict[str, NodeResult],
        memos: dict[str, dict[str, Any]],
    ) -> None:
        self.plan, self.results, self.memos = plan, results, memos
        self.source = f"journal of plan {plan.id!r}"
        self.graph: PlanGraph | None = None  # built with the first record
        self.new_results: dict[str, NodeResult] = {}
        self.new_memos: dict[str, dict[str, Any]] = {}
        self.last = self.top = after_seq
        self.error: CheckpointCorruptError | None = None

    def add(self, entry: dict[str, Any]) -> None:
        self.top = max(self.top, int(entry["seq"]))
        if self.error is None:
            try:
                self._apply(entry)
            except CheckpointCorruptError as exc:
                self.error = exc

    def _apply(self, entry: dict[str, Any]) -> None:
        source, plan, last = self.source, self.plan, self.last
        if self.graph is None:
            self.graph = plan_graph(plan)
        seq = entry["seq"]
        if seq != last + 1:
            raise CheckpointCorruptError(
                source, f"records {last + 1}..{seq - 1} are missing (expected seq {last + 1})"
            )
        self.last = seq
        if entry.get("plan_id", plan.id) != plan.id:
            raise CheckpointCorruptError(
                source, f"record {seq} belongs to plan {entry.get('plan_id')!r}"
            )
        node_id = entry.get("node_id")
        if not isinstance(node_id, str) or node_id not in self.graph.nodes:  # not this plan's
            raise CheckpointCorruptError(source, f"record {seq} names unknown node {node_id!r}")
        if is_memo(entry):
            key = entry.get("key")
            if not isinstance(key, str):
                raise CheckpointCorruptError(source, f"record {seq}: a memo without a key")
            self.new_memos.setdefault(node_id, {})[key] = entry.get("value")
            return
        node_id = self.graph.nodes[node_id].id  # the plan's string, not one more a result
        stored = entry.get("result")
        result = self.new_results[node_id] = node_result_of(
            node_id, stored, source, f"record {seq}"
        )
        text = resumed_text(stored)
        if text is not None:  # kept with the result: one that replaces it has its own
            keep_resumed_text(result, text)

    def finish(self) -> int:
        if self.error is not None:
            raise self.error
        new_results = self.new_results
        if new_results:
            check_closed(
                self.plan, {**self.results, **new_results}, new_results, self.source, self.graph
            )
        self.results.update(new_results)
        for node_id, notes in self.new_memos.items():
            self.memos.setdefault(node_id, {}).update(notes)
        return self.last


def _set_aside(
    manager: WorkflowPersistenceManager,
    lease: Lease,
    after_seq: int,
    reason: str,
    warnings: list[str],
) -> None:
    moved = manager.discard_entries(lease, after_seq)
    message = (
        f"journal of plan {lease.plan_id!r} is damaged ({reason}); entries up to seq "
        f"{after_seq} are kept, the rest is set aside: {', '.join(moved) or '(nothing)'}"
    )
    log.warning(message)
    warnings.append(message)


def journal_after(
    manager: WorkflowPersistenceManager,
    lease: Lease | None,
    plan_id: str,
    seq: int,
    warnings: list[str],
    replay: _Replay | None = None,
) -> list[dict[str, Any]]:
    """Journal entries after ``seq`` (handed to ``replay`` as they are read, then not
    returned); a damaged tail is set aside (with ``lease``), keeping the valid entries before
    it, with a warning."""
    found = manager.read_entries(plan_id, seq, replay.add if replay is not None else None)
    warnings.extend(found.warnings)
    if found.damage is not None:
        last = max([seq, *(int(r["seq"]) for r in found.entries)])
        last = max(last, replay.top) if replay is not None else last
        if lease is not None:
            _set_aside(manager, lease, last, found.damage, warnings)
        else:
            warnings.append(f"journal of plan {plan_id!r} is damaged ({found.damage})")
    return found.entries


def load_resume_state(
    manager: WorkflowPersistenceManager,
    lease: Lease,
    plan_id: str,
    checkpoint_id: str | None = None,
    given: WorkflowPlan | None = None,
) -> ResumeState | None:
    """Rebuild a plan's state; ``None`` when the plan has no checkpoint at all.

    ``lease`` is the plan's (a damaged journal tail is set aside under it). ``given``: the
    plan the caller resumes with; when it stores exactly as the checkpoint's plan, the state's
    ``plan`` is ``given`` itself (no second copy is validated). The plan's graph is built only
    when journal entries are to be replayed (a resume with nothing left needs none).
    """
    # builds only acyclic data, kept for the run: no cyclic collection needed (vibe_aigc.bulk)
    with bulk_load(keep=True):
        if checkpoint_id is not None:
            return _exactly(manager, lease, plan_id, checkpoint_id, given)
        return _newest(manager, lease, plan_id, given)


def _completed(
    record: dict[str, Any], results: dict[str, NodeResult]
) -> tuple[dict[str, NodeResult], list[str]]:
    """The completed ones of the results a load built, marked resumed in place (they are the
    state's own): a stored result and the scheduler take them as they are, no copy each; and
    the others (failed or skipped: what a retry runs again). The record gives its results up
    (the state holds them now; a sealed file's were their text, megabytes at 100k nodes),
    and its lists of node ids, checked already (a list of every id: 64 bytes a node)."""
    for key in ("node_results", "completed_nodes", "pending_nodes"):
        record.pop(key, None)
    completed: dict[str, NodeResult] = {}
    others: list[str] = []
    done = ExecutionStatus.COMPLETED
    for node_id, result in results.items():
        if result.status is done:  # built marked, mostly (results_from_record's resumed)
            completed[node_id] = result if result.resumed is True else mark_resumed(result)
        else:
            others.append(node_id)
    return completed, others


_Loaded = tuple[
    dict[str, Any], WorkflowPlan, bool, dict[str, NodeResult], dict[str, dict[str, Any]]
]


def _loaded(
    manager: WorkflowPersistenceManager,
    checkpoint_id: str,
    plan_id: str,
    given: WorkflowPlan | None,
) -> _Loaded:
    """A checkpoint's record, its plan (``given`` when it stores exactly so) with the flag of
    :func:`~vibe_aigc.runs.checked.plan_of_record`, its results (completed ones marked
    resumed) and its memos, checked; CheckpointCorruptError otherwise. Completed results
    keep their snapshot texts when something is left to run (they serve its snapshots)."""
    record = manager.load_checkpoint(checkpoint_id, plan_id, KEEP_TEXT)
    plan, validated = plan_of_record(record, checkpoint_id, given)
    left = record.get("pending_nodes") or record.get("state") != "completed"
    results = results_from_record(record, checkpoint_id, keep_texts=bool(left), resumed=True)
    check_listed(results, record["completed_nodes"], checkpoint_id)
    return record, plan, validated, results, memos_from_record(record, checkpoint_id)


def _exactly(
    manager: WorkflowPersistenceManager,
    lease: Lease,
    plan_id: str,
    checkpoint_id: str,
    given: WorkflowPlan | None,
) -> ResumeState:
    warnings: list[str] = []
    record, plan, validated, results, memos = _loaded(manager, checkpoint_id, plan_id, given)
    completed, others = _completed(record, results)
    seq = record["journal_seq"]
    later = journal_after(manager, lease, plan.id, seq, warnings)  # only to number anew
    last = max([seq, *(int(r["seq"]) for r in later)])
    return ResumeState(
        plan,
        checkpoint_id,
        completed,
        last + 1,
        warnings,
        record,
        memos,
        validated=validated,
        as_stored=plan is given,
        retryable=others,
    )


def _newest(
    manager: WorkflowPersistenceManager,
    lease: Lease,
    plan_id: str,
    given: WorkflowPlan | None,
) -> ResumeState | None:
    warnings: list[str] = []
    ids = manager.latest_checkpoint_ids(plan_id)
    if not ids:
        return None
    skipped = False
    for candidate in ids:
        try:
            record, plan, validated, results, memos = _loaded(manager, candidate, plan_id, given)
        except UnsupportedSchemaError:
            raise  # a newer vibe-aigc wrote it: falling back would hide its work; upgrade
        except StoreUnavailableError:
            raise  # the database is away, nothing is damaged: never fall back to an older one
        except CheckpointCorruptError as exc:
            message = f"skipped corrupt checkpoint {candidate}: {exc.reason}"
            log.warning(message)
            warnings.append(message)
            skipped = True
            continue
        seq = record["journal_seq"]
        replay = _Replay(plan, seq, results, memos)
        journal_after(manager, lease, plan_id, seq, warnings, replay)
        graph = replay.graph  # built only when there were entries to replay
        try:
            last = replay.finish()
        except CheckpointCorruptError as exc:
            last = replay.top
            _set_aside(manager, lease, seq, exc.reason, warnings)
        completed, others = _completed(record, results)
        if skipped:
            warnings.append(f"resumed from {candidate}, the newest valid checkpoint")
        return ResumeState(
            plan,
            candidate,
            completed,
            last + 1,
            warnings,
            record,
            memos,
            covered=not skipped,
            graph=graph,
            validated=validated,
            as_stored=plan is given,
            retryable=others,
        )
    raise CheckpointCorruptError(
        f"plan {plan_id!r} in {manager.url}",
        f"none of the {len(ids)} checkpoint(s) of plan {plan_id!r} is valid",
    )


def keep_unchanged(state: ResumeState) -> None:
    """``state`` resumes with the very plan it stored (the caller's, as :func:`_plan_of`
    found it): every completed output stays, only nodes not completed keep their notes; what
    :func:`~vibe_aigc.runs.lineage.take_over` does for an unchanged plan, without
    fingerprinting every node of both copies."""
    if not state.memos:
        return
    nodes = state.graph.nodes if state.graph is not None else set(state.plan.node_ids)
    state.memos = {n: m for n, m in state.memos.items() if n in nodes and n not in state.completed}


def stored_result(state: ResumeState) -> ExecutionResult:
    """The result of a finished plan, from storage (nothing runs, nothing is written). The
    results are the state's own (built for it by the load, marked resumed)."""
    plan = state.plan
    order = state.graph.order if state.graph is not None else plan.node_ids
    results = {node_id: state.completed[node_id] for node_id in order}
    starts = [r.started_at for r in results.values() if r.started_at is not None]
    ends = [r.completed_at for r in results.values() if r.completed_at is not None]
    return ExecutionResult(
        plan_id=plan.id,
        status=ExecutionStatus.COMPLETED,
        node_results=results,
        started_at=min(starts) if starts else None,
        completed_at=max(ends) if ends else None,
        resumed_from=state.checkpoint_id,
        checkpoint_id=state.checkpoint_id,
        warnings=list(state.warnings),
    )


def keep_stored_forms(state: ResumeState | None) -> None:
    """Give each completed result the state loaded its JSON form for snapshots: the text the
    load kept with it (a journal line's, a sealed snapshot's entry), else its dump marked
    known JSON (decoded from a checked file, it is exact JSON data: the codec refused
    anything else), so no snapshot walks or encodes it again. After an edited plan's
    take-over (``from_store`` False) none keeps one: the snapshots dump them afresh."""
    if state is None:
        return
    if not state.from_store:
        for result in state.completed.values():
            keep_snapshot_form(result, None)
        return
    with bulk_load(keep=True):  # only acyclic JSON, kept for the run
        for result in state.completed.values():
            if snapshot_form(result) is None:
                keep_snapshot_form(result, _dumped(result))


def _dumped(result: NodeResult) -> KnownJson:
    return KnownJson(result.model_dump(mode="json", exclude_none=True))


def take_stored_plan_json(
    plan: WorkflowPlan, resume: ResumeState | None
) -> dict[str, Any] | JsonText | None:
    """The resumed checkpoint's JSON of ``plan`` (or its canonical text, when the file handed
    it over as text) when ``plan`` stores exactly as it, taken out of the state's record (the
    run's snapshots hold it from now on)."""
    if resume is None or not resume.as_stored or resume.plan is not plan:
        return None
    stored = resume.record.pop("workflow_plan", None)
    if type(stored) is JsonText:
        return stored
    # decoded from a checked file: exact JSON data, not walked again when snapshots check it
    return KnownJson(stored) if isinstance(stored, dict) else None


def validated_graph(plan: WorkflowPlan, resume: ResumeState | None) -> PlanGraph | None:
    """The graph a resume built for ``plan`` when the plan is known to be valid."""
    if resume is None or resume.graph is None or not resume.validated or resume.plan is not plan:
        return None
    return resume.graph
