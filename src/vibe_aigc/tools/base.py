"""The Tool protocol and the registry that selects a tool for a node.

A node picks its tool with ``parameters["tool"]``; otherwise the registry's default for the
node's type is used. Only registered tools can run: the registry is the allow-list.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

from vibe_aigc.context import NodeContext
from vibe_aigc.errors import ToolError
from vibe_aigc.models import WorkflowNode, WorkflowNodeType


@runtime_checkable
class Tool(Protocol):
    """Something that does one node's work and returns JSON data."""

    name: str
    description: str

    async def run(self, node: WorkflowNode, context: NodeContext) -> Any: ...


class ToolRegistry:
    """Named tools plus a default tool per node type."""

    def __init__(self, tools: Iterable[Tool] = (), defaults: dict[str, str] | None = None) -> None:
        self._tools: dict[str, Tool] = {}
        self._defaults: dict[WorkflowNodeType, str] = {}
        for tool in tools:
            self.register(tool)
        for node_type, name in (defaults or {}).items():
            self.set_default(WorkflowNodeType(node_type), name)

    def register(self, tool: Tool) -> None:
        if not tool.name or not isinstance(tool.name, str):
            raise ToolError("a tool needs a non-empty name")
        self._tools[tool.name] = tool

    def set_default(self, node_type: WorkflowNodeType, name: str) -> None:
        if name not in self._tools:
            raise ToolError(f"cannot make unknown tool {name!r} the default for {node_type.value}")
        self._defaults[node_type] = name

    def names(self) -> list[str]:
        return sorted(self._tools)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def get(self, name: str) -> Tool:
        try:
            return self._tools[name]
        except KeyError:
            raise ToolError(
                f"unknown tool {name!r}; available tools: {', '.join(self.names()) or '(none)'}"
            ) from None

    def tool_name_for(self, node: WorkflowNode) -> str:
        requested = node.parameters.get("tool")
        if requested is not None:
            if not isinstance(requested, str):
                raise ToolError(f"node {node.id!r}: parameters['tool'] must be a string")
            return requested
        try:
            return self._defaults[node.type]
        except KeyError:
            raise ToolError(f"no default tool for node type {node.type.value!r}") from None

    def select(self, node: WorkflowNode) -> Tool:
        return self.get(self.tool_name_for(node))

    def describe(self) -> list[dict[str, str]]:
        return [{"name": n, "description": self._tools[n].description} for n in self.names()]
