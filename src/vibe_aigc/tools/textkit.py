"""Pure text helpers shared by the offline tools: words, style rules, inputs, counts.

Nothing here does I/O, reads the clock or draws random numbers:

* text: :func:`words` (Unicode-aware; each CJK character counts as one word),
  :func:`word_count`, :func:`sentences`, :func:`keywords`, :func:`slug`, :func:`clip`, ...
  and :func:`stable_int` / :func:`pick` for hash-based (never random) variety;
* numbers: :func:`apportion` splits a whole-number total into parts that sum to it exactly;
* style: :func:`style_guidance` turns style words into concrete rules;
* inputs: :func:`find` returns the first upstream output made by a given tool (walking nested
  dicts and lists with :func:`tool_outputs`), in plan order; :func:`subject_outputs` collects
  every output (or plain string) of a set of nodes, for the combine and review tools;
  :func:`merge_counts` adds up the ``counts`` of outputs (see there).

The vibe itself is read by :mod:`vibe_aigc.tools.facts`, measurable constraints by
:mod:`vibe_aigc.tools.constraints`.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from vibe_aigc.context import NodeContext
from vibe_aigc.models import WorkflowNode

T = TypeVar("T")
Output = dict[str, Any]

# --------------------------------------------------------------------------- text helpers


def wordlist(text: str) -> list[str]:
    return text.split()


_STOP = frozenset(
    wordlist(
        "a an the and or of for to in on with about into from by at is are be as that this it "
        "its our your their my we you they i me us how what why who when where which new all any "
        "some create write make design produce build draft plan compose record shoot generate "
        "develop prepare craft put together please short long using use via more most very just"
    )
)


def stable_int(*parts: object) -> int:
    """A deterministic 64-bit integer from ``parts`` (for seeds and varied wording)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def pick(options: Sequence[T], *seed: object) -> T:
    return options[stable_int(*seed) % len(options)]


# Han, kana and CJK symbols: written without spaces, so each character counts as a word.
CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff66-\uff9f"
_WORD_RE = re.compile(rf"[{CJK}]|[^\W_{CJK}](?:[^\W{CJK}]|['’-](?=[^\W_{CJK}]))*")


def words(text: str) -> list[str]:
    """Words of ``text``: runs of letters and digits (any script), one per CJK character."""
    return _WORD_RE.findall(text)


def word_count(text: str) -> int:
    return len(words(text))


def sentences(text: str) -> list[str]:
    """Sentences of ``text``; markdown headings and table rows are skipped, and a line (a list
    item, a label) ends a sentence even without a full stop."""
    found: list[str] = []
    for line in text.splitlines():
        line = line.strip().strip("-*>[] ").strip()
        if line and line[0] not in "#|":
            found += [s for s in re.split(r"(?<=[.!?。！？])\s*", line) if word_count(s) > 0]
    return found


def keywords(text: str, limit: int = 8) -> list[str]:
    seen: dict[str, None] = {}
    for w in words(text.lower()):
        if len(w) > 2 and w not in _STOP and not w.isdigit():
            seen.setdefault(w, None)
    return list(seen)[:limit]


def slug(text: str) -> str:
    return re.sub(r"[\W_]+", "-", text.lower()).strip("-")[:40] or "item"


def clip(text: str, limit: int) -> str:
    """``text`` on one line, cut at a word (or, for CJK, a character) to ``limit`` characters."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[:limit]
    cut = cut.rsplit(" ", 1)[0] if " " in cut[limit // 2 :] else cut
    return cut.rstrip(" ,.;:、。") + "…"


def apportion(total: int, weights: Sequence[float]) -> list[int]:
    """Whole-number shares of ``total`` in proportion to ``weights``, summing to it exactly
    (largest remainder; ties go to the earlier part; all-zero weights share equally)."""
    if not weights:
        return []
    ws = list(weights) if sum(weights) > 0 else [1.0] * len(weights)
    raw = [total * w / sum(ws) for w in ws]
    shares = [int(r) for r in raw]
    by_remainder = sorted(range(len(raw)), key=lambda i: (shares[i] - raw[i], i))
    for i in by_remainder[: total - sum(shares)]:
        shares[i] += 1
    return shares


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def sentence(text: str) -> str:
    text = cap(text.strip())
    return text if text.endswith((".", "!", "?")) else text + "."


def split_style(style: str | None) -> list[str]:
    parts = re.split(r"\s*(?:,|;|/|&|\band\b|\bbut\b| - )\s*", (style or "").lower())
    return [p.strip(" .") for p in parts if p.strip(" .")]


def lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym ("API", "UI")."""
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


def bullet_list(items: Sequence[str]) -> str:
    return "\n".join(f"- {i}" for i in items)


# --------------------------------------------------------------------------- style and prose

