"""The built-in offline tools: output shape, use of inputs, constraint checks, determinism."""

from __future__ import annotations

import json
from typing import Any

import pytest

from vibe_aigc.context import NodeContext
from vibe_aigc.models import Vibe, WorkflowNode, WorkflowNodeType, WorkflowPlan
from vibe_aigc.tools import Tool, ToolRegistry, default_registry
from vibe_aigc.tools.constraints import Limit, check_constraint, parse_limit
from vibe_aigc.tools.offline import DEFAULT_TOOLS

BLOG = Vibe(
    description="Write a blog post about composting at home for beginners",
    style="friendly, concise",
    constraints=["under 400 words", "must mention worms", "beginner-friendly"],
    domain="writing",
)
TOOL_NAMES = [
    "audio_plan",
    "brief",
    "combine",
    "draft",
    "image_prompt",
    "outline",
    "research_notes",
    "review",
    "shot_list",
    "style_analysis",
]


async def run(
    tool: str,
    vibe: Vibe = BLOG,
    *,
    node_id: str | None = None,
    deps: dict[str, Any] | None = None,
    children: dict[str, Any] | None = None,
    **params: Any,
) -> dict[str, Any]:
    """Run one tool on a one-node plan; dependency ids need not exist in the plan."""
    node = WorkflowNode(
        id=node_id or tool,
        type=WorkflowNodeType.GENERATE,
        description=f"run {tool}",
        parameters={"tool": tool, **params},
        dependencies=sorted(deps or {}),
    )
    plan = WorkflowPlan(id="p-test", source_vibe=vibe, root_nodes=[node])
    context = NodeContext(
        vibe=vibe, plan=plan, dependency_outputs=deps or {}, child_outputs=children or {}
    )
    result = await default_registry().get(tool).run(node, context)
    assert isinstance(result, dict)
    return result


def fake(tool: str, node_id: str, text: str, **fields: Any) -> dict[str, Any]:
    return {"offline_draft": True, "tool": tool, "node_id": node_id, "text": text, **fields}


# --------------------------------------------------------------------------- registry


def test_default_registry_holds_every_tool_with_defaults_per_type() -> None:
    first, second = default_registry(), default_registry()
    assert first is not second
    assert isinstance(first, ToolRegistry)
    assert first.names() == TOOL_NAMES
    for name in TOOL_NAMES:
        assert isinstance(first.get(name), Tool)
        assert first.get(name).description
    for node_type in WorkflowNodeType:
        node = WorkflowNode(id="n", type=node_type, description="x")
        assert first.tool_name_for(node) == DEFAULT_TOOLS[node_type.value]
        assert first.tool_name_for(node) in first


# --------------------------------------------------------------------------- every tool


@pytest.mark.parametrize("tool", TOOL_NAMES)
async def test_output_shape_json_and_determinism(tool: str) -> None:
    out = await run(tool, node_id="step-1")
    assert out["offline_draft"] is True
    assert out["tool"] == tool
    assert out["node_id"] == "step-1"
    assert isinstance(out["text"], str) and out["text"].strip()
    assert json.loads(json.dumps(out)) == out
    assert await run(tool, node_id="step-1") == out


@pytest.mark.parametrize("tool", TOOL_NAMES)
async def test_tools_cope_with_an_empty_vibe_shape(tool: str) -> None:
    out = await run(tool, Vibe(description="x"))
    assert out["text"]
    json.dumps(out)


# --------------------------------------------------------------------------- analysis


async def test_brief_reads_the_vibe() -> None:
    out = await run("brief")
    assert out["goal"] == BLOG.description
    assert out["subject"] == "composting at home"
    assert out["audience"] == "beginners"
    assert out["tone"] == ["friendly", "concise"]
    assert out["constraints"] == BLOG.constraints
    assert any("worms" in m for m in out["key_messages"])
    assert any("composting at home" in m for m in out["key_messages"])
    assert out["open_questions"]
    bare = await run("brief", Vibe(description="Write a poem"))
    assert any("tone" in q for q in bare["open_questions"])
    assert any("limits" in q for q in bare["open_questions"])


async def test_research_and_style_analysis() -> None:
    research = await run("research_notes")
    assert research["angles"] and research["references_to_find"]
    assert any("composting at home" in a for a in research["angles"])
    style = await run("style_analysis")
    assert style["style_keywords"] == ["friendly", "concise"]
    assert "you" in style["guidance"]["friendly"]
    unknown = await run("style_analysis", Vibe(description="x", style="zesty"))
    assert "zesty" in unknown["guidance"]["zesty"]


