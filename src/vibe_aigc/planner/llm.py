"""The LLM planner: a model answers our plan JSON; we validate it and never trust it blindly.

The prompt holds the vibe, the available tools (``registry.describe()``) and, as domain
knowledge, the offline :class:`~.knowledge.KnowledgePlanner`'s template for the detected domain
as an example. The model answers in JSON mode with the plan model's own shape::

    {"id": ..., "root_nodes": [{"id", "type", "description", "parameters", "dependencies",
                                "children"}, ...]}

The answer is parsed and checked with the plan validator plus an allow-list check (a node whose
``parameters["tool"]`` is not in the registry is a problem) and a size bound. On problems, one
repair round sends them back; then :class:`ModelPlanError` (a ``PlanningError``) quotes them.
The plan id is always ours (``derive_plan_id`` or the caller's), never the model's. Parameters
that steer retries or timeouts (``retry``, ``timeout``) are dropped: the model does not decide
how often we pay. Transient endpoint errors are retried with the executor's policy.

Structured output: each request carries the small flat plan schema of :mod:`.schema` (as the
server accepts it: OpenAI ``json_schema``, llama.cpp ``json_object`` + ``schema``, plain JSON
mode; see ``LLMConfig.structured_output``). When the plan stays invalid after the repair
round, the :class:`ModelPlanError` ends with :data:`OFFLINE_HINT` (``--planner offline``).
Every planning call's usage is summed in :attr:`LLMPlanner.usage` (planning tokens count in a
run's cost too).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from vibe_aigc.errors import PlanningError, ToolError, TransientError
from vibe_aigc.llm import ChatResult, LLMClient, ProviderError
from vibe_aigc.llm.usage import add_usage
from vibe_aigc.models import Vibe, WorkflowNode, WorkflowNodeType, WorkflowPlan, derive_plan_id
from vibe_aigc.planner.knowledge import KnowledgePlanner, detect_domain
from vibe_aigc.planner.schema import SCHEMA_NAME, plan_schema
from vibe_aigc.results import NodeResult
from vibe_aigc.retry import RetryPolicy
from vibe_aigc.tools import ToolRegistry

MAX_ANSWER_CHARS = 1_000_000
MAX_NODES = 80
_DROPPED_PARAMS = ("retry", "timeout")

SYSTEM = """You plan creative production workflows. Answer with ONE JSON object, nothing else:
{"id": "plan", "root_nodes": [NODE, ...]}
NODE = {"id": str, "type": "analyze"|"generate"|"transform"|"validate"|"composite",
        "description": str, "parameters": {"tool": str, ...}, "dependencies": [node ids],
        "children": [NODE, ...]}
