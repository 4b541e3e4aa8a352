"""Built-in offline tools: deterministic drafts with no LLM, no I/O, no clock and no randomness.

Each tool turns the vibe (description, style, constraints, domain) and the outputs of the nodes
it waits on into a structured draft. Every output is JSON data with at least::

    {"offline_draft": True, "tool": <name>, "node_id": <id>, "text": <markdown>, ...}

Tools find their inputs by the ``tool`` field of upstream outputs (an outline looks for a
``brief``), walking nested dicts and lists, so a composite parent's merged output works too.
``node.parameters`` may override ``style``, ``constraints`` and ``domain``; the draft tool also
reads ``section`` (``intro`` | ``body`` | ``conclusion``) to write only part of an outline.
Where variety is wanted, choices are hash-based (:func:`stable_int`), never random.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from vibe_aigc.context import NodeContext
from vibe_aigc.models import WorkflowNode

T = TypeVar("T")
Output = dict[str, Any]

# --------------------------------------------------------------------------- text helpers

_STOP = frozenset(
    "a an the and or of for to in on with about into from by at is are be as that this it its "
    "our your their my we you they i me us how what why who when where which new all any some "
    "create write make design produce build draft plan compose record shoot generate develop "
    "prepare craft put together please short long using use via more most very just".split()
)
_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve".split()
    )
}
_PEOPLE = (
    "beginner developer engineer kid child children teen student parent customer user marketer "
    "designer manager founder reader fan listener viewer team owner professional adult gamer "
    "traveler traveller investor buyer shopper executive nurse teacher startup"
).split()


def stable_int(*parts: object) -> int:
    """A deterministic 64-bit integer from ``parts`` (for seeds and varied wording)."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def pick(options: Sequence[T], *seed: object) -> T:
    return options[stable_int(*seed) % len(options)]


def words(text: str) -> list[str]:
    return re.findall(r"[A-Za-z0-9][A-Za-z0-9'’-]*", text)


def word_count(text: str) -> int:
    return len(words(text))


def sentences(text: str) -> list[str]:
    """Sentences of the prose in ``text`` (markdown headings and table rows skipped)."""
    prose = " ".join(
        ln.strip(" -*>") for ln in text.splitlines() if ln.strip() and ln.lstrip()[0] not in "#|"
    )
    return [s for s in re.split(r"(?<=[.!?])\s+", prose) if word_count(s) > 0]


def keywords(text: str, limit: int = 8) -> list[str]:
    seen: dict[str, None] = {}
    for w in words(text.lower()):
        if len(w) > 2 and w not in _STOP and not w.isdigit():
            seen.setdefault(w, None)
    return list(seen)[:limit]


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "item"


def cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def sentence(text: str) -> str:
    text = cap(text.strip())
    return text if text.endswith((".", "!", "?")) else text + "."


def split_style(style: str | None) -> list[str]:
    if not style:
        return []
    parts = re.split(r"\s*(?:,|;|/|&|\band\b|\bbut\b| - )\s*", style.lower())
    return [p.strip(" .") for p in parts if p.strip(" .")]


# --------------------------------------------------------------------------- the vibe, read once


@dataclass(frozen=True)
class Facts:
    """What a tool knows about the vibe, with node parameters taking precedence."""

    description: str
    style: str | None
    constraints: list[str]
    domain: str
    subject: str
    audience: str
    deliverable: str

    @property
    def text(self) -> str:
        return " ".join([self.description, self.style or "", *self.constraints]).lower()

    def mentions(self, *terms: str) -> bool:
        return any(re.search(rf"\b{re.escape(t)}", self.text) for t in terms)


_LEAD_RE = re.compile(
    r"^\s*(?:please\s+)?(?:create|write|make|design|produce|build|draft|compose|record|plan|"
    r"launch|shoot|film|generate|develop|prepare|craft|document)\s+"
    r"(?:(?:a|an|the|some|our|my)\s+)?",
    re.IGNORECASE,
)
_SUBJECT_PREPS = ("about", "on", "covering", "explaining", "introducing", "showcasing",
                  "promoting", "featuring", "celebrating", "for", "of")  # fmt: skip
