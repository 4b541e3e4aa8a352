"""Planning: the MetaPlanner facade and the planners behind it."""

from vibe_aigc.planner.knowledge import KnowledgePlanner
from vibe_aigc.planner.meta import MetaPlanner, OfflinePlanner, Planner

__all__ = ["KnowledgePlanner", "MetaPlanner", "OfflinePlanner", "Planner"]
