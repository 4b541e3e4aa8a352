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


def wordlist(text: str) -> list[str]:
    return text.split()


def wordset(text: str) -> frozenset[str]:
    return frozenset(wordlist(text))


_STOP = wordset(
    "a an the and or of for to in on with about into from by at is are be as that this it its "
    "our your their my we you they i me us how what why who when where which new all any some "
    "create write make design produce build draft plan compose record shoot generate develop "
    "prepare craft put together please short long using use via more most very just"
)
_NUMBER_WORDS = dict(
    zip(
        wordlist("zero one two three four five six seven eight nine ten eleven twelve"),
        map(str, range(13)),
        strict=True,
    )
)
_PEOPLE = wordset(
    "beginner developer engineer kid child children teen student parent customer user marketer "
    "designer manager founder reader fan listener viewer team owner professional adult gamer "
    "traveler traveller investor buyer shopper executive nurse teacher startup"
)


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
_SUBJECT_PREPS = (
    "about",
    "on",
    "covering",
    "explaining",
    "introducing",
    "showcasing",
    "promoting",
    "featuring",
    "celebrating",
    "for",
    "of",
)
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
    return Facts(
        description,
        style if isinstance(style, str) else None,
        constraints,
        domain,
        subject,
        audience,
        deliverable or domain,
    )


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
_OPS_MAX = (
    "max",
    "maximum",
    "at most",
    "no more than",
    "up to",
    "within",
    "not exceed",
    "limit of",
    "limited to",
    "no longer than",
)
_OPS_MIN = ("at least", "min", "minimum", "more than", "over", "no less than", "no fewer than")
_OP_RE = "|".join(
    re.escape(o) for o in sorted(_OPS_MAX_STRICT + _OPS_MAX + _OPS_MIN, key=len)[::-1]
)
_LIMIT_RE = re.compile(
    rf"(?:\b(?P<op>{_OP_RE})\s+)?(?:between\s+)?(?P<a>\d[\d,.]*)(?:\s*(?:-|–|to|and)\s*"
    rf"(?P<b>\d[\d,.]*))?\s*-?\s*(?P<unit>[a-z]+)(?P<tail>\s+(?:or\s+(?:less|fewer)|max(?:imum)?"
    rf"|limit|or\s+more|min(?:imum)?))?",
)
_COUNTABLE = wordset(
    "screen shot scene slide section variation image page step color colour song track episode "
    "post tweet hashtag frame concept option bullet paragraph chapter verse idea tip"
)
_UNITS = {
    "word": "word",
    "character": "character",
    "char": "character",
    "second": "second",
    "sec": "second",
    "s": "second",
    "minute": "minute",
    "min": "minute",
}


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


# --------------------------------------------------------------------------- domain knowledge

# domain -> (key messages, research angles, references to find); {s} subject, {a} audience
_KNOW: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "writing": (
        (
            "Why {s} matters right now",
            "What most people get wrong about {s}",
            "Practical steps {a} can take today",
        ),
        (
            "A surprising fact or number about {s}",
            "A real story or example of {s}",
            "The strongest counter-argument, and the answer to it",
        ),
        ("2-3 recent statistics about {s}", "One expert quote", "One concrete case study"),
    ),
    "docs": (
        (
            "Set up {s} from scratch",
            "The core concepts of {s} in plain words",
            "A first working example with {s}",
            "Fixing the errors newcomers hit",
        ),
        (
            "What users try first with {s}",
            "Prerequisites, versions and platforms",
            "The errors newcomers hit most often",
        ),
        ("Official reference for {s}", "A minimal runnable example", "Known issues / FAQ"),
    ),
    "video": (
        (
            "Hook: one striking image of {s}",
            "Show {s} in action, not in words",
            "Payoff and a clear call to action",
        ),
        (
            "How comparable videos pace their first 5 seconds",
            "Locations, props and b-roll for {s}",
            "Music and sound that fit the mood",
        ),
        ("3 reference films or ads", "Stock / b-roll sources", "Licensed music options"),
    ),
    "audio": (
        (
            "The feeling {s} should leave behind",
            "A hook line people can hum or quote",
            "A clear arc from opening to ending",
        ),
        (
            "Reference tracks or shows with a similar feel",
            "Sounds and motifs tied to {s}",
            "Imagery and talking points worth using",
        ),
        ("3 reference tracks or episodes", "Sample / sound libraries", "Guest or voice options"),
    ),
    "visual": (
        (
            "Readable at a glance",
            "Expresses {s} with one strong idea",
            "Works at small and large sizes",
        ),
        (
            "Category conventions for {s} (and where to break them)",
            "Symbols and metaphors linked to {s}",
            "Colour and type references",
        ),
        ("Moodboard of 6-9 images", "Competitor examples", "Font and palette candidates"),
    ),
    "marketing": (
        (
            "The problem {a} feel today",
            "How {s} solves it, in one line",
            "Proof: a number, a quote or a demo",
            "A clear call to action",
        ),
        (
            "Audience pain points, in their own words",
            "Competitor positioning and gaps",
            "Channels where {a} already spend time",
        ),
        ("Customer quotes or reviews", "Competitor ads", "Channel benchmarks (CTR, CPM)"),
    ),
    "general": (
        ("The core idea of {s}", "Why it matters to {a}", "What to do next"),
        ("Background on {s}", "Examples and precedents", "Risks and open questions"),
        ("Two background sources", "One worked example", "One expert opinion"),
    ),
}
_SPOKEN = ("podcast", "episode", "interview", "voiceover", "voice-over", "audiobook", "radio")
_UI = ("app", "ui", "ux", "screen", "interface", "website", "dashboard", "landing page")


