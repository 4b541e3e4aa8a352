"""Pure text helpers shared by the offline tools: words, facts about the vibe, inputs, limits.

Nothing here does I/O, reads the clock or draws random numbers:

* text: :func:`words`, :func:`word_count`, :func:`sentences`, :func:`keywords`, :func:`slug`, ...
  and :func:`stable_int` / :func:`pick` for hash-based (never random) variety;
* the vibe: :func:`read_facts` reads description, style, constraints and domain once into
  :class:`Facts` (node parameters take precedence), guessing subject, audience and deliverable;
* style and prose: :func:`style_guidance` turns style words into concrete rules and
  :func:`section_prose` turns one outline section's bullets into template sentences;
* inputs: :func:`find` returns the first upstream output made by a given tool (walking nested
  dicts and lists with :func:`tool_outputs`), in plan order; :func:`subject_outputs` collects
  every output (or plain string) of a set of nodes, for the combine and review tools;
* constraints: :func:`parse_limit` reads numeric limits ("under 500 words", "max 5 screens") into
  a :class:`Limit`; :func:`mention_target` / :func:`avoid_target` read "must mention X" /
  "don't mention X"; :func:`check_constraint` tests one constraint against a finished text.
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
_NUMBER_WORDS = dict(
    zip(
        wordlist("zero one two three four five six seven eight nine ten eleven twelve"),
        map(str, range(13)),
        strict=True,
    )
)
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


def lower_first(text: str) -> str:
    """Lower-case the first letter unless the first word is an acronym ("API", "UI")."""
    return text if text[1:2].isupper() else text[:1].lower() + text[1:]


def bullet_list(items: Sequence[str]) -> str:
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
_PREPS = tuple(
    wordlist(
        "about on covering explaining introducing showcasing promoting featuring celebrating for of"
    )
)
_AUDIENCE = {
    "docs": "developers new to {s}",
    "marketing": "prospective customers",
    "video": "viewers scrolling past",
    "audio": "listeners",
    "visual": "people who meet the design for the first time",
}


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


_CONNECT = ("", "Also, ", "In practice, ", "Just as important, ", "On top of that, ")
_CLOSE = (
    "Keep that in mind as we go on.",
    "That is the heart of it.",
    "Small changes here add up.",
    "This is where most of the value sits.",
)


def section_prose(sec: dict[str, Any], f: Facts, seed: str) -> list[str]:
    """Sentences for one outline section (bullets → template sentences, gaps as [brackets])."""
    role, heading = sec.get("role"), str(sec.get("heading", ""))
    out = (
        [f"This {f.deliverable} is about {f.subject}, for {f.audience}."] if role == "intro" else []
    )
    if role == "body":
        h = re.sub(r"^(Step \d+|Screen|Direction \d+): ", "", heading)
        wh = re.match(r"(why|what|how|where|when|who)\b", h, re.IGNORECASE)
        if wh or len(h.split()) > 3:
            out.append(f"Consider {lower_first(h)}." if wh else sentence(h))
    bullets = [b for b in sec.get("bullets", []) if not b.startswith("Style:")]
    for j, bullet in enumerate(bullets):
        if gap := re.match(r"(Evidence|Reference|Code): (.+)", bullet):
            out.append(f"[Add {gap.group(1).lower()}: {gap.group(2)}]")
            continue
        bullet = re.sub(r"^Example: (.+)$", r"for example, [\1]", bullet)
        bullet = re.sub(r"^Mention (.+)$", r"it is worth naming \1 here", bullet)
        lead = _CONNECT[j % len(_CONNECT)]
        out.append(sentence(lead + (lower_first(bullet) if lead else bullet)))
    if role != "conclusion":
        out.append(pick(_CLOSE, seed, sec.get("id")))
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


def sum_counts(outputs: Sequence[Output]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for out in outputs:
        for key, value in (out.get("counts") or {}).items():
            counts[key] = counts.get(key, 0) + int(value)
    return counts


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
RATIO_RE = re.compile(r"\b\d{1,2}:\d{1,2}(?:\.\d)?\b")


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
    if (ratio := RATIO_RE.search(constraint)) is not None:
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
