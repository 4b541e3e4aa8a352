"""Tools do one node's work. The registry is the allow-list; offline tools are built in.

``default_registry()`` returns a new :class:`ToolRegistry` with every offline tool and a
default per node type: analyze → ``brief``, generate → ``draft``, transform → ``combine``,
validate → ``review``, composite → ``combine``.

``default_registry(llm=client, artifacts=store, comfyui_url=url)`` adds the model-backed tools
that are configured (:func:`model_tools`): ``generate_text`` and ``join`` with a model (and then
analyze / generate / transform / validate default to ``generate_text``, composite to ``join``),
``generate_image`` when the model config names an ``image_model``, and ``comfyui`` with a
ComfyUI URL. No registered tool runs code or touches paths a plan chooses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vibe_aigc.models import WorkflowNodeType
from vibe_aigc.tools.base import Tool, ToolRegistry
from vibe_aigc.tools.offline import DEFAULT_TOOLS, offline_tools

if TYPE_CHECKING:
    from vibe_aigc.artifacts import ArtifactStore
    from vibe_aigc.llm import LLMClient

__all__ = ["Tool", "ToolRegistry", "default_registry", "model_tools"]

MODEL_DEFAULTS = {
    "analyze": "generate_text",
    "generate": "generate_text",
    "transform": "generate_text",
    "validate": "generate_text",
    "composite": "join",
}


def model_tools(
    llm: LLMClient | None = None,
    artifacts: ArtifactStore | None = None,
    comfyui_url: str | None = None,
) -> list[Tool]:
    """The model-backed tools that the given services make possible (maybe none)."""
    from vibe_aigc.tools.generation import ChatTool, JoinTool
    from vibe_aigc.tools.images import ComfyUITool, OpenAIImageTool

    tools: list[Tool] = []
    if llm is not None:
        tools += [ChatTool(llm), JoinTool()]
        if llm.config.image_model and artifacts is not None:
            tools.append(OpenAIImageTool(llm, artifacts))
    if comfyui_url and artifacts is not None:
        tools.append(ComfyUITool(comfyui_url, artifacts))
    return tools


def default_registry(
    llm: LLMClient | None = None,
    artifacts: ArtifactStore | None = None,
    comfyui_url: str | None = None,
) -> ToolRegistry:
    """A new registry: every offline tool, plus the configured model-backed tools."""
    registry = ToolRegistry(offline_tools(), defaults=DEFAULT_TOOLS)
    for tool in model_tools(llm, artifacts, comfyui_url):
        registry.register(tool)
    if llm is not None:
        for node_type, name in MODEL_DEFAULTS.items():
            registry.set_default(WorkflowNodeType(node_type), name)
    return registry
