"""The one home of the record shapes: checkpoint records, journal entries, run summaries.

Every store moves these records; the codec turns them into bytes (and tags each with its
``format`` and ``schema_version``); the runs layer builds and reads them. Nothing else spells a
record key.

Checkpoint record (schema v3; v2 has the same keys, v3 only added the codec's ``seal`` to the
file), the guide's keys first::

    checkpoint_id, plan_id, created_at, vibe, workflow_plan, completed_nodes, node_results,
    pending_nodes,                                   # the published guide
    state, total_nodes, run_id, journal_seq,         # v2: run state, what the journal covers
    summary?, memos?, parent_run_id?, ...            # optional extras, kept as they are

Lineage (optional, written by runs that continue another run): ``parent_run_id`` (the run this
one resumed or forked from), ``parent_checkpoint_id`` and ``parent_plan_id`` (where it started;
the plan differs for a fork) and ``origins`` (``{node_id: run_id}``: which earlier run produced
each output this run took over).

Journal entry: ``{seq, run_id, plan_id, node_id, result}`` for a finished node, or
``{seq, run_id, plan_id, node_id, kind: "memo", key, value}`` for a node's durable note.

Run summary (what ``list_checkpoints`` shows for one snapshot): ``checkpoint_id, plan_id,
created_at, completed_nodes`` (a count), ``total_nodes, state, corrupt`` (False); a snapshot
that does not decode is ``{checkpoint_id, plan_id, corrupt: True, error}``.
"""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

from vibe_aigc.jsondata import JsonText
from vibe_aigc.persistence.kept import StoredEntries, StoredText

SCHEMA_VERSION = 3
"""Version of checkpoint records written now (older ones load through the codec's migrations).
v3 records are v2 records; v3 files end with a ``seal`` over their bytes as written (see
:mod:`vibe_aigc.persistence.codec`)."""
JOURNAL_VERSION = 1
"""Version of journal entries written now."""
FORMAT = "json"
"""The codec tag written beside ``schema_version`` (JSON data, never pickle)."""

Record = dict[str, Any]
"""A record as stores and codecs move it: JSON data in one of the shapes of this module."""

GUIDE_KEYS: tuple[str, ...] = (
    "checkpoint_id",
    "plan_id",
    "created_at",
    "vibe",
    "workflow_plan",
    "completed_nodes",
    "node_results",
    "pending_nodes",
)
V2_KEYS: tuple[str, ...] = ("state", "total_nodes", "run_id", "journal_seq")
RESERVED_KEYS: tuple[str, ...] = ("schema_version", "format", "checksum", "seal")
LINEAGE_KEYS: tuple[str, ...] = (
    "parent_run_id",
    "parent_checkpoint_id",
    "parent_plan_id",
    "origins",
)

RunState = Literal["running", "completed", "failed", "interrupted"]
RUN_STATES: tuple[str, ...] = ("running", "completed", "failed", "interrupted")


class CheckpointRecord(TypedDict):
    """A full snapshot of a run (see the module docstring)."""

    checkpoint_id: str
    plan_id: str
    created_at: str
    vibe: dict[str, Any]
    workflow_plan: dict[str, Any]
    completed_nodes: list[str]
    node_results: dict[str, dict[str, Any]]
    pending_nodes: list[str]
    state: str
    total_nodes: int
    run_id: str
    journal_seq: int
    summary: NotRequired[dict[str, Any]]
    memos: NotRequired[dict[str, dict[str, Any]]]
    parent_run_id: NotRequired[str | None]
    parent_checkpoint_id: NotRequired[str | None]
    parent_plan_id: NotRequired[str | None]
    origins: NotRequired[dict[str, str]]


class ResultEntry(TypedDict):
    """A journal entry: one finished node."""

    seq: int
    run_id: str
    plan_id: str
    node_id: str
    result: dict[str, Any]


class MemoEntry(TypedDict):
    """A journal entry: one durable note of a node (e.g. a provider's job id)."""

    seq: int
    run_id: str
    plan_id: str
    node_id: str
    kind: Literal["memo"]
    key: str
    value: Any


class SnapshotSummary(TypedDict):
    """One line of ``list_checkpoints``."""

    checkpoint_id: str
    plan_id: str
    created_at: NotRequired[str]
    completed_nodes: NotRequired[int]
    total_nodes: NotRequired[int]
    state: NotRequired[str]
    run_id: NotRequired[str]
    parent_run_id: NotRequired[str]
    kept_for: NotRequired[str]
    corrupt: bool
    error: NotRequired[str]


def result_entry(
    run_id: str, plan_id: str, node_id: str, result: dict[str, Any] | JsonText
) -> Record:
    """A journal entry for a finished node (``seq`` is assigned when it is written); the
    result as JSON data or as its canonical text."""
    return {"seq": 0, "run_id": run_id, "plan_id": plan_id, "node_id": node_id, "result": result}


def memo_entry(run_id: str, plan_id: str, node_id: str, key: str, value: Any) -> Record:
    """A journal entry for a node's durable note (``seq`` is assigned when it is written)."""
    return {
        "seq": 0,
        "run_id": run_id,
        "plan_id": plan_id,
        "kind": "memo",
        "node_id": node_id,
        "key": key,
        "value": value,
    }


def is_memo(entry: Record) -> bool:
    return entry.get("kind") == "memo"


