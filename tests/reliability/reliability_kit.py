"""Shared pieces of the reliability suites (not a test module).

* :func:`build_chaos_plan` - a deterministic DAG (parallel lanes, cross links, hierarchy with
  composite and non-composite parents, varied node durations) from a seed.
* :class:`LedgerExecutor` - runs a node by sleeping its duration and deriving its output from the
  outputs it was given, writing ``start``/``done`` lines to a ledger kept outside the checkpoint
  folder. A resumed run that fed a node different inputs produces different outputs.
* :func:`durable_record` - what the checkpoint folder records as completed, read independently of
  the resume code (every journal line and every checkpoint file), so the tests can say which
  completions were durable at the moment of a kill.
* :func:`durable_record_in` - the same for a database store (SQLite, PostgreSQL), read through
  the store contract: every snapshot row and every journal row must decode.
* :func:`tree_state` - a snapshot of a folder tree (paths, kinds, sizes, hashes, link targets).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import random
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vibe_aigc import Vibe, WorkflowExecutor, WorkflowNode, WorkflowNodeType, WorkflowPlan
from vibe_aigc.context import NodeContext
from vibe_aigc.errors import CheckpointCorruptError
from vibe_aigc.persistence import JsonCodec, open_store
from vibe_aigc.persistence.file.journal import QUARANTINE_RE, SEGMENT_RE

HERE = Path(__file__).resolve().parent
RUNNER = HERE / "chaos_runner.py"
CHAOS_PLAN_ID = "plan-chaos"


# ---------------------------------------------------------------------- the plan


def build_chaos_plan(
    seed: int, total: int = 200, lanes: int = 6, plan_id: str = CHAOS_PLAN_ID
) -> WorkflowPlan:
    """A ``total``-node plan drawn from ``seed`` (same seed, same plan).

    Top-level nodes sit in ``lanes`` parallel chains with random cross links to earlier nodes;
    about a third of them are parents (composite or not) of 1-4 children, some children have
    children of their own, and children may depend on earlier siblings and earlier subtrees.
    ``parameters["ms"]`` is the node's duration in milliseconds (mostly short, a few long).
    """
    rng = random.Random(seed)
    count = 0
    earlier: list[str] = []  # ids of nodes in finished subtrees (safe dependency targets)
    lane_last: dict[int, str] = {}
    roots: list[WorkflowNode] = []

    def duration() -> int:
        roll = rng.random()
        if roll < 0.1:
            return 0
        if roll < 0.85:
            return rng.randint(1, 12)
        return rng.randint(30, 80)

    def make(
        node_id: str, kind: WorkflowNodeType, deps: list[str], kids: list[WorkflowNode]
    ) -> WorkflowNode:
        return WorkflowNode(
            id=node_id,
            type=kind,
            description=f"work {node_id}",
            parameters={"ms": duration()},
            dependencies=deps,
            children=kids,
            estimated_duration=float(rng.randint(1, 5)),
        )

    def subtree(prefix: str, depth: int, budget: int) -> tuple[list[WorkflowNode], int]:
        """Children of a parent: up to ``budget`` nodes, possibly nested once more."""
        nonlocal count
        kids: list[WorkflowNode] = []
        used = 0
        siblings: list[str] = []
        for k in range(rng.randint(1, 4)):
            if used >= budget:
                break
            child_id = f"{prefix}.{k}"
            deps = [rng.choice(siblings)] if siblings and rng.random() < 0.4 else []
            if earlier and rng.random() < 0.2:
                deps.append(rng.choice(earlier))
            grand: list[WorkflowNode] = []
            used += 1
            count += 1
            if depth < 3 and budget - used >= 2 and rng.random() < 0.3:
                grand, n = subtree(child_id, depth + 1, min(3, budget - used))
                used += n
            kind = rng.choice([WorkflowNodeType.COMPOSITE, WorkflowNodeType.GENERATE])
            if not grand:
                kind = rng.choice([WorkflowNodeType.GENERATE, WorkflowNodeType.TRANSFORM])
            kids.append(make(child_id, kind, deps, grand))
            siblings.append(child_id)
        return kids, used

    index = 0
    while count < total:
        lane = index % lanes
        node_id = f"t{index:03d}"
        deps = [lane_last[lane]] if lane in lane_last else []
        if earlier and rng.random() < 0.3:
            deps.append(rng.choice(earlier))
        deps = sorted(set(deps))
        count += 1
        kids: list[WorkflowNode] = []
        if total - count >= 1 and rng.random() < 0.35:
            kids, _ = subtree(node_id, 1, min(8, total - count))
        if kids:
            kind = rng.choice([WorkflowNodeType.COMPOSITE, WorkflowNodeType.GENERATE])
        else:
            kind = rng.choice(
                [WorkflowNodeType.ANALYZE, WorkflowNodeType.GENERATE, WorkflowNodeType.VALIDATE]
            )
        node = make(node_id, kind, deps, kids)
        roots.append(node)
        for n in _walk(node):
            earlier.append(n.id)
        lane_last[lane] = node_id
        index += 1
    plan = WorkflowPlan(
        id=plan_id,
        source_vibe=Vibe(description=f"chaos plan, seed {seed}"),
        root_nodes=roots,
    )
    assert plan.total_nodes == total, plan.total_nodes
    plan.validate_plan()
    return plan


def _walk(node: WorkflowNode) -> list[WorkflowNode]:
    out = [node]
    for child in node.children:
        out.extend(_walk(child))
    return out


def worked_nodes(plan: WorkflowPlan) -> set[str]:
    """Nodes that call ``execute_node`` (composite parents with children have no own work)."""
    return {
        n.id for n in plan.iter_nodes() if not (n.type == WorkflowNodeType.COMPOSITE and n.children)
    }


# ---------------------------------------------------------------------- the executor


def derive_output(node_id: str, context: NodeContext) -> dict[str, Any]:
    payload = json.dumps(
        [node_id, context.dependency_outputs, context.child_outputs], sort_keys=True
    ).encode()
    return {"node": node_id, "digest": hashlib.sha256(payload).hexdigest()[:20]}


class LedgerExecutor(WorkflowExecutor):
    """Sleeps ``parameters["ms"]`` and derives the output from its inputs; logs to a ledger."""

    def __init__(self, ledger: str | None, *, max_concurrency: int = 4, scale: float = 1.0):
        super().__init__(max_concurrency=max_concurrency)
        self.ledger = ledger
        self.scale = scale
        self.tag = f"{os.getpid()}"

    def log(self, line: str) -> None:
        if self.ledger is None:
            return
        fd = os.open(self.ledger, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, f"{line} {self.tag}\n".encode())
        finally:
            os.close(fd)

    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        self.log(f"start {node.id}")
        await asyncio.sleep(float(node.parameters.get("ms", 0)) * self.scale / 1000)
        output = derive_output(node.id, context)
        self.log(f"done {node.id}")
        return output


@dataclass
class LedgerEntry:
    event: str  # start | done
    node_id: str
    pid: str


def read_ledger(path: Path) -> list[LedgerEntry]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        event, node_id, pid = line.split()
        out.append(LedgerEntry(event, node_id, pid))
    return out


# ---------------------------------------------------------------------- what the disk says


@dataclass
class DurableRecord:
    """Completions found on disk: node id -> output, and where each came from."""

    outputs: dict[str, Any] = field(default_factory=dict)
    checkpoints: list[str] = field(default_factory=list)
    segments: list[str] = field(default_factory=list)
    quarantined: list[str] = field(default_factory=list)
    torn_tails: int = 0
    temp_files: list[str] = field(default_factory=list)


def durable_record(root: Path, plan_id: str) -> DurableRecord:
    """Every completion recorded under ``root/plan_id``, read without the resume code.

    Checkpoint files must decode (CheckpointCorruptError propagates: "no checkpoint file ever
    fails to load"). Journal lines (a segment's bytes up to its first NUL byte) are decoded one
    by one; only the very last line of a segment may be torn (a kill during an append) and is
    then ignored, and so are bytes after a zero gap (pages of a torn append).
    """
    codec = JsonCodec()
    plan_dir = root / plan_id
    record = DurableRecord()
    if not plan_dir.exists():
        return record
    for entry in sorted(plan_dir.iterdir()):
        name = entry.name
        if name.startswith(".tmp-"):
            record.temp_files.append(name)
        elif name.startswith("cp-") and name.endswith(".json"):
            data = codec.decode(entry.read_bytes(), str(entry))
            record.checkpoints.append(name)
            for node_id, result in data["node_results"].items():
                if result.get("status") == "completed":
                    _agree(record.outputs, node_id, result.get("output"), name)
        elif SEGMENT_RE.fullmatch(name) or QUARANTINE_RE.fullmatch(name):
            (record.quarantined if name.startswith("quarantined") else record.segments).append(name)
            # the data ends at the first NUL byte: zeros after it are room made ahead; other
            # bytes after them are what a torn append left (pages that reached the disk)
            data, _, after = entry.read_bytes().partition(b"\0")
            lines = data.split(b"\n")
            tail = lines.pop()
            if tail or after.strip(b"\0"):
                record.torn_tails += 1
            for number, line in enumerate(lines, 1):
                try:
                    data = codec.decode_line(line, str(entry))
                except CheckpointCorruptError:
                    if number == len(lines) and not tail:
                        record.torn_tails += 1
                        continue
                    raise
                result = data.get("result")
                if isinstance(result, dict) and result.get("status") == "completed":
                    _agree(record.outputs, str(data["node_id"]), result.get("output"), name)
    return record


def durable_record_in(url: str, plan_id: str) -> DurableRecord:
    """Every completion a database store records for ``plan_id``, read without the resume
    code: each snapshot row must decode (CheckpointCorruptError propagates) and the journal
    must read without damage (its rows are written in transactions: nothing is ever torn)."""
    store = open_store(url)
    record = DurableRecord()
    try:
        for checkpoint_id in sorted(store.snapshot_ids(plan_id)):
            data = store.read_snapshot(checkpoint_id, plan_id)
            record.checkpoints.append(checkpoint_id)
            for node_id, result in data["node_results"].items():
                if result.get("status") == "completed":
                    _agree(record.outputs, node_id, result.get("output"), checkpoint_id)
        found = store.read_entries(plan_id)
        assert found.damage is None, found.damage
        for entry in found.entries:
            result = entry.get("result")
            if isinstance(result, dict) and result.get("status") == "completed":
                _agree(record.outputs, str(entry["node_id"]), result.get("output"), "journal")
    finally:
        close = getattr(store, "close", None)
        if close is not None:
            close()
    return record


def _agree(outputs: dict[str, Any], node_id: str, output: Any, where: str) -> None:
    if node_id in outputs and outputs[node_id] != output:
        raise AssertionError(
            f"{where}: node {node_id} recorded with two different outputs: "
            f"{outputs[node_id]!r} vs {output!r}"
        )
    outputs[node_id] = output


# ---------------------------------------------------------------------- folder snapshots


def tree_state(root: Path) -> dict[str, tuple[str, str]]:
    """``relative path -> (kind, detail)`` for everything under ``root`` (links not followed)."""
    out: dict[str, tuple[str, str]] = {}
    if not os.path.lexists(root):
        return out
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        for name in [*dirnames, *filenames]:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                out[rel] = ("dir", oct(path.stat().st_mode & 0o7777))
            elif path.is_file():
                out[rel] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
            else:
                out[rel] = ("other", "")
    return out


def python() -> str:
    return sys.executable
