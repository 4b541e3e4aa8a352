"""Against a real llama.cpp server serving SmolLM2-135M on CPU: streaming, the built-in plan
written by the model (usage, cost, requests counted at the server), and schema-constrained
planning by a tiny model (a plan, or the one-line ``--planner offline`` hint). Kept small:
short answers (``max_tokens``), one server for the session."""

from __future__ import annotations

from pathlib import Path

from vibe_aigc import ExecutionStatus, LLMConfig, MetaPlanner, Vibe
from vibe_aigc.llm import LLMClient, TokenProgress
from vibe_aigc.planner.choice import choose_planner
from vibe_aigc.planner.llm import ModelPlanError
from vibe_aigc.testing.llama import LlamaServer

VIBE = Vibe(description="Write a blog post about autumn in Kyoto", style="warm")


def config(llama: LlamaServer, **kw: object) -> LLMConfig:
    values: dict[str, object] = {
        "base_url": llama.base_url,
        "model": "smollm2",
        "max_tokens": 24,
        "temperature": 0.2,
        "timeout": 90,
        "prices": {"smollm2": {"input": 0.1, "output": 0.4}},
    }
    values.update(kw)
    return LLMConfig.model_validate(values)


async def test_a_streamed_answer_with_token_progress(llama: LlamaServer) -> None:
    before = llama.requests()
    seen: list[TokenProgress] = []
    client = LLMClient(config(llama))
    answer = await client.chat(
        [{"role": "user", "content": "Name one colour of autumn leaves."}], on_progress=seen.append
    )
    assert answer.text.strip()
    assert answer.finish_reason in ("stop", "length")
    assert seen and seen[-1].done and seen[-1].tokens >= 1
    # llama-cpp-python sends no usage in a stream: the tokens are counted, the prompt estimated
    assert answer.usage["completion_tokens"] == seen[-1].tokens
    assert answer.usage["cost_usd"] > 0
    assert llama.requests() == before + 1


async def test_the_built_in_plan_written_by_the_model(llama: LlamaServer, tmp_path: Path) -> None:
    before = llama.requests()
    client = LLMClient(config(llama))
    planner = choose_planner("offline", client)
    meta = MetaPlanner(
        llm_config=config(llama), checkpoint_dir=tmp_path, checkpoint_interval=1, planner=planner
    )
    result = await meta.execute_with_resume(VIBE)
    assert result.status == ExecutionStatus.COMPLETED
    plan = meta.get_plan(result.plan_id)
    assert plan is not None
    text_nodes = [n.id for n in plan.iter_nodes() if n.parameters.get("tool") == "generate_text"]
    assert len(text_nodes) == 8
    for node_id in text_nodes:
        output = result.node_results[node_id].output
        assert output["tool"] == "generate_text" and output["text"].strip(), node_id
    usage = result.get_summary()["usage"]
    assert usage["requests"] == 8 and usage["completion_tokens"] > 0 and usage["cost_usd"] > 0
    assert llama.requests() == before + 8  # one request per text step, counted by the server
    again = await meta.execute_with_resume(VIBE)  # completed: nothing is sent again
    assert again.status == ExecutionStatus.COMPLETED
    assert llama.requests() == before + 8


async def test_a_tiny_model_plans_under_the_schema_or_says_use_offline(
    llama: LlamaServer,
) -> None:
    client = LLMClient(config(llama, max_tokens=None, temperature=0.0))
    planner = choose_planner("auto", client)
    planner.max_tokens = 900  # type: ignore[attr-defined]
    try:
        plan = await planner.plan(VIBE)
    except ModelPlanError as exc:
        assert str(exc).splitlines()[-1] == exc.hint and "--planner offline" in exc.hint
    else:
        assert plan.problems() == [] and plan.total_nodes >= 1
        assert all(n.parameters.get("tool") in planner.tools for n in plan.iter_nodes())  # type: ignore[attr-defined]
    # llama-cpp-python refuses "json_schema" (a 500): the schema went as json_object + schema
    assert client.structured_mode == "json_object"
    assert planner.usage["requests"] >= 2  # type: ignore[attr-defined]
