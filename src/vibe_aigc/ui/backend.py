"""What the web app reads, over the public persistence API only.

:class:`UIBackend` wraps one :class:`~vibe_aigc.persistence.WorkflowPersistenceManager`
(``list_checkpoints``, ``load_checkpoint``, ``read_entries``, ``blobs``) and never builds a
path: every id from a request is checked with the persistence id rules first (a bad id is
"not found"). Runs are derived from checkpoint records (``run_id``, ``state``) and the journal
entries after the newest checkpoint, until a run-history API exists. All methods are
synchronous (the app calls them in a worker thread).
"""

from __future__ import annotations

import re
import socket
from dataclasses import dataclass
from typing import Any

from vibe_aigc.errors import CheckpointError, CheckpointNotFoundError
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.persistence.blobs import SHA256_RE
from vibe_aigc.persistence.ids import validate_checkpoint_id, validate_plan_id
from vibe_aigc.ui import derive
from vibe_aigc.ui.render import output_view

Record = dict[str, Any]
_HOLDER_RE = re.compile(r"^pid (\d+)(?: \(this process\))? on ([^,]+),")


class NotFound(Exception):
    """What a request asked for does not exist (or its id is not a valid id): HTTP 404."""


@dataclass(frozen=True)
class Holder:
    """Who holds a plan's lease, as the store describes it."""

    pid: int | None
    hostname: str | None
    text: str

    @property
    def on_this_host(self) -> bool:
        return self.hostname == socket.gethostname()


def parse_holder(text: str) -> Holder:
    """The pid and host named by a lease holder's description (``pid N on HOST, ...``)."""
    match = _HOLDER_RE.match(text)
    if match is None:
        return Holder(None, None, text)
    return Holder(int(match.group(1)), match.group(2).strip(), text)


