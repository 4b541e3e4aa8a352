"""The outline (sections with purpose and word budget) and the section notes built from it.

Word budgets: :func:`outline_sections` shares the resolved word target out over the sections
(:func:`~vibe_aigc.tools.textkit.apportion`), so they always add up to it exactly. Counted
units ("10 tips", "a 12-slide deck", "5 sections", "3 chapters") set the number of sections.
The draft tool writes section notes (budget, purpose, points to cover), never filler prose.
"""

from __future__ import annotations

from typing import Any

from vibe_aigc.context import NodeContext
from vibe_aigc.models import WorkflowNode
from vibe_aigc.tools.constraints import mention_target
from vibe_aigc.tools.facts import Facts
from vibe_aigc.tools.offline.base import OfflineTool, know, sec
from vibe_aigc.tools.offline.tables import (
    ALBUM_MIDDLE,
    ALBUM_ROLES,
    ALBUM_WORDS,
    BODY_PURPOSES,
    PURPOSES,
    SCREENS,
    UI,
)
from vibe_aigc.tools.textkit import (
    Output,
    apportion,
    bullet_list,
    cap,
    find,
    key_messages,
    lower_first,
    make_output,
    pick,
    stable_int,
    word_count,
)

# counted units that shape an outline; the first four make up the whole piece
WHOLE_UNITS = ("section", "slide", "page", "tweet", "post")
BODY_UNITS = (*WHOLE_UNITS, "chapter", "tip", "step", "idea", "scene", "question", "lesson",
              "module", "paragraph", "item", "episode")  # fmt: skip
_WEIGHTS = {"intro": 1.0, "body": 3.0, "conclusion": 1.0}


def counted_unit(f: Facts) -> tuple[str, int] | None:
    """The first counted unit the vibe sets for the outline, and its count."""
    for unit in BODY_UNITS:
        if f.targets.constrained(unit):
            return unit, f.targets.count(unit, 1)
    return None