Rules:
- ids: 1-64 characters from letters, digits, "-", "_"; unique in the whole plan.
- "dependencies" name other nodes that must finish first; no cycles.
- "children" are sub-tasks of a parent; a "composite" parent only groups its children.
- "parameters.tool" must be one of the available tools (omit it to use the type's default).
- Every description is a concrete, self-contained instruction for that step.
- Prefer 4 to 15 nodes; run independent work in parallel; end with a validate step."""

REPAIR = (
    "Your plan was rejected:\n{problems}\n\nAnswer again with the complete corrected plan as "
    "ONE JSON object in the same shape, nothing else."
)


OFFLINE_HINT = (
    "hint: run again with --planner offline to use the built-in plan and have the model "
    "write every text step"
)


class ModelPlanError(PlanningError):
    """The model's plan stayed invalid after the repair round. ``problems`` lists why;
    ``hint`` is the one line telling the user what to do instead (``--planner offline``)."""

    def __init__(
        self, message: str, problems: list[str], answer: str = "", hint: str = OFFLINE_HINT
    ) -> None:
        self.problems = problems
        self.answer = answer[:2000]
        self.hint = hint
        super().__init__(f"{message}\n{hint}" if hint else message)


def _strip_fences(text: str) -> str:
    match = re.fullmatch(r"\s*```(?:json)?\s*(.*?)\s*```\s*", text, re.S)
    return match.group(1) if match else text


def type_defaults(tools: ToolRegistry) -> dict[str, str]:
    out: dict[str, str] = {}
    for node_type in WorkflowNodeType:
        probe = WorkflowNode(id="probe", type=node_type, description="probe")
        try:
            out[node_type.value] = tools.tool_name_for(probe)
        except ToolError:
            continue
    return out


def tool_problems(plan: WorkflowPlan, tools: ToolRegistry) -> list[str]:
    problems = []
    for node in plan.iter_nodes():
        tool = node.parameters.get("tool")
        if tool is not None and (not isinstance(tool, str) or tool not in tools):
            problems.append(
                f"unknown_tool: [{node.id}] tool {tool!r} is not available; "
                f"use one of: {', '.join(tools.names())}"
            )
    return problems


def parse_plan_answer(
    text: str,
    *,
    vibe: Vibe,
    plan_id: str,
    tools: ToolRegistry,
    finish_reason: str | None = None,
    max_nodes: int = MAX_NODES,
) -> tuple[WorkflowPlan | None, list[str]]:
    """The plan in a model's answer, or None and every problem found."""
    problems: list[str] = []
    if finish_reason == "length":
        problems.append("the answer was cut off (finish_reason=length); answer a smaller plan")
    try:
        data = json.loads(_strip_fences(text))
    except (ValueError, RecursionError) as exc:
        return None, [*problems, f"the answer is not valid JSON ({str(exc)[:200]})"]
    if not isinstance(data, dict) or not isinstance(data.get("root_nodes"), list):
        return None, [*problems, 'expected a JSON object with a "root_nodes" list']
    try:
        plan = WorkflowPlan.model_validate(
            {"id": plan_id, "source_vibe": vibe.model_dump(), "root_nodes": data["root_nodes"]}
        )
    except ValidationError as exc:
        for error in exc.errors()[:20]:
            where = ".".join(str(p) for p in error["loc"])
            problems.append(f"shape: {where}: {error['msg']}")
        return None, problems
    except RecursionError:
        return None, [*problems, "the plan is nested too deeply"]
    if plan.total_nodes > max_nodes:
        problems.append(f"too_many_nodes: {plan.total_nodes} nodes (at most {max_nodes})")
    problems += [str(p) for p in plan.problems()]
    problems += tool_problems(plan, tools)
    if problems:
        return None, problems
    defaults = type_defaults(tools)
    for node in plan.iter_nodes():
        for key in _DROPPED_PARAMS:
            node.parameters.pop(key, None)
        grouping = bool(node.children) and node.type == WorkflowNodeType.COMPOSITE
        if "tool" not in node.parameters and not grouping and node.type.value in defaults:
            node.parameters["tool"] = defaults[node.type.value]
    return plan, []


def example_plan(vibe: Vibe, defaults: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The offline template for the vibe's domain, in the answer shape, without offline tools.

    With ``defaults`` (node type -> tool) the example is flat, as the structured-output schema
    wants: children become nodes of their own and a parent depends on its children; each node
    names its type's default tool.
    """
    plan = KnowledgePlanner().plan(vibe)

    def node(n: WorkflowNode) -> dict[str, Any]:
        params = {k: v for k, v in n.parameters.items() if k == "section"}
        return {
            "id": n.id,
            "type": n.type.value,
            "description": n.description,
            "parameters": params,
            "dependencies": n.dependencies,
            "children": [node(c) for c in n.children],
        }

    if defaults is None:
        return {"id": "plan", "root_nodes": [node(n) for n in plan.root_nodes]}
    flat: list[dict[str, Any]] = []

    def lift(n: WorkflowNode, inherited: list[str]) -> None:
        for child in n.children:
            lift(child, [*inherited, *n.dependencies])
        deps = [*dict.fromkeys([*inherited, *n.dependencies, *(c.id for c in n.children)])]
        tool = defaults.get("composite" if n.children else n.type.value)
        flat.append(
            {
                "id": n.id,
                "type": n.type.value,
                "description": n.description,
                "parameters": {"tool": tool} if tool else {},
                "dependencies": deps,
            }
        )

    for root in plan.root_nodes:
        lift(root, [])
    return {"root_nodes": flat}


class LLMPlanner:
    """Plans (and revises plans) with a model; see the module docstring."""

    name = "llm planner"

    def __init__(
        self,
        client: LLMClient,
        tools: ToolRegistry,
        *,
        retry_policy: RetryPolicy | None = None,
        max_repairs: int = 1,
        rng: random.Random | None = None,
        structured: bool = True,
        max_tokens: int | None = 3000,
    ) -> None:
        self.client = client
        self.tools = tools
        self.retry_policy = retry_policy or RetryPolicy()
        self.max_repairs = max_repairs
        self._rng = rng or random.Random()
        self.schema = plan_schema(tools.names()) if structured else None
        self.max_tokens = max_tokens
        self.usage: dict[str, float] = {}  # summed over every planning call

    def _intro(self, vibe: Vibe) -> str:
        tools = "\n".join(f"- {t['name']}: {t['description']}" for t in self.tools.describe())
        defaults = ", ".join(f"{k} -> {v}" for k, v in type_defaults(self.tools).items())
        wanted = {
            "description": vibe.description,
            "style": vibe.style,
            "constraints": vibe.constraints,
            "domain": vibe.domain,
        }
        return (
            f"The vibe (what the user wants):\n{json.dumps(wanted, ensure_ascii=False)}\n\n"
            f"Available tools (parameters.tool):\n{tools}\nDefaults by type: {defaults}\n\n"
            f"Domain knowledge: a proven plan for the {detect_domain(vibe)!r} domain; adapt it "
            "to this vibe (add, drop or rewrite steps as needed):\n"
            f"{json.dumps(self._example(vibe), ensure_ascii=False)}"
        )

    def _example(self, vibe: Vibe) -> dict[str, Any]:
        return example_plan(vibe, type_defaults(self.tools) if self.schema else None)

    async def plan(self, vibe: Vibe, plan_id: str | None = None) -> WorkflowPlan:
        ask = self._intro(vibe) + "\n\nAnswer with the plan for this vibe."
        return await self._converse(vibe, plan_id or derive_plan_id(vibe), ask, ())

    async def revise(
        self,
        vibe: Vibe,
        plan: WorkflowPlan,
        failures: Mapping[str, str],
        completed: Mapping[str, NodeResult],
    ) -> WorkflowPlan:
        """A plan that keeps every completed node (same id) and fixes the failed part."""
        current = plan.model_dump(mode="json", include={"root_nodes"})
        skipped = [n for n in plan.node_ids if n not in completed and n not in failures]
        failed = "\n".join(f"- {k}: {v[:500]}" for k, v in failures.items())
        ask = (
            f"{self._intro(vibe)}\n\nThis plan ran:\n{json.dumps(current, ensure_ascii=False)}\n\n"
            f"Completed steps (keep each with the same id; their outputs are reused): "
            f"{', '.join(completed) or '(none)'}\nFailed steps and their errors:\n{failed}\n"
            f"Steps not run because they wait on a failure: {', '.join(skipped) or '(none)'}\n\n"
            "Answer with the complete revised plan: keep every completed step, and fix the "
            "failed ones (another tool, other parameters, a clearer description, or new steps "
            "with new ids, updating the dependencies of the steps that used them)."
        )
        return await self._converse(vibe, plan.id, ask, tuple(completed))

    async def _converse(
        self, vibe: Vibe, plan_id: str, ask: str, keep: tuple[str, ...]
    ) -> WorkflowPlan:
        messages = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": ask}]
        problems: list[str] = []
        answer = ChatResult("", None, "")
        for _ in range(1 + self.max_repairs):
            answer = await self._ask(messages)
            if len(answer.text) > MAX_ANSWER_CHARS:
                raise ModelPlanError(
                    f"{self.client.config.describe()} answered {len(answer.text)} characters "
                    f"for a plan (at most {MAX_ANSWER_CHARS}); refusing it",
                    ["answer too large"],
                )
            plan, problems = parse_plan_answer(
                answer.text,
                vibe=vibe,
                plan_id=plan_id,
                tools=self.tools,
                finish_reason=answer.finish_reason,
            )
            if plan is not None:
                missing = [n for n in keep if plan.get_node(n) is None]
                if not missing:
                    return plan
                problems = [f"completed step {n!r} is missing; keep it" for n in missing]
            shown = "\n".join(f"- {p}" for p in problems)
            messages += [
                {"role": "assistant", "content": answer.text[:8000]},
                {"role": "user", "content": REPAIR.format(problems=shown)},
            ]
        listed = "\n".join(f"  - {p}" for p in problems[:15])
        raise ModelPlanError(
            f"{self.client.config.describe()} did not produce a valid plan "
            f"(after {1 + self.max_repairs} answers); what was wrong:\n{listed}",
            problems,
            answer.text,
        )

    async def _ask(self, messages: list[dict[str, str]]) -> ChatResult:
        where = self.client.config.describe()
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = await self.client.chat(
                    messages,
                    json_mode=True,
                    schema=self.schema,
                    schema_name=SCHEMA_NAME,
                    max_tokens=self.max_tokens or self.client.config.max_tokens,
                )
            except TransientError as exc:
                if attempt >= self.retry_policy.max_attempts:
                    raise PlanningError(
                        f"could not plan with {where}: {exc} (after {attempt} attempts); "
                        "check that the endpoint is up, then try again"
                    ) from exc
                await asyncio.sleep(self.retry_policy.delay_for(attempt, exc, self._rng))
                continue
            except ProviderError as exc:
                raise PlanningError(f"{where} refused the planning request: {exc}") from exc
            add_usage(self.usage, answer.usage)
            return answer