# --------------------------------------------------------------------------- generation


async def test_outline_is_built_from_the_brief_and_research() -> None:
    brief = fake("brief", "brief", "b", key_messages=["Alpha point", "Beta point"])
    research = fake("research_notes", "research", "r", angles=["gamma angle"])
    out = await run("outline", deps={"brief": brief, "research": research})
    headings = [s["heading"] for s in out["sections"]]
    assert "Alpha point" in headings and "Beta point" in headings
    assert "Research: gamma angle" in out["text"]
    assert out["used_inputs"] == ["brief", "research"]
    assert out["title"] == "Composting at home"
    assert out["sections"][0]["role"] == "intro" and out["sections"][-1]["role"] == "conclusion"
    assert "Mention worms" in out["text"]


async def test_outline_for_an_app_respects_the_screen_limit() -> None:
    vibe = Vibe(
        description="Design a budgeting app", domain="visual", constraints=["max 3 screens"]
    )
    out = await run("outline", vibe)
    assert out["counts"]["screen"] == 3
    assert all(s["heading"].startswith("Screen: ") for s in out["sections"])


async def test_draft_follows_the_outline_and_the_word_limit() -> None:
    outline = await run("outline")
    draft = await run("draft", deps={"outline": outline})
    for section in outline["sections"]:
        assert f"## {section['heading']}" in draft["text"]
    assert draft["word_count"] < 400
    assert "worms" in draft["text"]
    assert draft["counts"] == {"section": len(outline["sections"])}
    intro = await run("draft", deps={"outline": outline}, section="intro")
    assert [s["heading"] for s in intro["sections"]] == ["Introduction"]
    tight = Vibe(description="Write an essay about tea", constraints=["max 60 words"])
    short = await run("draft", tight, deps={"outline": await run("outline", tight)})
    assert short["word_count"] <= 60


async def test_shot_list_fits_the_duration_and_uses_the_treatment() -> None:
    vibe = Vibe(
        description="A trailer for a heist movie",
        style="moody",
        constraints=["under 30 seconds", "vertical"],
        domain="video",
    )
    treatment = fake(
        "outline",
        "treatment",
        "t",
        sections=[
            {"id": "a", "role": "intro", "heading": "Open", "bullets": ["x"]},
            {"id": "b", "role": "body", "heading": "The vault door swings open", "bullets": []},
        ],
    )
    out = await run("shot_list", vibe, deps={"treatment": treatment})
    shots = out["shots"]
    assert [s["number"] for s in shots] == list(range(1, len(shots) + 1))
    assert sum(s["duration_seconds"] for s in shots) == out["duration_seconds"] < 30
    assert out["aspect_ratio"] == "9:16"
    assert any("vault door" in s["description"] for s in shots)
    assert all({"framing", "audio", "description"} <= set(s) for s in shots)


async def test_image_prompts_have_specs_and_stable_seeds() -> None:
    vibe = Vibe(
        description="A logo for a bakery called Crumb",
        style="warm, retro",
        constraints=["3 logo variations"],
    )
    out = await run("image_prompt", vibe, node_id="logo")
    assert len(out["prompts"]) == 3
    assert out["aspect_ratio"] == "1:1"
    for p in out["prompts"]:
        assert "bakery called Crumb" in p["prompt"]
        assert "warm" in p["style_tags"] and p["negative_prompt"]
        assert 0 <= p["seed"] < 2**31
    assert len({p["seed"] for p in out["prompts"]}) == 3
    other = await run("image_prompt", vibe, node_id="logo-2")
    assert [p["seed"] for p in other["prompts"]] != [p["seed"] for p in out["prompts"]]
    poster = await run("image_prompt", Vibe(description="A poster for an apple festival"))
    assert (poster["kind"], poster["aspect_ratio"]) == ("poster", "2:3")  # "apple" is not "app"


async def test_audio_plan_for_songs_and_podcasts() -> None:
    song = await run(
        "audio_plan", Vibe(description="An upbeat jingle for a bike shop", constraints=["20s"])
    )
    assert song["kind"] == "jingle" and song["tempo_bpm"] == 120
    assert song["duration_seconds"] <= 20
    assert song["key"].endswith("major") and song["instrumentation"]
    assert [s["section"] for s in song["structure"]] == ["Intro", "Hook", "Tagline"]
    podcast = await run(
        "audio_plan", Vibe(description="A podcast episode on sleep", constraints=["under 20 min"])
    )
    assert podcast["kind"] == "spoken"
    assert podcast["duration_seconds"] < 20 * 60
    assert podcast["structure"][0]["section"] == "Cold open"


