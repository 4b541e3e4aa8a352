"""The production kit: the offline deliverable, rendered in Markdown.

A plan's final output (the node its review checks, or a root nobody waits on) is a kit, not
pretend prose: a title, the brief (goal, deliverable, topic, audience, tone and the resolved
targets), the outline as a table (section, purpose, word budget, with the total), the parts
made upstream (section notes, shot list, audio plan, image prompts) and a checklist derived
from the constraints. When the vibe caps the length in words or characters, the kit drops its
least needed blocks (brief, then parts, then purposes) until it fits; it never pads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from vibe_aigc.context import NodeContext
from vibe_aigc.models import WorkflowNode, WorkflowNodeType
from vibe_aigc.tools.constraints import (
    RATIO_RE,
    Limit,
    avoid_target,
    is_readability,
    mention_target,
    parse_limit,
)
from vibe_aigc.tools.facts import CJK_LANGUAGES, Facts
from vibe_aigc.tools.offline.tables import PRODUCTION_CHECKS
from vibe_aigc.tools.textkit import (
    TONE_DEFAULT,
    Output,
    bullet_list,
    cap,
    find,
    split_style,
    word_count,
)

_PLURAL = {"second": "s", "word": "words", "character": "characters"}


def is_final(node: WorkflowNode, context: NodeContext) -> bool:
    """True for a root node that only reviews (validate nodes) or nothing wait on."""
    plan = context.plan
    if node.id not in {n.id for n in plan.root_nodes}:
        return False
    waiting = [n for n in plan.iter_nodes() if node.id in n.dependencies]
    return all(n.type is WorkflowNodeType.VALIDATE for n in waiting)


def plural(unit: str, n: int) -> str:
    if unit in _PLURAL:
        return _PLURAL[unit] if n != 1 or unit == "second" else unit
    return unit if n == 1 else unit + "s"


def demote(text: str, levels: int = 1) -> str:
    """Markdown headings pushed down ``levels`` levels ("# A" → "## A")."""
    return re.sub(r"(?m)^(#+) ", lambda m: "#" * levels + m.group(1) + " ", text)


def kit_sections(context: NodeContext, parts: Sequence[Output]) -> list[dict[str, Any]]:
    """The outline the kit shows: the outline tool's, else the first part that has sections
    with word budgets (a script or section notes)."""
    if sections := find(context, "outline").get("sections"):
        return list(sections)
    for part in parts:
        found = part.get("sections") or []
        if found and all(isinstance(s, dict) and "words" in s for s in found):
            return list(found)
    return []


def outline_table(sections: Sequence[dict[str, Any]], *, purposes: bool = True) -> str:
    """The outline as a Markdown table: section, purpose, time (when timed) and word budget,
    with the totals (the word column is left out when nothing has words, e.g. instrumentals)."""
    if not sections:
        return ""
    words = sum(int(s.get("words") or 0) for s in sections)
    timed = all(isinstance(s.get("seconds"), int) for s in sections)
    cols = ["#", "Section", *(["Purpose"] if purposes else []), *(["Time"] if timed else [])]
    cols += ["Words"] if words else []
    rows = []
    for i, s in enumerate(sections, 1):
        cells = [str(i), str(s.get("heading", ""))]
        cells += [str(s.get("purpose", ""))] if purposes else []
        cells += [f"{s['seconds']} s"] if timed else []
        cells += [str(s.get("words", 0))] if words else []
        rows.append(cells)
    total = ["", "**Total**", *([""] if purposes else [])]
    total += [f"**{sum(int(s['seconds']) for s in sections)} s**"] if timed else []
    total += [f"**{words}**"] if words else []
    lines = [cols, ["---"] * len(cols), *rows, total]
    return "## Outline\n\n" + "\n".join("| " + " | ".join(r) + " |" for r in lines)


def targets_line(f: Facts) -> str:
    shown = []
    for t in f.targets.items.values():
        if t.limit is None and t.value == 0:
            continue
        if t.limit is None:
            rule = "default"
        elif t.source.startswith("description:"):
            rule = f"{t.limit.describe()}, from the description"
        else:
            rule = f'"{t.source}"'
        shown.append(f"{t.value} {plural(t.unit, t.value)} ({rule})")
    cjk = " · CJK text: a word budget counts characters" if f.language in CJK_LANGUAGES else ""
    return ("; ".join(shown) or "none") + cjk


def brief_lines(f: Facts) -> list[str]:
    """Goal, deliverable and topic, audience, tone and targets, one line each."""
    tone = ", ".join(split_style(f.style) or TONE_DEFAULT)
    audience = f.audience + ("" if f.audience_stated else " (assumed: not stated)")
    return [
        f"**Goal:** {f.description}",
        f"**Deliverable:** {f.deliverable} · **Topic:** {f.subject}",
        f"**Audience:** {audience}",
        f"**Tone:** {tone}{'' if f.style else ' (default: no style given)'}",
        f"**Targets:** {targets_line(f)}",
    ]


def brief_block(f: Facts) -> str:
    return "## Brief\n\n" + bullet_list(brief_lines(f))


def _limit_item(unit: str, value: int, lim: Limit, durations: dict[str, float]) -> str:
    rule = lim.describe()
    if unit == "word":
        return f"Finished text: {value} words ({rule}); write each section to its budget"
    if unit == "second":
        parts = ", ".join(f"{k} {v:g} s" for k, v in durations.items())
        return f"Final length: {value} s ({rule})" + (f"; planned: {parts}" if parts else "")
    if unit == "character":
        return f"Finished text: at most {value} characters ({rule})"
    return f"{value} {plural(unit, value)} ({rule})"


def checklist(f: Facts, durations: dict[str, float]) -> list[str]:
    """Checklist items: one per measurable target, one per other constraint, then the
    domain's production checks (and the language of the finished piece)."""
    items = [
        _limit_item(t.unit, t.value, t.limit, durations)
        for t in f.targets.items.values()
        if t.limit is not None
    ]
    for c in f.constraints:
        if parse_limit(c) is not None:
            continue
        if ratio := RATIO_RE.search(c):
            items.append(f"Deliver in {ratio.group(0)}")
        elif target := mention_target(c):
            items.append(f"Mention {target}")
        elif target := avoid_target(c):
            items.append(f"Do not mention {target}")
        elif is_readability(c):
            items.append(f"Plain language ({c}): short sentences, everyday words, no jargon")
        else:
            items.append(f"Check by hand: {c}")
    items += PRODUCTION_CHECKS.get(f.domain, PRODUCTION_CHECKS["general"])
    if f.note:
        items.append(f"Write the finished piece in the request's language ({f.language})")
    return items