def _know(domain: str) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    return _KNOW.get(domain, _KNOW["general"])


def _fill(templates: Sequence[str], f: Facts) -> list[str]:
    return [t.format(s=f.subject, a=f.audience) for t in templates]


def _section(role: str, heading: str, bullets: Sequence[str]) -> dict[str, Any]:
    return {"id": slug(heading), "role": role, "heading": heading, "bullets": list(bullets)}


def _outline_sections(
    f: Facts, messages: list[str], angles: list[str], must: list[str]
) -> list[dict[str, Any]]:
    s, a, d = f.subject, f.audience, f.domain
    body_msgs = messages or _fill(_know(d)[0], f)
    body = [
        _section(
            "body",
            msg,
            [
                angles[i % len(angles)] if angles else f"Evidence for: {msg}",
                f"One concrete example for {a}",
            ],
        )
        for i, msg in enumerate(body_msgs[:4])
    ]
    if must and body:
        body[0]["bullets"].extend(f"Mention {m}" for m in must)
    if d == "docs":
        return [
            _section(
                "intro",
                "Overview",
                [f"What {s} is and what you will achieve", f"Who this is for: {a}"],
            ),
            _section("body", "Prerequisites", ["Tools, versions and accounts you need"]),
            *[
                {**b, "heading": f"Step {i}: {b['heading']}", "id": f"step-{i}"}
                for i, b in enumerate(body, 1)
            ],
            _section(
                "conclusion",
                "Troubleshooting and next steps",
                ["The most common error and its fix", "Where to go next"],
            ),
        ]
    if d == "visual":
        if f.mentions(*_UI):
            count = limit_for(f.constraints, "screen")
            n = int(count.target() or 4) if count else 4
            names = ["Onboarding", "Home", "Detail", "Create", "Profile", "Settings", "Search"]
            return [
                _section(
                    "intro" if i == 0 else "body",
                    f"Screen: {name}",
                    [
                        f"Purpose: help {a} {pick(['start', 'browse', 'act', 'decide'], i)} "
                        f"with {s}",
                        f"Key element: {body_msgs[i % len(body_msgs)]}",
                    ],
                )
                for i, name in enumerate(names[: max(1, min(n, len(names)))])
            ]
        return [
            _section(
                "body", f"Direction {i}: {m}", [angles[(i - 1) % len(angles)]] if angles else [m]
            )
            for i, m in enumerate(body_msgs[:3], 1)
        ]
    if d == "audio" and not f.mentions(*_SPOKEN):
        hook = f"{cap(s)}, {pick(['all night', 'right now', 'one more time'], s)}"
        return [
            _section("intro", "Verse 1", [body_msgs[0], f"Set the scene around {s}"]),
            _section("body", "Chorus", [f"Hook: '{hook}'", body_msgs[1 % len(body_msgs)]]),
            _section("body", "Verse 2", [body_msgs[-1], "Raise the stakes"]),
            _section(
                "conclusion", "Bridge and final chorus", ["Turn the feeling", f"Hook: '{hook}'"]
            ),
        ]
    if d == "marketing":
        return [
            _section("intro", "Positioning", [f"{cap(s)} for {a}", body_msgs[0]]),
            _section("body", "Audience and insight", [angles[0] if angles else a]),
            _section("body", "Key messages", body_msgs + [f"Mention {m}" for m in must]),
            _section("body", "Channels and assets", ["Social posts", "Short video", "Email"]),
            _section(
                "conclusion",
                "Timeline and success metrics",
                ["Teaser, launch day, follow-up week", "Reach, click-through, sign-ups"],
            ),
        ]
    opener = "Cold open and intro" if d in ("audio", "video") else "Introduction"
    closer = "Call to action" if d in ("video", "audio") else "Conclusion"
    return [
        _section("intro", opener, [f"Why {s} matters to {a}", f"What {a} will get from this"]),
        *body,
        _section(
            "conclusion",
            closer,
            [
                f"Recap: {'; '.join(m.lower() for m in body_msgs[:3])}",
                f"One clear next step for {a}",
            ],
        ),
    ]