# --------------------------------------------------------------------------- combine and review


async def test_combine_merges_children_in_plan_order() -> None:
    vibe = Vibe(description="Write a story")
    children = [
        WorkflowNode(id=i, type=WorkflowNodeType.GENERATE, description=i)
        for i in ("first", "second")
    ]
    parent = WorkflowNode(
        id="all",
        type=WorkflowNodeType.GENERATE,
        description="join",
        parameters={"tool": "combine"},
        children=children,
    )
    plan = WorkflowPlan(id="p", source_vibe=vibe, root_nodes=[parent])
    kids = {  # dict order deliberately reversed
        "second": fake("draft", "second", "## Two\n\nSecond part.", counts={"section": 1}),
        "first": fake("draft", "first", "## One\n\nFirst part.", counts={"section": 1}),
    }
    context = NodeContext(vibe=vibe, plan=plan, child_outputs=kids)
    out = await default_registry().get("combine").run(parent, context)
    assert out["text"].index("First part") < out["text"].index("Second part")
    assert "### One" in out["text"]  # headings demoted under the title
    assert out["counts"] == {"section": 2}
    assert [p["node_id"] for p in out["parts"]] == ["first", "second"]


async def test_review_detects_a_violated_and_a_satisfied_word_limit() -> None:
    vibe = Vibe(description="Write an essay about tea", constraints=["under 50 words"])
    long_text = fake("draft", "draft", "Tea is good. " * 40)
    short_text = fake("draft", "draft", "Tea is good. Tea is warm.")
    bad = await run("review", vibe, deps={"draft": long_text})
    good = await run("review", vibe, deps={"draft": short_text})
    assert bad["passed"] is False and bad["checks"][0]["passed"] is False
    assert "120 words" in bad["checks"][0]["evidence"]
    assert bad["failed"] == ["under 50 words"]
    assert good["passed"] is True and good["checks"][0]["passed"] is True


async def test_review_checks_mentions_readability_counts_and_manual_items() -> None:
    vibe = Vibe(
        description="Design a habit tracker app",
        constraints=[
            "must mention streaks",
            "beginner-friendly",
            "max 5 screens",
            "feels premium",
            "don't mention pricing",
        ],
    )
    prompts = fake("image_prompt", "prompts", "Habit tracker home with streaks.", counts={})
    prompts["counts"] = {"screen": 6}
    out = await run("review", vibe, deps={"prompts": prompts})
    by_constraint = {c["constraint"]: c for c in out["checks"]}
    assert by_constraint["must mention streaks"]["passed"] is True
    assert by_constraint["beginner-friendly"]["passed"] is True
    assert by_constraint["max 5 screens"]["passed"] is False
    assert by_constraint["feels premium"]["passed"] is None
    assert by_constraint["don't mention pricing"]["passed"] is True
    assert out["passed"] is False and out["needs_manual_review"] is True
    assert "FAIL" in out["text"]


def test_check_constraint_readability_flags_dense_prose() -> None:
    dense = " ".join(["Notwithstanding"] + ["interoperability considerations"] * 20) + "."
    check = check_constraint("plain language, no jargon", dense, {}, None)
    assert check["kind"] == "readability" and check["passed"] is False


@pytest.mark.parametrize(
    ("constraint", "expected"),
    [
        ("under 500 words", Limit("word", None, 500, strict=True)),
        ("Max 5 screens", Limit("screen", None, 5)),
        ("at most five slides", Limit("slide", None, 5)),
        ("no more than 1,200 words", Limit("word", None, 1200)),
        ("between 800 and 1200 words", Limit("word", 800, 1200)),
        ("a 30-second spot", Limit("second", None, 30)),
        ("2-3 minutes long", Limit("second", 120, 180)),
        ("at least 300 words", Limit("word", 300, None)),
        ("300 words or fewer", Limit("word", None, 300)),
        ("3 logo variations", Limit("variation", 3, 3)),
        ("under 280 characters", Limit("character", None, 280, strict=True)),
        ("beginner-friendly", None),
        ("launch by Q3 2025", None),
    ],
)
def test_parse_limit(constraint: str, expected: Limit | None) -> None:
    assert parse_limit(constraint) == expected