_STYLE_GUIDE = {
    "minimal": "Few elements, generous whitespace; cut every word or shape that does not earn it.",
    "professional": "Confident, precise wording; no slang; back claims with specifics.",
    "playful": "Light touch: short punchy lines, a wink of humour, bright accents.",
    "fun": "Keep energy up with short sentences and concrete, surprising examples.",
    "friendly": "Talk to one person; use 'you', contractions and everyday words.",
    "clear": "One idea per sentence; lead with the point; define terms on first use.",
    "step": "Number the steps; one action per step; show the expected result after each.",
    "technical": "Exact names, versions and commands; examples that run as written.",
    "cinematic": "Wide compositions, motivated camera moves, dramatic light and scale.",
    "dark": "Low-key light, deep shadows, minor harmonies; restraint over shock.",
    "moody": "Low-key light, muted palette, slow pacing that lets moments breathe.",
    "upbeat": "Quick pace, major keys, warm bright colours, optimistic verbs.",
    "energetic": "Fast cuts, driving rhythm, strong verbs, exclamation used sparingly.",
    "calm": "Slow pacing, soft contrast, long vowels and gentle transitions.",
    "warm": "Warm palette, human details, a conversational, generous voice.",
    "bold": "High contrast, big type, decisive claims, nothing hedged.",
    "elegant": "Refined serif type, restrained palette, unhurried sentences.",
    "modern": "Clean sans-serif type, flat shapes, crisp grid, current references.",
    "retro": "Period palette and type, film grain or tape texture, nostalgic references.",
    "vintage": "Aged textures, muted warm colours, classic typography.",
    "humor": "Set-up then twist; keep jokes kind and on-topic.",
    "inspir": "Start from a human story; end on a hopeful, actionable note.",
    "concise": "Short sentences, no filler, every paragraph under four lines.",
    "lo-fi": "Dusty textures, relaxed swing, imperfections kept on purpose.",
    "epic": "Big dynamics, layered build-ups, a clear emotional peak.",
}
TONE_DEFAULT = ["clear", "friendly"]


def style_guidance(style_words: Sequence[str]) -> dict[str, str]:
    """Each style word mapped to concrete guidance (a generic rule when it is not known)."""
    out: dict[str, str] = {}
    for word in style_words:
        hit = next((g for k, g in _STYLE_GUIDE.items() if k in word), None)
        out[word] = hit or f"Keep a consistent '{word}' feel in wording, pacing and visuals."
    return out


# --------------------------------------------------------------------------- inputs


def tool_outputs(value: Any) -> Iterator[Output]:
    """Tool outputs found in ``value``: itself, or nested in dicts / lists (stops at outputs)."""
    if isinstance(value, dict):
        if "tool" in value and "text" in value:
            yield value
            return
        for item in value.values():
            yield from tool_outputs(item)
    elif isinstance(value, list):
        for item in value:
            yield from tool_outputs(item)


def ordered(context: NodeContext, source: dict[str, Any]) -> list[tuple[str, Any]]:
    """``source`` items in plan order (then by id), so results never depend on dict order."""
    order = {nid: i for i, nid in enumerate(context.plan.node_ids)}
    return sorted(source.items(), key=lambda kv: (order.get(kv[0], len(order)), kv[0]))


def find(context: NodeContext, tool: str) -> Output:
    """The first input made by ``tool`` (dependencies, then children, in plan order), or {}."""
    items = ordered(context, context.dependency_outputs) + ordered(context, context.child_outputs)
    found = (out for _, value in items for out in tool_outputs(value) if out.get("tool") == tool)
    return next(found, {})


def key_messages(context: NodeContext) -> list[str]:
    """The brief's key messages, without its "make sure to mention" reminders."""
    found = find(context, "brief").get("key_messages") or []
    return [str(m) for m in found if not str(m).startswith("Make sure")]


def merge_counts(outputs: Sequence[Output]) -> dict[str, int]:
    """The ``counts`` of several outputs as one: outputs of the same tool are parts of one
    thing and add up (three section drafts of 1, 3 and 1 sections: 5), while different tools
    describe the same things (lyrics and arrangement of the same 10 tracks), so across tools
    the largest count wins."""
    per_tool: dict[str, dict[str, int]] = {}
    for out in outputs:
        mine = per_tool.setdefault(str(out.get("tool")), {})
        counts = out.get("counts")
        for key, value in counts.items() if isinstance(counts, dict) else ():
            if isinstance(value, int | float) and not isinstance(value, bool):
                mine[str(key)] = mine.get(str(key), 0) + int(value)
    merged: dict[str, int] = {}
    for counts in per_tool.values():
        for key, value in counts.items():
            merged[key] = max(merged.get(key, 0), value)
    return merged


def make_output(tool: str, node: WorkflowNode, text: str, **fields: Any) -> Output:
    return {"offline_draft": True, "tool": tool, "node_id": node.id, "text": text, **fields}


def subject_outputs(context: NodeContext, source: dict[str, Any]) -> list[Output]:
    """Every tool output in ``source`` in plan order; a plain string becomes a bare output."""
    parts: list[Output] = []
    for nid, value in ordered(context, source):
        found = list(tool_outputs(value))
        if not found and isinstance(value, str):
            found = [{"node_id": nid, "tool": None, "text": value}]
        parts += found
    return parts