_DEFAULT_AUDIENCE = {
    "docs": "developers new to {s}",
    "marketing": "prospective customers",
    "video": "viewers scrolling past",
    "audio": "listeners",
    "visual": "people who meet the design for the first time",
}


def read_facts(node: WorkflowNode, context: NodeContext) -> Facts:
    vibe, params = context.vibe, node.parameters
    style = params.get("style", vibe.style)
    constraints = [str(c) for c in params.get("constraints", vibe.constraints) or []]
    domain = str(params.get("domain") or vibe.domain or "general").lower()
    description = " ".join(vibe.description.split())
    rest = _LEAD_RE.sub("", description).rstrip(" .!")
    subject, deliverable = rest, ""
    for prep in _SUBJECT_PREPS:
        m = re.search(rf"\b{prep}\s+(.+)", rest, re.IGNORECASE)
        if m and not (prep == "for" and any(p in m.group(1).lower() for p in _PEOPLE)):
            subject, deliverable = m.group(1), rest[: m.start()].strip()
            break
    subject = re.split(r"\s+(?:for|with|that|who)\s+(?=\w)", subject)[0].strip(" ,.;")
    subject = " ".join(subject.split()[:10]) or rest or description
    audience = ""
    m = re.search(r"\bfor\s+([\w\s'-]+?)(?:\s+(?:about|on|who|that|with|in)\b|[,.;:]|$)", rest)
    if m and any(p in m.group(1).lower() for p in _PEOPLE):
        audience = m.group(1).strip()
    elif any("beginner" in c.lower() for c in constraints):
        audience = "beginners"
    if not audience:
        audience = _DEFAULT_AUDIENCE.get(domain, "readers curious about {s}").format(s=subject)
    return Facts(description, style if isinstance(style, str) else None, constraints, domain,
                 subject, audience, deliverable or domain)  # fmt: skip


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


def all_inputs(context: NodeContext) -> list[Output]:
    items = ordered(context, context.dependency_outputs) + ordered(context, context.child_outputs)
    return [out for _, value in items for out in tool_outputs(value)]


def find(context: NodeContext, *tools: str) -> Output | None:
    return next((o for o in all_inputs(context) if o.get("tool") in tools), None)


def make_output(tool: str, node: WorkflowNode, text: str, **fields: Any) -> Output:
    return {"offline_draft": True, "tool": tool, "node_id": node.id, "text": text, **fields}


def _bullets(items: Sequence[str]) -> str:
    return "\n".join(f"- {i}" for i in items)


# --------------------------------------------------------------------------- constraint parsing


@dataclass(frozen=True)
class Limit:
    """A numeric limit read from a constraint: ``low <= value <= high`` (``strict``: ``<``)."""

    unit: str  # "word", "character", "second" or a counted noun ("screen", "shot", ...)
    low: float | None
    high: float | None
    strict: bool = False

    def allows(self, value: float) -> bool:
        if self.low is not None and value < self.low:
            return False
        if self.high is not None:
            return value < self.high if self.strict else value <= self.high
        return True

    def target(self) -> float | None:
        if self.high is None:
            return self.low
        return self.high - 1 if self.strict else self.high

    def describe(self) -> str:
        lo, hi = self.low, self.high
        if lo is not None and hi is not None and lo != hi:
            return f"between {lo:g} and {hi:g} {self.unit}s"
        if lo is not None and hi is not None:
            return f"exactly {hi:g} {self.unit}s"
        if hi is not None:
            return f"{'under' if self.strict else 'at most'} {hi:g} {self.unit}s"
        return f"at least {lo:g} {self.unit}s"


_OPS_MAX_STRICT = ("under", "below", "less than", "fewer than", "shorter than")
_OPS_MAX = ("max", "maximum", "at most", "no more than", "up to", "within", "not exceed",
            "limit of", "limited to", "no longer than")  # fmt: skip