def fill_defaults(record: Record) -> None:
    """Fill v2 keys a caller left out (same rules as the v1 -> v2 migration)."""
    completed = record.get("completed_nodes")
    pending = record.get("pending_nodes")
    if isinstance(completed, list) and isinstance(pending, list):
        record.setdefault("state", "interrupted" if pending else "completed")
        record.setdefault("total_nodes", len(completed) + len(pending))
    record.setdefault("run_id", "manual")
    record.setdefault("journal_seq", -1)  # covers no journal record


def v1_to_v2(record: Record) -> Record:
    """The v1 -> v2 migration: v1 had no run state and no journal."""
    out = dict(record)
    out["state"] = "completed" if not record["pending_nodes"] else "interrupted"
    out["total_nodes"] = len(record["completed_nodes"]) + len(record["pending_nodes"])
    out["run_id"] = "legacy"
    out["journal_seq"] = 0
    return out


def v2_to_v3(record: Record) -> Record:
    """The v2 -> v3 migration: the same record (v3 only added the file's seal)."""
    return record


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


MAX_SEQ = 2**62
"""Journal sequence numbers and counts above this are refused as hostile (a real journal would
need centuries to get there); they would otherwise make file names and arithmetic explode."""


def shape_problem(record: Record, version: int = SCHEMA_VERSION) -> str | None:
    """Why ``record`` is not a checkpoint record of ``version`` (None when it is)."""
    missing = [k for k in GUIDE_KEYS if k not in record]
    if version >= 2:
        missing += [k for k in V2_KEYS if k not in record]
    if missing:
        return "missing required key(s): " + ", ".join(missing)
    checks: list[tuple[str, bool, str]] = [
        ("checkpoint_id", isinstance(record["checkpoint_id"], str), "a string"),
        ("plan_id", isinstance(record["plan_id"], str), "a string"),
        ("created_at", isinstance(record["created_at"], str), "a string"),
        ("vibe", isinstance(record["vibe"], dict), "an object"),
        (
            "workflow_plan",
            # as its text: a run's own (JsonText), or a sealed file's, unparsed (kept.py)
            isinstance(record["workflow_plan"], dict | JsonText | StoredText | StoredEntries),
            "an object",
        ),
        ("completed_nodes", _is_str_list(record["completed_nodes"]), "a list of strings"),
        (
            "node_results",
            # unparsed, as a sealed file lays it out (kept.StoredEntries), or an object
            isinstance(record["node_results"], StoredEntries | StoredText)
            or (
                isinstance(record["node_results"], dict)
                # a result may be given as its JSON text (jsondata.JsonText: canonical)
                and all(isinstance(v, dict | JsonText) for v in record["node_results"].values())
            ),
            "an object of objects",
        ),
        ("pending_nodes", _is_str_list(record["pending_nodes"]), "a list of strings"),
    ]
    if version >= 2:
        checks += [
            ("state", isinstance(record["state"], str), "a string"),
            (
                "total_nodes",
                _is_int(record["total_nodes"]) and 0 <= record["total_nodes"] <= MAX_SEQ,
                "a non-negative integer (at most 2**62)",
            ),
            ("run_id", isinstance(record["run_id"], str), "a string"),
            (
                "journal_seq",
                _is_int(record["journal_seq"]) and -1 <= record["journal_seq"] <= MAX_SEQ,
                "an integer from -1 to 2**62",
            ),
        ]
    for key, ok, expected in checks:
        if not ok:
            value = record[key]
            found = type(value).__name__ if not _is_int(value) else str(value)[:40]
            return f"{key!r} must be {expected}, found {found}"
    return None


def entry_problem(entry: Record) -> str | None:
    """Why a decoded journal entry is not one this library writes (None when it is)."""
    seq = entry.get("seq")
    if not isinstance(seq, int) or isinstance(seq, bool) or not 0 <= seq <= MAX_SEQ:
        return "missing or out-of-range integer 'seq'"
    return None


def summary_of(record: Record) -> SnapshotSummary:
    """The ``list_checkpoints`` line of a decoded checkpoint record."""
    summary: SnapshotSummary = {
        "checkpoint_id": record["checkpoint_id"],
        "plan_id": record["plan_id"],
        "created_at": record["created_at"],
        "completed_nodes": len(record["completed_nodes"]),
        "total_nodes": record["total_nodes"],
        "state": record["state"],
        "run_id": record["run_id"],
        "corrupt": False,
    }
    if isinstance(record.get("parent_run_id"), str):
        summary["parent_run_id"] = record["parent_run_id"]
    return summary


def lineage_of(record: Record) -> tuple[str, str | None, str]:
    """``(run_id, parent_run_id, parent_plan_id)`` of a decoded record (the parent's plan
    defaults to the record's own)."""
    parent = record.get("parent_run_id")
    parent_plan = record.get("parent_plan_id")
    return (
        str(record.get("run_id")),
        parent if isinstance(parent, str) else None,
        parent_plan if isinstance(parent_plan, str) else str(record.get("plan_id")),
    )


def corrupt_summary(checkpoint_id: str, plan_id: str, error: str) -> SnapshotSummary:
    """The ``list_checkpoints`` line of a snapshot that does not decode."""
    return {"checkpoint_id": checkpoint_id, "plan_id": plan_id, "corrupt": True, "error": error}
