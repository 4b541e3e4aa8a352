"""Node fingerprints: what a node's output depends on, as one hash per node.

A node's fingerprint covers its type, description, tool, model, parameters (secret ones
redacted, as checkpoints store them) and the fingerprints of everything it waits on, so a
change anywhere upstream changes every fingerprint downstream of it. Two plans may share a
completed output exactly where the fingerprints agree.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from vibe_aigc.models import WorkflowPlan, plan_graph
from vibe_aigc.persistence.redaction import redact


def node_fingerprints(plan: WorkflowPlan) -> dict[str, str]:
    """``{node_id: sha256 hex}`` for every node of a valid (acyclic) plan."""
    graph = plan_graph(plan)
    out: dict[str, str] = {}
    for node_id in graph.topological_order():
        node = graph.nodes[node_id]
        parameters = redact(node.parameters)
        doc: dict[str, Any] = {
            "type": node.type.value,
            "description": node.description,
            "tool": parameters.get("tool"),
            "model": parameters.get("model"),
            "parameters": parameters,
            "waits_on": sorted([b, out[b]] for b in graph.before[node_id]),
        }
        text = json.dumps(doc, sort_keys=True, ensure_ascii=False, default=str)
        out[node_id] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return out
