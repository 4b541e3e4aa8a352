"""Issue 12 (items 3-6), through the public API: whole offline runs honour the brief.

Every case runs the real plan with ``MetaPlanner(llm_config=False).execute(...)``: the nodes
must agree on every measurable constraint, the review must report honestly, the deliverable is
a production kit (no pretend prose, no "[Add ...]" gaps) and non-English vibes keep their
language in the topic and titles.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from vibe_aigc import MetaPlanner, Vibe
from vibe_aigc.executor import ExecutionResult, ExecutionStatus
from vibe_aigc.planner.knowledge import detect_domain
from vibe_aigc.tools.facts import LANGUAGE_NOTE

JAPANESE = "初心者向けのサワードウブレッドの焼き方についてのブログ記事を書いてください"
SAMPLES = [
    Vibe(description="a beginner-friendly guide to baking sourdough bread"),
    Vibe(description=JAPANESE),
    Vibe(description="写一篇关于可持续时尚的博客文章"),
    Vibe(description="Écris un article de blog sur le compostage"),
    Vibe(description="Write a blog post about composting", constraints=["under 400 words"]),
    Vibe(description="Write an essay on slow travel", constraints=["at least 2000 words"]),
    Vibe(description="Create a technical tutorial on Python decorators"),
    Vibe(description="A 30-second video ad for a bike shop", constraints=["exactly 15 seconds"]),
    Vibe(description="Produce a 10-track album of melancholic indie songs"),
    Vibe(description="Record a podcast episode about sleep", constraints=["under 20 minutes"]),
    Vibe(description="Design a mobile app for tracking houseplants", constraints=["max 5 screens"]),
    Vibe(description="A logo for a bakery called Crumb", constraints=["3 logo variations"]),
    Vibe(description="Plan a launch campaign for a vegan protein bar"),
    Vibe(description="Top 10 tips for better sleep"),
    Vibe(description="Something nice for my grandmother"),
]


async def run(vibe: Vibe) -> tuple[ExecutionResult, dict[str, Any]]:
    result = await MetaPlanner(llm_config=False).execute(vibe)
    assert result.status == ExecutionStatus.COMPLETED, result.get_summary()
    outputs = {nid: r.output for nid, r in result.node_results.items()}
    return result, outputs


def by_tool(outputs: dict[str, Any], tool: str) -> list[dict[str, Any]]:
    return [o for o in outputs.values() if isinstance(o, dict) and o.get("tool") == tool]


def one(outputs: dict[str, Any], tool: str) -> dict[str, Any]:
    found = by_tool(outputs, tool)
    assert len(found) == 1, [o["node_id"] for o in found]
    return found[0]


def deliverable(outputs: dict[str, Any]) -> dict[str, Any]:
    """The output the review checked (the production kit)."""
    review = one(outputs, "review")
    (node_id,) = review["reviewed"]
    kit = outputs[node_id]
    assert isinstance(kit, dict) and kit["kit"] is True
    return kit


# --------------------------------------------------------------------------- item 5: domains


async def test_a_sourdough_guide_is_writing_not_software_docs() -> None:
    vibe = SAMPLES[0]
    assert detect_domain(vibe) == "writing"
    _, outputs = await run(vibe)
    text = json.dumps(outputs, ensure_ascii=False)
    for software in ("runnable", "Code to include", "Prerequisites", "developers new to"):
        assert software not in text
    assert one(outputs, "brief")["subject"] == "baking sourdough bread"
    assert one(outputs, "brief")["audience"] == "beginners"


@pytest.mark.parametrize(
    ("description", "domain"),
    [
        ("Write a tutorial on our Python SDK", "docs"),
        ("A how-to guide for the CLI", "docs"),
        ("A how-to guide for repotting orchids", "writing"),
        ("A manual for my espresso machine", "writing"),
        ("猫の動画を作って", "video"),
        ("ローファイのアルバムを作って", "audio"),
        ("東京の夜景のイラストを描いて", "visual"),
        ("写一篇关于可持续时尚的博客文章", "writing"),
        ("Crea un video sobre el café de Colombia", "video"),
    ],
)
def test_guides_need_software_nouns_and_other_languages_have_keywords(
    description: str, domain: str
) -> None:
    assert detect_domain(Vibe(description=description)) == domain


async def test_a_japanese_vibe_keeps_its_topic_and_says_what_stays_english() -> None:
    _, outputs = await run(SAMPLES[1])
    brief = one(outputs, "brief")
    assert brief["subject"] == "サワードウブレッドの焼き方"
    assert brief["audience"] == "初心者"
    assert brief["domain"] == "writing"
    kit = deliverable(outputs)
    assert kit["text"].startswith("# サワードウブレッドの焼き方")
    assert one(outputs, "outline")["title"] == "サワードウブレッドの焼き方"
    for out in outputs.values():
        assert out["language"] == "ja" and out["language_note"] == LANGUAGE_NOTE
    text = json.dumps(outputs, ensure_ascii=False)
    assert "This general is about" not in text and "general" not in brief["deliverable"]
    assert LANGUAGE_NOTE.lower() in kit["text"].lower()


async def test_a_chinese_vibe_cuts_its_topic_at_the_particles() -> None:
    _, outputs = await run(SAMPLES[2])
    brief = one(outputs, "brief")
    assert (brief["subject"], brief["deliverable"], brief["domain"]) == (
        "可持续时尚",
        "博客文章",
        "writing",
    )


async def test_english_vibes_carry_no_language_note() -> None:
    _, outputs = await run(SAMPLES[4])
    assert all("language_note" not in o for o in outputs.values())


# --------------------------------------------------------------------------- item 4: targets


async def test_exactly_15_seconds_holds_for_shots_script_and_soundtrack() -> None:
    _, outputs = await run(SAMPLES[7])
    shots = one(outputs, "shot_list")
    assert sum(s["duration_seconds"] for s in shots["shots"]) == 15 == shots["duration_seconds"]
    soundtrack = one(outputs, "audio_plan")
    assert sum(s["seconds"] for s in soundtrack["structure"]) == 15
    assert soundtrack["duration_seconds"] == 15
    script = one(outputs, "draft")
    assert sum(s["seconds"] for s in script["sections"]) == 15
    starts = [s["start_seconds"] for s in shots["shots"]]
    assert starts == sorted(starts) and starts[0] == 0
    frames = one(outputs, "image_prompt")
    assert len(frames["prompts"]) == len(shots["shots"])  # one frame per shot
    review = one(outputs, "review")
    assert review["passed"] is True, review["text"]
    assert {c["kind"]: c["passed"] for c in review["checks"]}["consistency"] is True


async def test_a_59_second_video_gets_a_59_second_soundtrack() -> None:
    vibe = Vibe(description="Create a video about lighthouses", constraints=["59 seconds"])
    _, outputs = await run(vibe)
    assert one(outputs, "shot_list")["duration_seconds"] == 59
    assert one(outputs, "audio_plan")["duration_seconds"] == 59
    assert deliverable(outputs)["duration_seconds"] == 59


async def test_a_10_track_album_has_10_tracks_everywhere() -> None:
    _, outputs = await run(SAMPLES[8])
    arrangement = one(outputs, "audio_plan")
    assert arrangement["kind"] == "album" and len(arrangement["tracks"]) == 10
    assert len({t["title"] for t in arrangement["tracks"]}) == 10
    outline = one(outputs, "outline")
    assert outline["counts"]["track"] == 10
    tracks = [s["seconds"] for s in outline["sections"]]
    assert tracks == [t["seconds"] for t in arrangement["tracks"]]
    review = one(outputs, "review")
    track_check = next(c for c in review["checks"] if c["kind"] == "limit:track")
    assert track_check["passed"] is True and "10 tracks" in track_check["detail"]
    assert review["passed"] is True


async def test_counted_items_in_the_description_shape_the_outline() -> None:
    _, outputs = await run(SAMPLES[13])  # "Top 10 tips"
    outline = one(outputs, "outline")
    assert outline["counts"]["tip"] == 10
    assert [s["heading"].split(":")[0] for s in outline["sections"] if s.get("unit")] == [
        f"Tip {k}" for k in range(1, 11)
    ]
    assert one(outputs, "review")["passed"] is True


@pytest.mark.parametrize(
    ("constraint", "allowed"),
    [("at least 2000 words", range(2000, 2001)), ("between 800 and 1200 words", range(800, 1201))],
)
async def test_word_budgets_sum_to_the_target(constraint: str, allowed: range) -> None:
    _, outputs = await run(Vibe(description="Write an essay on tea", constraints=[constraint]))
    outline = one(outputs, "outline")
    budgets = [s["words"] for s in outline["sections"]]
    assert sum(budgets) == outline["word_budget"] and sum(budgets) in allowed
    assert all(b > 0 for b in budgets)
    kit = deliverable(outputs)
    assert f"**{sum(budgets)}**" in kit["text"]  # the outline table's total


# --------------------------------------------------------------------------- item 3: the verdict


async def test_a_failed_word_minimum_is_reported_as_failed() -> None:
    _, outputs = await run(SAMPLES[5])  # at least 2000 words
    review, kit = one(outputs, "review"), deliverable(outputs)
    assert review["passed"] is False and review["verdict"] == "failed"
    assert review["failed_checks"] == ["at least 2000 words"]
    check = review["checks"][0]
    assert check == {**check, "constraint": "at least 2000 words", "passed": False}
    assert f"measured {kit['word_count']} words" in check["detail"]
    assert "budgets 2000 words" in check["detail"]
    assert review["text"].startswith("# Review: FAILED")


async def test_a_met_word_limit_is_reported_as_passed() -> None:
    _, outputs = await run(
        Vibe(description="Write an essay on tea", constraints=["at least 50 words"])
    )
    review, kit = one(outputs, "review"), deliverable(outputs)
    assert kit["word_count"] >= 50
    assert review["passed"] is True and review["failed_checks"] == []


async def test_review_checks_carry_constraint_passed_and_detail() -> None:
    _, outputs = await run(SAMPLES[10])  # max 5 screens
    review = one(outputs, "review")
    assert isinstance(review["passed"], bool) and isinstance(review["failed_checks"], list)
    for check in review["checks"]:
        assert {"constraint", "passed", "detail"} <= set(check)
        assert check["passed"] in (True, False, None) and isinstance(check["detail"], str)
    screens = next(c for c in review["checks"] if c["constraint"] == "max 5 screens")
    assert screens["passed"] is True and "5 screens" in screens["detail"]
    assert len(one(outputs, "image_prompt")["prompts"]) == 5


# --------------------------------------------------------------------------- item 6: the kit


@pytest.mark.parametrize("vibe", SAMPLES, ids=[v.description[:24] for v in SAMPLES])
async def test_every_offline_output_is_an_honest_kit(vibe: Vibe) -> None:
    result, outputs = await run(vibe)
    text = json.dumps(outputs, ensure_ascii=False)
    for filler in ("[Add ", "readers curious about", "This general is about", "for example, ["):
        assert filler not in text, filler
    for out in outputs.values():
        assert out["offline_draft"] is True and isinstance(out["text"], str)
    kit = deliverable(outputs)
    for heading in ("## Brief", "## Checklist"):
        assert heading in kit["text"]
    assert re.search(r"(?m)^# .+: production kit$", kit["text"])
    again = await MetaPlanner(llm_config=False).execute(vibe)
    assert {n: r.output for n, r in again.node_results.items()} == outputs
    assert result.node_results[one(outputs, "review")["node_id"]].output is not None


async def test_the_kit_lists_the_brief_outline_and_a_checklist_from_the_constraints() -> None:
    vibe = Vibe(
        description="Write a blog post about composting at home for beginners",
        style="friendly",
        constraints=["under 400 words", "must mention worms", "beginner-friendly"],
    )
    _, outputs = await run(vibe)
    kit = deliverable(outputs)["text"]
    brief = kit.split("## Brief", 1)[1].split("\n## ", 1)[0]
    assert "**Audience:** beginners" in brief and "**Tone:** friendly" in brief
    assert '399 words ("under 400 words")' in brief
    outline = kit.split("## Outline", 1)[1].split("\n## ", 1)[0]
    assert "| Purpose |" in outline and "**399**" in outline
    checklist = kit.split("## Checklist", 1)[1]
    assert "- [ ] Mention worms" in checklist
    assert "- [ ] Finished text: 399 words (under 400 words)" in checklist
    assert "Plain language (beginner-friendly)" in checklist
    assert deliverable(outputs)["word_count"] < 400