_PURPOSE_LINE = re.compile(r"(?m)^\*[^*\n]+\*(?:\n|$)")


def part_blocks(parts: Sequence[Output], *, table: bool) -> list[str]:
    """Each part's text with its headings demoted; section notes go under one heading (and
    lose their purpose lines when the outline table above already shows them)."""
    blocks: list[str] = []
    notes = [p for p in parts if p.get("tool") == "draft"]
    for part in parts:
        if part.get("tool") != "draft":
            blocks.append(demote(str(part["text"])))
        elif part is notes[0]:
            texts = [demote(str(p["text"])) for p in notes]
            texts = [(_PURPOSE_LINE.sub("", t) if table else t).strip() for t in texts]
            heading = cap(str(part.get("format") or "section notes"))
            blocks.append(f"## {heading}\n\n" + "\n\n".join(texts))
    return blocks


def _fits(f: Facts) -> Callable[[str], bool]:
    limits = [(t.unit, t.limit) for t in f.targets.items.values() if t.limit is not None]
    measures = {"word": word_count, "character": len}
    caps = [(measures[u], lim) for u, lim in limits if u in measures and lim.high is not None]
    return lambda text: all(lim.allows(measure(text)) for measure, lim in caps)


def render_kit(
    f: Facts,
    title: str,
    sections: Sequence[dict[str, Any]],
    parts: Sequence[Output],
    durations: dict[str, float],
) -> str:
    """The kit's Markdown, at the richest level that fits the vibe's length caps."""
    head = f"# {cap(title)}: production kit"
    note = f"> {cap(f.note)}." if f.note else ""
    checks = "## Checklist\n\n" + "\n".join(f"- [ ] {c}" for c in checklist(f, durations))
    brief, table = brief_block(f), outline_table(sections)
    blocks = part_blocks(parts, table=bool(table))
    levels = [
        [head, note, brief, table, *blocks, checks],
        [head, note, table, *blocks, checks],
        [head, note, table, checks],
        [head, outline_table(sections, purposes=False)],
    ]
    fits = _fits(f)
    texts = ["\n\n".join(b for b in level if b) for level in levels]
    return next((t for t in texts if fits(t)), texts[-1])