# --------------------------------------------------------------------------- tools


class OfflineTool:
    """Base of the built-in tools: ``run`` reads the facts and calls :meth:`build`."""

    name = "offline"
    description = "offline tool"

    async def run(self, node: WorkflowNode, context: NodeContext) -> Output:
        return self.build(node, context, read_facts(node, context))

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        raise NotImplementedError


class BriefTool(OfflineTool):
    name = "brief"
    description = "Creative brief: goal, audience, key messages, tone, constraints, open questions."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        messages = _fill(_know(f.domain)[0], f)
        must = [t for c in f.constraints if (t := mention_target(c))]
        messages += [f"Make sure to mention {m}" for m in must]
        tone = split_style(f.style) or _TONE_DEFAULT
        questions = ["Which sources, assets or examples already exist?"]
        if not f.style:
            questions.append("What tone should it have? (no style was given)")
        if not f.constraints:
            questions.append("Any length, format, budget or deadline limits?")
        if f.domain in ("video", "visual", "marketing"):
            questions.append("Where will it be published, and in which formats / aspect ratios?")
        text = (
            f"# Brief: {f.description}\n\n**Goal:** {f.description}\n\n**Audience:** {f.audience}"
            f"\n\n**Tone:** {', '.join(tone)}\n\n## Key messages\n{_bullets(messages)}\n\n"
            f"## Constraints\n{_bullets(f.constraints or ['(none given)'])}\n\n"
            f"## Open questions\n{_bullets(questions)}"
        )
        return make_output(
            self.name,
            node,
            text,
            goal=f.description,
            deliverable=f.deliverable,
            subject=f.subject,
            audience=f.audience,
            key_messages=messages,
            tone=tone,
            constraints=f.constraints,
            open_questions=questions,
            domain=f.domain,
            keywords=keywords(f.description),
        )


class ResearchNotesTool(OfflineTool):
    name = "research_notes"
    description = "Research plan: topic angles, references to find, facts to verify."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        _, angle_t, ref_t = _know(f.domain)
        angles = _fill(angle_t, f)
        kws = keywords(f"{f.subject} {f.description}", 5)
        angles += [f"How '{k}' shapes the piece" for k in kws[:2]]
        refs = _fill(ref_t, f)
        verify = [
            f"Every number or claim about {f.subject} has a source",
            "Names, dates and product details are current",
        ]
        text = (
            f"# Research notes: {f.subject}\n\n## Angles\n{_bullets(angles)}\n\n"
            f"## References to find\n{_bullets(refs)}\n\n## Verify\n{_bullets(verify)}"
        )
        return make_output(
            self.name,
            node,
            text,
            subject=f.subject,
            angles=angles,
            references_to_find=refs,
            facts_to_verify=verify,
            keywords=kws,
        )


