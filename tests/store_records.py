"""Records for store tests: a checkpoint record and a journal entry, in the shapes of
``vibe_aigc.persistence.records``."""

from __future__ import annotations

import hashlib
import json
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


def sealed(obj: dict[str, Any]) -> bytes:
    """A checkpoint file of ``obj`` written by hand, as the codec's docstring describes schema
    v3: ``checksum`` over the canonical JSON of the rest, then ``seal`` as the last entry,
    hashing every byte before it (here in ``json.dumps``' own layout)."""
    body = {k: v for k, v in obj.items() if k not in ("checksum", "seal")}
    canonical = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    body["checksum"] = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    text = json.dumps(body, indent=2, ensure_ascii=False)  # ends with the last entry + "\n}"
    prefix = (text[:-2] + ",\n  ").encode()
    digest = hashlib.sha256(prefix).hexdigest()
    return prefix + b'"seal": "sha256:' + digest.encode() + b'"\n}\n'
