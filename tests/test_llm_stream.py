"""Streaming, structured output, prices and budgets, plain-http warnings (stub on 127.0.0.1)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vibe_aigc import (
    ExecutionStatus,
    LLMConfig,
    Vibe,
    WorkflowExecutor,
    WorkflowNode,
    WorkflowNodeType,
    WorkflowPlan,
)
from vibe_aigc.errors import ConfigurationError, TransientError
from vibe_aigc.llm import LLMClient, ProviderError, TokenProgress, plain_http_warning
from vibe_aigc.pricing import Budget, Price, estimate_usd, load_prices, price_for
from vibe_aigc.testing import OpenAIStub, Reply
from vibe_aigc.tools import default_registry

SCHEMA = {"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


def cfg(stub: OpenAIStub, **kw: Any) -> LLMConfig:
    return LLMConfig.model_validate({"base_url": stub.base_url, "model": "m-1", **kw})


def one_node(**params: Any) -> WorkflowPlan:
    node = WorkflowNode(
        id="write",
        type=WorkflowNodeType.GENERATE,
        description="Write it",
        parameters={"tool": "generate_text", **params},
    )
    return WorkflowPlan(id="plan-stream", source_vibe=Vibe(description="x"), root_nodes=[node])


# --------------------------------------------------------------------------- streaming


async def test_a_streamed_answer_reports_tokens_to_the_live_view(stub: OpenAIStub) -> None:
    chunks = [f"word{i} " for i in range(12)]
    stub.script("chat", Reply(chunks=chunks, chunk_delay=0.05))
    seen: list[tuple[str, TokenProgress]] = []
    executor = WorkflowExecutor(
        tools=default_registry(LLMClient(cfg(stub))),
        services={"on_tokens": lambda node_id, p: seen.append((node_id, p))},
    )
    result = await executor.execute(one_node())
    node = result.node_results["write"]
    assert node.status == ExecutionStatus.COMPLETED
    assert node.output["text"] == "".join(chunks)
    sent = stub.chat_requests[0].body
    assert sent["stream"] is True and sent["stream_options"] == {"include_usage": True}
    assert node.usage == {
        "requests": 1.0,
        "prompt_tokens": 11.0,
        "completion_tokens": 7.0,
        "total_tokens": 18.0,
    }
    assert {node_id for node_id, _ in seen} == {"write"}
    last = seen[-1][1]
    assert last.done and last.tokens == 12 and last.tokens_per_second > 0
    assert len(seen) >= 2  # progress while streaming, then the end


async def test_a_stream_without_usage_counts_its_tokens(stub: OpenAIStub) -> None:
    # llama-cpp-python ignores stream_options.include_usage: count what arrived, say so
    stub.script("chat", Reply(chunks=["a ", "b ", "c"]))
    client = LLMClient(cfg(stub))
    stub_answer = await client.chat([{"role": "user", "content": "x" * 40}])
    assert stub_answer.usage["requests"] == 1.0  # the stub sends usage: counted as given
    stub.script("chat", Reply(chunks=["a ", "b ", "c"], usage={}))
    answer = await client.chat([{"role": "user", "content": "x" * 40}])
    assert answer.text == "a b c"
    assert answer.usage["completion_tokens"] == 3.0 and answer.usage["usage_estimated"] == 1.0


async def test_an_error_event_inside_a_stream_is_a_provider_error(stub: OpenAIStub) -> None:
    raw = b'data: {"error": {"message": "model overloaded"}}\n\n'
    stub.script("chat", Reply(raw=raw, headers={"Content-Type": "text/event-stream"}, status=200))
    with pytest.raises(ProviderError, match="model overloaded"):
        await LLMClient(cfg(stub)).chat([{"role": "user", "content": "x"}])


async def test_streaming_can_be_turned_off(stub: OpenAIStub) -> None:
    answer = await LLMClient(cfg(stub, stream=False)).chat([{"role": "user", "content": "hi"}])
    assert answer.text == "Stub answer: hi" and "stream" not in stub.chat_requests[0].body


# --------------------------------------------------------------------------- structured output


async def test_structured_output_falls_back_to_what_the_server_accepts(stub: OpenAIStub) -> None:
    refuse = {"error": {"message": "response_format type json_schema is not supported"}}
    stub.script("chat", Reply(status=400, body=refuse), Reply(content='{"a": 1}'))
    client = LLMClient(cfg(stub))
    answer = await client.chat([{"role": "user", "content": "x"}], schema=SCHEMA)
    assert answer.text == '{"a": 1}' and answer.structured == "json_object"
    formats = [r.body["response_format"] for r in stub.chat_requests]
    assert formats[0]["type"] == "json_schema" and formats[0]["json_schema"]["schema"] == SCHEMA
    assert formats[1] == {"type": "json_object", "schema": SCHEMA}  # llama.cpp's form
    await client.chat([{"role": "user", "content": "again"}], schema=SCHEMA)
    assert stub.chat_requests[2].body["response_format"]["type"] == "json_object"  # remembered


async def test_llama_cpp_python_style_500_and_plain_json_fallbacks(stub: OpenAIStub) -> None:
    wrapped = {"error": {"message": "validation error ('body', 'response_format', 'type')"}}
    stub.script(
        "chat",
        Reply(status=500, body=wrapped),
        Reply(status=422, body={"error": {"message": "unknown field: schema"}}),
        Reply(content='{"a": 2}'),
    )
    client = LLMClient(cfg(stub, structured_output="auto"))
    answer = await client.chat([{"role": "user", "content": "x"}], schema=SCHEMA)
    assert answer.structured == "json" and answer.text == '{"a": 2}'
    assert stub.chat_requests[2].body["response_format"] == {"type": "json_object"}


async def test_an_unrelated_400_is_not_retried_as_a_format_problem(stub: OpenAIStub) -> None:
    stub.script("chat", Reply(status=400, body={"error": {"message": "context too long"}}))
    with pytest.raises(ProviderError, match="context too long"):
        await LLMClient(cfg(stub)).chat([{"role": "user", "content": "x"}], schema=SCHEMA)
    assert len(stub.chat_requests) == 1


# --------------------------------------------------------------------------- prices, budgets


async def test_prices_give_cost_usd_per_node_and_per_run(stub: OpenAIStub, tmp_path: Path) -> None:
    table = tmp_path / "prices.json"
    table.write_text(json.dumps({"m-*": {"input": 2.0, "output": 10.0}, "img": {"image": 0.04}}))
    config = LLMConfig.from_env(
        {"OPENAI_BASE_URL": stub.base_url, "VIBE_LLM_MODEL": "m-1", "VIBE_PRICES": str(table)}
    )
    assert config is not None and config.prices is not None
    stub.script("chat", Reply(content="a", usage={"prompt_tokens": 1000, "completion_tokens": 500}))
    client = LLMClient(config.model_copy(update={"image_model": "img"}))
    answer = await client.chat([{"role": "user", "content": "x"}])
    assert answer.usage["cost_usd"] == pytest.approx(1000 * 2.0 / 1e6 + 500 * 10.0 / 1e6)
    _, image_usage = await client.generate_images("a cat", n=2)
    assert image_usage["cost_usd"] == pytest.approx(0.08)
    executor = WorkflowExecutor(tools=default_registry(client))
    result = await executor.execute(one_node())
    assert result.get_summary()["usage"]["cost_usd"] == pytest.approx((11 * 2.0 + 7 * 10.0) / 1e6)


def test_price_tables_are_validated(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"m": {"input": -1}}))
    with pytest.raises(ConfigurationError, match="prices of 'm' are invalid"):
        load_prices(bad)
    with pytest.raises(ConfigurationError, match="cannot read"):
        load_prices(tmp_path / "missing.json")
    with pytest.raises(ValueError):
        LLMConfig(prices={"m": {"output": float("inf")}})  # type: ignore[dict-item]
    table = {"gpt-4o*": Price(input=1), "gpt-4o-mini*": Price(input=2)}
    assert price_for(table, "gpt-4o-mini-2024") == Price(input=2)  # the longest pattern wins
    assert price_for(table, "llama3") is None


def test_budget_stops_before_the_step_that_could_exceed_it() -> None:
    budget = Budget(0.50)
    price = Price(input=2.0, output=10.0)
    step = estimate_usd(price, prompt_tokens=2000, max_tokens=20_000)  # 0.004 + 0.2
    assert step == pytest.approx(0.204)
    assert not budget.would_exceed(step)
    budget.add({"cost_usd": 0.25, "requests": 1})
    assert budget.spent_usd == pytest.approx(0.25) and not budget.would_exceed(step)
    budget.add(0.1)
    assert budget.would_exceed(step) and not budget.exhausted
    assert budget.remaining_usd == pytest.approx(0.15)
    assert "resume with a larger --budget" in budget.message("body", step)
    budget.add(float("nan"))  # a bad number never counts
    assert budget.spent_usd == pytest.approx(0.35)
    with pytest.raises(ConfigurationError):
        Budget(-1)


def test_a_key_over_plain_http_to_another_machine_is_warned_about() -> None:
    remote = LLMConfig(base_url="http://10.1.2.3:8000/v1", api_key="sk-x")  # type: ignore[arg-type]
    warning = plain_http_warning(remote)
    assert warning is not None and "10.1.2.3:8000" in warning and "sk-x" not in warning
    assert plain_http_warning(LLMConfig(base_url="http://127.0.0.1:8000/v1", api_key="k")) is None  # type: ignore[arg-type]
    assert plain_http_warning(LLMConfig(base_url="https://api.example.com/v1", api_key="k")) is None  # type: ignore[arg-type]
    assert plain_http_warning(LLMConfig(base_url="http://10.1.2.3:11434/v1")) is None  # no key


async def test_a_stream_cut_short_is_transient_not_a_short_answer(stub: OpenAIStub) -> None:
    # llama-cpp-python ends a running stream when another request arrives: [DONE], no reason
    cut = b'data: {"choices": [{"index": 0, "delta": {"content": "Autumn in Ky"}}]}\n\n'
    sse = {"Content-Type": "text/event-stream"}
    stub.script(
        "chat",
        Reply(raw=cut + b"data: [DONE]\n\n", headers=sse),
        Reply(raw=cut, headers=sse),
    )
    client = LLMClient(cfg(stub))
    with pytest.raises(TransientError, match="without a finish reason"):
        await client.chat([{"role": "user", "content": "x"}])
    with pytest.raises(TransientError, match="ended early"):
        await client.chat([{"role": "user", "content": "x"}])