class StyleAnalysisTool(OfflineTool):
    name = "style_analysis"
    description = "Style keywords turned into concrete do / don't guidance."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        style_words = split_style(f.style) or _TONE_DEFAULT
        guidance = style_guidance(style_words)
        do = list(guidance.values())
        dont = ["Mixing tones between sections", "Generic stock phrasing or imagery"]
        if any("minimal" in w or "concise" in w for w in style_words):
            dont.append("Decoration that carries no meaning")
        text = (
            f"# Style guide: {f.style or 'default (clear, friendly)'}\n\n"
            + "\n".join(f"- **{k}**: {g}" for k, g in guidance.items())
            + f"\n\n## Avoid\n{_bullets(dont)}"
        )
        return make_output(
            self.name,
            node,
            text,
            style=f.style,
            style_keywords=style_words,
            guidance=guidance,
            do=do,
            dont=dont,
        )


class OutlineTool(OfflineTool):
    name = "outline"
    description = "Title and sections with bullet points, built from the brief and research."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        brief, research = find(context, "brief"), find(context, "research_notes")
        style = find(context, "style_analysis")
        messages = [m for m in (brief or {}).get("key_messages", []) if not m.startswith("Make")]
        angles = list((research or {}).get("angles", []))
        must = [t for c in f.constraints if (t := mention_target(c))]
        sections = _outline_sections(f, messages, angles, must)
        if style:
            first = next(iter(style.get("guidance", {}).values()), None)
            if first:
                sections[0]["bullets"].append(f"Style: {first}")
        title = cap(f.subject)
        text = f"# {title}\n\n" + "\n\n".join(
            f"## {s['heading']}\n{_bullets(s['bullets'])}" for s in sections
        )
        counts = {"section": len(sections)}
        if f.domain == "visual" and f.mentions(*_UI):
            counts["screen"] = len(sections)
        return make_output(
            self.name,
            node,
            text,
            title=title,
            sections=sections,
            counts=counts,
            used_inputs=sorted(o["node_id"] for o in (brief, research, style) if o),
        )


def _sections_for_draft(context: NodeContext, f: Facts) -> list[dict[str, Any]]:
    outline = find(context, "outline")
    if outline and outline.get("sections"):
        return list(outline["sections"])
    audio = find(context, "audio_plan")
    if audio and audio.get("structure"):
        return [_section("body", s["section"], [s["notes"]]) for s in audio["structure"]]
    brief = find(context, "brief") or {}
    must = [t for c in f.constraints if (t := mention_target(c))]
    return _outline_sections(f, list(brief.get("key_messages", [])), [], must)


_CONNECT = ("", "Also, ", "In practice, ", "Just as important, ", "On top of that, ")
_CLOSE = (
    "Keep that in mind as we go on.",
    "That is the heart of it.",
    "Small changes here add up.",
    "This is where most of the value sits.",
)


def _prose(sec: dict[str, Any], f: Facts, seed: str) -> list[str]:
    out = [f"This {f.deliverable} is about {f.subject}, for {f.audience}."]
    out = out if sec.get("role") == "intro" else []
    for j, bullet in enumerate(b for b in sec.get("bullets", []) if not b.startswith("Style:")):
        bullet = re.sub(r"^Mention (.+)$", r"it is worth naming \1 here", bullet)
        lead = _CONNECT[j % len(_CONNECT)]
        body = bullet if not lead or bullet[1:2].isupper() else bullet[:1].lower() + bullet[1:]
        out.append(sentence(lead + body))
    if sec.get("role") == "conclusion":
        out.append("Start with one step today and build from there.")
    else:
        out.append(pick(_CLOSE, seed, sec.get("id")))
    return out


class DraftTool(OfflineTool):
    name = "draft"
    description = "Section-by-section prose draft from the outline (template text, no LLM)."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        every = _sections_for_draft(context, f)
        part = node.parameters.get("section")
        chosen = [s for s in every if s.get("role") == part] if part else every
        lyrics = f.domain == "audio" and not f.mentions(*_SPOKEN)
        lim = limit_for(f.constraints, "word")
        cap_words = lim.target() if lim else None
        budget = int(cap_words * 0.9 * len(chosen) / len(every)) if cap_words and every else None
        per = budget // len(chosen) if budget and chosen else None
        out_sections = []
        for sec in chosen:
            lines = _prose(sec, f, node.id)
            if lyrics:
                lines = [cap(b.split(": ", 1)[-1].strip("'")) for b in sec.get("bullets", [])]
            if per is not None:
                kept = lines[:1]
                for line in lines[1:]:
                    if sum(map(word_count, kept)) + word_count(line) + 3 > per:
                        break
                    kept.append(line)
                lines = kept
            body = ("\n" if lyrics else " ").join(lines)
            out_sections.append(
                {
                    "id": sec.get("id"),
                    "heading": sec["heading"],
                    "text": body,
                    "words": word_count(body),
                }
            )
        text = "\n\n".join(f"## {s['heading']}\n\n{s['text']}" for s in out_sections)
        if part and not out_sections:
            text = f"(the outline has no '{part}' section)"
        return make_output(
            self.name,
            node,
            text,
            section=part,
            sections=out_sections,
            word_count=word_count(text),
            format="lyrics" if lyrics else "prose",
            counts={"section": len(out_sections)},
        )


