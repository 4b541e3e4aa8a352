"""The base of the built-in offline tools and the helpers they share."""

from __future__ import annotations

from typing import Any

from vibe_aigc.context import NodeContext
from vibe_aigc.models import WorkflowNode
from vibe_aigc.tools.facts import Facts, read_facts
from vibe_aigc.tools.offline.kit import is_final, kit_sections, render_kit
from vibe_aigc.tools.offline.tables import KNOW
from vibe_aigc.tools.textkit import Output, cap, find, slug, word_count


def know(domain: str, part: int, f: Facts) -> list[str]:
    """Key messages (0), research angles (1) or references (2) for the domain."""
    templates = KNOW.get(domain, KNOW["general"])[part]
    return [t.format(s=f.subject, a=f.audience) for t in templates]


def sec(role: str, heading: str, purpose: str, *bullets: str, **extra: Any) -> dict[str, Any]:
    """One outline section (``words`` is set when the budgets are shared out)."""
    return {
        "id": slug(heading),
        "role": role,
        "heading": heading,
        "purpose": purpose,
        "bullets": list(bullets),
        **extra,
    }


def targets_data(f: Facts) -> dict[str, dict[str, Any]]:
    """The resolved targets as JSON data: ``unit -> {value, rule, source}``."""
    return {
        t.unit: {
            "value": t.value,
            "rule": t.limit.describe() if t.limit else "default",
            "source": t.source,
        }
        for t in f.targets.items.values()
    }


def durations_of(outputs: list[Output]) -> dict[str, float]:
    """``tool name -> seconds`` of the outputs that plan a duration (nested ones included)."""
    found: dict[str, float] = {}
    for out in outputs:
        for name, seconds in (out.get("durations") or {}).items():
            found.setdefault(str(name), float(seconds))
        if out.get("tool") in ("shot_list", "audio_plan") and out.get("duration_seconds"):
            label = "shot list" if out["tool"] == "shot_list" else "soundtrack"
            found.setdefault(label, float(out["duration_seconds"]))
    return found


class OfflineTool:
    """Base of the built-in tools: ``run`` reads the facts and calls :meth:`build`.

    Every output gets ``language`` and ``language_note`` for a non-English vibe. The output of
    a plan's final node (see :func:`~vibe_aigc.tools.offline.kit.is_final`) is rendered as the
    production kit, with the tool's own text as one of its parts.
    """

    name = "offline"
    description = "offline tool"
    as_kit = True  # the review is never wrapped in a kit

    async def run(self, node: WorkflowNode, context: NodeContext) -> Output:
        f = read_facts(node, context)
        out = self.build(node, context, f)
        if self.as_kit and not out.get("kit") and is_final(node, context):
            title = str(find(context, "outline").get("title") or cap(f.subject))
            sections = kit_sections(context, [out])
            out["text"] = render_kit(f, title, sections, [out], durations_of([out]))
            out["kit"] = True
            if "word_count" in out:
                out["word_count"] = word_count(out["text"])
        if f.note:
            out.update(language=f.language, language_note=f.note)
        return out

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        raise NotImplementedError
