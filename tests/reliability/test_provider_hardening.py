"""Issue 11, provider side: a hostile or broken model server must not hold a call past its
deadline (5), crash a run with its usage numbers (6), get any part of the key stored or printed
(7, 8), or stall a run with an absurd Retry-After (12). Real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from vibe_aigc import (
    ExecutionStatus,
    LLMConfig,
    MetaPlanner,
    RetryPolicy,
    TransientError,
    Vibe,
    WorkflowExecutor,
    WorkflowNode,
    WorkflowNodeType,
    WorkflowPlan,
)
from vibe_aigc.errors import ConfigurationError
from vibe_aigc.llm import LLMClient, ProviderError, secret_values
from vibe_aigc.retry import retry_notice
from vibe_aigc.testing import OpenAIStub, Reply
from vibe_aigc.tools import default_registry

# a key with characters that URL- and base64-encoding change
KEY = "sk-proj/Hard+ening=Key_0123456789abcdefABCDEF/xyz+42"


def forms(key: str) -> list[str]:
    """The key, its URL and base64 forms, and 16-character pieces of it."""
    b64 = base64.b64encode(key.encode()).decode()
    return [key, quote(key, safe=""), b64, b64.rstrip("="), key[:16], key[-16:], key[10:26]]


def leaked(text: str, key: str = KEY) -> list[str]:
    return [form for form in forms(key) if form in text]


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


def config(stub: OpenAIStub, **kw: object) -> LLMConfig:
    values: dict[str, object] = {"base_url": stub.base_url, "api_key": KEY, "model": "hard-1"}
    values.update(kw)
    return LLMConfig.model_validate(values)


def plan(*ids: str) -> WorkflowPlan:
    nodes = [
        WorkflowNode(
            id=node_id,
            type=WorkflowNodeType.GENERATE,
            description=f"Write {node_id}",
            parameters={"tool": "generate_text"},
        )
        for node_id in ids
    ]
    return WorkflowPlan(id="plan-hard", source_vibe=Vibe(description="hard"), root_nodes=nodes)


# --------------------------------------------------------------------------- 5: deadlines


async def test_a_trickling_server_cannot_hold_a_call_past_its_deadline(stub: OpenAIStub) -> None:
    # Before the fix the timeout was per read: one byte every 0.25 s kept this call alive for
    # the whole body (about a minute) and it succeeded; now the request has a total deadline.
    stub.script("chat", Reply(content="slow " * 40, trickle=0.25, stream=False))
    client = LLMClient(config(stub, timeout=2.0))
    with pytest.raises(TransientError, match="total deadline") as caught:
        await client.chat([{"role": "user", "content": "x"}])
    assert caught.value.host == f"127.0.0.1:{stub.port}"


async def test_a_stream_that_stops_sending_tokens_hits_the_idle_timeout(stub: OpenAIStub) -> None:
    # keep-alive comments arrive, tokens do not: the idle rule counts tokens, not bytes
    stub.script("chat", Reply(content="one two three", stall=3.0))
    client = LLMClient(config(stub, timeout=30.0, idle_timeout=0.5))
    with pytest.raises(TransientError, match=r"no token for 0\.5 s"):
        await client.chat([{"role": "user", "content": "x"}])


# --------------------------------------------------------------------------- 6: usage numbers


async def test_non_finite_and_absurd_usage_numbers_never_crash_a_run(
    stub: OpenAIStub, tmp_path: Path
) -> None:
    # Before the fix, 1e308 + 1e308 = inf in the run's total made the checkpoint write raise
    # CheckpointEncodeError and the run ended with a traceback.
    hostile = {
        "prompt_tokens": 1e308,
        "completion_tokens": float("nan"),
        "total_tokens": float("inf"),
        "reasoning_tokens": -5,
        "cached_tokens": "12",
        "audio_tokens": 7,
    }
    stub.script("chat", Reply(content="a", usage=hostile), Reply(content="b", usage=hostile))
    meta = MetaPlanner(llm_config=config(stub), checkpoint_dir=tmp_path, checkpoint_interval=1)
    result = await meta.execute(plan("a", "b"))
    assert result.status == ExecutionStatus.COMPLETED
    for node_id in ("a", "b"):
        usage = result.node_results[node_id].usage or {}
        assert usage == {"requests": 1.0, "audio_tokens": 7.0}
    assert result.get_summary()["usage"] == {"requests": 2.0, "audio_tokens": 14.0}
    resumed = await meta.execute_with_resume(plan("a", "b"))
    assert resumed.status == ExecutionStatus.COMPLETED and len(stub.chat_requests) == 2


# --------------------------------------------------------------------------- 7, 8: the key


@pytest.mark.parametrize("pad", [461, 480, 499])
async def test_a_key_straddling_the_cut_of_a_non_json_error_body_never_leaks(
    stub: OpenAIStub, pad: int
) -> None:
    # Before the fix the body was cut at 500 bytes before scrubbing: with 461 newlines in
    # front, the first 39 characters of the key survived into the error message.
    body = b"\n" * pad + KEY.encode() + b"\n trailing words"
    stub.script("chat", Reply(status=400, raw=body))
    with pytest.raises(ProviderError) as caught:
        await LLMClient(config(stub)).chat([{"role": "user", "content": "x"}])
    assert "HTTP 400" in str(caught.value)
    assert leaked(str(caught.value)) == []


@pytest.mark.parametrize(
    "template",
    [
        "invalid key {key}",
        "invalid key {key_url}",
        "header was {auth}",
        "token (base64) {key_b64}",
        "basic auth {basic}",
    ],
)
async def test_error_bodies_echoing_the_key_in_any_encoding_are_scrubbed(
    stub: OpenAIStub, template: str
) -> None:
    basic = base64.b64encode(f"user:{KEY}".encode()).decode()
    message = template.format(
        key=KEY,
        key_url=quote(KEY, safe=""),
        auth=f"Bearer {KEY}",
        key_b64=base64.b64encode(KEY.encode()).decode(),
        basic=basic,
    )
    stub.script(
        "chat",
        Reply(status=401, body={"error": {"message": message}}),
        Reply(status=400, raw=message.encode()),
    )
    client = LLMClient(config(stub))
    for _ in range(2):
        with pytest.raises(ProviderError) as caught:
            await client.chat([{"role": "user", "content": "x"}])
        assert leaked(str(caught.value)) == [], str(caught.value)
        assert basic[8:-8] not in str(caught.value)


@pytest.mark.parametrize("stream", [True, False])
async def test_a_provider_echoing_the_authorization_header_gets_no_key_stored(
    stub: OpenAIStub, tmp_path: Path, stream: bool
) -> None:
    # Before the fix the answer text was stored as the provider sent it, key included.
    echo = "I received {auth} (url: {key_url}, b64: {key_b64}) and the key {key}."
    stub.script("chat", Reply(echo=echo, stream=stream))
    meta = MetaPlanner(llm_config=config(stub), checkpoint_dir=tmp_path, checkpoint_interval=1)
    result = await meta.execute(plan("echo"))
    text = result.node_results["echo"].output["text"]
    assert text.startswith("I received Bearer ") and "[REDACTED]" in text
    assert leaked(text) == []
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert leaked(path.read_text(errors="replace")) == [], path


@pytest.mark.parametrize(
    "url",
    [
        "http://admin:Sup3rSecretPassw0rd@127.0.0.1:9/v1",
        "http://127.0.0.1:9/v1?api_key=Sup3rSecretPassw0rd",
        "ftp://admin:Sup3rSecretPassw0rd@127.0.0.1/v1",
    ],
)
def test_credentials_in_the_base_url_are_never_echoed(url: str) -> None:
    # Before the fix the ConfigurationError quoted pydantic's input_value: the whole URL.
    env = {"OPENAI_BASE_URL": url, "OPENAI_API_KEY": KEY}
    with pytest.raises(ConfigurationError) as caught:
        LLMConfig.from_env(env)
    assert "Sup3rSecretPassw0rd" not in str(caught.value) and leaked(str(caught.value)) == []
    with pytest.raises(ValueError) as direct:
        LLMConfig(base_url=url)
    assert "Sup3rSecretPassw0rd" not in str(direct.value)
    assert "Sup3rSecretPassw0rd" in secret_values(None, env)
    assert KEY in secret_values(None, env)


def test_secret_values_lists_the_key_and_its_encoded_forms() -> None:
    values = secret_values(LLMConfig(base_url="http://127.0.0.1:9/v1", api_key=KEY), env={})  # type: ignore[arg-type]
    assert KEY in values and quote(KEY, safe="") in values
    assert base64.b64encode(KEY.encode()).decode() in values


# --------------------------------------------------------------------------- 12: Retry-After


class Sleeps:
    def __init__(self) -> None:
        self.calls: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.mark.parametrize("header", ["1e9", "inf", "Infinity", "99999999999999999999999"])
async def test_an_absurd_retry_after_is_capped_and_names_the_host(
    stub: OpenAIStub, header: str
) -> None:
    # Before the fix the cap was 600 s a wait (x3 attempts: 30 silent minutes).
    stub.script("chat", Reply(status=429, headers={"Retry-After": header}), Reply(content="ok"))
    sleeps = Sleeps()
    executor = WorkflowExecutor(tools=default_registry(LLMClient(config(stub))), sleep=sleeps)
    result = await executor.execute(plan("a"))
    assert result.status == ExecutionStatus.COMPLETED
    assert sleeps.calls == [120.0]
    with pytest.raises(TransientError) as caught:
        stub.script("chat", Reply(status=429, headers={"Retry-After": header}))
        await LLMClient(config(stub)).chat([{"role": "user", "content": "x"}])
    delay = RetryPolicy().delay_for(1, caught.value, random.Random(0))
    assert retry_notice(caught.value, delay) == (
        f"rate limited by 127.0.0.1:{stub.port}, retrying in 120 s"
    )


def test_a_nan_retry_after_falls_back_to_backoff_and_the_cap_is_configurable() -> None:
    error = TransientError("429", retry_after=float("nan"), status_code=429)
    delay = RetryPolicy(base_delay=1.0).delay_for(1, error, random.Random(0))
    assert 0.0 <= delay <= 1.0
    huge = TransientError("429", retry_after=1e9, status_code=429)
    assert RetryPolicy(max_retry_after=5).delay_for(1, huge, random.Random(0)) == 5.0
    with pytest.raises(ConfigurationError):
        RetryPolicy(max_retry_after=float("inf"))
