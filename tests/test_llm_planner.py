"""The LLM planner and MetaPlanner's model wiring, against the OpenAI-compatible stub."""

from __future__ import annotations

import json
import logging
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vibe_aigc import (
    ExecutionStatus,
    LLMConfig,
    MetaPlanner,
    PlanningError,
    PlanValidationError,
    RetryPolicy,
    Vibe,
    WorkflowNode,
    WorkflowNodeType,
    WorkflowPlan,
)
from vibe_aigc.llm import LLMClient
from vibe_aigc.models import derive_plan_id
from vibe_aigc.planner.llm import LLMPlanner, ModelPlanError
from vibe_aigc.planner.meta import OFFLINE_NOTE
from vibe_aigc.testing import OpenAIStub, Reply
from vibe_aigc.tools import default_registry

KEY = "sk-test-planner-secret-987654321"
VIBE = Vibe(
    description="Write a blog post about tide pools for kids",
    style="playful, curious",
    constraints=["under 600 words"],
)


def node(id: str, type: str = "generate", deps: list[str] | None = None, **params: Any) -> dict:
    return {
        "id": id,
        "type": type,
        "description": f"Do {id}",
        "parameters": params,
        "dependencies": deps or [],
        "children": [],
    }


GOOD = {
    "id": "../../model-chosen",
    "root_nodes": [
        node("brief", "analyze", tool="generate_text"),
        node("draft", "generate", ["brief"]),
        node("review", "validate", ["draft"], tool="generate_text", retry={"max_attempts": 99}),
    ],
}


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


def cfg(stub: OpenAIStub, **kw: Any) -> LLMConfig:
    return LLMConfig.model_validate(
        {"base_url": stub.base_url, "api_key": KEY, "model": "planner-1", **kw}
    )


def planner_for(stub: OpenAIStub) -> LLMPlanner:
    client = LLMClient(cfg(stub))
    return LLMPlanner(client, default_registry(client), retry_policy=RetryPolicy(base_delay=0.01))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --------------------------------------------------------------------------- planning


async def test_a_plan_from_the_model(stub: OpenAIStub, tmp_path: Path) -> None:
    stub.script("chat", Reply(content=json.dumps(GOOD)))
    meta = MetaPlanner(llm_config=cfg(stub), checkpoint_dir=tmp_path)
    assert meta.mode == "llm"
    plan = await meta.plan(VIBE)
    assert plan.id == derive_plan_id(VIBE)  # never the model's id
    assert plan.node_ids == ["brief", "draft", "review"]
    assert plan.get_node("draft").parameters["tool"] == "generate_text"  # type default filled in
    assert "retry" not in plan.get_node("review").parameters  # the model does not set retries
    request = stub.chat_requests[0].body
    assert request["response_format"]["type"] == "json_schema"  # structured output first
    schema = request["response_format"]["json_schema"]["schema"]
    tools = schema["properties"]["root_nodes"]["items"]["properties"]["parameters"]
    assert tools["properties"]["tool"]["enum"] == sorted(meta.planner.tools.names())  # type: ignore[attr-defined]
    prompt = request["messages"][1]["content"]
    assert VIBE.description in prompt and "under 600 words" in prompt
    assert "generate_text" in prompt and '"root_nodes"' in prompt  # tools + domain example
    assert '"outline"' in prompt  # the writing template's outline step, as knowledge
    assert '"tool": "brief"' not in prompt  # offline tool names are not offered


async def test_malformed_then_repaired_json(stub: OpenAIStub) -> None:
    stub.script(
        "chat", Reply(content='{"root_nodes": [{"id": "a",'), Reply(content=json.dumps(GOOD))
    )
    plan = await planner_for(stub).plan(VIBE, plan_id="plan-fixed")
    assert plan.id == "plan-fixed" and plan.total_nodes == 3
    repair = stub.chat_requests[1].body["messages"]
    assert repair[2] == {"role": "assistant", "content": '{"root_nodes": [{"id": "a",'}
    assert "not valid JSON" in repair[3]["content"]


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        ({"root_nodes": [node("a", deps=["b"]), node("b", deps=["a"])]}, "cycle"),
        ({"root_nodes": [node("../../etc/passwd")]}, "invalid_id"),
        ({"root_nodes": [node("a", tool="shell")]}, "unknown_tool"),
        ({"root_nodes": [node("a", deps=["ghost"])]}, "missing_dependency"),
        ({"nodes": []}, "root_nodes"),
        ({"root_nodes": [{"id": "a", "type": "explode", "description": "x"}]}, "shape"),
    ],
)
async def test_invalid_plans_get_one_repair_then_a_planning_error(
    stub: OpenAIStub, bad: dict[str, Any], expected: str
) -> None:
    stub.script("chat", Reply(content=json.dumps(bad)), Reply(content=json.dumps(bad)))
    with pytest.raises(PlanningError, match=expected) as caught:
        await planner_for(stub).plan(VIBE)
    assert isinstance(caught.value, ModelPlanError) and caught.value.problems
    assert len(stub.chat_requests) == 2  # the answer and one repair round
    assert expected in stub.chat_requests[1].body["messages"][-1]["content"]


