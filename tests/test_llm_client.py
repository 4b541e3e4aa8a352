"""The OpenAI-compatible client against a real HTTP stub on 127.0.0.1 (no client mocks)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from vibe_aigc import (
    ExecutionStatus,
    LLMConfig,
    RetryPolicy,
    TransientError,
    Vibe,
    WorkflowExecutor,
    WorkflowNode,
    WorkflowNodeType,
    WorkflowPlan,
)
from vibe_aigc.llm import LLMClient, ProviderError
from vibe_aigc.ratelimit import RateLimiter
from vibe_aigc.testing import OpenAIStub, Reply, tiny_png
from vibe_aigc.testing.stub_server import stub_process
from vibe_aigc.tools import default_registry

KEY = "sk-test-secret-0123456789"


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


@pytest.fixture
def other() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


def config(stub: OpenAIStub, **kw: object) -> LLMConfig:
    values: dict[str, object] = {"base_url": stub.base_url, "api_key": KEY, "model": "stub-1"}
    values.update(kw)
    return LLMConfig.model_validate(values)


def one_node_plan(**params: object) -> WorkflowPlan:
    node = WorkflowNode(
        id="write",
        type=WorkflowNodeType.GENERATE,
        description="Write a tagline",
        parameters={"tool": "generate_text", **params},
    )
    return WorkflowPlan(id="plan-one", source_vibe=Vibe(description="a tagline"), root_nodes=[node])


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


def executor_for(cfg: LLMConfig, sleeps: Sleeps | None = None) -> WorkflowExecutor:
    return WorkflowExecutor(
        tools=default_registry(LLMClient(cfg)),
        retry_policy=RetryPolicy(max_attempts=3, base_delay=0.01),
        sleep=sleeps,
    )


# --------------------------------------------------------------------------- configuration


def test_from_env_reads_openai_ollama_or_nothing() -> None:
    assert LLMConfig.from_env({}) is None
    cfg = LLMConfig.from_env({"OPENAI_API_KEY": KEY})
    assert cfg is not None and cfg.base_url == "https://api.openai.com/v1"
    assert cfg.model == "gpt-4o-mini" and cfg.api_key is not None
    cfg = LLMConfig.from_env(
        {"OPENAI_API_KEY": KEY, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1/", "VIBE_LLM_MODEL": "m"}
    )
    assert cfg is not None and (cfg.base_url, cfg.model) == ("http://127.0.0.1:9/v1", "m")
    cfg = LLMConfig.from_env({"OLLAMA_HOST": "127.0.0.1:11434"})
    assert cfg is not None and cfg.base_url == "http://127.0.0.1:11434/v1"
    assert cfg.api_key is None and cfg.model == "llama3.1"


def test_the_key_is_never_shown_or_serialized() -> None:
    cfg = LLMConfig(base_url="http://127.0.0.1:9/v1", api_key=KEY)  # type: ignore[arg-type]
    for text in (repr(cfg), str(cfg), cfg.model_dump_json(), str(cfg.model_dump()), cfg.describe()):
        assert KEY not in text
    assert "api_key" not in cfg.model_dump()
    assert KEY not in repr(LLMClient(cfg))


def test_bad_base_urls_are_refused() -> None:
    for url in ("ftp://x/v1", "http:///v1", "https://user:pw@host/v1", "https://h/v1?k=1"):
        with pytest.raises(ValueError):
            LLMConfig(base_url=url)


# --------------------------------------------------------------------------- chat


async def test_chat_sends_the_model_json_mode_and_reports_usage(stub: OpenAIStub) -> None:
    stub.script(
        "chat", Reply(content='{"a": 1}', usage={"prompt_tokens": 3, "completion_tokens": 4})
    )
    client = LLMClient(config(stub, prompt_price_per_1k=1.0, completion_price_per_1k=2.0))
    answer = await client.chat([{"role": "user", "content": "hi"}], json_mode=True)
    assert answer.text == '{"a": 1}' and answer.finish_reason == "stop"
    assert answer.usage == {
        "requests": 1.0,
        "prompt_tokens": 3.0,
        "completion_tokens": 4.0,
        "total_tokens": 7.0,
        "cost_usd": 0.011,
    }
    sent = stub.chat_requests[0]
    assert sent.body["model"] == "stub-1"
    assert sent.body["response_format"] == {"type": "json_object"}
    assert sent.headers["authorization"] == f"Bearer {KEY}"


async def test_429_with_retry_after_waits_that_long(stub: OpenAIStub) -> None:
    stub.script("chat", Reply(status=429, headers={"Retry-After": "7"}), Reply(content="ok"))
    sleeps = Sleeps()
    result = await executor_for(config(stub), sleeps).execute(one_node_plan())
    node = result.node_results["write"]
    assert node.status == ExecutionStatus.COMPLETED and node.attempts == 2
    assert node.output["text"] == "ok"
    assert sleeps.calls == [7.0]


async def test_429_retry_after_is_honoured_in_real_time(stub: OpenAIStub) -> None:
    stub.script("chat", Reply(status=429, headers={"Retry-After": "1"}), Reply(content="ok"))
    executor = WorkflowExecutor(tools=default_registry(LLMClient(config(stub))))
    started = time.monotonic()
    result = await executor.execute(one_node_plan())
    assert result.status == ExecutionStatus.COMPLETED
    assert time.monotonic() - started >= 0.95
    assert len(stub.chat_requests) == 2


async def test_500_then_success(stub: OpenAIStub) -> None:
    stub.script("chat", Reply(status=500), Reply(status=503), Reply(content="third time"))
    sleeps = Sleeps()
    result = await executor_for(config(stub), sleeps).execute(one_node_plan())
    node = result.node_results["write"]
    assert node.status == ExecutionStatus.COMPLETED and node.attempts == 3
    assert node.output["text"] == "third time" and len(sleeps.calls) == 2


async def test_a_slow_answer_times_out_and_the_retry_succeeds(stub: OpenAIStub) -> None:
    stub.script("chat", Reply(content="late", delay=1.5), Reply(content="on time"))
    result = await executor_for(config(stub, timeout=0.3), Sleeps()).execute(one_node_plan())
    node = result.node_results["write"]
    assert node.status == ExecutionStatus.COMPLETED and node.attempts == 2
    assert node.output["text"] == "on time"


async def test_timeouts_and_refused_connections_are_transient(stub: OpenAIStub) -> None:
    stub.script("chat", Reply(content="late", delay=1.0))
    with pytest.raises(TransientError, match="timed out"):
        await LLMClient(config(stub, timeout=0.2)).chat([{"role": "user", "content": "x"}])
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = LLMConfig(base_url=f"http://127.0.0.1:{port}/v1", timeout=2)
    with pytest.raises(TransientError, match="connection failed"):
        await LLMClient(closed).chat([{"role": "user", "content": "x"}])


async def test_a_permanent_4xx_fails_at_once_with_a_clear_message(stub: OpenAIStub) -> None:
    stub.script(
        "chat",
        Reply(status=401, body={"error": {"message": f"Incorrect API key provided: {KEY}"}}),
    )
    sleeps = Sleeps()
    result = await executor_for(config(stub), sleeps).execute(one_node_plan())
    node = result.node_results["write"]
    assert node.status == ExecutionStatus.FAILED and node.attempts == 1 and not sleeps.calls
    assert "HTTP 401" in (node.error or "") and "check the API key" in (node.error or "")
    assert KEY not in (node.error or "")


async def test_a_huge_answer_is_refused(stub: OpenAIStub) -> None:
    stub.script("chat", Reply(content="x" * 1_200_000))
    with pytest.raises(ProviderError, match="larger than"):
        await LLMClient(config(stub)).chat([{"role": "user", "content": "x"}])


# --------------------------------------------------------------------------- the key's reach


async def test_a_redirect_is_not_followed_and_the_other_host_sees_nothing(
    stub: OpenAIStub, other: OpenAIStub
) -> None:
    stub.script("chat", Reply(redirect_to=f"{other.base_url}/chat/completions"))
    with pytest.raises(ProviderError, match="redirect"):
        await LLMClient(config(stub)).chat([{"role": "user", "content": "x"}])
    assert other.requests == []


async def test_an_image_url_on_another_host_is_fetched_without_the_key(
    stub: OpenAIStub, other: OpenAIStub
) -> None:
    stub.script("images", Reply(body={"data": [{"url": f"{other.origin}/files/cat.png"}]}))
    client = LLMClient(config(stub, image_model="img-1"))
    images, usage = await client.generate_images("a cat")
    assert images == [tiny_png("/files/cat.png")] and usage["images"] == 1.0
    assert stub.requests[0].headers["authorization"] == f"Bearer {KEY}"
    assert [r.path for r in other.requests] == ["/files/cat.png"]
    assert all("authorization" not in r.headers for r in other.requests)
    assert all(KEY not in str(r.headers) for r in other.requests)


# --------------------------------------------------------------------------- limits


async def test_rate_limiter_spaces_requests_per_minute() -> None:
    now = [0.0]
    waits: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(requests_per_minute=30, clock=lambda: now[0], sleep=fake_sleep)
    for _ in range(3):
        async with limiter:
            pass
    assert waits == [pytest.approx(2.0), pytest.approx(2.0)]


async def test_concurrency_bound_and_rate_apply_to_real_calls(stub: OpenAIStub) -> None:
    stub.script("chat", *[Reply(content=str(i), delay=0.3) for i in range(4)])
    client = LLMClient(config(stub, max_concurrent_requests=2))
    started = time.monotonic()
    await asyncio.gather(*(client.chat([{"role": "user", "content": "x"}]) for _ in range(4)))
    assert time.monotonic() - started >= 0.55  # two waves of two

    fast = LLMClient(config(stub, requests_per_minute=600, max_concurrent_requests=None))
    started = time.monotonic()
    await asyncio.gather(*(fast.chat([{"role": "user", "content": "x"}]) for _ in range(4)))
    assert time.monotonic() - started >= 0.28  # 0.1 s apart after the first


async def test_the_stub_also_runs_as_its_own_process(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"chat": [{"content": "from a subprocess"}]}))
    with stub_process("openai", "--script", str(script)) as base_url:
        answer = await LLMClient(LLMConfig(base_url=base_url)).chat(
            [{"role": "user", "content": "x"}]
        )
    assert answer.text == "from a subprocess" and answer.usage["total_tokens"] == 18