def album_titles(f: Facts, n: int) -> list[str]:
    """``n`` distinct working titles (hash-based; a roman numeral past the first 16)."""
    start, size = stable_int(f.subject, "album"), len(ALBUM_WORDS)
    numerals = ("", " II", " III", " IV")
    return [
        ALBUM_WORDS[(start + 5 * i) % size] + numerals[min(i // size, len(numerals) - 1)]
        + (f" {i // size + 1}" if i // size >= len(numerals) else "")
        for i in range(n)
    ]  # fmt: skip


def track_seconds(f: Facts, n: int) -> list[int]:
    """Track lengths (150-240 s, hash-based), sharing out the album length when one is set."""
    lengths = [150 + stable_int(f.subject, i) % 91 for i in range(n)]
    if f.targets.constrained("second") and f.targets.seconds is not None:
        return apportion(f.targets.seconds, [float(x) for x in lengths])
    return lengths


def album_role(i: int, n: int) -> str:
    """What track ``i`` (from 1) of ``n`` does for the album."""
    if i == 1 or n == 1:
        return ALBUM_ROLES[0]
    if i == n:
        return ALBUM_ROLES[2]
    return ALBUM_ROLES[1] if i == 2 else ALBUM_MIDDLE[(i - 3) % len(ALBUM_MIDDLE)]


def _nth(unit: str, k: int, msgs: list[str], angles: list[str]) -> tuple[str, str]:
    """Heading and purpose of the k-th (from 1) counted unit."""
    pool = [*msgs, *(cap(a) for a in angles)]
    if k <= len(pool):
        return f"{cap(unit)} {k}: {pool[k - 1]}", PURPOSES["body"]
    return f"{cap(unit)} {k}", f"One more {unit}: choose it from the research"


def _counted(f: Facts, unit: str, n: int, msgs: list[str], angles: list[str]) -> list[Any]:
    a = f.audience
    if unit in WHOLE_UNITS:
        out = []
        for k in range(1, n + 1):
            role = "intro" if k == 1 and n >= 3 else "conclusion" if k == n and n >= 3 else "body"
            heading, purpose = _nth(unit, k - (1 if n >= 3 else 0), msgs, angles)
            if role != "body":
                heading = f"{cap(unit)} {k}: {'Opening' if role == 'intro' else 'Wrap-up'}"
                purpose = PURPOSES[role].format(a=a)
            out.append(sec(role, heading, purpose, unit=unit))
        return out
    body = [sec("body", *_nth(unit, k, msgs, angles), unit=unit) for k in range(1, n + 1)]
    return [
        sec("intro", "Introduction", PURPOSES["intro"].format(a=a)),
        *body,
        sec("conclusion", "Conclusion", PURPOSES["conclusion"].format(a=a)),
    ]


def _shape(f: Facts, msgs: list[str], angles: list[str]) -> list[dict[str, Any]]:
    s, a, d = f.subject, f.audience, f.domain
    counted = counted_unit(f)
    if d == "docs":
        n = f.targets.count("step", len(msgs[:4])) if counted and counted[0] == "step" else 4
        steps = [
            sec("body", f"Step {i}: {msgs[(i - 1) % len(msgs)]}", "One action, then the result "
                f"{a} should see", f"Code to include: a runnable example that shows how to "
                f"{lower_first(msgs[(i - 1) % len(msgs)])}", unit="step")
            for i in range(1, n + 1)
        ]  # fmt: skip
        return [
            sec("intro", "Overview", f"Say what {a} will build with {s}, and what they need"),
            sec("body", "Prerequisites", "List tools, versions and accounts, with links",
                f"Research: {angles[1 % len(angles)]}"),
            *steps,
            sec("conclusion", "Troubleshooting and next steps", "The common errors and their "
                "fixes; where to go next", f"Research: {angles[-1]}"),
        ]  # fmt: skip
    if d == "visual" and f.mentions(*UI):
        n = f.targets.count("screen", 4)
        names = [*SCREENS, *(f"Screen {i}" for i in range(len(SCREENS) + 1, n + 1))]
        return [
            sec("intro" if i == 0 else "body", f"Screen: {name}",
                f"Help {a} {pick(['start', 'browse', 'act', 'decide'], i)} with {s}",
                f"Key element: {msgs[i % len(msgs)]}", unit="screen")
            for i, name in enumerate(names[:n])
        ]  # fmt: skip
    if d == "visual":
        n = f.targets.count("variation", 3)
        return [sec("body", f"Direction {i}: {msgs[(i - 1) % len(msgs)]}",
                    "One distinct visual idea, with its rationale",
                    f"Reference: {angles[(i - 1) % len(angles)]}", unit="variation")
                for i in range(1, n + 1)]  # fmt: skip
    if d == "audio" and f.album and not f.spoken:
        n = f.targets.count("track", 10)
        extra = [] if f.instrumental else ["Lyrics: one image per line"]
        lengths = track_seconds(f, n)
        return [
            sec("body", f"Track {i}: {title}", album_role(i, n),
                f"Theme: {msgs[(i - 1) % len(msgs)]}", *extra, unit="track", seconds=seconds)
            for i, (title, seconds) in enumerate(zip(album_titles(f, n), lengths, strict=True), 1)
        ]  # fmt: skip
    if d == "audio" and not f.spoken and f.instrumental:
        return [
            sec("intro", "Intro", "Set the texture and the tempo", msgs[0]),
            sec("body", "Main theme", "The motif people remember", msgs[1 % len(msgs)]),
            sec("body", "Development", "Vary the motif; add or drop a layer", msgs[-1]),
            sec("conclusion", "Outro", "Strip back to the opening texture"),
        ]  # fmt: skip
    if d == "audio" and not f.spoken:
        hook = f"{cap(s)}, {pick(['all night', 'right now', 'one more time'], s)}"
        return [
            sec("intro", "Verse 1", "Set the scene", msgs[0], f"Images from {s}"),
            sec("body", "Chorus", "The hook: short, singable, repeated", f"Hook idea: '{hook}'"),
            sec("body", "Verse 2", "Raise the stakes; new images, same feeling", msgs[-1]),
            sec("conclusion", "Bridge and final chorus", "Turn the feeling, then land the hook",
                f"Hook idea: '{hook}'"),
        ]  # fmt: skip
    if d == "marketing" and not counted:
        return [
            sec("intro", "Positioning", f"One line: why {s} is the answer for {a}", msgs[0]),
            sec("body", "Audience and insight", f"What {a} feel today, in their own words",
                f"Research: {angles[0]}"),
            sec("body", "Key messages", "What every asset must say", *msgs),
            sec("body", "Channels and assets", "Which asset goes where",
                "Social posts", "A short teaser video", "Email"),
            sec("conclusion", "Timeline and success metrics", "When, and how to measure it",
                "Teaser week, launch day, follow-up week", "Reach, clicks and sign-ups"),
        ]  # fmt: skip
    if counted:
        return _counted(f, counted[0], counted[1], msgs, angles)
    spoken = d in ("audio", "video")
    example = (
        "B-roll to find: one real moment that shows it"
        if d == "video"
        else (f"Example to find: one real case for {a}")
    )
    body = [
        sec("body", m, BODY_PURPOSES.get(d, PURPOSES["body"]),
            f"Research: {angles[i % len(angles)]}", example)
        for i, m in enumerate(msgs[:4])
    ]  # fmt: skip
    return [
        sec("intro", "Cold open" if spoken else "Introduction", PURPOSES["intro"].format(a=a)),
        *body,
        sec("conclusion", "Call to action" if spoken else "Conclusion",
            PURPOSES["conclusion"].format(a=a)),
    ]  # fmt: skip


def outline_sections(f: Facts, messages: list[str], angles: list[str]) -> list[dict[str, Any]]:
    """Domain-shaped sections, each with a purpose and a word budget summing to the target."""
    msgs = messages or know(f.domain, 0, f)
    angles = angles or know(f.domain, 1, f)
    sections = _shape(f, msgs, angles)
    must = [f"Mention {t}" for c in f.constraints if (t := mention_target(c))]
    first_body = next((s for s in sections if s["role"] == "body"), sections[0])
    first_body["bullets"] += must
    timed = f.domain == "video" or (f.domain == "audio" and f.spoken)
    weights = [_WEIGHTS.get(s["role"], 3.0) if s.get("unit") is None else 3.0 for s in sections]
    weights = [1.0] * len(sections) if f.domain == "video" else weights
    for s, words in zip(sections, apportion(f.targets.words or 0, weights), strict=True):
        s["words"] = words
    if timed and f.targets.seconds is not None:  # the same split as the shot list's
        for s, seconds in zip(sections, apportion(f.targets.seconds, weights), strict=True):
            s["seconds"] = seconds
    return sections


def section_counts(sections: list[dict[str, Any]]) -> dict[str, int]:
    counts = {"section": len(sections)}
    for s in sections:
        if unit := s.get("unit"):
            counts[unit] = counts.get(unit, 0) + 1
    return counts


class OutlineTool(OfflineTool):
    name = "outline"
    description = "Title and sections with purpose, points and word budget (brief, research)."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        brief, research = find(context, "brief"), find(context, "research_notes")
        style = find(context, "style_analysis")
        sections = outline_sections(f, key_messages(context), list(research.get("angles", [])))
        first_rule = next(iter(style.get("guidance", {}).values()), None)
        if first_rule and f.style:
            sections[0]["bullets"].append(f"Style: {first_rule}")
        title = cap(f.subject)
        parts = (
            f"## {s['heading']} · {s['words']} words\n*{s['purpose']}*\n{bullet_list(s['bullets'])}"
            for s in sections
        )
        total = sum(s["words"] for s in sections)
        used = [o["node_id"] for o in (brief, research, style) if o]
        text = f"# Outline: {title}\n\nWord budget: {total} words in {len(sections)} sections."
        text += "\n\n" + "\n\n".join(parts)
        out = make_output(self.name, node, text, title=title, sections=sections)
        out.update(counts=section_counts(sections), used_inputs=used, word_budget=total)
        return out


def _draft_sections(context: NodeContext, f: Facts) -> list[dict[str, Any]]:
    if sections := find(context, "outline").get("sections"):
        return [s for s in sections if isinstance(s, dict) and "heading" in s]
    return outline_sections(f, key_messages(context), [])


class DraftTool(OfflineTool):
    name = "draft"
    description = "Section notes from the outline: budget, purpose and points (no LLM, no prose)."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        every = _draft_sections(context, f)
        part = node.parameters.get("section")
        part = part if isinstance(part, str) else None
        chosen = [s for s in every if s.get("role") == part] if part else every
        spoken = f.domain == "video" or (f.domain == "audio" and f.spoken)
        lyrics = f.domain == "audio" and not f.spoken
        kind = "lyric notes" if lyrics else "script notes" if spoken else "section notes"
        kind = "arrangement notes" if lyrics and f.instrumental else kind
        blocks, drafted = [], []
        for s in chosen:
            words = int(s.get("words") or 0)
            size = f"{words} words"
            if lyrics:
                size = f"{size} (about {max(1, round(words / 7))} lines)" if words else "no lyrics"
            elif spoken and s.get("seconds") is not None:
                size += f" of voice-over, {s['seconds']} s"
            elif spoken:
                size += " of voice-over"
            points = [b for b in s.get("bullets", []) if isinstance(b, str)]
            purpose = f"*{s['purpose']}*\n" if s.get("purpose") else ""
            blocks.append(f"## {s['heading']} · {size}\n{purpose}{bullet_list(points)}".strip())
            drafted.append({**s, "words": words})
        text = "\n\n".join(blocks) or f"(the outline has no '{part}' section)"
        out = make_output(self.name, node, text, section=part, sections=drafted)
        out.update(word_count=word_count(text), word_budget=sum(s["words"] for s in drafted))
        out.update(format=kind, counts=section_counts(drafted) if drafted else {"section": 0})
        return out
