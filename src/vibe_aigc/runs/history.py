"""Run history, derived from what every store already holds: checkpoint records and journal
entries (each carries its ``run_id``; a run that continued another names its parent, see
:mod:`vibe_aigc.persistence.records`, *Lineage*). Nothing here writes.

:func:`list_runs` is ``vibe-aigc runs``; :func:`run_status` is ``vibe-aigc status``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypedDict

from vibe_aigc.errors import CheckpointError, CheckpointNotFoundError
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.persistence.records import Record, is_memo

_FINISHED = ("completed", "failed", "skipped")


class RunInfo(TypedDict):
    """One line of ``vibe-aigc runs``."""

    run_id: str
    plan_id: str
    description: str
    state: str
    done: int
    total: int
    cost_usd: float
    started: str
    updated: str
    checkpoint_id: str
    parent_run_id: str | None
    parent_plan_id: str | None
    parent_checkpoint_id: str | None


class NodeStatus(TypedDict):
    """One node of ``vibe-aigc status``."""

    node_id: str
    state: str
    attempts: int
    duration: float | None
    cost_usd: float
    error: str | None
    produced_by: str | None
    reused: bool


class RunStatus(TypedDict):
    """``vibe-aigc status``: the run and every node of its plan."""

    run: RunInfo
    nodes: list[NodeStatus]


@dataclass
class _Run:
    record: Record  # the run's newest checkpoint
    started: str
    updated: str
    results: dict[str, dict[str, Any]] = field(default_factory=dict)


def _cost(result: dict[str, Any]) -> float:
    usage = result.get("usage")
    value = usage.get("cost_usd", 0.0) if isinstance(usage, dict) else 0.0
    return float(value) if isinstance(value, int | float) else 0.0


def _plan_runs(manager: WorkflowPersistenceManager, plan_id: str) -> list[_Run]:
    runs: dict[str, _Run] = {}
    for checkpoint_id in manager.latest_checkpoint_ids(plan_id):  # newest first
        try:
            record = manager.load_checkpoint(checkpoint_id, plan_id)
        except CheckpointError:
            continue  # `checkpoints --list` shows it as corrupt
        run_id, created = str(record["run_id"]), str(record["created_at"])
        run = runs.get(run_id)
        if run is None:
            results = record.get("node_results") or {}
            runs[run_id] = _Run(record, created, created, dict(results))
        else:
            run.started = min(run.started, created)
    found = manager.read_entries(plan_id, -1)
    for entry in found.entries:
        run = runs.get(str(entry.get("run_id")))
        if run is None or is_memo(entry) or entry["seq"] <= run.record["journal_seq"]:
            continue
        result = entry.get("result")
        if isinstance(result, dict) and isinstance(entry.get("node_id"), str):
            run.results[entry["node_id"]] = result
            done_at = result.get("completed_at")
            if isinstance(done_at, str):
                run.updated = max(run.updated, done_at)
    # a later run names which run produced each output it took over: that covers what an
    # earlier run journaled after its last snapshot, even once that journal was trimmed
    for later in list(runs.values()):
        origins = later.record.get("origins")
        for node_id, origin in (origins if isinstance(origins, dict) else {}).items():
            earlier = runs.get(str(origin))
            result = later.results.get(node_id)
            if earlier is not None and node_id not in earlier.results and result is not None:
                earlier.results[node_id] = result
                done_at = result.get("completed_at")
                if isinstance(done_at, str):
                    earlier.updated = max(earlier.updated, done_at)
    return sorted(runs.values(), key=lambda r: r.started)


def _info(run: _Run, later: bool, alive: Callable[[], bool]) -> RunInfo:
    """``alive``: whether someone holds the plan's lease now (asked only when it matters)."""
    record = run.record
    state = str(record["state"])
    if state == "running" and (later or not alive()):
        # a later run of the plan started, or nobody runs it any more (killed, crashed, its
        # machine lost): this one stopped without recording an end
        state = "interrupted"
    origins = record.get("origins")
    origins = origins if isinstance(origins, dict) else {}
    vibe = record.get("vibe")
    vibe = vibe if isinstance(vibe, dict) else {}

    def text(key: str) -> str | None:
        value = record.get(key)
        return value if isinstance(value, str) else None

    return {
        "run_id": str(record["run_id"]),
        "plan_id": str(record["plan_id"]),
        "description": str(vibe.get("description", "")),
        "state": state,
        "done": sum(1 for r in run.results.values() if r.get("status") == "completed"),
        "total": int(record["total_nodes"]),
        "cost_usd": round(sum(_cost(r) for n, r in run.results.items() if n not in origins), 6),
        "started": run.started,
        "updated": run.updated,
        "checkpoint_id": str(record["checkpoint_id"]),
        "parent_run_id": text("parent_run_id"),
        "parent_plan_id": text("parent_plan_id"),
        "parent_checkpoint_id": text("parent_checkpoint_id"),
    }


def _all(manager: WorkflowPersistenceManager, plan_id: str | None) -> list[tuple[RunInfo, _Run]]:
    plans = [plan_id] if plan_id is not None else manager.plan_ids()
    out: list[tuple[RunInfo, _Run]] = []
    for plan in plans:
        runs = _plan_runs(manager, plan)

        def alive(plan: str = plan) -> bool:
            try:
                return manager.holder(plan) is not None
            except CheckpointError:
                return True  # cannot tell: keep what the record says

        out += [(_info(run, i < len(runs) - 1, alive), run) for i, run in enumerate(runs)]
    out.sort(key=lambda pair: (pair[0]["started"], pair[0]["run_id"]), reverse=True)
    return out


def list_runs(
    manager: WorkflowPersistenceManager, plan_id: str | None = None, state: str | None = None
) -> list[RunInfo]:
    """Every run (of ``plan_id``, in ``state``), newest first."""
    return [info for info, _ in _all(manager, plan_id) if state is None or info["state"] == state]


def run_status(manager: WorkflowPersistenceManager, run_or_plan: str) -> RunStatus:
    """The run ``run_or_plan`` (a run id, or a plan id for the plan's latest run)."""
    if run_or_plan in manager.plan_ids():
        pairs = _all(manager, run_or_plan)
    else:
        pairs = [p for p in _all(manager, None) if p[0]["run_id"] == run_or_plan]
    if not pairs:
        raise CheckpointNotFoundError(
            run_or_plan,
            f"no run or plan {run_or_plan!r} in {manager.url}; `vibe-aigc runs` lists the runs",
        )
    info, run = pairs[0]
    plan = run.record.get("workflow_plan") or {}
    origins = run.record.get("origins")
    origins = origins if isinstance(origins, dict) else {}
    nodes: list[NodeStatus] = []
    for node_id in _node_ids(plan.get("root_nodes") or []):
        result = run.results.get(node_id) or {}
        state = str(result.get("status", "pending"))
        produced = None
        if state in _FINISHED:
            produced = str(origins.get(node_id, info["run_id"]))
        duration = result.get("duration")
        nodes.append(
            {
                "node_id": node_id,
                "state": state,
                "attempts": int(result.get("attempts", 0)),
                "duration": float(duration) if isinstance(duration, int | float) else None,
                "cost_usd": _cost(result),
                "error": result.get("error"),
                "produced_by": produced,
                "reused": node_id in origins,
            }
        )
    return {"run": info, "nodes": nodes}


def _node_ids(roots: list[Any]) -> list[str]:
    out: list[str] = []
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        if isinstance(node, dict) and isinstance(node.get("id"), str):
            out.append(node["id"])
            stack.extend(reversed(node.get("children") or []))
    return out
