"""Planning and generation chosen separately (--planner auto|offline|model), against the stub."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vibe_aigc import ExecutionStatus, LLMConfig, MetaPlanner, PlanningError, Vibe
from vibe_aigc.errors import ConfigurationError
from vibe_aigc.llm import LLMClient
from vibe_aigc.models import derive_plan_id
from vibe_aigc.planner.choice import (
    ModelWrittenPlanner,
    OfflinePlanner,
    choose_planner,
    model_written,
    planner_mode,
)
from vibe_aigc.planner.knowledge import KnowledgePlanner
from vibe_aigc.planner.llm import LLMPlanner, ModelPlanError
from vibe_aigc.testing import OpenAIStub, Reply

VIBE = Vibe(
    description="Write a blog post about autumn in Kyoto",
    style="warm, precise",
    constraints=["under 800 words", "mention the Philosopher's Path"],
)


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


def cfg(stub: OpenAIStub, **kw: Any) -> LLMConfig:
    return LLMConfig.model_validate({"base_url": stub.base_url, "model": "writer-1", **kw})


def test_planner_mode_reads_the_flag_then_the_environment() -> None:
    assert planner_mode(None, {}) == "auto"
    assert planner_mode(None, {"VIBE_PLANNER": " Offline "}) == "offline"
    assert planner_mode("model", {"VIBE_PLANNER": "offline"}) == "model"
    with pytest.raises(ConfigurationError, match="auto, offline, model"):
        planner_mode("clever", {})


def test_choose_planner_per_mode(stub: OpenAIStub) -> None:
    client = LLMClient(cfg(stub))
    assert isinstance(choose_planner("auto", None), OfflinePlanner)
    assert isinstance(choose_planner("offline", None), OfflinePlanner)
    with pytest.raises(ConfigurationError, match="needs a configured model"):
        choose_planner("model", None)
    assert isinstance(choose_planner("offline", client), ModelWrittenPlanner)
    for mode in ("auto", "model"):
        planner = choose_planner(mode, client)  # type: ignore[arg-type]
        assert isinstance(planner, LLMPlanner)
        assert "generate_text" in planner.tools and "brief" not in planner.tools


def test_model_written_keeps_the_scaffold_and_names_the_model_tools() -> None:
    offline = KnowledgePlanner().plan(VIBE)
    plan = model_written(offline)
    assert plan.id == offline.id and plan.node_ids == offline.node_ids
    assert plan.problems() == []
    for node in plan.iter_nodes():
        before = offline.get_node(node.id)
        assert before is not None
        assert node.parameters["template_tool"] == before.parameters["tool"]
        assert node.parameters["constraints"] == VIBE.constraints
        if node.children:
            assert node.parameters["tool"] == "join" and "purpose" not in node.parameters
        else:
            assert node.parameters["tool"] == "generate_text" and node.parameters["purpose"]
    assert plan.get_node("intro").parameters["section"] == "intro"  # type: ignore[union-attr]
    assert offline.get_node("intro").parameters["tool"] == "draft"  # type: ignore[union-attr]


async def test_offline_with_a_model_writes_every_text_step_with_the_model(
    stub: OpenAIStub, tmp_path: Path
) -> None:
    client_for_choice = LLMClient(cfg(stub))
    planner = choose_planner("offline", client_for_choice)
    meta = MetaPlanner(llm_config=cfg(stub), checkpoint_dir=tmp_path, planner=planner)
    result = await meta.execute(VIBE)
    assert result.status == ExecutionStatus.COMPLETED
    assert result.plan_id == derive_plan_id(VIBE)
    plan = meta.get_plan(result.plan_id)
    assert plan is not None
    text_nodes = [n for n in plan.iter_nodes() if n.parameters["tool"] == "generate_text"]
    assert len(stub.chat_requests) == len(text_nodes) == 8  # every text step, one call each
    for node in text_nodes:
        output = result.node_results[node.id].output
        assert output["tool"] == "generate_text" and output["text"].startswith("Stub answer")
    prompts = [r.body["messages"][1]["content"] for r in stub.chat_requests]
    intro = next(p for p in prompts if "step 'intro'" in p)
    assert "You write only the intro section" in intro
    assert "Deliver: finished prose for this part" in intro
    assert "mention the Philosopher's Path" in intro
    review = next(p for p in prompts if "step 'review'" in p)
    assert "### draft" in review  # the dependency's output, verbatim in the prompt
    assert result.node_results["draft"].output["tool"] == "join"
    assert result.get_summary()["usage"]["requests"] == 8


async def test_auto_says_to_use_the_offline_planner_when_the_model_cannot_plan(
    stub: OpenAIStub,
) -> None:
    bad = {"root_nodes": [{"type": "generate", "description": "no id"}]}
    stub.script("chat", Reply(content=json.dumps(bad)), Reply(content=json.dumps(bad)))
    planner = choose_planner("auto", LLMClient(cfg(stub)))
    with pytest.raises(ModelPlanError) as caught:
        await planner.plan(VIBE)
    assert isinstance(caught.value, PlanningError)
    assert "--planner offline" in str(caught.value) and "--planner offline" in caught.value.hint
    assert "root_nodes.0.id" in str(caught.value)
    assert planner.usage["requests"] == 2  # type: ignore[attr-defined]  # both answers counted
