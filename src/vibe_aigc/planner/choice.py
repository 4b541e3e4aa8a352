"""Planning and generation chosen separately: ``--planner auto|offline|model`` (``VIBE_PLANNER``).

=========  ==========================  =================================================
mode       without a model             with a model configured
=========  ==========================  =================================================
auto       the built-in plan, offline  the model plans (schema-constrained); when its plan
           tools (template drafts)     stays invalid after the repair round the error says
                                       ``--planner offline`` (never a silent fallback)
offline    the built-in plan, offline  the built-in plan with every text step written by
           tools                       the model (:func:`model_written`)
model      ConfigurationError          the model plans, as ``auto``
=========  ==========================  =================================================

:func:`model_written` keeps the offline template as the prompt's scaffold: each text node keeps
its ``section``, ``domain``, ``style`` and ``constraints``, gains ``purpose`` (what the offline
tool would have produced) and ``template_tool`` (its name), and names ``generate_text``; a
parent that only joins its children names ``join``. The generation tool puts the scaffold and
the dependency outputs in its prompt.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Mapping
from typing import Literal, Protocol, cast, get_args

from vibe_aigc.errors import ConfigurationError
from vibe_aigc.llm import LLMClient
from vibe_aigc.models import Vibe, WorkflowNode, WorkflowNodeType, WorkflowPlan
from vibe_aigc.planner.knowledge import KnowledgePlanner
from vibe_aigc.planner.llm import LLMPlanner
from vibe_aigc.retry import RetryPolicy
from vibe_aigc.tools import MODEL_DEFAULTS, ToolRegistry, model_tools

PlannerMode = Literal["auto", "offline", "model"]
PLANNER_MODES: tuple[str, ...] = get_args(PlannerMode)
PLANNER_ENV = "VIBE_PLANNER"
TEXT_TOOL = "generate_text"
JOIN_TOOL = "join"

# offline tool -> what its node delivers (the scaffold's "purpose")
PURPOSES: dict[str, str] = {
    "brief": "a brief: the goal, the audience, the key messages and the tone",
    "research_notes": "research notes: angles, facts and references to build on",
    "style_analysis": "concrete style guidance: voice, vocabulary, rhythm, what to avoid",
    "outline": "an outline: a title and the sections, each with its point",
    "draft": "finished prose for this part, ready to publish",
    "shot_list": "a numbered shot list with timing and framing",
    "image_prompt": "one image-model prompt per item, concrete and visual",
    "audio_plan": "an audio plan: tempo, key, instrumentation and timing",
    "combine": "the inputs combined into one coherent result",
    "review": "a review of the work against the goal and every constraint",
}


class Planner(Protocol):
    """Anything that turns a vibe into a plan."""

    async def plan(self, vibe: Vibe, plan_id: str | None = None) -> WorkflowPlan: ...


def planner_mode(value: str | None = None, env: Mapping[str, str] | None = None) -> PlannerMode:
    """``value`` (a ``--planner`` flag), else ``$VIBE_PLANNER``, else ``"auto"``; validated."""
    raw = value if value is not None else (os.environ if env is None else env).get(PLANNER_ENV)
    mode = (raw or "auto").strip().lower()
    if mode not in PLANNER_MODES:
        raise ConfigurationError(
            f"unknown planner {raw!r}: use one of {', '.join(PLANNER_MODES)} "
            f"(--planner or ${PLANNER_ENV})"
        )
    return cast(PlannerMode, mode)


def model_written(
    plan: WorkflowPlan,
    *,
    text_tool: str = TEXT_TOOL,
    join_tool: str = JOIN_TOOL,
    keep: Collection[str] = (),
) -> WorkflowPlan:
    """A copy of an offline plan whose text nodes are written by the model (module docstring);
    nodes in ``keep`` (already done, say) are left as they are."""
    copy = plan.model_copy(deep=True)
    for node in copy.iter_nodes():
        if node.id not in keep:
            _to_model(node, text_tool, join_tool)
    return copy


def offline_written(plan: WorkflowPlan, *, keep: Collection[str] = ()) -> WorkflowPlan:
    """The reverse of :func:`model_written`: steps it gave to the model go back to the offline
    tool they were made from (their ``template_tool``), except those in ``keep``."""
    copy = plan.model_copy(deep=True)
    for node in copy.iter_nodes():
        template = node.parameters.get("template_tool")
        if node.id not in keep and isinstance(template, str) and template in PURPOSES:
            node.parameters["tool"] = template
    return copy


def _to_model(node: WorkflowNode, text_tool: str, join_tool: str) -> None:
    template_tool = node.parameters.get("tool")
    if not isinstance(template_tool, str) or template_tool not in PURPOSES:
        return  # not an offline text tool (an image tool, a user's tool): leave it
    node.parameters["template_tool"] = template_tool
    if template_tool == "combine" and node.children:
        node.parameters["tool"] = join_tool  # only joins its children: no model needed
        return
    node.parameters["tool"] = text_tool
    node.parameters["purpose"] = PURPOSES[template_tool]


class OfflinePlanner:
    """Async adapter over the deterministic :class:`KnowledgePlanner` (offline tools)."""

    name = "offline knowledge planner"

    def __init__(self) -> None:
        self._knowledge = KnowledgePlanner()

    async def plan(self, vibe: Vibe, plan_id: str | None = None) -> WorkflowPlan:
        return self._knowledge.plan(vibe, plan_id=plan_id)


class ModelWrittenPlanner:
    """The built-in plan, every text step written by the model (``--planner offline`` with a
    model configured). Same plan ids as the offline planner."""

    name = "built-in plan, written by the model"

    def __init__(self, text_tool: str = TEXT_TOOL, join_tool: str = JOIN_TOOL) -> None:
        self._knowledge = KnowledgePlanner()
        self.text_tool = text_tool
        self.join_tool = join_tool

    async def plan(self, vibe: Vibe, plan_id: str | None = None) -> WorkflowPlan:
        plan = self._knowledge.plan(vibe, plan_id=plan_id)
        return model_written(plan, text_tool=self.text_tool, join_tool=self.join_tool)


def choose_planner(
    mode: PlannerMode,
    llm: LLMClient | None,
    offered_tools: ToolRegistry | None = None,
    *,
    retry_policy: RetryPolicy | None = None,
) -> Planner:
    """The planner for ``mode`` (see the table in the module docstring).

    ``offered_tools`` is what the model planner may name (default: every tool the model makes
    possible; pass the MetaPlanner's registry of model tools).
    """
    mode = planner_mode(mode)
    if llm is None:
        if mode == "model":
            raise ConfigurationError(
                "--planner model needs a configured model: set OPENAI_BASE_URL (and "
                "OPENAI_API_KEY) or OLLAMA_HOST, or pass MetaPlanner(llm_config=LLMConfig(...))"
            )
        return OfflinePlanner()
    if mode == "offline":
        return ModelWrittenPlanner()
    if offered_tools is None:
        offered_tools = ToolRegistry(model_tools(llm))
        for node_type, name in MODEL_DEFAULTS.items():
            offered_tools.set_default(WorkflowNodeType(node_type), name)
    return LLMPlanner(llm, offered_tools, retry_policy=retry_policy)