_FRAMES = (
    "Medium shot",
    "Close-up",
    "Over-the-shoulder",
    "Tracking shot",
    "Insert detail",
    "Low-angle hero shot",
    "Aerial / drone",
    "Handheld POV",
)


class ShotListTool(OfflineTool):
    name = "shot_list"
    description = "Numbered shots with duration, framing, description and audio."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        sections = (find(context, "outline") or {}).get("sections") or []
        beats = [(s["heading"], (s.get("bullets") or [s["heading"]])[0]) for s in sections]
        if not beats:
            msgs = (find(context, "brief") or {}).get("key_messages") or _fill(_know("video")[0], f)
            beats = [(m, m) for m in msgs]
        lim = limit_for(f.constraints, "second")
        vertical = f.mentions("tiktok", "reel", "shorts", "vertical", "9:16", "story")
        default = 90 if f.mentions("trailer") else 30 if vertical else 60
        total = int(lim.target() or default) if lim else default
        plan = [("Opening", f"Establish {f.subject}"), *beats[:8], ("End card", "Title and CTA")]
        n = len(plan)
        base, extra = divmod(total, n)
        look = ", ".join(split_style(f.style)) or "natural light"
        start = stable_int(node.id, f.subject)
        shots = []
        for i, (beat, line) in enumerate(plan):
            framing = (
                "Wide establishing shot"
                if i == 0
                else "Static graphic / end card"
                if i == n - 1
                else _FRAMES[(start + i) % len(_FRAMES)]
            )
            audio = (
                "Music fades in"
                if i == 0
                else "Music sting; logo sound"
                if i == n - 1
                else f'VO: "{sentence(line)}"'
            )
            shots.append(
                {
                    "number": i + 1,
                    "duration_seconds": base + (1 if i < extra else 0),
                    "framing": framing,
                    "beat": beat,
                    "description": f"{sentence(line)} Look: {look}.",
                    "audio": audio,
                }
            )
        rows = [
            f"| {s['number']} | {s['duration_seconds']}s | {s['framing']} | "
            f"{s['description']} | {s['audio']} |"
            for s in shots
        ]
        text = (
            f"# Shot list: {f.subject} ({total}s, {'9:16' if vertical else '16:9'})\n\n"
            "| # | Time | Framing | Description | Audio |\n|---|---|---|---|---|\n"
            + "\n".join(rows)
        )
        return make_output(
            self.name,
            node,
            text,
            shots=shots,
            duration_seconds=total,
            aspect_ratio="9:16" if vertical else "16:9",
            counts={"shot": n, "scene": len(beats[:8])},
        )


_ASPECTS = (
    ("logo", "1:1"),
    ("icon", "1:1"),
    ("avatar", "1:1"),
    ("album", "1:1"),
    ("poster", "2:3"),
    ("flyer", "2:3"),
    ("book cover", "2:3"),
    ("story", "9:16"),
    ("instagram", "4:5"),
    ("app", "9:19.5"),
    ("mobile", "9:19.5"),
    ("banner", "16:9"),
    ("thumbnail", "16:9"),
    ("header", "16:9"),
    ("website", "16:10"),
    ("landscape", "3:2"),
)
_KINDS = (
    "logo",
    "poster",
    "illustration",
    "icon",
    "banner",
    "album cover",
    "thumbnail",
    "infographic",
    "mockup",
    "storyboard frame",
    "photo",
)


