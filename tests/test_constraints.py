"""Constraint parsing and resolved targets; a property test that every tool agrees with them."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vibe_aigc import MetaPlanner, Vibe
from vibe_aigc.tools.constraints import (
    Limit,
    canonical,
    check_constraint,
    parse_limit,
    parse_limits,
    resolve_targets,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("exactly 15 seconds", [Limit("second", 15, 15)]),
        ("precisely 3 slides", [Limit("slide", 3, 3)]),
        ("15s", [Limit("second", None, 15)]),
        ("≤ 3 min", [Limit("second", None, 180)]),
        ("<= 90 sec", [Limit("second", None, 90)]),
        ("up to 2 hours", [Limit("second", None, 7200)]),
        ("over 50 words", [Limit("word", 51, None)]),
        ("no more than five slides", [Limit("slide", None, 5)]),
        ("between 2 and 4 minutes", [Limit("second", 120, 240)]),
        ("a one-minute video", [Limit("second", None, 60)]),
        ("a 10-track album", [Limit("track", 10, 10)]),
        ("Top 10 tips", [Limit("tip", 10, 10)]),
        ("5 songs, under 20 minutes", [Limit("song", 5, 5), Limit("second", None, 1200, True)]),
        ("a playlist from the 1990s", []),
        ("vertical 9:16", []),
        ("under 1.5.5 words", []),
    ],
)
def test_parse_limits(text: str, expected: list[Limit]) -> None:
    assert parse_limits(text) == expected


def test_a_description_decade_is_not_a_duration_but_a_constraint_may_say_seconds() -> None:
    assert parse_limits("music from the 90s", bare_seconds=False) == []
    assert parse_limits("90s") == [Limit("second", None, 90)]


@pytest.mark.parametrize(
    ("limit", "default", "value"),
    [
        (Limit("second", 15, 15), 60, 15),  # exact
        (Limit("second", None, 30, strict=True), 60, 29),  # a maximum: the largest allowed
        (Limit("word", None, 400), 800, 400),
        (Limit("word", 2000, None), 800, 2000),  # a minimum: at least the minimum
        (Limit("word", 300, None), 800, 800),  # ... and the default when that is more
        (Limit("second", 120, 240), 60, 120),  # a range: the default clamped into it
        (Limit("word", 800, 1200), None, 1000),  # ... its midpoint without a default
        (Limit("screen", None, 0), 4, 0),
    ],
)
def test_a_limit_resolves_to_an_allowed_whole_number(
    limit: Limit, default: int | None, value: int
) -> None:
    assert limit.resolve(default) == value
    assert limit.allows(value)


def test_constraints_win_over_the_description_and_defaults_fill_the_rest() -> None:
    targets = resolve_targets(
        "A 30-second ad for a 10-track album", ["exactly 15 seconds"], {"second": 60, "word": 40}
    )
    assert targets.seconds == 15 and targets.get("second").source == "exactly 15 seconds"
    assert targets.value("track") == 10 and targets.value("song") == 10  # synonyms
    assert targets.constrained("track") and not targets.constrained("word")
    assert targets.words == 40
    both = resolve_targets("x", ["at least 20 seconds", "under 60 seconds"], {"second": 90})
    assert both.seconds == 59


def test_synonyms_share_a_unit_in_checks() -> None:
    assert canonical("song") == "track" and canonical("concept") == "variation"
    check = check_constraint("exactly 4 songs", "text", {"track": 4}, None)
    assert check["passed"] is True and check["kind"] == "limit:track"


# --------------------------------------------------------------------------- property test


def _rule(unit: str, draw: Any, low: int, high: int) -> str:
    n = draw(st.integers(low, high))
    m = draw(st.integers(n + 1, high + 1))
    templates = [
        "exactly {n} {u}", "under {n} {u}", "at most {n} {u}", "no more than {n} {u}",
        "up to {n} {u}", "at least {n} {u}", "over {n} {u}", "between {n} and {m} {u}",
        "{n} {u} max", "{n} {u}",
    ]  # fmt: skip
    return draw(st.sampled_from(templates)).format(n=n, m=m, u=unit)


@st.composite
def timed_video(draw: Any) -> Vibe:
    unit = draw(st.sampled_from(["seconds", "sec", "s"]))
    rule = _rule(unit, draw, 5, 300)
    if draw(st.booleans()):
        minutes = draw(st.integers(1, 5))
        rule = draw(st.sampled_from([f"under {minutes} minutes", f"exactly {minutes} min"]))
    return Vibe(description="Create a video about tide pools", constraints=[rule])


@st.composite
def worded_text(draw: Any) -> Vibe:
    return Vibe(
        description="Write an article about tea", constraints=[_rule("words", draw, 50, 4000)]
    )


@st.composite
def counted(draw: Any) -> tuple[Vibe, str]:
    k = draw(st.integers(1, 14))
    kind = draw(st.sampled_from(["tracks", "screens", "slides"]))
    rule = draw(st.sampled_from([f"exactly {k} {kind}", f"max {k} {kind}", f"{k} {kind}"]))
    description = {
        "tracks": "Produce an album of folk songs",
        "screens": "Design a mobile app for a bakery",
        "slides": "Write a presentation about recycling",
    }[kind]
    return Vibe(description=description, constraints=[rule]), kind


def _outputs(vibe: Vibe) -> dict[str, Any]:
    result = asyncio.run(MetaPlanner(llm_config=False).execute(vibe))
    return {n: r.output for n, r in result.node_results.items()}


def _one(outputs: dict[str, Any], tool: str) -> dict[str, Any]:
    (found,) = [o for o in outputs.values() if o.get("tool") == tool]
    return found


def _check(outputs: dict[str, Any], constraint: str) -> dict[str, Any]:
    review = _one(outputs, "review")
    return next(c for c in review["checks"] if c["constraint"] == constraint)


@settings(max_examples=40, deadline=None)
@given(vibe=timed_video())
def test_every_video_node_lasts_the_same_allowed_seconds(vibe: Vibe) -> None:
    (constraint,) = vibe.constraints
    limit = parse_limit(constraint)
    assert limit is not None
    outputs = _outputs(vibe)
    shots = _one(outputs, "shot_list")
    total = sum(s["duration_seconds"] for s in shots["shots"])
    assert limit.allows(total), (constraint, total)
    assert _one(outputs, "audio_plan")["duration_seconds"] == total
    assert sum(s["seconds"] for s in _one(outputs, "draft")["sections"]) == total
    assert len(_one(outputs, "image_prompt")["prompts"]) == len(shots["shots"])
    assert _check(outputs, constraint)["passed"] is True


@settings(max_examples=40, deadline=None)
@given(vibe=worded_text())
def test_word_budgets_sum_to_an_allowed_target(vibe: Vibe) -> None:
    (constraint,) = vibe.constraints
    limit = parse_limit(constraint)
    assert limit is not None
    outputs = _outputs(vibe)
    outline = _one(outputs, "outline")
    budget = sum(s["words"] for s in outline["sections"])
    assert limit.allows(budget) and budget == outline["word_budget"]
    drafts = [o for o in outputs.values() if o.get("tool") == "draft"]
    assert sum(d["word_budget"] for d in drafts) == budget  # the section notes share it out
    check = _check(outputs, constraint)
    kit_words = _one(outputs, "combine")["word_count"]
    assert check["passed"] is limit.allows(kit_words)  # measured honestly on the kit


@settings(max_examples=40, deadline=None)
@given(case=counted())
def test_counted_items_agree_between_outline_and_assets(case: tuple[Vibe, str]) -> None:
    vibe, kind = case
    (constraint,) = vibe.constraints
    limit = parse_limit(constraint)
    assert limit is not None
    outputs = _outputs(vibe)
    unit = canonical(limit.unit)
    outlined = _one(outputs, "outline")["counts"][unit]
    assert limit.allows(outlined)
    if kind == "tracks":
        assert len(_one(outputs, "audio_plan")["tracks"]) == outlined
    if kind == "screens":
        assert len(_one(outputs, "image_prompt")["prompts"]) == outlined
    assert _check(outputs, constraint)["passed"] is True
