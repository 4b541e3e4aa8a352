"""The JSON schema a model's plan answer is held to (structured output), kept small.

Small on purpose: a server compiles it into a grammar (llama.cpp) or a constrained decoder
(OpenAI, vLLM, Ollama), and a tiny model follows a short, flat schema far better than the full
plan model. So it describes a *flat* plan (no ``children``; dependencies express the order),
ids as short snake_case names, one of the offered tools per node, bounded descriptions and at
most ``max_nodes`` nodes. Anything it lets through still goes to the plan validator and the
repair round; the schema only makes a well-formed answer likely.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from vibe_aigc.models import WorkflowNodeType

ID_PATTERN = "^[a-z][a-z0-9_]{0,31}$"
SCHEMA_NAME = "workflow_plan"


def plan_schema(tools: Iterable[str], *, max_nodes: int = 12) -> dict[str, Any]:
    """The answer schema for a plan whose nodes use one of ``tools``."""
    names = sorted(set(tools))
    parameters: dict[str, Any] = {
        "type": "object",
        "properties": {"tool": {"type": "string", "enum": names}} if names else {},
        "required": ["tool"] if names else [],
        "additionalProperties": False,
    }
    node = {
        "type": "object",
        "properties": {
            "id": {"type": "string", "pattern": ID_PATTERN},
            "type": {"type": "string", "enum": [t.value for t in WorkflowNodeType]},
            "description": {"type": "string", "minLength": 3, "maxLength": 240},
            "parameters": parameters,
            "dependencies": {
                "type": "array",
                "items": {"type": "string", "pattern": ID_PATTERN},
                "maxItems": 6,
            },
        },
        "required": ["id", "type", "description", "parameters", "dependencies"],
        "additionalProperties": False,
    }
    return {
        "type": "object",
        "properties": {
            "root_nodes": {"type": "array", "items": node, "minItems": 1, "maxItems": max_nodes}
        },
        "required": ["root_nodes"],
        "additionalProperties": False,
    }
