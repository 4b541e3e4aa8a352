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


_STOP = frozenset(
    wordlist(
        "a an the and or of for to in on with about into from by at is are be as that this it "
        "its our your their my we you they i me us how what why who when where which new all any "
        "some create write make design produce build draft plan compose record shoot generate "
        "develop prepare craft put together please short long using use via more most very just"
    )
)
_NUMBER_WORDS = dict(zip(wordlist("zero one two three four five six seven eight nine ten eleven "
                                  "twelve"), map(str, range(13)), strict=True))  # fmt: skip
_PEOPLE = wordlist(
    "beginner developer engineer kid children teen student parent customer user marketer "
    "designer manager founder reader fan listener viewer team owner professional adult gamer "
    "traveler investor buyer shopper executive nurse teacher startup"
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
    lines = (ln.strip() for ln in text.splitlines())
    prose = " ".join(ln.strip(" -*>") for ln in lines if ln and ln[0] not in "#|")
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
    parts = re.split(r"\s*(?:,|;|/|&|\band\b|\bbut\b| - )\s*", (style or "").lower())
    return [p.strip(" .") for p in parts if p.strip(" .")]


def _lower(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym ("API", "UI")."""
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


def _bullets(items: Sequence[str]) -> str:
    return "\n".join(f"- {i}" for i in items)


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
        """True when a term occurs as a whole word or phrase (a plural "s"/"es" is allowed)."""
        return any(re.search(rf"\b{re.escape(t)}(?:s|es)?\b", self.text) for t in terms)


_LEAD_RE = re.compile(
    r"^\s*(?:please\s+)?(?:create|write|make|design|produce|build|draft|compose|record|plan|"
    r"launch|shoot|film|generate|develop|prepare|craft|document)\s+",
    re.IGNORECASE,
)
_DET_RE = re.compile(r"^(?:a|an|the|some|our|my|your|their)\s+", re.IGNORECASE)
_PREPS = ("about", "on", "covering", "explaining", "introducing", "showcasing", "promoting",
          "featuring", "celebrating", "for", "of")  # fmt: skip
_AUDIENCE = {"docs": "developers new to {s}", "marketing": "prospective customers",
             "video": "viewers scrolling past", "audio": "listeners",
             "visual": "people who meet the design for the first time"}  # fmt: skip


def _is_people(text: str) -> bool:
    return any(re.search(rf"\b{p}", text.lower()) for p in _PEOPLE)


def read_facts(node: WorkflowNode, context: NodeContext) -> Facts:
    """Read the vibe once: subject, audience and deliverable are guessed from the description."""
    vibe, params = context.vibe, node.parameters
    style = params.get("style", vibe.style)
    constraints = [str(c) for c in params.get("constraints", vibe.constraints) or []]
    domain = str(params.get("domain") or vibe.domain or "general").lower()
    description = " ".join(vibe.description.split())
    rest = _DET_RE.sub("", _LEAD_RE.sub("", description)).rstrip(" .!")
    subject, deliverable = rest, ""
    for prep in _PREPS:
        m = re.search(rf"\b{prep}\s+(.+)", rest, re.IGNORECASE)
        if m and not (prep == "for" and _is_people(m.group(1))):
            subject, deliverable = m.group(1), rest[: m.start()].strip()
            break
    subject = re.split(r"\s+(?:for|with|that|who)\s+(?=\w)", subject)[0].strip(" ,.;")
    subject = " ".join(_DET_RE.sub("", subject).split()[:10]) or rest or description
    m = re.search(r"\bfor\s+([\w\s'-]+?)(?:\s+(?:about|on|who|that|with|in)\b|[,.;:]|$)", rest)
    audience = m.group(1).strip() if m and _is_people(m.group(1)) else ""
    if not audience and any("beginner" in c.lower() for c in constraints):
        audience = "beginners"
    if not audience and domain == "visual" and re.search(r"\b(app|website|dashboard)\b", rest):
        audience = "first-time users"
    audience = audience or _AUDIENCE.get(domain, "readers curious about {s}").format(s=subject)
    style = style if isinstance(style, str) else None
    return Facts(description, style, constraints, domain, subject, audience, deliverable or domain)


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


def sum_counts(outputs: Sequence[Output]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for out in outputs:
        for key, value in (out.get("counts") or {}).items():
            counts[key] = counts.get(key, 0) + int(value)
    return counts


def make_output(tool: str, node: WorkflowNode, text: str, **fields: Any) -> Output:
    return {"offline_draft": True, "tool": tool, "node_id": node.id, "text": text, **fields}


# --------------------------------------------------------------------------- constraints


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
        """The largest value allowed (or the minimum when there is no maximum)."""
        if self.high is None:
            return self.low
        return self.high - 1 if self.strict else self.high

    def describe(self) -> str:
        lo, hi, unit = self.low, self.high, self.unit + "s"
        if lo is not None and hi is not None:
            return f"exactly {hi:g} {unit}" if lo == hi else f"between {lo:g} and {hi:g} {unit}"
        if hi is not None:
            return f"{'under' if self.strict else 'at most'} {hi:g} {unit}"
        return f"at least {lo:g} {unit}"


_OPS_STRICT = ("under", "below", "less than", "fewer than", "shorter than")
_OPS_MAX = ("max", "maximum", "at most", "no more than", "up to", "within", "not exceed",
            "limit of", "limited to", "no longer than")  # fmt: skip
_OPS_MIN = ("at least", "min", "minimum", "more than", "over", "no less than", "no fewer than")
_OP_RE = "|".join(re.escape(o) for o in sorted(_OPS_STRICT + _OPS_MAX + _OPS_MIN, key=len)[::-1])
_LIMIT_RE = re.compile(
    rf"(?:\b(?P<op>{_OP_RE})\s+)?(?:between\s+)?(?P<a>\d[\d,]*(?:\.\d+)?)(?:\s*(?:-|–|to|and)\s*"
    r"(?P<b>\d[\d,]*(?:\.\d+)?))?\s*-?\s*(?P<unit>[a-z]+)(?P<tail>\s+(?:or\s+(?:less|fewer|more)|"
    r"max(?:imum)?|min(?:imum)?|limit))?"
)
_COUNTABLE = frozenset(
    wordlist(
        "screen shot scene slide section variation image page step color colour song track "
        "episode post tweet hashtag frame concept option bullet paragraph chapter verse idea tip"
    )
)
_UNITS = {"char": "character", "sec": "second", "s": "second", "min": "minute"}


def _singular(noun: str) -> str:
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    if noun.endswith(("ches", "shes", "sses", "xes")):
        return noun[:-2]
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") and len(noun) > 2 else noun


def parse_limit(constraint: str) -> Limit | None:
    """Read "under 500 words", "max 5 screens", "30-second", "800-1200 words", ... (else None)."""
    text = " ".join(_NUMBER_WORDS.get(w, w) for w in constraint.lower().split())
    m = _LIMIT_RE.search(text)
    if m is None:
        return None
    a = float(m.group("a").replace(",", ""))
    b = float(m.group("b").replace(",", "")) if m.group("b") else None
    raw = _singular(m.group("unit"))
    after = re.match(r"\s+([a-z]+)", text[m.end() :])  # "3 logo variations": skip one word
    if raw not in _COUNTABLE and after and _singular(after.group(1)) in _COUNTABLE:
        raw = _singular(after.group(1))
    unit = _UNITS.get(raw, raw)
    factor = 60.0 if unit == "minute" else 1.0
    unit = "second" if unit == "minute" else unit
    op, tail = m.group("op") or "", " ".join((m.group("tail") or "").split())
    if b is not None:
        return Limit(unit, a * factor, b * factor)
    if op in _OPS_MIN or tail in ("or more", "min", "minimum"):
        return Limit(unit, a * factor + (1 if op in ("more than", "over") else 0), None)
    if op or tail:
        return Limit(unit, None, a * factor, strict=op in _OPS_STRICT)
    if unit in ("second", "word", "character"):  # "a 30-second spot", "a 500-word essay"
        return Limit(unit, None, a * factor)
    return Limit(unit, a, a) if unit in _COUNTABLE else None  # "3 logo variations": exactly


def limit_for(constraints: Sequence[str], *units: str) -> Limit | None:
    found = (parse_limit(c) for c in constraints)
    return next((lim for lim in found if lim is not None and lim.unit in units), None)


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
_RATIO_RE = re.compile(r"\b\d{1,2}:\d{1,2}(?:\.\d)?\b")


def mention_target(constraint: str) -> str | None:
    """ "must mention X" / "include X" → X (articles dropped)."""
    m = _MENTION_RE.match(constraint.strip())
    if m is None:
        return None
    return re.sub(r"^(?:a|an|the)\s+", "", m.group(1).strip(" .\"'“”"), flags=re.IGNORECASE)


def avoid_target(constraint: str) -> str | None:
    m = _AVOID_RE.match(constraint.strip())
    return m.group(1).strip(" .\"'“”") if m else None


def _contains(text: str, target: str) -> tuple[bool, str]:
    if target.lower() in text.lower():
        return True, f"found '{target}' in the text"
    have = set(words(text.lower()))
    kws = keywords(target, 6) or [target.lower()]
    missing = [k for k in kws if k not in have and k.rstrip("s") not in have]
    if not missing:
        return True, f"found every keyword of '{target}' ({', '.join(kws)})"
    return False, f"'{target}' not found (missing: {', '.join(missing)})"


def _readability(text: str) -> tuple[bool, str]:
    sents, ws = sentences(text), words(text)
    if not sents or not ws:
        return False, "no prose to assess"
    avg = sum(map(word_count, sents)) / len(sents)
    long_share = sum(1 for w in ws if len(w) >= 13) / len(ws)
    verdict = avg <= 20 and long_share <= 0.05
    return verdict, (
        f"average sentence length {avg:.1f} words (limit 20); "
        f"{long_share:.1%} very long words (limit 5%)"
    )


def check_constraint(
    constraint: str, text: str, counts: dict[str, int], duration: float | None
) -> dict[str, Any]:
    """One checklist entry; ``passed`` is True / False, or None when a person must check."""
    passed: bool | None = None
    kind, evidence = "manual", "manual check: not testable offline"
    lim = parse_limit(constraint)
    if (ratio := _RATIO_RE.search(constraint)) is not None:
        kind, passed = "aspect_ratio", ratio.group(0) in text
        evidence = f"aspect ratio {ratio.group(0)} {'found' if passed else 'not found'} in output"
    elif lim is not None:
        kind = f"limit:{lim.unit}"
        measures = {"word": word_count(text), "character": len(text), "second": duration}
        value = measures.get(lim.unit, counts.get(lim.unit))
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


# --------------------------------------------------------------------------- knowledge tables
# fmt: off

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
_TONE_DEFAULT = ["clear", "friendly"]

# domain -> (key messages, research angles, references to find); {s} subject, {a} audience
_KNOW: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "writing": (("Why {s} matters right now", "What most people get wrong about {s}",
                 "Practical steps {a} can take today"),
                ("a surprising fact or number about {s}", "a real story that shows {s}",
                 "the strongest counter-argument, and the answer to it"),
                ("2-3 recent statistics about {s}", "One expert quote", "One case study")),
    "docs": (("Set up {s} from scratch", "Learn the core concepts of {s}",
              "Build a first working example with {s}", "Fix the errors newcomers hit"),
             ("what users try first with {s}", "prerequisites, versions and platforms",
              "the errors newcomers hit most often"),
             ("Official reference for {s}", "A minimal runnable example", "Known issues / FAQ")),
    "video": (("Open on one striking image of {s}", "Show {s} in action, not in words",
               "Land the payoff and a clear call to action"),
              ("how comparable videos pace their first 5 seconds",
               "locations, props and b-roll for {s}", "music and sound that fit the mood"),
              ("3 reference films or ads", "Stock / b-roll sources", "Licensed music options")),
    "audio": (("The feeling {s} should leave behind", "A hook line people can hum or quote",
               "A clear arc from opening to ending"),
              ("reference tracks or shows with a similar feel", "sounds and motifs tied to {s}",
               "imagery and talking points worth using"),
              ("3 reference tracks or episodes", "Sample / sound libraries", "Guest options")),
    "visual": (("Readable at a glance", "Expresses {s} with one strong idea",
                "Works at small and large sizes"),
               ("category conventions for {s}, and where to break them",
                "symbols and metaphors linked to {s}", "colour and type references"),
               ("Moodboard of 6-9 images", "Competitor examples", "Font and palette candidates")),
    "marketing": (("The problem {a} feel today", "How {s} solves it, in one line",
                   "Proof: a number, a quote or a demo", "A clear call to action"),
                  ("audience pain points, in their own words", "competitor positioning and gaps",
                   "channels where {a} already spend time"),
                  ("Customer quotes or reviews", "Competitor ads", "Channel benchmarks")),
    "general": (("The core idea of {s}", "Why it matters to {a}", "What to do next"),
                ("background on {s}", "examples and precedents", "risks and open questions"),
                ("Two background sources", "One worked example", "One expert opinion")),
}
_SPOKEN = ("podcast", "episode", "interview", "voiceover", "voice-over", "audiobook", "radio")
_UI = ("app", "ui", "ux", "screen", "interface", "website", "dashboard", "landing page")
_SCREENS = ("Onboarding", "Home", "Detail", "Create", "Profile", "Settings", "Search")
_CONNECT = ("", "Also, ", "In practice, ", "Just as important, ", "On top of that, ")
_CLOSE = ("Keep that in mind as we go on.", "That is the heart of it.",
          "Small changes here add up.", "This is where most of the value sits.")
_FRAMES = ("Medium shot", "Close-up", "Over-the-shoulder", "Tracking shot", "Insert detail",
           "Low-angle hero shot", "Aerial / drone", "Handheld POV")
_ASPECTS = (("logo", "1:1"), ("icon", "1:1"), ("avatar", "1:1"), ("album", "1:1"),
            ("poster", "2:3"), ("flyer", "2:3"), ("book cover", "2:3"), ("story", "9:16"),
            ("instagram", "4:5"), ("app", "9:19.5"), ("mobile", "9:19.5"), ("banner", "16:9"),
            ("thumbnail", "16:9"), ("social media", "4:5"), ("header", "16:9"),
            ("website", "16:10"))
_KINDS = ("logo", "poster", "illustration", "icon", "banner", "album cover", "thumbnail",
          "infographic", "mockup", "photo")
_TEMPO = (("lo-fi", 80), ("chill", 82), ("calm", 72), ("ambient", 70), ("sad", 68),
          ("melancholic", 66), ("upbeat", 120), ("energetic", 128), ("dance", 124), ("edm", 126),
          ("rock", 132), ("jazz", 110), ("epic", 100), ("cinematic", 96), ("hip hop", 90))
_INSTRUMENTS: tuple[tuple[tuple[str, ...], list[str]], ...] = (
    (("lo-fi",), ["dusty drum loop", "Rhodes piano", "muted bass", "vinyl crackle"]),
    (("jazz",), ["upright bass", "brushed drums", "piano", "muted trumpet"]),
    (("cinematic", "epic", "orchestral"), ["strings", "brass", "taikos", "choir pads"]),
    (("rock",), ["electric guitars", "bass guitar", "live drums"]),
    (("electronic", "synth", "edm", "dance"), ["analog synth bass", "drum machine", "arp lead"]),
    (("acoustic", "folk"), ["acoustic guitar", "upright piano", "light percussion"]),
    (("hip hop",), ["808 bass", "sampled drums", "vocal chops"]),
    (("ambient", "calm"), ["warm pads", "felt piano", "field recordings"]),
)
_SONG = (("Intro", 4), ("Verse 1", 16), ("Chorus", 8), ("Verse 2", 16), ("Chorus", 8),
         ("Bridge", 8), ("Final chorus", 8), ("Outro", 4))
# fmt: on


def style_guidance(style_words: Sequence[str]) -> dict[str, str]:
    """Each style word mapped to concrete guidance (a generic rule when it is not known)."""
    out: dict[str, str] = {}
    for word in style_words:
        hit = next((g for k, g in _STYLE_GUIDE.items() if k in word), None)
        out[word] = hit or f"Keep a consistent '{word}' feel in wording, pacing and visuals."
    return out


def _know(domain: str, part: int, f: Facts) -> list[str]:
    templates = _KNOW.get(domain, _KNOW["general"])[part]
    return [t.format(s=f.subject, a=f.audience) for t in templates]


def _sec(role: str, heading: str, *bullets: str) -> dict[str, Any]:
    return {"id": slug(heading), "role": role, "heading": heading, "bullets": list(bullets)}


def outline_sections(f: Facts, messages: list[str], angles: list[str]) -> list[dict[str, Any]]:
    """Domain-shaped sections; body sections come from the key messages and research angles."""
    s, a, d = f.subject, f.audience, f.domain
    msgs = messages or _know(d, 0, f)
    angles = angles or _know(d, 1, f)
    must = [f"Mention {t}" for c in f.constraints if (t := mention_target(c))]
    body = [
        _sec("body", m, f"Evidence: {angles[i % len(angles)]}", f"Example: one real case for {a}")
        for i, m in enumerate(msgs[:4])
    ]
    body[0]["bullets"] += must
    if d == "docs":
        steps = [_sec("body", f"Step {i}: {m}", f"Code: a runnable snippet that shows how to "
                      f"{_lower(m)}", f"Check: what {a} should see when it works")
                 for i, m in enumerate(msgs[:4], 1)]  # fmt: skip
        steps[0]["bullets"] += must
        return [
            _sec("intro", "Overview", f"This guide walks you through {s}, step by step",
                 f"It is written for {a}"),
            _sec("body", "Prerequisites", "Before you start, check the tools and versions below",
                 f"Reference: {angles[1 % len(angles)]}"),
            *steps,
            _sec("conclusion", "Troubleshooting and next steps",
                 "If something fails, check the most common error first",
                 f"Reference: {angles[-1]}",
                 "When it works, explore the official reference next"),
        ]  # fmt: skip
    if d == "visual" and f.mentions(*_UI):
        wanted = limit_for(f.constraints, "screen")
        n = max(1, min(int(wanted.target() or 4) if wanted else 4, len(_SCREENS)))
        return [
            _sec("intro" if i == 0 else "body", f"Screen: {name}",
                 f"Purpose: help {a} {pick(['start', 'browse', 'act', 'decide'], i)} with {s}",
                 f"Key element: {msgs[i % len(msgs)]}", *(must if i == 0 else []))
            for i, name in enumerate(_SCREENS[:n])
        ]  # fmt: skip
    if d == "visual":
        return [_sec("body", f"Direction {i}: {m}", f"Reference: {angles[(i - 1) % len(angles)]}")
                for i, m in enumerate(msgs[:3], 1)]  # fmt: skip
    if d == "audio" and not f.mentions(*_SPOKEN):
        hook = f"{cap(s)}, {pick(['all night', 'right now', 'one more time'], s)}"
        return [
            _sec("intro", "Verse 1", msgs[0], f"Set the scene around {s}", *must),
            _sec("body", "Chorus", f"Hook: '{hook}'", msgs[1 % len(msgs)]),
            _sec("body", "Verse 2", msgs[-1], "Raise the stakes"),
            _sec("conclusion", "Bridge and final chorus", "Turn the feeling", f"Hook: '{hook}'"),
        ]
    if d == "marketing":
        return [
            _sec("intro", "Positioning", f"{cap(s)} is the simplest answer for {a}", msgs[0]),
            _sec("body", "Audience and insight", f"Evidence: {angles[0]}"),
            _sec("body", "Key messages", *msgs, *must),
            _sec("body", "Channels and assets", "Social posts carry the story day to day",
                 "A short video shows it in action", "Email turns interest into action"),
            _sec("conclusion", "Timeline and success metrics",
                 "Teaser week, launch day, follow-up week", "Track reach, clicks and sign-ups"),
        ]  # fmt: skip
    spoken = d in ("audio", "video")
    return [
        _sec("intro", "Cold open and intro" if spoken else "Introduction",
             f"{cap(s)} matters to {a} more than it first seems",
             f"By the end, {a} will have a clear picture and one thing to try"),
        *body,
        _sec("conclusion", "Call to action" if spoken else "Conclusion",
             f"To recap: {'; '.join(_lower(m) for m in msgs[:3])}",
             "Pick one idea above and try it this week"),
    ]  # fmt: skip


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
        messages = _know(f.domain, 0, f)
        messages += [f"Make sure to mention {t}" for c in f.constraints if (t := mention_target(c))]
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
        out = make_output(self.name, node, text, goal=f.description, domain=f.domain)
        out.update(deliverable=f.deliverable, subject=f.subject, audience=f.audience)
        out.update(key_messages=messages, tone=tone, constraints=f.constraints)
        out.update(open_questions=questions, keywords=keywords(f.description))
        return out


class ResearchNotesTool(OfflineTool):
    name = "research_notes"
    description = "Research plan: topic angles, references to find, facts to verify."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        kws = keywords(f"{f.subject} {f.description}", 5)
        angles = _know(f.domain, 1, f) + [f"how '{k}' shapes the piece" for k in kws[:2]]
        refs = _know(f.domain, 2, f)
        verify = [f"Every number or claim about {f.subject} has a source",
                  "Names, dates and product details are current"]  # fmt: skip
        text = (
            f"# Research notes: {f.subject}\n\n## Angles\n{_bullets(angles)}\n\n"
            f"## References to find\n{_bullets(refs)}\n\n## Verify\n{_bullets(verify)}"
        )
        out = make_output(self.name, node, text, subject=f.subject, angles=angles, keywords=kws)
        out.update(references_to_find=refs, facts_to_verify=verify)
        return out


class StyleAnalysisTool(OfflineTool):
    name = "style_analysis"
    description = "Style keywords turned into concrete do / don't guidance."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        style_words = split_style(f.style) or _TONE_DEFAULT
        guidance = style_guidance(style_words)
        dont = ["Mixing tones between sections", "Generic stock phrasing or imagery"]
        if any("minimal" in w or "concise" in w for w in style_words):
            dont.append("Decoration that carries no meaning")
        text = (
            f"# Style guide: {f.style or 'default (clear, friendly)'}\n\n"
            + "\n".join(f"- **{k}**: {g}" for k, g in guidance.items())
            + f"\n\n## Avoid\n{_bullets(dont)}"
        )
        out = make_output(self.name, node, text, style=f.style, style_keywords=style_words)
        out.update(guidance=guidance, do=list(guidance.values()), dont=dont)
        return out


class OutlineTool(OfflineTool):
    name = "outline"
    description = "Title and sections with bullet points, built from the brief and research."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        brief, research = find(context, "brief"), find(context, "research_notes")
        style = find(context, "style_analysis")
        sections = outline_sections(f, key_messages(context), list(research.get("angles", [])))
        first_rule = next(iter(style.get("guidance", {}).values()), None)
        if first_rule:
            sections[0]["bullets"].append(f"Style: {first_rule}")
        title = cap(f.subject)
        parts = (f"## {s['heading']}\n{_bullets(s['bullets'])}" for s in sections)
        counts = {"section": len(sections)}
        if f.domain == "visual" and f.mentions(*_UI):
            counts["screen"] = len(sections)
        used = [o["node_id"] for o in (brief, research, style) if o]
        text = f"# {title}\n\n" + "\n\n".join(parts)
        return make_output(self.name, node, text, title=title, sections=sections,
                           counts=counts, used_inputs=used)  # fmt: skip


def _prose(sec: dict[str, Any], f: Facts, seed: str) -> list[str]:
    """Sentences for one outline section (bullets → template sentences, gaps as [brackets])."""
    role, heading = sec.get("role"), str(sec.get("heading", ""))
    out = (
        [f"This {f.deliverable} is about {f.subject}, for {f.audience}."] if role == "intro" else []
    )
    if role == "body":
        h = re.sub(r"^(Step \d+|Screen|Direction \d+): ", "", heading)
        wh = re.match(r"(why|what|how|where|when|who)\b", h, re.IGNORECASE)
        if wh or len(h.split()) > 3:
            out.append(f"Consider {_lower(h)}." if wh else sentence(h))
    bullets = [b for b in sec.get("bullets", []) if not b.startswith("Style:")]
    for j, bullet in enumerate(bullets):
        if gap := re.match(r"(Evidence|Reference|Code): (.+)", bullet):
            out.append(f"[Add {gap.group(1).lower()}: {gap.group(2)}]")
            continue
        bullet = re.sub(r"^Example: (.+)$", r"for example, [\1]", bullet)
        bullet = re.sub(r"^Mention (.+)$", r"it is worth naming \1 here", bullet)
        lead = _CONNECT[j % len(_CONNECT)]
        out.append(sentence(lead + (_lower(bullet) if lead else bullet)))
    if role != "conclusion":
        out.append(pick(_CLOSE, seed, sec.get("id")))
    return out


def _draft_sections(context: NodeContext, f: Facts) -> list[dict[str, Any]]:
    if sections := find(context, "outline").get("sections"):
        return list(sections)
    if structure := find(context, "audio_plan").get("structure"):
        return [_sec("body", s["section"], s["notes"]) for s in structure]
    return outline_sections(f, key_messages(context), [])


class DraftTool(OfflineTool):
    name = "draft"
    description = "Section-by-section prose draft from the outline (template text, no LLM)."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        every = _draft_sections(context, f)
        part = node.parameters.get("section")
        chosen = [s for s in every if s.get("role") == part] if part else every
        lyrics = f.domain == "audio" and not f.mentions(*_SPOKEN)
        lim = limit_for(f.constraints, "word")
        limit = lim.target() if lim and lim.high is not None else None
        # leave 10% for headings and titles; a section child gets its share of the limit
        per = int(limit * 0.9 / len(every)) if limit and every else None
        drafted = []
        for sec in chosen:
            lines = _prose(sec, f, node.id)
            if lyrics:
                bullets = [b for b in sec.get("bullets", []) if not b.startswith("Style:")]
                lines = [cap(b.split(": ", 1)[-1].strip("'")) for b in bullets]
            budget = None if per is None else max(3, per - word_count(sec["heading"]))
            while budget is not None and len(lines) > 1 and sum(map(word_count, lines)) > budget:
                lines.pop()
            if budget is not None and lines and word_count(lines[0]) > budget:
                lines = [" ".join(lines[0].split()[:budget]).rstrip(",.;:") + "..."]
            body = ("\n" if lyrics else " ").join(lines)
            drafted.append({"id": sec.get("id"), "heading": sec["heading"], "text": body})
        text = "\n\n".join(f"## {s['heading']}\n\n{s['text']}" for s in drafted)
        text = text or f"(the outline has no '{part}' section)"
        out = make_output(self.name, node, text, section=part, sections=drafted)
        out.update(word_count=word_count(text), format="lyrics" if lyrics else "prose")
        out.update(counts={"section": len(drafted)})
        return out


class ShotListTool(OfflineTool):
    name = "shot_list"
    description = "Numbered shots with duration, framing, description and audio."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        # a campaign strategy's sections are not story beats: use the brief's messages there
        sections = [] if f.domain == "marketing" else find(context, "outline").get("sections")
        beats = [s["heading"] for s in sections or [] if s.get("role") == "body"]
        beats = beats or key_messages(context) or _know("video", 0, f)
        beats = [re.sub(r"^[\w ]+: ", "", b) for b in beats[:8]]
        lim = limit_for(f.constraints, "second")
        vertical = f.mentions("tiktok", "reel", "shorts", "vertical", "9:16", "story", "social")
        total = 90 if f.mentions("trailer") else 30 if vertical else 60
        total = int(lim.target() or total) if lim else total
        plan = [f"Establish {f.subject}", *beats, f"End card: {cap(f.subject)} and the CTA"]
        n, look = len(plan), ", ".join(split_style(f.style)) or "natural light"
        base, extra = divmod(total, n)
        start = stable_int(node.id, f.subject)
        shots = []
        for i, beat in enumerate(plan):
            framing = _FRAMES[(start + i) % len(_FRAMES)]
            framing = "Wide establishing shot" if i == 0 else framing
            framing = "Static graphic / end card" if i == n - 1 else framing
            audio = f'VO: "{sentence(beat)}"' if 0 < i < n - 1 else "Music fades in"
            audio = "Music sting; logo sound" if i == n - 1 else audio
            shots.append({"number": i + 1, "duration_seconds": base + (1 if i < extra else 0),
                          "framing": framing, "beat": beat,
                          "description": f"{sentence(beat)} Look: {look}.",
                          "audio": audio})  # fmt: skip
        ratio = "9:16" if vertical else "16:9"
        rows = "\n".join(
            f"| {s['number']} | {s['duration_seconds']}s | {s['framing']} | {s['description']} "
            f"| {s['audio']} |" for s in shots
        )  # fmt: skip
        text = (
            f"# Shot list: {f.subject} ({total}s, {ratio})\n\n"
            f"| # | Time | Framing | Description | Audio |\n|---|---|---|---|---|\n{rows}"
        )
        out = make_output(self.name, node, text, shots=shots, duration_seconds=total)
        out.update(aspect_ratio=ratio, counts={"shot": n, "scene": len(beats)})
        return out


class ImagePromptTool(OfflineTool):
    name = "image_prompt"
    description = "Prompt specs for an image model: prompt, negative prompt, aspect, tags, seed."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        ui = f.domain == "visual" and f.mentions(*_UI)
        shots = find(context, "shot_list").get("shots") or []
        sections = [] if f.domain == "marketing" else find(context, "outline").get("sections")
        items = [f"{s['framing'].lower()}, {s['beat']}" for s in shots]
        for sec in [] if items else sections or []:
            key = [b.split(": ", 1)[1] for b in sec.get("bullets", []) if b.startswith("Key")]
            items.append(", ".join([sec["heading"], *map(_lower, key[:1])]))
        items = items or key_messages(context) or _know("visual", 0, f)
        items = [re.sub(r"^(Screen|Direction \d+): ", "", i) for i in items]
        wanted = limit_for(f.constraints, "variation", "concept", "option", "image")
        n = min(len(items), 12 if shots else 6 if ui else 4)
        n = int(wanted.target() or 3) if wanted else n
        explicit = _RATIO_RE.search(f.text)
        aspect = next((r for k, r in _ASPECTS if f.mentions(k)), "16:9" if shots else "1:1")
        aspect = explicit.group(0) if explicit else aspect
        default = "social media ad visual" if f.domain == "marketing" else "illustration"
        kind = next((k for k in _KINDS if f.mentions(k)), default)
        kind = "mobile app UI screen" if ui else "storyboard frame" if shots else kind
        tags = split_style(f.style) + (["vector", "flat", "centered"] if kind == "logo" else [])
        negative = "blurry, low resolution, watermark, jpeg artifacts, distorted text"
        negative += ", photo, complex background" if kind == "logo" else ""
        negative += ", lorem ipsum, skewed perspective" if ui else ""
        prompts = []
        for i in range(n):
            variant = f", variation {i // len(items) + 1}" if i >= len(items) else ""
            prompt = f"{kind} for {f.subject}, {items[i % len(items)]}{variant}"
            prompt += f", {', '.join(tags) or 'clean composition'}, high detail"
            seed = stable_int(node.id, i) % 2**31
            prompts.append({"id": f"{node.id}-{i + 1}", "prompt": prompt, "seed": seed,
                            "negative_prompt": negative, "aspect_ratio": aspect,
                            "style_tags": tags})  # fmt: skip
        text = f"# Image prompts: {f.subject} ({aspect})\n\n" + "\n\n".join(
            f"**{p['id']}** (seed {p['seed']})\n- prompt: {p['prompt']}\n- negative: {negative}"
            for p in prompts
        )
        counts = {"image": n, ("screen" if ui else "variation"): n}
        out = make_output(self.name, node, text, prompts=prompts, aspect_ratio=aspect)
        out.update(kind=kind, counts=counts)
        return out


class AudioPlanTool(OfflineTool):
    name = "audio_plan"
    description = "Music or spoken-audio plan: structure, tempo, key, instrumentation, timing."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        msgs = key_messages(context) or _know("audio", 0, f)
        lim = limit_for(f.constraints, "second")
        target = lim.target() if lim and lim.high is not None else None
        bpm = next((t for k, t in _TEMPO if f.mentions(k)), 96 + stable_int(f.subject) % 24)
        minor = f.mentions("dark", "sad", "melancholic", "moody", "cinematic", "epic", "tense")
        key = pick(["C", "D", "E", "F", "G", "A", "Bb"], f.subject)
        key += " minor" if minor else " major"
        default = ["piano", "bass", "drums", "acoustic guitar"]
        instruments = next((i for ks, i in _INSTRUMENTS if f.mentions(*ks)), default)
        beats = 3 if f.mentions("waltz") else 4
        structure: list[dict[str, Any]] = []
        if f.mentions(*_SPOKEN) and f.domain != "video":
            kind, total = "spoken", int(target or 1500)
            segs = ["Cold open", "Intro and welcome", *msgs[:4], "Outro and call to action"]
            weights = [1, 2, *[6] * (len(segs) - 3), 1]
            for seg, w in zip(segs, weights, strict=True):
                structure.append({"section": seg, "bars": None, "notes": f"Talking points: {seg}",
                                  "seconds": total * w // sum(weights)})  # fmt: skip
        else:
            kind = "jingle" if f.mentions("jingle", "sting", "ident", "ad") else "song"
            shape = [("Intro", 2), ("Hook", 8), ("Tagline", 4)] if kind == "jingle" else _SONG
            bar = beats * 60 / bpm
            scale = min(1.0, target / (sum(b for _, b in shape) * bar)) if target else 1.0
            for i, (sec, bars) in enumerate(shape):
                bars = max(2, int(bars * scale) // 2 * 2) if scale < 1 else bars
                notes = f"{instruments[i % len(instruments)]}; {msgs[i % len(msgs)]}"
                structure.append({"section": sec, "bars": bars, "notes": notes,
                                  "seconds": round(bars * bar, 1)})  # fmt: skip
        duration = round(sum(s["seconds"] for s in structure), 1)
        lines = [f"{s['section']} ({s['seconds']:g}s): {s['notes']}" for s in structure]
        text = (
            f"# Audio plan ({kind}): {f.subject}\n\n**Tempo:** {bpm} BPM, {beats}/4 · **Key:** "
            f"{key} · **Length:** {duration:g}s\n\n**Instrumentation:** {', '.join(instruments)}"
            f"\n\n{_bullets(lines)}"
        )
        out = make_output(self.name, node, text, kind=kind, structure=structure, key=key)
        out.update(tempo_bpm=bpm, time_signature=f"{beats}/4", instrumentation=instruments)
        out.update(duration_seconds=duration, counts={"section": len(structure)})
        return out


def _subject_outputs(context: NodeContext, source: dict[str, Any]) -> list[Output]:
    parts: list[Output] = []
    for nid, value in ordered(context, source):
        found = list(tool_outputs(value))
        if not found and isinstance(value, str):
            found = [{"node_id": nid, "tool": None, "text": value}]
        parts += found
    return parts


class CombineTool(OfflineTool):
    name = "combine"
    description = "Merge inputs (a parent's children, else its dependencies) into one document."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        parts = _subject_outputs(context, context.child_outputs or context.dependency_outputs)
        title = str(find(context, "outline").get("title") or cap(f.subject))
        bodies = [re.sub(r"(?m)^(#+) ", r"#\1 ", str(p["text"])) for p in parts]
        text = f"# {title}\n\n" + "\n\n".join(bodies)
        durations = [p["duration_seconds"] for p in parts if p.get("duration_seconds")]
        summary = [{"node_id": p["node_id"], "tool": p["tool"], "words": word_count(p["text"])}
                   for p in parts]  # fmt: skip
        out = make_output(self.name, node, text, title=title, word_count=word_count(text))
        out.update(counts=sum_counts(parts), duration_seconds=max(durations, default=None))
        out.update(parts=summary)
        return out


class ReviewTool(OfflineTool):
    name = "review"
    description = "Checklist of every constraint (tested where possible) and an overall verdict."

    def build(self, node: WorkflowNode, context: NodeContext, f: Facts) -> Output:
        deps = context.dependency_outputs
        own = {k: v for k, v in deps.items() if k in node.dependencies} or deps
        reviewed = _subject_outputs(context, own) + _subject_outputs(context, context.child_outputs)
        text = "\n\n".join(str(o["text"]) for o in reviewed)
        durations = [o["duration_seconds"] for o in reviewed if o.get("duration_seconds")]
        duration = float(max(durations)) if durations else None
        counts = sum_counts(reviewed)
        checks = [check_constraint(c, text, counts, duration) for c in f.constraints]
        goal = keywords(f.subject, 6)
        covered = [k for k in goal if k in text.lower()]
        checks.append(
            {
                "constraint": None,
                "kind": "non_empty",
                "passed": word_count(text) > 0,
                "evidence": f"{word_count(text)} words from {len(reviewed)} output(s)",
            }
        )
        checks.append({"constraint": None, "kind": "goal_coverage",
                       "passed": len(covered) * 2 >= len(goal),
                       "evidence": f"{len(covered)}/{len(goal)} goal keywords present: "
                                   f"{', '.join(covered) or '-'}"})  # fmt: skip
        failed = [c["constraint"] or c["kind"] for c in checks if c["passed"] is False]
        marks = {True: "[x]", False: "[ ] FAIL", None: "[?] manual"}
        lines = [f"- {marks[c['passed']]} {c['constraint'] or c['kind']}: {c['evidence']}"
                 for c in checks]  # fmt: skip
        verdict = f"FAILED ({len(failed)} check(s))" if failed else "PASSED"
        out = make_output(self.name, node, f"# Review: {verdict}\n\n" + "\n".join(lines))
        out.update(passed=not failed, checks=checks, failed=failed, word_count=word_count(text))
        out.update(needs_manual_review=any(c["passed"] is None for c in checks))
        out.update(reviewed=[o["node_id"] for o in reviewed])
        return out


OFFLINE_TOOLS: tuple[type[OfflineTool], ...] = (
    BriefTool, ResearchNotesTool, StyleAnalysisTool, OutlineTool, DraftTool, ShotListTool,
    ImagePromptTool, AudioPlanTool, CombineTool, ReviewTool,
)  # fmt: skip
DEFAULT_TOOLS: dict[str, str] = {"analyze": "brief", "generate": "draft", "transform": "combine",
                                 "validate": "review", "composite": "combine"}  # fmt: skip


def offline_tools() -> list[OfflineTool]:
    """A fresh instance of every built-in offline tool."""
    return [cls() for cls in OFFLINE_TOOLS]
