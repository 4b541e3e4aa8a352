"""Model-backed text tools: ``generate_text`` (chat completions) and ``join`` (no model).

``generate_text`` serves ``analyze`` / ``generate`` / ``transform`` / ``validate`` nodes when a
model is configured. Its prompt holds the node's task, the vibe (description, style,
constraints, domain) and the outputs of the node's dependencies and children *verbatim* (the
``text`` of a tool output, else its JSON). The output::

    {"tool": "generate_text", "node_id": ..., "text": <the model's answer>, "model": ...,
     "finish_reason": ..., "usage": {"prompt_tokens", "completion_tokens", "total_tokens",
     "requests", "cost_usd" (when a price is configured)}}

``validate`` nodes are asked to begin with ``PASSED`` or ``FAILED``; the output adds
``passed`` (True / False / None when the answer says neither).

Node parameters: ``temperature`` (0-2) and ``max_tokens`` (1-32000) override the config. The
scaffold of a built-in plan written by the model (:func:`~vibe_aigc.planner.choice.model_written`)
goes into the prompt: ``purpose`` (what to deliver), ``section`` (which part of the piece this
node writes) and ``template_tool``.

Live progress: when ``context.services["on_tokens"]`` is a callable, it is called as
``on_tokens(node_id, progress)`` with a :class:`~vibe_aigc.llm.TokenProgress` (``tokens``,
``elapsed``, ``tokens_per_second``, ``done``) while the answer streams, at most every 0.2 s
and once at the end. It must be quick and must not raise (errors are logged and ignored).
"""

from __future__ import annotations

import json
from typing import Any

from vibe_aigc.context import NodeContext
from vibe_aigc.errors import ToolError
from vibe_aigc.llm import LLMClient, ProgressFn, TokenProgress
from vibe_aigc.models import WorkflowNode, WorkflowNodeType

SYSTEM_PROMPT = (
    "You are a careful creative producer carrying out one step of a larger workflow. "
    "Do exactly the task given, honour the style and every constraint, build on the inputs "
    "from earlier steps, and answer with the deliverable only (Markdown is fine), with no "
    "preamble and no questions."
)

_TASK_HINTS = {
    WorkflowNodeType.ANALYZE: "Analyse and write structured notes other steps can build on.",
    WorkflowNodeType.GENERATE: "Write the content itself, complete and ready to use.",
    WorkflowNodeType.TRANSFORM: "Transform / combine the inputs into the requested result.",
    WorkflowNodeType.VALIDATE: (
        "Check the inputs against the goal and every constraint. Begin your answer with "
        "PASSED or FAILED on its own line, then list each check with its evidence."
    ),
    WorkflowNodeType.COMPOSITE: "Combine the inputs into one result.",
}


def render_input(value: Any) -> str:
    """A dependency's output as prompt text: its ``text`` verbatim, else its JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("text"), str):
        return str(value["text"])
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        # a composite's output: child id -> child output
        return "\n\n".join(f"[{k}]\n{render_input(v)}" for k, v in value.items())
    return json.dumps(value, ensure_ascii=False, indent=1, default=str)


def _ordered(context: NodeContext, source: dict[str, Any]) -> list[tuple[str, Any]]:
    order = {nid: i for i, nid in enumerate(context.plan.node_ids)}
    return sorted(source.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))


def build_messages(node: WorkflowNode, context: NodeContext) -> list[dict[str, str]]:
    vibe = context.vibe
    style = node.parameters.get("style", vibe.style)
    constraints = node.parameters.get("constraints", vibe.constraints) or []
    lines = [f"Overall goal: {vibe.description}"]
    if style:
        lines.append(f"Style: {style}")
    if constraints:
        lines.append("Constraints:\n" + "\n".join(f"- {c}" for c in constraints))
    domain = node.parameters.get("domain", vibe.domain)
    if domain:
        lines.append(f"Domain: {domain}")
    lines.append(f"\nYour task ({node.type.value}, step {node.id!r}): {node.description}")
    purpose = node.parameters.get("purpose")
    if isinstance(purpose, str) and purpose:
        lines.append(f"Deliver: {purpose}.")
    section = node.parameters.get("section")
    if isinstance(section, str) and section:
        lines.append(
            f"You write only the {section} section of the piece; other steps write the rest."
        )
    lines.append(_TASK_HINTS[node.type])
    inputs = _ordered(context, context.dependency_outputs) + _ordered(
        context, context.child_outputs
    )
    if inputs:
        lines.append("\nInputs from earlier steps (verbatim):")
        for node_id, value in inputs:
            lines.append(f"\n### {node_id}\n{render_input(value)}")
    return [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "\n".join(lines)},
    ]


def _number(params: dict[str, Any], key: str, low: float, high: float) -> float | None:
    value = params.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ToolError(f"parameters[{key!r}] must be a number from {low:g} to {high:g}")
    return float(value)


def verdict(text: str) -> bool | None:
    head = text.lstrip(" \n#*>-").upper()
    if head.startswith("PASSED") or head.startswith("PASS"):
        return True
    if head.startswith("FAILED") or head.startswith("FAIL"):
        return False
    return None


def progress_for(context: NodeContext) -> ProgressFn | None:
    """``context.services["on_tokens"]`` bound to this node, if there is one."""
    on_tokens = context.services.get("on_tokens")
    if not callable(on_tokens):
        return None
    node_id = context.node_id

    def report(progress: TokenProgress) -> None:
        on_tokens(node_id, progress)

    return report


class ChatTool:
    """``generate_text``: one chat completion per node (see the module docstring)."""

    name = "generate_text"
    description = (
        "Text from the configured language model (chat completions): analysis, drafts, "
        "rewrites, reviews. Sees the vibe and the outputs of its dependencies verbatim."
    )

    def __init__(self, client: LLMClient) -> None:
        self.client = client

    async def run(self, node: WorkflowNode, context: NodeContext) -> Any:
        temperature = _number(node.parameters, "temperature", 0, 2)
        max_tokens = _number(node.parameters, "max_tokens", 1, 32000)
        answer = await self.client.chat(
            build_messages(node, context),
            temperature=temperature,
            max_tokens=int(max_tokens) if max_tokens else None,
            on_progress=progress_for(context),
        )
        output: dict[str, Any] = {
            "tool": self.name,
            "node_id": node.id,
            "text": answer.text,
            "model": answer.model,
            "finish_reason": answer.finish_reason,
            "usage": answer.usage,
        }
        if node.type == WorkflowNodeType.VALIDATE:
            output["passed"] = verdict(answer.text)
        return output


class JoinTool:
    """``join``: the inputs' texts, in plan order, under headings. No model, no I/O."""

    name = "join"
    description = "Joins the outputs of a node's children (else its dependencies) into one text."

    async def run(self, node: WorkflowNode, context: NodeContext) -> Any:
        source = context.child_outputs or context.dependency_outputs
        parts = _ordered(context, source)
        text = "\n\n".join(f"## {node_id}\n\n{render_input(value)}" for node_id, value in parts)
        return {
            "tool": self.name,
            "node_id": node.id,
            "text": text,
            "parts": [node_id for node_id, _ in parts],
        }