class ImagePromptTool(OfflineTool):
    name = "image_prompt"
    description = "Prompt specs for an image model: prompt, negative prompt, aspect, tags, seed."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        ui = f.mentions(*_UI)
        shots = (find(context, "shot_list") or {}).get("shots") or []
        sections = (find(context, "outline") or {}).get("sections") or []
        items = [s["description"] for s in shots] or [s["heading"] for s in sections]
        if not items:
            items = (find(context, "brief") or {}).get("key_messages") or _fill(
                _know("visual")[0], f
            )
        wanted = next(
            (
                lim
                for lim in limits(f.constraints)
                if lim.unit in ("variation", "concept", "option", "image")
            ),
            None,
        )
        n = int(wanted.target() or 3) if wanted else min(len(items), 6 if ui else 4)
        explicit = re.search(r"\b(\d{1,2}:\d{1,2}(?:\.\d)?)\b", f.text)
        aspect = (
            explicit.group(1)
            if explicit
            else next((r for k, r in _ASPECTS if f.mentions(k)), "16:9" if shots else "1:1")
        )
        kind = (
            "mobile app UI screen"
            if ui
            else "storyboard frame"
            if shots
            else next((k for k in _KINDS if f.mentions(k)), "illustration")
        )
        tags = split_style(f.style) + (["vector", "flat", "centered"] if kind == "logo" else [])
        negative = "blurry, low resolution, watermark, jpeg artifacts, distorted text"
        negative += ", photo, complex background" if kind == "logo" else ""
        negative += ", lorem ipsum, skewed perspective" if ui else ""
        prompts = []
        for i in range(n):
            item = re.sub(r"^(Screen|Direction \d+): ", "", items[i % len(items)])
            variant = "" if i < len(items) else f", variation {i // len(items) + 1}"
            prompt = f"{kind} for {f.subject}, {item}{variant}, {', '.join(tags) or 'clean'}"
            prompts.append(
                {
                    "id": f"{node.id}-{i + 1}",
                    "prompt": prompt + ", high detail",
                    "negative_prompt": negative,
                    "aspect_ratio": aspect,
                    "style_tags": tags,
                    "seed": stable_int(node.id, i) % 2**31,
                }
            )
        text = f"# Image prompts: {f.subject}\n\n" + "\n\n".join(
            f"**{p['id']}** ({aspect}, seed {p['seed']})\n- prompt: {p['prompt']}\n"
            f"- negative: {negative}"
            for p in prompts
        )
        counts = {"image": n, ("screen" if ui else "variation"): n}
        return make_output(
            self.name, node, text, prompts=prompts, aspect_ratio=aspect, kind=kind, counts=counts
        )


_TEMPO = (
    ("lo-fi", 80),
    ("chill", 82),
    ("calm", 72),
    ("ambient", 70),
    ("sad", 68),
    ("melanch", 66),
    ("upbeat", 120),
    ("energetic", 128),
    ("dance", 124),
    ("edm", 126),
    ("rock", 132),
    ("jazz", 110),
    ("epic", 100),
    ("cinematic", 96),
    ("hip hop", 90),
)
_INSTRUMENTS = (
    ("lo-fi", ["dusty drum loop", "Rhodes piano", "muted bass", "vinyl crackle"]),
    ("jazz", ["upright bass", "brushed drums", "piano", "muted trumpet"]),
    (("cinematic", "epic", "orchestral"), ["strings", "brass", "taikos", "choir pads"]),
    ("rock", ["electric guitars", "bass guitar", "live drums"]),
    (("electronic", "synth", "edm", "dance"), ["analog synth bass", "drum machine", "arp lead"]),
    (("acoustic", "folk"), ["acoustic guitar", "upright piano", "light percussion"]),
    ("hip hop", ["808 bass", "sampled drums", "vocal chops"]),
    (("ambient", "calm"), ["warm pads", "felt piano", "field recordings"]),
)
_SONG = (
    ("Intro", 4),
    ("Verse 1", 16),
    ("Chorus", 8),
    ("Verse 2", 16),
    ("Chorus", 8),
    ("Bridge", 8),
    ("Final chorus", 8),
    ("Outro", 4),
)


