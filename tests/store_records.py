"""Records for store tests: a checkpoint record and a journal entry, in the shapes of
``vibe_aigc.persistence.records``."""

from __future__ import annotations

from typing import Any

from vibe_aigc.persistence import new_checkpoint_id


def record(plan_id: str = "plan-a", checkpoint_id: str | None = None, **extra: Any) -> dict:
    rec: dict[str, Any] = {
        "checkpoint_id": checkpoint_id or new_checkpoint_id(),
        "plan_id": plan_id,
        "created_at": "2026-02-05T10:30:00Z",
        "vibe": {"description": "a calm café", "style": "lofi", "constraints": ["≤ 3 min"]},
        "workflow_plan": {"id": plan_id, "root_nodes": [{"id": "n1", "parameters": {"k": 1}}]},
        "completed_nodes": ["n1"],
        "node_results": {
            "n1": {"status": "completed", "output": {"text": "héllo 🌙", "score": 0.1, "n": None}}
        },
        "pending_nodes": ["n2", "n3"],
        "state": "running",
        "total_nodes": 3,
        "run_id": "run-1",
        "journal_seq": 4,
    }
    rec.update(extra)
    return rec


def entry(seq: int, plan_id: str = "plan-a", node: str | None = None, **result: Any) -> dict:
    return {
        "seq": seq,
        "run_id": "run-1",
        "plan_id": plan_id,
        "node_id": node or f"n{seq}",
        "result": {"status": "completed", "output": result or {"i": seq}},
    }
