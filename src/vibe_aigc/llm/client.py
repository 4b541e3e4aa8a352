"""LLMClient: chat completions (streamed, schema-constrained when asked) and image generations."""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from vibe_aigc.errors import TransientError
from vibe_aigc.llm.config import LLMConfig, origin_of
from vibe_aigc.llm.scrub import Scrubber
from vibe_aigc.llm.stream import ChatStream, ProgressFn
from vibe_aigc.llm.transport import Endpoint, ProviderError, Response, fetch, host_of, http_client
from vibe_aigc.llm.usage import usage_of
from vibe_aigc.ratelimit import RateLimiter

if TYPE_CHECKING:  # imported where a request is made: httpx (and what it imports) costs
    import httpx  # 16 MB and 40 ms at startup, for a run that never calls a model

# what "auto" tries, in order; an explicit mode still falls back to plain JSON, then nothing
_AUTO = ("json_schema", "json_object", "json", "none")
_REJECTS_FORMAT = re.compile(r"response_format|json_schema|schema|format|grammar", re.I)


def _refuses_format(error: ProviderError | TransientError) -> bool:
    """A 400/422 naming the format, or a 500 naming ``response_format`` (llama-cpp-python
    answers an unknown ``type`` with a 500 wrapping its validation error)."""
    text = str(error)
    if error.status_code in (400, 422):
        return bool(_REJECTS_FORMAT.search(text))
    return error.status_code == 500 and "response_format" in text


@dataclass
class ChatResult:
    """One chat completion: the text, why it stopped, and the usage numbers."""

    text: str
    finish_reason: str | None
    model: str
    usage: dict[str, float] = field(default_factory=dict)
    structured: str | None = None  # the response_format mode used, when a schema was asked


def response_format(mode: str, schema: dict[str, Any] | None, name: str) -> dict[str, Any] | None:
    """The ``response_format`` body for ``mode`` (see :class:`LLMConfig`)."""
    if mode == "json_schema" and schema is not None:
        return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}
    if mode == "json_object" and schema is not None:
        return {"type": "json_object", "schema": schema}  # llama.cpp's server
    if mode in ("json", "json_schema", "json_object"):
        return {"type": "json_object"}
    return None