_OPS_MIN = ("at least", "min", "minimum", "more than", "over", "no less than", "no fewer than")
_OP_RE = "|".join(re.escape(o) for o in sorted(_OPS_MAX_STRICT + _OPS_MAX + _OPS_MIN, key=len)[::-1])
_LIMIT_RE = re.compile(
    rf"(?:\b(?P<op>{_OP_RE})\s+)?(?:between\s+)?(?P<a>\d[\d,.]*)(?:\s*(?:-|–|to|and)\s*"
    rf"(?P<b>\d[\d,.]*))?\s*-?\s*(?P<unit>[a-z]+)(?P<tail>\s+(?:or\s+(?:less|fewer)|max(?:imum)?"
    rf"|limit|or\s+more|min(?:imum)?))?",
)
_COUNTABLE = frozenset(
    "screen shot scene slide section variation image page step color colour song track episode "
    "post tweet hashtag frame concept option bullet paragraph chapter verse idea tip".split()
)
_UNITS = {"word": "word", "character": "character", "char": "character", "second": "second",
          "sec": "second", "s": "second", "minute": "minute", "min": "minute"}  # fmt: skip


def _singular(noun: str) -> str:
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    if noun.endswith(("ches", "shes", "sses", "xes")):
        return noun[:-2]
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") else noun


def parse_limit(constraint: str) -> Limit | None:
    """Read "under 500 words", "max 5 screens", "30-second", "800-1200 words", ... (else None)."""
    text = " ".join(_NUMBER_WORDS.get(w, w) for w in constraint.lower().split())
    m = _LIMIT_RE.search(text)
    if m is None:
        return None
    a = float(m.group("a").replace(",", "").rstrip("."))
    b = float(m.group("b").replace(",", "").rstrip(".")) if m.group("b") else None
    raw = _singular(m.group("unit"))
    unit = _UNITS.get(raw, raw)
    factor = 60.0 if unit == "minute" else 1.0
    unit = "second" if unit == "minute" else unit
    op, tail = m.group("op") or "", (m.group("tail") or "").strip()
    if b is not None:
        return Limit(unit, a * factor, b * factor)
    if op in _OPS_MIN or tail in ("or more", "min", "minimum"):
        return Limit(unit, a * factor + (1 if op in ("more than", "over") else 0), None)
    if op or tail:
        return Limit(unit, None, a * factor, strict=op in _OPS_MAX_STRICT)
    if unit in ("second", "word", "character"):  # "a 30-second spot", "a 500-word essay"
        return Limit(unit, None, a * factor)
    return Limit(unit, a, a) if unit in _COUNTABLE else None  # "3 logo variations": exactly


def limits(constraints: Sequence[str]) -> list[Limit]:
    return [lim for c in constraints if (lim := parse_limit(c)) is not None]


def limit_for(constraints: Sequence[str], unit: str) -> Limit | None:
    return next((lim for lim in limits(constraints) if lim.unit == unit), None)


_MENTION_RE = re.compile(
    r"^(?:(?:must|should|always|please)\s+)?(?:mention|include|reference|cite|feature|cover|"
    r"highlight|showcase|name)s?\s+(?:the\s+(?:word|keyword|term|phrase)s?\s+)?(.+)$",
    re.IGNORECASE,
)
_AVOID_RE = re.compile(
    r"^(?:do not|don't|must not|should not|never|avoid|without|no)\s+"
    r"(?:mention(?:ing)?|us(?:e|ing)|includ(?:e|ing)|the word)\s+(.+)$",
    re.IGNORECASE,
)
_PLAIN_RE = re.compile(
    r"beginner|plain (?:language|english)|simple (?:language|words)|jargon|easy to "
    r"(?:read|follow|understand)|readable|kid-friendly|for kids|non-technical",
    re.IGNORECASE,
)


def mention_target(constraint: str) -> str | None:
    m = _MENTION_RE.match(constraint.strip())
    if m is None:
        return None
    return re.sub(r"^(?:a|an|the)\s+", "", m.group(1).strip(" .\"'“”"), flags=re.IGNORECASE)


def avoid_target(constraint: str) -> str | None:
    m = _AVOID_RE.match(constraint.strip())
    return m.group(1).strip(" .\"'“”") if m else None


# --------------------------------------------------------------------------- style knowledge

_STYLE_GUIDE: dict[str, str] = {
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
_TONE_DEFAULT = ["clear", "friendly"]


def style_guidance(style_words: Sequence[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for word in style_words:
        hit = next((g for k, g in _STYLE_GUIDE.items() if k in word), None)
        out[word] = hit or f"Keep a consistent '{word}' feel in wording, pacing and visuals."
    return out