class UIBackend:
    """Read models of the store's plans and runs (see the module docstring)."""

    def __init__(self, manager: WorkflowPersistenceManager) -> None:
        self.manager = manager

    @property
    def url(self) -> str:
        return self.manager.url

    # ------------------------------------------------------------------ ids

    @staticmethod
    def plan_id(value: str) -> str:
        try:
            return validate_plan_id(value)
        except CheckpointError:
            raise NotFound(f"no plan {value[:80]!r}") from None

    @staticmethod
    def checkpoint_id(value: str) -> str:
        try:
            return validate_checkpoint_id(value)
        except CheckpointError:
            raise NotFound(f"no checkpoint {value[:80]!r}") from None

    # ------------------------------------------------------------------ records

    def _record(self, plan_id: str, checkpoint_id: str | None = None) -> Record:
        plan_id = self.plan_id(plan_id)
        ids = (
            [self.checkpoint_id(checkpoint_id)]
            if checkpoint_id
            else self.manager.latest_checkpoint_ids(plan_id)
        )
        for cp in ids:  # the newest that decodes
            try:
                return self.manager.load_checkpoint(cp, plan_id)
            except CheckpointNotFoundError:
                if checkpoint_id:
                    break
            except CheckpointError:
                if checkpoint_id:
                    raise
        raise NotFound(f"plan {plan_id!r} has no readable checkpoint")

    def _entries(self, plan_id: str, after_seq: int) -> list[Record]:
        return list(self.manager.read_entries(plan_id, after_seq).entries)

    # ------------------------------------------------------------------ runs list

    def runs(self, state: str = "", plan: str = "", text: str = "") -> list[Record]:
        """One line per run, newest update first; filtered by state, plan id, text."""
        out: list[Record] = []
        for plan_id in self.manager.plan_ids():
            if plan and plan not in plan_id:
                continue
            out.extend(self._runs_of(plan_id))
        needle = text.strip().lower()
        return sorted(
            (
                r
                for r in out
                if (not state or r["state"] == state)
                and (not needle or needle in (r["description"] + " " + r["run_id"]).lower())
            ),
            key=lambda r: (r["updated"] or "", r["run_id"]),
            reverse=True,
        )

    def _runs_of(self, plan_id: str) -> list[Record]:
        try:
            summaries = [c for c in self.manager.list_checkpoints(plan_id) if not c["corrupt"]]
            latest = self._record(plan_id) if summaries else None
        except (CheckpointError, NotFound):
            return []
        if latest is None:
            return []
        runs: dict[str, Record] = {}
        for summary in reversed(summaries):  # oldest first
            run = runs.setdefault(
                str(summary.get("run_id")),
                {
                    "run_id": str(summary.get("run_id")),
                    "plan_id": plan_id,
                    "started": summary.get("created_at"),
                    "checkpoints": 0,
                },
            )
            run.update(
                state=summary.get("state"),
                done=summary.get("completed_nodes", 0),
                total=summary.get("total_nodes", 0),
                updated=summary.get("created_at"),
                checkpoint_id=summary["checkpoint_id"],
            )
            run["checkpoints"] += 1
        description = str((latest.get("vibe") or {}).get("description", ""))
        entries = self._entries(plan_id, int(latest.get("journal_seq", -1)))
        nodes = derive.flatten(latest.get("workflow_plan") or {})
        live = latest.get("state") in derive.LIVE_STATES
        results, _ = derive.merge_results(latest, entries)
        sums = derive.totals(nodes, results, live)
        newest = runs.get(str(latest.get("run_id")))
        lineage = derive.lineage_of(latest)
        for run in runs.values():
            run["description"] = description
            run["parent_run_id"] = None
            run["cost_usd"] = None
        if newest is not None:
            newest.update(
                done=sums["done"],
                cost_usd=sums["cost_usd"],
                updated=max(filter(None, [newest["updated"], sums["finished_at"]]), default=None),
                parent_run_id=lineage.get("parent_run_id"),
                lineage=lineage,
            )
        return list(runs.values())

    # ------------------------------------------------------------------ one plan

    def plan_view(self, plan_id: str, checkpoint_id: str | None = None) -> Record:
        """The DAG and totals of a plan at its newest state (or at one checkpoint)."""
        record = self._record(plan_id, checkpoint_id)
        entries = [] if checkpoint_id else self._entries(record["plan_id"], record["journal_seq"])
        results, last_seq = derive.merge_results(record, entries)
        live = record.get("state") in derive.LIVE_STATES and not checkpoint_id
        nodes = derive.flatten(record.get("workflow_plan") or {})
        vibe = record.get("vibe") or {}
        return {
            "plan_id": record["plan_id"],
            "checkpoint_id": record["checkpoint_id"],
            "run_id": record.get("run_id"),
            "state": record.get("state"),
            "created_at": record.get("created_at"),
            "description": str(vibe.get("description", "")),
            "lineage": derive.lineage_of(record),
            "last_seq": last_seq,
            "pinned": bool(checkpoint_id),
            "totals": derive.totals(nodes, results, live),
            "nodes": [derive.node_summary(n, results, live) for n in nodes],
        }

    def node_view(self, plan_id: str, node_id: str, checkpoint_id: str | None = None) -> Record:
        """Everything about one node: output (safe HTML, images, JSON), attempts, error,
        duration, cost, memos, its parameters."""
        record = self._record(plan_id, checkpoint_id)
        entries = [] if checkpoint_id else self._entries(record["plan_id"], record["journal_seq"])
        results, _ = derive.merge_results(record, entries)
        nodes = {n["id"]: n for n in derive.flatten(record.get("workflow_plan") or {})}
        node = nodes.get(node_id)
        if node is None:
            raise NotFound(f"plan {record['plan_id']!r} has no node {node_id[:80]!r}")
        result = results.get(node_id) or {}
        live = record.get("state") in derive.LIVE_STATES and not checkpoint_id
        return {
            **node,
            "state": derive.node_state(node, results, live),
            "attempts": result.get("attempts", 0),
            "error": result.get("error"),
            "duration": result.get("duration"),
            "started_at": result.get("started_at"),
            "completed_at": result.get("completed_at"),
            "cost_usd": derive.cost_of(result),
            "usage": result.get("usage"),
            "resumed": result.get("resumed", False),
            "memos": derive.memos_of(record, entries).get(node_id, {}),
            "output": output_view(record["plan_id"], result.get("output")),
        }

    def tail(self, plan_id: str, after_seq: int) -> tuple[list[Record], str | None]:
        """Journal entries after ``after_seq`` and the newest checkpoint id (for live pages)."""
        plan_id = self.plan_id(plan_id)
        entries = self._entries(plan_id, after_seq)
        ids = self.manager.latest_checkpoint_ids(plan_id)
        return entries, (ids[0] if ids else None)

    # ------------------------------------------------------------------ checkpoints

    def checkpoints(self, plan_id: str) -> Record:
        """The plan's checkpoints, newest first, with run ids and lineage, and the runs of
        other plans forked from this one."""
        plan_id = self.plan_id(plan_id)
        items: list[Record] = []
        for summary in self.manager.list_checkpoints(plan_id):
            item: Record = dict(summary)
            if not summary["corrupt"]:
                try:
                    record = self.manager.load_checkpoint(summary["checkpoint_id"], plan_id)
                except CheckpointError:
                    record = {}
                item["lineage"] = derive.lineage_of(record)
            items.append(item)
        forks = [
            run
            for other in self.manager.plan_ids()
            if other != plan_id
            for run in self._runs_of(other)
            if (run.get("lineage") or {}).get("source_plan_id") == plan_id
        ]
        return {"plan_id": plan_id, "checkpoints": items, "forks": forks}

    def diff(self, plan_id: str, a: str, b: str) -> Record:
        first, second = (
            self._record(plan_id, self.checkpoint_id(a)),
            self._record(plan_id, self.checkpoint_id(b)),
        )
        return derive.diff_records(first, second)

    def delete_checkpoint(self, plan_id: str, checkpoint_id: str) -> bool:
        return self.manager.delete_checkpoint(
            self.checkpoint_id(checkpoint_id), self.plan_id(plan_id)
        )

    # ------------------------------------------------------------------ artifacts

    def artifact(self, plan_id: str, sha256: str) -> tuple[bytes, str]:
        """The bytes and media type of a blob: only a hash the plan holds *and* one of its
        checkpoints or journal entries references (anything else is NotFound)."""
        plan_id = self.plan_id(plan_id)
        if SHA256_RE.fullmatch(sha256) is None or sha256 not in self.manager.blobs.digests(plan_id):
            raise NotFound("no such artifact")
        for cp in self.manager.latest_checkpoint_ids(plan_id):
            try:
                record = self.manager.load_checkpoint(cp, plan_id)
            except CheckpointError:
                continue
            entries = self._entries(plan_id, int(record.get("journal_seq", -1)))
            ref = _find_ref(record, entries, sha256)
            if ref is not None:
                try:
                    data = self.manager.blobs.get(plan_id, ref)
                except (OSError, CheckpointError):
                    raise NotFound("no such artifact") from None
                return data, str(ref.get("media_type") or "application/octet-stream")
        raise NotFound("no such artifact")

    # ------------------------------------------------------------------ holders

    def holder(self, plan_id: str) -> Holder | None:
        """Who runs the plan now (None when nobody holds its lease); read-only, so asking
        cannot get in the way of a run that is starting."""
        plan_id = self.plan_id(plan_id)
        if plan_id not in self.manager.plan_ids():
            raise NotFound(f"no plan {plan_id!r}")
        text = self.manager.holder(plan_id)
        return None if text is None else parse_holder(text)


def _find_ref(record: Record, entries: list[Record], sha256: str) -> Record | None:
    stack: list[Any] = [record.get("node_results"), record.get("memos")]
    stack += [e.get("result") for e in entries] + [e.get("value") for e in entries]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if item.get("sha256") == sha256 and isinstance(item.get("media_type"), str | None):
                return {k: item[k] for k in ("sha256", "media_type", "bytes") if k in item}
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None