class AudioPlanTool(OfflineTool):
    name = "audio_plan"
    description = "Music or spoken-audio plan: structure, tempo, key, instrumentation, timing."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        messages = (find(context, "brief") or {}).get("key_messages") or _fill(_know("audio")[0], f)
        lim = limit_for(f.constraints, "second")
        bpm = next((t for k, t in _TEMPO if f.mentions(k)), 96 + stable_int(f.subject) % 24)
        minor = f.mentions("dark", "sad", "melanch", "moody", "cinematic", "epic", "tense")
        key = pick(["C", "D", "E", "F", "G", "A", "Bb"], f.subject) + (
            " minor" if minor else " major"
        )
        instruments = next(
            (inst for k, inst in _INSTRUMENTS if f.mentions(*((k,) if isinstance(k, str) else k))),
            ["piano", "bass", "drums", "acoustic guitar"],
        )
        beats = 3 if f.mentions("waltz") else 4
        structure: list[dict[str, Any]] = []
        if f.mentions(*_SPOKEN) and f.domain != "video":
            kind, total = "spoken", int(lim.target() or 1500) if lim else 1500
            segs = ["Cold open", "Intro and welcome", *messages[:4], "Outro and call to action"]
            weights = [1, 2, *[6] * (len(segs) - 3), 1]
            for seg, w in zip(segs, weights, strict=True):
                secs = total * w // sum(weights)
                structure.append(
                    {
                        "section": seg,
                        "bars": None,
                        "seconds": secs,
                        "notes": f"Talking points: {seg.lower()}",
                    }
                )
        else:
            jingle = f.mentions("jingle", "sting", "ident", "ad ")
            kind = "jingle" if jingle else "song"
            shape = [("Intro", 2), ("Hook", 8), ("Tagline", 4)] if jingle else list(_SONG)
            bar = beats * 60 / bpm
            target = lim.target() if lim else None
            if target:
                scale = target / (sum(b for _, b in shape) * bar)
                shape = (
                    [(s, max(2, int(b * scale) // 2 * 2)) for s, b in shape] if scale < 1 else shape
                )
            for i, (sec, bars) in enumerate(shape):
                focus = messages[i % len(messages)]
                structure.append(
                    {
                        "section": sec,
                        "bars": bars,
                        "seconds": round(bars * bar, 1),
                        "notes": f"{instruments[i % len(instruments)]}; {focus}",
                    }
                )
        duration = round(sum(s["seconds"] for s in structure), 1)
        text = (
            f"# Audio plan ({kind}): {f.subject}\n\n**Tempo:** {bpm} BPM, {beats}/4 · **Key:** "
            f"{key} · **Length:** {duration:g}s\n\n**Instrumentation:** {', '.join(instruments)}"
            "\n\n"
            + _bullets([f"{s['section']} ({s['seconds']:g}s): {s['notes']}" for s in structure])
        )
        return make_output(
            self.name,
            node,
            text,
            kind=kind,
            structure=structure,
            tempo_bpm=bpm,
            key=key,
            time_signature=f"{beats}/4",
            instrumentation=instruments,
            duration_seconds=duration,
            counts={"section": len(structure)},
        )


class CombineTool(OfflineTool):
    name = "combine"
    description = "Merge inputs (a parent's children, else its dependencies) into one document."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        source = context.child_outputs or context.dependency_outputs
        parts: list[Output] = []
        for nid, value in ordered(context, source):
            found = list(tool_outputs(value))
            parts += found or (
                [{"node_id": nid, "tool": None, "text": value}] if isinstance(value, str) else []
            )
        outline = find(context, "outline")
        title = str(outline["title"]) if outline else cap(f.subject)
        bodies = [re.sub(r"(?m)^(#+) ", r"#\1 ", str(p["text"])) for p in parts]
        text = f"# {title}\n\n" + "\n\n".join(bodies)
        counts: dict[str, int] = {}
        for p in parts:
            for k, v in (p.get("counts") or {}).items():
                counts[k] = counts.get(k, 0) + int(v)
        durations = [p["duration_seconds"] for p in parts if p.get("duration_seconds") is not None]
        return make_output(
            self.name,
            node,
            text,
            title=title,
            word_count=word_count(text),
            counts=counts,
            duration_seconds=max(durations) if durations else None,
            parts=[
                {"node_id": p["node_id"], "tool": p["tool"], "words": word_count(p["text"])}
                for p in parts
            ],
        )


def _contains(text: str, target: str) -> tuple[bool, str]:
    low = text.lower()
    if target.lower() in low:
        return True, f"found '{target}' in the text"
    kws = keywords(target, 6) or [target.lower()]
    have = set(words(low))
    missing = [k for k in kws if k not in have and k.rstrip("s") not in have]
    if not missing:
        return True, f"found every keyword of '{target}' ({', '.join(kws)})"
    return False, f"'{target}' not found (missing: {', '.join(missing)})"


def _readability(text: str) -> tuple[bool, str]:
    sents = sentences(text)
    ws = words(text)
    if not sents or not ws:
        return False, "no prose to assess"
    avg = sum(map(word_count, sents)) / len(sents)
    long_share = sum(1 for w in ws if len(w) >= 13) / len(ws)
    ok = avg <= 20 and long_share <= 0.05
    return ok, (
        f"average sentence length {avg:.1f} words (limit 20); "
        f"{long_share:.1%} very long words (limit 5%)"
    )


def check_constraint(
    constraint: str, text: str, counts: dict[str, int], duration: float | None
) -> dict[str, Any]:
    """One checklist entry: ``passed`` is True / False, or None when it needs a human."""
    passed: bool | None = None
    evidence = "manual check: not testable offline"
    kind = "manual"
    lim = parse_limit(constraint)
    if lim is not None:
        kind = f"limit:{lim.unit}"
        value: float | None = {
            "word": float(word_count(text)),
            "character": float(len(text)),
            "second": duration,
        }.get(lim.unit, counts.get(lim.unit))
        if value is None:
            evidence = f"manual check: could not measure {lim.unit}s offline"
        else:
            passed = lim.allows(value)
            evidence = f"measured {value:g} {lim.unit}s; rule: {lim.describe()}"
    elif (target := mention_target(constraint)) is not None:
        kind = "mention"
        passed, evidence = _contains(text, target)
    elif (target := avoid_target(constraint)) is not None:
        kind = "avoid"
        found, evidence = _contains(text, target)
        passed = not found
    elif _PLAIN_RE.search(constraint):
        kind = "readability"
        passed, evidence = _readability(text)
    return {"constraint": constraint, "kind": kind, "passed": passed, "evidence": evidence}


class ReviewTool(OfflineTool):
    name = "review"
    description = "Checklist of every constraint (tested where possible) and an overall verdict."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        own = {k: v for k, v in context.dependency_outputs.items() if k in node.dependencies}
        items = ordered(context, own or context.dependency_outputs)
        items += ordered(context, context.child_outputs)
        subject = [o for _, v in items for o in tool_outputs(v)]
        text = "\n\n".join(str(o["text"]) for o in subject)
        counts: dict[str, int] = {}
        for o in subject:
            for k, v in (o.get("counts") or {}).items():
                counts[k] = counts.get(k, 0) + int(v)
        durations = [o["duration_seconds"] for o in subject if o.get("duration_seconds")]
        duration = float(max(durations)) if durations else None
        checks = [check_constraint(c, text, counts, duration) for c in f.constraints]
        goal = keywords(f.subject, 6)
        covered = [k for k in goal if k in text.lower()]
        checks += [
            {
                "constraint": None,
                "kind": "non_empty",
                "passed": word_count(text) > 0,
                "evidence": f"{word_count(text)} words reviewed from {len(subject)} output(s)",
            },
            {
                "constraint": None,
                "kind": "goal_coverage",
                "passed": len(covered) * 2 >= len(goal),
                "evidence": f"{len(covered)}/{len(goal)} goal keywords present: "
                f"{', '.join(covered) or '-'}",
            },
        ]
        failed = [c for c in checks if c["passed"] is False]
        manual = [c for c in checks if c["passed"] is None]
        mark = {True: "[x]", False: "[ ] FAIL", None: "[?] manual"}
        lines = [
            f"- {mark[c['passed']]} {c['constraint'] or c['kind']}: {c['evidence']}" for c in checks
        ]
        verdict = "PASSED" if not failed else f"FAILED ({len(failed)} check(s))"
        text_out = f"# Review: {verdict}\n\n" + "\n".join(lines)
        return make_output(
            self.name,
            node,
            text_out,
            passed=not failed,
            checks=checks,
            failed=[c["constraint"] or c["kind"] for c in failed],
            needs_manual_review=bool(manual),
            reviewed=[o["node_id"] for o in subject],
            word_count=word_count(text),
        )


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
