"""Pure functions from stored records to what the pages show: nodes, states, totals, diffs.

Nothing here touches a store: :mod:`.backend` reads records through the public persistence API
and hands them here. A plan's state is its checkpoint record plus the journal entries after the
checkpoint's ``journal_seq`` (the same merge a resume makes); a node that has no result yet is
``pending``, or ``ready`` while the run is live and every dependency completed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vibe_aigc.artifacts import artifact_refs

Record = dict[str, Any]
FINISHED = ("completed", "failed", "skipped")
LIVE_STATES = ("running",)


def flatten(plan: Record) -> list[Record]:
    """Every node of a stored ``workflow_plan``, parents before children, with ``parent`` and
    ``depth`` (the hierarchy) and ``root`` (the top-level node it belongs to)."""
    out: list[Record] = []
    stack: list[tuple[Record, str | None, int, str]] = [
        (node, None, 0, str(node.get("id"))) for node in reversed(plan.get("root_nodes") or [])
    ]
    while stack:
        node, parent, depth, root = stack.pop()
        children = [c for c in node.get("children") or [] if isinstance(c, dict)]
        out.append(
            {
                "id": str(node.get("id")),
                "type": str(node.get("type", "")),
                "description": str(node.get("description", "")),
                "dependencies": [str(d) for d in node.get("dependencies") or []],
                "parameters": node.get("parameters") or {},
                "parent": parent,
                "root": root,
                "depth": depth,
                "children": [str(c.get("id")) for c in children],
            }
        )
        stack.extend((c, str(node.get("id")), depth + 1, root) for c in reversed(children))
    return out


def merge_results(record: Record, entries: Iterable[Record]) -> tuple[dict[str, Record], int]:
    """Node results of a checkpoint with the later journal entries applied, and the highest
    seq seen (the checkpoint's ``journal_seq`` when no entry is newer)."""
    results: dict[str, Record] = {
        str(k): v for k, v in (record.get("node_results") or {}).items() if isinstance(v, dict)
    }
    last = int(record.get("journal_seq", -1))
    for entry in entries:
        last = max(last, int(entry.get("seq", -1)))
        if entry.get("kind") == "memo":
            continue
        result = entry.get("result")
        node_id = entry.get("node_id")
        if isinstance(result, dict) and isinstance(node_id, str):
            results[node_id] = result
    return results, last


def memos_of(record: Record, entries: Iterable[Record]) -> dict[str, dict[str, Any]]:
    """Durable notes per node (provider job ids): the checkpoint's, then the journal's."""
    memos: dict[str, dict[str, Any]] = {
        str(k): dict(v) for k, v in (record.get("memos") or {}).items() if isinstance(v, dict)
    }
    for entry in entries:
        if entry.get("kind") == "memo" and isinstance(entry.get("node_id"), str):
            memos.setdefault(entry["node_id"], {})[str(entry.get("key"))] = entry.get("value")
    return memos


def node_state(node: Record, results: dict[str, Record], live: bool) -> str:
    result = results.get(node["id"])
    if result is not None:
        status = str(result.get("status", "completed"))
        return status if status in FINISHED else "pending"
    if live and all(
        str(results.get(d, {}).get("status")) == "completed" for d in node["dependencies"]
    ):
        return "ready"
    return "pending"


def cost_of(result: Record) -> float:
    usage = result.get("usage")
    if isinstance(usage, dict):
        value = usage.get("cost_usd")
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return 0.0


def retries_of(result: Record) -> int:
    attempts = result.get("attempts")
    return max(int(attempts) - 1, 0) if isinstance(attempts, int) else 0


def totals(nodes: list[Record], results: dict[str, Record], live: bool) -> Record:
    """Counts per state, cost, retries and the time span of the finished nodes."""
    counts = {s: 0 for s in ("completed", "failed", "skipped", "ready", "pending")}
    cost = 0.0
    retries = 0
    starts: list[str] = []
    ends: list[str] = []
    for node in nodes:
        counts[node_state(node, results, live)] += 1
        result = results.get(node["id"])
        if result is None:
            continue
        cost += cost_of(result)
        retries += retries_of(result)
        if isinstance(result.get("started_at"), str):
            starts.append(result["started_at"])
        if isinstance(result.get("completed_at"), str):
            ends.append(result["completed_at"])
    done = counts["completed"] + counts["failed"] + counts["skipped"]
    return {
        "counts": counts,
        "done": done,
        "total": len(nodes),
        "cost_usd": round(cost, 6),
        "retries": retries,
        "started_at": min(starts) if starts else None,
        "finished_at": max(ends) if ends else None,
    }


def node_summary(node: Record, results: dict[str, Record], live: bool) -> Record:
    """A node as the DAG draws it (no output: the node panel fetches that)."""
    result = results.get(node["id"]) or {}
    return {
        "id": node["id"],
        "type": node["type"],
        "description": node["description"][:200],
        "dependencies": node["dependencies"],
        "parent": node["parent"],
        "root": node["root"],
        "depth": node["depth"],
        "state": node_state(node, results, live),
        "attempts": result.get("attempts", 0),
        "duration": result.get("duration"),
        "cost_usd": cost_of(result),
    }


def lineage_of(record: Record) -> Record:
    """Where a checkpoint's run came from: ``parent_run_id`` and, for a fork, the source
    checkpoint and plan (the record's ``parent_checkpoint_id`` / ``parent_plan_id``, or a
    ``lineage`` object's keys when present)."""
    out: Record = {}
    if isinstance(record.get("parent_run_id"), str):
        out["parent_run_id"] = record["parent_run_id"]
    lineage = record.get("lineage")
    if isinstance(lineage, dict):
        for key in ("parent_run_id", "source_run_id"):
            if isinstance(lineage.get(key), str):
                out.setdefault("parent_run_id", lineage[key])
        for key in ("source_checkpoint_id", "parent_checkpoint_id", "checkpoint_id"):
            if isinstance(lineage.get(key), str):
                out["source_checkpoint_id"] = lineage[key]
                break
        for key in ("source_plan_id", "parent_plan_id", "plan_id"):
            if isinstance(lineage.get(key), str):
                out["source_plan_id"] = lineage[key]
                break
        if isinstance(lineage.get("from_nodes"), list):
            out["from_nodes"] = [str(n) for n in lineage["from_nodes"]]
    for key in ("parent_checkpoint_id", "source_checkpoint_id", "forked_from"):
        if isinstance(record.get(key), str):
            out.setdefault("source_checkpoint_id", record[key])
    parent_plan = record.get("parent_plan_id")
    if isinstance(parent_plan, str) and parent_plan != record.get("plan_id"):
        out.setdefault("source_plan_id", parent_plan)  # a fork: it started in another plan
    return out


def referenced_hashes(record: Record, entries: Iterable[Record]) -> set[str]:
    """The sha256 of every artifact a checkpoint or journal entry references."""
    found = artifact_refs(record.get("node_results")) | artifact_refs(record.get("memos"))
    for entry in entries:
        found |= artifact_refs(entry.get("result")) | artifact_refs(entry.get("value"))
    return found


def _same(a: Any, b: Any) -> bool:
    return bool(a == b)


def diff_records(a: Record, b: Record) -> Record:
    """What changed from checkpoint ``a`` to ``b``: nodes added/removed from the plan, node
    states and outputs, and the run-level fields."""
    nodes_a = {n["id"]: n for n in flatten(a.get("workflow_plan") or {})}
    nodes_b = {n["id"]: n for n in flatten(b.get("workflow_plan") or {})}
    res_a = a.get("node_results") or {}
    res_b = b.get("node_results") or {}
    changed: list[Record] = []
    for node_id in [*nodes_a, *(n for n in nodes_b if n not in nodes_a)]:
        ra, rb = res_a.get(node_id) or {}, res_b.get(node_id) or {}
        sa, sb = ra.get("status", "pending"), rb.get("status", "pending")
        what = []
        if node_id not in nodes_a:
            what.append("added to the plan")
        elif node_id not in nodes_b:
            what.append("removed from the plan")
        elif not _same(nodes_a[node_id]["parameters"], nodes_b[node_id]["parameters"]):
            what.append("parameters changed")
        if sa != sb:
            what.append(f"{sa} → {sb}")
        if not _same(ra.get("output"), rb.get("output")) and ra and rb:
            what.append("output changed")
        if what:
            changed.append({"node_id": node_id, "from": sa, "to": sb, "changes": what})
    fields = [
        {"field": key, "from": a.get(key), "to": b.get(key)}
        for key in ("plan_id", "run_id", "state", "created_at", "total_nodes", "journal_seq")
        if not _same(a.get(key), b.get(key))
    ]
    return {
        "a": a.get("checkpoint_id"),
        "b": b.get("checkpoint_id"),
        "fields": fields,
        "nodes": changed,
        "completed": [len(a.get("completed_nodes") or []), len(b.get("completed_nodes") or [])],
    }
