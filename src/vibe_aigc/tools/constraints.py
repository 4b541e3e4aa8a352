"""Measurable constraints, parsed once: limits, the targets every offline tool uses, checks.

* :func:`parse_limits` reads numeric limits from text ("under 500 words", "max 5 screens",
  "exactly 15 seconds", "between 2 and 3 minutes", "a 10-track album", "≤ 3 min") into
  :class:`Limit` values; :func:`parse_limit` returns the first one.
* :func:`resolve_targets` turns the limits of the constraints and of the description, plus a
  default per unit, into :class:`Targets`: one whole number per unit (seconds, words,
  tracks, shots, ...). Every tool reads the same targets, so a shot list and its soundtrack
  both last the target's seconds and an outline's word budgets sum to the target's words.
* :func:`check_constraint` tests one constraint against a finished text (the review tool).

Units: durations are seconds ("s", "sec", "min", "minutes" and "hours" are converted); words;
characters; and counted nouns (:data:`COUNTABLE`). Synonyms share one canonical unit
(:func:`canonical`: "song" counts as "track", "option" as "variation", "picture" as "image").

Comparators: "exactly" / "precisely" (and a bare count: "3 logo variations"); "at least",
"minimum", "no less than", "or more"; "more than" / "over" (one more than the number);
"at most", "max", "no more than", "up to", "within", "or less"; "under", "below", "less than",
"fewer than" (strictly less); "between X and Y", "X-Y", "X to Y". A bare duration or word count
("a 30-second spot", "a 500-word essay") is a maximum.

How a limit becomes a target (:meth:`Limit.resolve`): an exact value is used as is; a maximum
alone gives the largest allowed whole number; a minimum alone gives ``max(minimum, default)``;
a range gives the default clamped into it (its midpoint without a default).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from vibe_aigc.tools.textkit import keywords, sentences, word_count, wordlist, words

_NUMBER_WORDS = dict(
    zip(
        wordlist(
            "zero one two three four five six seven eight nine ten eleven twelve thirteen "
            "fourteen fifteen sixteen seventeen eighteen nineteen twenty thirty forty fifty sixty "
            "dozen"
        ),
        [*map(str, range(21)), "30", "40", "50", "60", "12"],
        strict=True,
    )
)
COUNTABLE = frozenset(
    wordlist(
        "screen shot scene slide section variation image page step color colour song track "
        "episode post tweet hashtag frame concept option bullet paragraph chapter verse idea tip "
        "picture photo illustration version direction item question email prompt chorus beat "
        "stanza panel card lesson module"
    )
)
# synonym -> canonical unit (what the tools count and the review compares)
_CANONICAL = {
    "song": "track", "option": "variation", "version": "variation", "direction": "variation",
    "concept": "variation", "picture": "image", "photo": "image", "illustration": "image",
    "prompt": "image", "colour": "color", "beat": "scene", "stanza": "verse",
}  # fmt: skip
_UNITS = {
    "char": "character", "chars": "character", "sec": "second", "secs": "second",
    "s": "second", "min": "minute", "mins": "minute", "m": "minute", "hr": "hour",
    "hrs": "hour", "h": "hour", "wd": "word",
}  # fmt: skip
_FACTOR = {"minute": 60.0, "hour": 3600.0}
_NUMBER_RE = re.compile(rf"\b(?:{'|'.join(_NUMBER_WORDS)})\b")


def canonical(unit: str) -> str:
    """The unit the tools count for ``unit`` ("song" → "track", "concept" → "variation")."""
    return _CANONICAL.get(unit, unit)


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

    def resolve(self, default: int | None = None) -> int:
        """The whole number a tool should aim at (see the module docstring)."""
        low = None if self.low is None else max(0, math.ceil(self.low))
        high = None
        if self.high is not None:
            high = math.ceil(self.high) - 1 if self.strict else math.floor(self.high)
            high = max(0, high)
        if low is not None and high is not None:
            if low > high:  # contradictory: the maximum wins, the review reports it
                return high
            if default is None:
                return (low + high) // 2
            return min(max(default, low), high)
        if high is not None:
            return high
        if low is not None:
            return max(low, default or 0)
        return max(0, default or 0)

    def describe(self) -> str:
        lo, hi, unit = self.low, self.high, self.unit + "s"
        if lo is not None and hi is not None:
            return f"exactly {hi:g} {unit}" if lo == hi else f"between {lo:g} and {hi:g} {unit}"
        if hi is not None:
            return f"{'under' if self.strict else 'at most'} {hi:g} {unit}"
        return f"at least {lo:g} {unit}"


_OPS_EXACT = ("exactly", "precisely", "exact")
_OPS_STRICT = ("under", "below", "less than", "fewer than", "shorter than")
_OPS_MAX = (
    "max", "maximum", "at most", "no more than", "up to", "within", "not exceed",
    "not to exceed", "limit of", "limited to", "no longer than", "not more than",
)  # fmt: skip
_OPS_PLUS = ("more than", "over", "longer than", "above")
_OPS_MIN = ("at least", "min", "minimum", "no less than", "no fewer than", "not less than")
_ALL_OPS = _OPS_EXACT + _OPS_STRICT + _OPS_MAX + _OPS_PLUS + _OPS_MIN
_OP_RE = "|".join(re.escape(o) for o in sorted(_ALL_OPS, key=len)[::-1])
_NUM = r"\d[\d,]*(?:\.\d+)?"
_LIMIT_RE = re.compile(
    rf"(?:\b(?P<op>{_OP_RE})\s+)?(?:\bbetween\s+)?(?<![\d.:])(?P<a>{_NUM})(?:\s*(?:-|–|to|and)"
    rf"\s*(?P<b>{_NUM}))?\s*-?\s*(?P<unit>[a-z]+)\b(?P<tail>\s+(?:or\s+(?:less|fewer|more|"
    r"shorter|longer)|max(?:imum)?|min(?:imum)?|limit|tops|long\s+at\s+most))?"
)
_SYMBOLS = (("≤", " at most "), ("<=", " at most "), ("≥", " at least "), (">=", " at least "),
            ("<", " under "), (">", " more than "), ("~", " "))  # fmt: skip


def _singular(noun: str) -> str:
    if noun.endswith("ies"):
        return noun[:-3] + "y"
    if noun.endswith(("ches", "shes", "sses", "xes")):
        return noun[:-2]
    return noun[:-1] if noun.endswith("s") and not noun.endswith("ss") and len(noun) > 2 else noun


def _number(text: str) -> float | None:
    try:
        return float(text.replace(",", ""))
    except ValueError:
        return None


def _normalise(text: str) -> str:
    text = text.lower()
    for symbol, words_ in _SYMBOLS:
        text = text.replace(symbol, words_)
    text = re.sub(r"(?<=\d)(?=[a-z])", " ", text)  # "15s" -> "15 s", "3min" -> "3 min"
    text = _NUMBER_RE.sub(lambda m: _NUMBER_WORDS[m.group(0)], text)
    return " ".join(text.split())


def _limit_of(m: re.Match[str], text: str, *, bare_seconds: bool) -> Limit | None:
    a = _number(m.group("a"))
    b = _number(m.group("b")) if m.group("b") else None
    if a is None or (m.group("b") and b is None):
        return None
    raw = _singular(m.group("unit"))
    after = re.match(r"\s+([a-z]+)", text[m.end() :])  # "3 logo variations": the head noun
    measured = raw in _UNITS or raw in ("second", "word", "character", "minute", "hour")
    if after and _singular(after.group(1)) in COUNTABLE and not measured:
        raw = _singular(after.group(1))
    unit = _UNITS.get(raw, raw)
    decade = 1900 <= a <= 2090 and a % 10 == 0 and not m.group("op")
    if unit == "second" and raw == "s" and (decade or not bare_seconds):
        return None  # "the 1990s" is a decade, not a duration
    factor = _FACTOR.get(unit, 1.0)
    unit = "second" if unit in _FACTOR else unit
    if unit not in COUNTABLE and unit not in ("second", "word", "character"):
        return None
    op, tail = m.group("op") or "", " ".join((m.group("tail") or "").split())
    if b is not None:
        return Limit(unit, min(a, b) * factor, max(a, b) * factor)
    if op in _OPS_EXACT:
        return Limit(unit, a * factor, a * factor)
    if op in _OPS_PLUS:
        return Limit(unit, a * factor + 1, None)
    if op in _OPS_MIN or tail in ("or more", "or longer", "min", "minimum"):
        return Limit(unit, a * factor, None)
    if op or tail:
        return Limit(unit, None, a * factor, strict=op in _OPS_STRICT)
    if unit in ("second", "word", "character"):  # "a 30-second spot", "a 500-word essay"
        return Limit(unit, None, a * factor)
    return Limit(unit, a, a)  # "3 logo variations", "a 10-track album": exactly


def parse_limits(text: str, *, bare_seconds: bool = True) -> list[Limit]:
    """Every numeric limit in ``text``, in order; ``bare_seconds=False`` ignores "90s"."""
    norm = _normalise(text)
    found = (_limit_of(m, norm, bare_seconds=bare_seconds) for m in _LIMIT_RE.finditer(norm))
    return [lim for lim in found if lim is not None]


def parse_limit(constraint: str) -> Limit | None:
    """Read "under 500 words", "max 5 screens", "30-second", "800-1200 words", ... (else None)."""
    return next(iter(parse_limits(constraint)), None)


def limit_for(constraints: Sequence[str], *units: str) -> Limit | None:
    found = (parse_limit(c) for c in constraints)
    wanted = {canonical(u) for u in units}
    return next((lim for lim in found if lim is not None and canonical(lim.unit) in wanted), None)


# --------------------------------------------------------------------------- targets


@dataclass(frozen=True)
class Target:
    """The number every tool uses for one unit, and where it came from."""

    unit: str
    value: int
    limit: Limit | None  # the rule it satisfies; None for a default
    source: str  # the constraint's text, "description: <phrase>", or "default"

    def describe(self) -> str:
        rule = self.limit.describe() if self.limit else "default"
        return f"{self.value} {self.unit}{'' if self.value == 1 else 's'} ({rule})"


@dataclass(frozen=True)
class Targets:
    """Resolved targets by canonical unit (see :func:`resolve_targets`)."""

    items: dict[str, Target] = field(default_factory=dict)

    def get(self, unit: str) -> Target | None:
        return self.items.get(canonical(unit))

    def value(self, unit: str, default: int | None = None) -> int | None:
        target = self.get(unit)
        return target.value if target else default

    def count(self, unit: str, default: int) -> int:
        """The target count of ``unit`` (at least 1, so a tool always has something)."""
        value = self.value(unit, default)
        return max(1, default if value is None else value)

    def constrained(self, unit: str) -> bool:
        """True when the vibe (not a default) sets this unit."""
        target = self.get(unit)
        return target is not None and target.limit is not None

    @property
    def seconds(self) -> int | None:
        return self.value("second")

    @property
    def words(self) -> int | None:
        return self.value("word")


def _merge(limits: Sequence[Limit]) -> Limit:
    lows = [lim.low for lim in limits if lim.low is not None]
    highs = [lim for lim in limits if lim.high is not None]
    tightest = min(highs, key=lambda lim: (lim.high, not lim.strict), default=None)
    return Limit(
        limits[0].unit,
        max(lows) if lows else None,
        tightest.high if tightest else None,
        tightest.strict if tightest else False,
    )


def resolve_targets(
    description: str, constraints: Sequence[str], defaults: Mapping[str, int | None]
) -> Targets:
    """One :class:`Target` per unit named by the constraints, the description or ``defaults``.

    Constraints win over the description: the description's limits count only for units
    that no constraint names ("a 30-second ad" sets 30 s unless "-c 'exactly 15 seconds'").
    """
    by_unit: dict[str, tuple[list[Limit], list[str]]] = {}
    for text in constraints:
        for lim in parse_limits(text):
            limits, sources = by_unit.setdefault(canonical(lim.unit), ([], []))
            limits.append(lim)
            sources.append(text)
    for lim in parse_limits(description, bare_seconds=False):
        unit = canonical(lim.unit)
        if unit not in by_unit or by_unit[unit][1][0].startswith("description:"):
            limits, sources = by_unit.setdefault(unit, ([], []))
            limits.append(lim)
            sources.append(f"description: {lim.describe()}")
    items: dict[str, Target] = {}
    for unit, (limits, sources) in by_unit.items():
        merged = _merge(limits)
        default = defaults.get(unit)
        items[unit] = Target(unit, merged.resolve(default), merged, "; ".join(sources))
    for unit, default in defaults.items():
        if default is not None and canonical(unit) not in items:
            items[canonical(unit)] = Target(canonical(unit), default, None, "default")
    return Targets(items)


def description_limits(description: str, constraints: Sequence[str]) -> list[tuple[str, Limit]]:
    """Limits stated only in the description (no constraint names their unit), with the
    phrase that states them, for the review to check too."""
    named = {canonical(lim.unit) for c in constraints for lim in parse_limits(c)}
    out = []
    for lim in parse_limits(description, bare_seconds=False):
        if canonical(lim.unit) not in named:
            out.append((f"{lim.describe()} (from the description)", lim))
            named.add(canonical(lim.unit))
    return out


# --------------------------------------------------------------------------- other rules

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
    if m is None or parse_limit(constraint) is not None:
        return None
    return re.sub(r"^(?:a|an|the)\s+", "", m.group(1).strip(" .\"'“”"), flags=re.IGNORECASE)


def avoid_target(constraint: str) -> str | None:
    m = _AVOID_RE.match(constraint.strip())
    return m.group(1).strip(" .\"'“”") if m else None


def is_readability(constraint: str) -> bool:
    """True for "beginner-friendly", "plain language", "no jargon", ... (tested by the review)."""
    return _PLAIN_RE.search(constraint) is not None


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


def check_limit(
    name: str, lim: Limit, text: str, counts: Mapping[str, int], duration: float | None
) -> dict[str, Any]:
    """One checklist entry for a numeric limit, measured on the text, counts or duration."""
    measures = {"word": word_count(text), "character": len(text), "second": duration}
    unit = canonical(lim.unit)
    value = measures[unit] if unit in measures else counts.get(unit)
    if value is None:
        passed, detail = None, f"manual check: could not measure {lim.unit}s offline"
    else:
        passed = lim.allows(value)
        detail = f"measured {value:g} {lim.unit}s; rule: {lim.describe()}"
    return entry(name, f"limit:{unit}", passed, detail)


def entry(constraint: str | None, kind: str, passed: bool | None, detail: str) -> dict[str, Any]:
    """A review check: ``passed`` is True / False, or None when a person must check."""
    return {
        "constraint": constraint,
        "kind": kind,
        "passed": passed,
        "detail": detail,
        "evidence": detail,
    }


def check_constraint(
    constraint: str, text: str, counts: Mapping[str, int], duration: float | None
) -> dict[str, Any]:
    """One checklist entry; ``passed`` is True / False, or None when a person must check."""
    lim = parse_limit(constraint)
    if (ratio := RATIO_RE.search(constraint)) is not None:
        passed = ratio.group(0) in text
        detail = f"aspect ratio {ratio.group(0)} {'found' if passed else 'not found'} in output"
        return entry(constraint, "aspect_ratio", passed, detail)
    if lim is not None:
        return check_limit(constraint, lim, text, counts, duration)
    if (target := mention_target(constraint)) is not None:
        return entry(constraint, "mention", *_contains(text, target))
    if (target := avoid_target(constraint)) is not None:
        found, detail = _contains(text, target)
        return entry(constraint, "avoid", not found, detail)
    if _PLAIN_RE.search(constraint):
        return entry(constraint, "readability", *_readability(text))
    return entry(constraint, "manual", None, "manual check: not testable offline")
