"""Tools do one node's work. The registry is the allow-list; offline tools are built in.

``default_registry()`` returns a new :class:`ToolRegistry` with every offline tool and a
default per node type: analyze → ``brief``, generate → ``draft``, transform → ``combine``,
validate → ``review``, composite → ``combine``.
"""

from __future__ import annotations

from vibe_aigc.tools.base import Tool, ToolRegistry
from vibe_aigc.tools.offline import DEFAULT_TOOLS, offline_tools

__all__ = ["Tool", "ToolRegistry", "default_registry"]


def default_registry() -> ToolRegistry:
    """A new registry holding every built-in offline tool, with per-type defaults."""
    return ToolRegistry(offline_tools(), defaults=DEFAULT_TOOLS)