async def test_truncated_answers_are_a_planning_error(stub: OpenAIStub) -> None:
    cut = json.dumps(GOOD)[:60]
    stub.script("chat", *[Reply(content=cut, finish_reason="length") for _ in range(2)])
    with pytest.raises(PlanningError, match="cut off"):
        await planner_for(stub).plan(VIBE)


async def test_a_huge_answer_is_a_planning_error(stub: OpenAIStub) -> None:
    stub.script("chat", Reply(content="[" * 1_100_000))
    with pytest.raises(PlanningError, match="larger than"):
        await planner_for(stub).plan(VIBE)


async def test_deeply_nested_json_is_rejected_cleanly(stub: OpenAIStub) -> None:
    deep = '{"root_nodes": ' + "[" * 50_000 + "]" * 50_000 + "}"
    stub.script("chat", Reply(content=deep), Reply(content=deep))
    with pytest.raises(PlanningError):
        await planner_for(stub).plan(VIBE)


async def test_planning_retries_a_500_then_succeeds(stub: OpenAIStub) -> None:
    stub.script("chat", Reply(status=500), Reply(content=json.dumps(GOOD)))
    plan = await planner_for(stub).plan(VIBE)
    assert plan.total_nodes == 3 and len(stub.chat_requests) == 2


async def test_a_configured_model_that_is_down_is_an_error_not_a_fallback(tmp_path: Path) -> None:
    down = LLMConfig(base_url=f"http://127.0.0.1:{closed_port()}/v1", timeout=2)
    meta = MetaPlanner(llm_config=down, checkpoint_dir=tmp_path)
    meta.planner.retry_policy = RetryPolicy(max_attempts=2, base_delay=0.01)  # type: ignore[attr-defined]
    with pytest.raises(PlanningError, match="could not plan with model"):
        await meta.execute(VIBE)


async def test_a_refused_key_is_a_clear_planning_error(stub: OpenAIStub) -> None:
    stub.script("chat", Reply(status=401, body={"error": {"message": f"bad key {KEY}"}}))
    with pytest.raises(PlanningError, match="check the API key") as caught:
        await planner_for(stub).plan(VIBE)
    assert KEY not in str(caught.value)


# --------------------------------------------------------------------------- offline default


async def test_offline_when_nothing_is_configured_and_the_result_says_so(tmp_path: Path) -> None:
    for meta in (MetaPlanner(checkpoint_dir=tmp_path), MetaPlanner(llm_config=False)):
        assert meta.mode == "offline" and meta.llm is None
        result = await meta.execute(VIBE)
        assert result.status == ExecutionStatus.COMPLETED
        assert OFFLINE_NOTE in result.warnings


async def test_env_configuration_is_picked_up(
    stub: OpenAIStub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", stub.base_url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("VIBE_LLM_MODEL", "env-model")
    meta = MetaPlanner()
    assert meta.mode == "llm" and meta.llm_config is not None
    assert meta.llm_config.model == "env-model"


def test_plans_naming_unknown_tools_fail_validation() -> None:
    plan = WorkflowPlan(
        id="plan-tools",
        source_vibe=VIBE,
        root_nodes=[
            WorkflowNode(
                id="a",
                type=WorkflowNodeType.GENERATE,
                description="run a shell",
                parameters={"tool": "shell"},
            )
        ],
    )
    with pytest.raises(PlanValidationError) as caught:
        MetaPlanner(llm_config=False).check_plan(plan)
    assert caught.value.kinds == {"unknown_tool"}


# --------------------------------------------------------------------------- a whole run


async def test_a_model_run_sums_usage_and_keeps_the_key_out_of_files_and_logs(
    stub: OpenAIStub, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    stub.script("chat", Reply(content=json.dumps(GOOD)))
    config = cfg(stub, prompt_price_per_1k=0.5, completion_price_per_1k=1.5)
    meta = MetaPlanner(llm_config=config, checkpoint_dir=tmp_path, checkpoint_interval=1)
    result = await meta.execute_with_resume(VIBE)
    assert result.status == ExecutionStatus.COMPLETED and OFFLINE_NOTE not in result.warnings
    usage = result.get_summary()["usage"]
    # three node calls plus the planning call (planning tokens count in the run's usage)
    assert usage["requests"] == 4 and usage["total_tokens"] == 4 * 18
    assert usage["prompt_tokens"] == 44 and usage["completion_tokens"] == 28
    assert usage["cost_usd"] == pytest.approx(4 * (11 * 0.5 + 7 * 1.5) / 1000)

    # dependency outputs reach the prompt verbatim
    brief_text = result.node_results["brief"].output["text"]
    draft_prompt = stub.chat_requests[2].body["messages"][1]["content"]
    assert brief_text in draft_prompt and "playful, curious" in draft_prompt

    record = meta.get_checkpoint(result.checkpoint_id or "")
    assert record["summary"]["usage"] == usage
    assert record["node_results"]["draft"]["usage"]["total_tokens"] == 18

    assert all(r.headers.get("authorization") == f"Bearer {KEY}" for r in stub.requests)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert KEY.encode() not in path.read_bytes(), path
    assert KEY not in caplog.text