def estimated_usage(messages: list[dict[str, str]], tokens: int) -> dict[str, float]:
    """Usage for a stream that reported none (llama-cpp-python ignores ``include_usage``):
    the completion tokens counted (one per content event), the prompt estimated from its
    length (about 4 characters a token), and ``usage_estimated`` = 1 request."""
    chars = sum(len(str(m.get("content", ""))) for m in messages)
    return {"prompt_tokens": chars // 4 + 1, "completion_tokens": tokens, "usage_estimated": 1}


class LLMClient:
    """Chat completions and image generations against one configured endpoint."""

    def __init__(
        self,
        config: LLMConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.config = config
        self.limiter = limiter or RateLimiter(
            config.requests_per_minute, config.max_concurrent_requests
        )
        self.endpoint = Endpoint(
            config.base_url,
            timeout=config.timeout,
            idle_timeout=config.idle_timeout,
            api_key=config.api_key,
            limiter=self.limiter,
            transport=transport,
        )
        self.scrubber: Scrubber = self.endpoint.scrubber
        self._transport = transport
        self.structured_mode: str | None = None  # the mode the server accepted, once known

    def __repr__(self) -> str:
        return f"LLMClient({self.config.describe()})"

    def _modes(self, json_mode: bool, schema: dict[str, Any] | None) -> list[str]:
        if schema is None:
            return ["json" if json_mode else "none"]
        if self.structured_mode is not None:
            return [self.structured_mode]
        wanted = self.config.structured_output
        first: list[str] = list(_AUTO) if wanted == "auto" else [str(wanted)]
        return first + [m for m in ("json", "none") if m not in first]

    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        json_mode: bool = False,
        schema: dict[str, Any] | None = None,
        schema_name: str = "answer",
        temperature: float | None = None,
        max_tokens: int | None = None,
        on_progress: ProgressFn | None = None,
    ) -> ChatResult:
        """One chat completion. ``schema`` (a JSON schema) asks for structured output, falling
        back mode by mode when the server refuses one (a 400/422 naming the format)."""
        modes = self._modes(json_mode, schema)
        for index, mode in enumerate(modes):
            try:
                result = await self._chat_once(
                    messages,
                    response_format(mode, schema, schema_name),
                    temperature,
                    max_tokens,
                    on_progress,
                )
            except (ProviderError, TransientError) as exc:
                if _refuses_format(exc) and index + 1 < len(modes):
                    continue
                raise
            if schema is not None:
                self.structured_mode = mode
                result.structured = mode
            return result
        raise AssertionError("unreachable: the last mode raises or returns")

    async def _chat_once(
        self,
        messages: list[dict[str, str]],
        fmt: dict[str, Any] | None,
        temperature: float | None,
        max_tokens: int | None,
        on_progress: ProgressFn | None,
    ) -> ChatResult:
        cfg = self.config
        body: dict[str, Any] = {
            "model": cfg.model,
            "messages": messages,
            "temperature": cfg.temperature if temperature is None else temperature,
        }
        if max_tokens or cfg.max_tokens:
            body["max_tokens"] = max_tokens or cfg.max_tokens
        if fmt is not None:
            body["response_format"] = fmt
        reader = None
        if cfg.stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
            reader = ChatStream(
                what=self.endpoint.scrub(f"POST {cfg.base_url}/chat/completions"),
                host=host_of(cfg.base_url),
                max_bytes=cfg.max_response_bytes,
                idle=cfg.idle_timeout or cfg.timeout,
                on_progress=on_progress,
                scrub=self.endpoint.scrub,
            )
        reply = await self.endpoint.request(
            "POST", "/chat/completions", body=body, max_bytes=cfg.max_response_bytes, reader=reader
        )
        data = reply.streamed if reply.streamed is not None else _json_of(reply, "chat completion")
        try:
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
            if not isinstance(content, str):
                raise TypeError("content is not text")
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ProviderError(f"the chat completion has an unexpected shape ({exc})") from None
        model = data.get("model") if isinstance(data.get("model"), str) else None
        finish = choice.get("finish_reason")
        raw_usage = data.get("usage")
        if reply.streamed is not None and not (isinstance(raw_usage, dict) and raw_usage):
            raw_usage = estimated_usage(messages, int(reply.streamed.get("tokens", 0)))
        return ChatResult(
            text=self.scrubber.scrub(content),
            finish_reason=str(finish) if finish is not None else None,
            model=self.scrubber.scrub(str(model or cfg.model))[:200],
            usage=usage_of(raw_usage, cfg.price(model)),
        )

    def usage_of(self, raw: Any) -> dict[str, float]:
        """Token counts (and ``cost_usd`` when priced) from an answer's ``usage``."""
        return usage_of(raw, self.config.price())

    async def generate_images(
        self, prompt: str, *, size: str | None = None, n: int = 1
    ) -> tuple[list[bytes], dict[str, float]]:
        """PNG/JPEG/WebP bytes of ``n`` images for ``prompt``, and the usage numbers."""
        cfg = self.config
        if not cfg.image_model:
            raise ProviderError("no image model is configured (set image_model / VIBE_IMAGE_MODEL)")
        body: dict[str, Any] = {
            "model": cfg.image_model,
            "prompt": prompt,
            "n": n,
            "size": size or cfg.image_size,
        }
        if cfg.image_response_format:
            body["response_format"] = cfg.image_response_format
        reply = await self.endpoint.request(
            "POST", "/images/generations", body=body, max_bytes=cfg.max_image_bytes * n
        )
        data = _json_of(reply, "image generation")
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list) or not items:
            raise ProviderError("the image answer has no 'data' list")
        images: list[bytes] = []
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("b64_json"), str):
                try:
                    images.append(base64.b64decode(item["b64_json"], validate=True))
                except (binascii.Error, ValueError):
                    raise ProviderError("the image answer holds invalid base64") from None
            elif isinstance(item, dict) and isinstance(item.get("url"), str):
                images.append(await self.download(item["url"]))
            else:
                raise ProviderError("an image in the answer has neither b64_json nor url")
        usage = usage_of(data.get("usage"))
        usage["images"] = float(len(images))
        price = cfg.image_price()
        if price is not None:
            usage["cost_usd"] = round(len(images) * price.image, 10)
        return images, usage

    async def download(self, url: str) -> bytes:
        """Fetch a provider-hosted file. No credentials are sent, whatever the host."""
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise ProviderError(f"refusing to download an image from a {scheme!r} URL")
        cfg = self.config
        client = http_client(cfg.timeout, cfg.idle_timeout, origin_of(url)[1], self._transport)
        what = f"GET {url.split('?')[0]}"
        reply = await fetch(
            client,
            "GET",
            url,
            {},
            None,
            None,
            cfg.max_image_bytes,
            what,
            self.endpoint.scrub,
            deadline=cfg.timeout,
        )
        return reply.body


def _json_of(reply: Response, what: str) -> Any:
    try:
        data = json.loads(reply.body)
    except (ValueError, RecursionError):
        raise ProviderError(f"the {what} answer is not JSON") from None
    if not isinstance(data, dict):
        raise ProviderError(f"the {what} answer is not a JSON object")
    return data
