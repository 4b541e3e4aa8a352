"""Built-in offline tools: deterministic production kits with no LLM, no I/O, no clock and no
randomness.

Each tool turns the vibe (description, style, constraints, domain) and the outputs of the nodes
it waits on into structured data. Every output is JSON data with at least::

    {"offline_draft": True, "tool": <name>, "node_id": <id>, "text": <markdown>, ...}

plus ``language`` and ``language_note`` when the vibe is not in English. Tools find their
inputs by the ``tool`` field of upstream outputs (an outline looks for a ``brief``), walking
nested dicts and lists, so a composite parent's merged output works too. ``node.parameters``
may override ``style``, ``constraints`` and ``domain``; the draft tool also reads ``section``
(``intro`` | ``body`` | ``conclusion``) to cover only part of an outline.

Offline tools write no pretend prose. The plan's final output is a production kit
(:mod:`~vibe_aigc.tools.offline.kit`): brief, outline with per-section purpose and word
budget, section notes, shot list, audio plan, image prompts and a checklist. Every number
comes from the same resolved targets (:mod:`vibe_aigc.tools.constraints`), so the nodes of a
plan agree, and the review (:class:`~vibe_aigc.tools.offline.assemble.ReviewTool`) measures
the result against every constraint and reports ``passed`` / ``failed_checks``.

Modules: ``base`` (the tool base class), ``analysis`` (brief, research notes, style
analysis), ``writing`` (outline, draft), ``media`` (shot list, image prompts, audio plan),
``assemble`` (combine, review), ``kit`` (the kit's Markdown), ``tables`` (knowledge tables).
Where variety is wanted, choices are hash-based (``textkit.stable_int``), never random.
"""

from __future__ import annotations

from vibe_aigc.tools.offline.analysis import BriefTool, ResearchNotesTool, StyleAnalysisTool
from vibe_aigc.tools.offline.assemble import CombineTool, ReviewTool
from vibe_aigc.tools.offline.base import OfflineTool
from vibe_aigc.tools.offline.media import AudioPlanTool, ImagePromptTool, ShotListTool
from vibe_aigc.tools.offline.writing import DraftTool, OutlineTool, outline_sections

__all__ = [
    "DEFAULT_TOOLS",
    "OFFLINE_TOOLS",
    "AudioPlanTool",
    "BriefTool",
    "CombineTool",
    "DraftTool",
    "ImagePromptTool",
    "OfflineTool",
    "OutlineTool",
    "ResearchNotesTool",
    "ReviewTool",
    "ShotListTool",
    "StyleAnalysisTool",
    "offline_tools",
    "outline_sections",
]

OFFLINE_TOOLS: tuple[type[OfflineTool], ...] = (
    BriefTool,
    ResearchNotesTool,
    StyleAnalysisTool,
    OutlineTool,
    DraftTool,
    ShotListTool,
    ImagePromptTool,
    AudioPlanTool,
    CombineTool,
    ReviewTool,
)
DEFAULT_TOOLS: dict[str, str] = {
    "analyze": "brief",
    "generate": "draft",
    "transform": "combine",
    "validate": "review",
    "composite": "combine",
}


def offline_tools() -> list[OfflineTool]:
    """A fresh instance of every built-in offline tool."""
    return [cls() for cls in OFFLINE_TOOLS]
