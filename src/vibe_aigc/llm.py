"""One client for any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp, LM Studio).

Configuration is an :class:`LLMConfig`, given explicitly or read by :meth:`LLMConfig.from_env`
from ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` / ``VIBE_LLM_MODEL`` / ``VIBE_IMAGE_MODEL`` or
``OLLAMA_HOST``. Over :class:`Endpoint` (plain HTTP with httpx):

* **The key goes to one host.** ``Authorization`` is attached only to requests whose scheme,
  host and port equal the configured ``base_url`` (checked on every request); redirects are
  never followed. Image URLs returned by a provider are fetched without credentials.
* **Secrets stay secret.** ``api_key`` is a ``SecretStr``, excluded from ``model_dump`` and
  masked in ``repr``; error messages are scrubbed of the key.
* **Errors are classified.** 408/429/5xx, timeouts and connection errors raise
  :class:`~vibe_aigc.errors.TransientError` (with ``retry_after`` from ``Retry-After``), so the
  executor's retry policy retries them; other 4xx raise :class:`ProviderError` (permanent).
* **Limits.** Every request goes through the endpoint's :class:`~vibe_aigc.ratelimit.RateLimiter`
  and reads at most ``max_response_bytes`` of the answer.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from vibe_aigc.errors import ConfigurationError, NodeExecutionError, TransientError
from vibe_aigc.executor.retry import retry_after_of
from vibe_aigc.ratelimit import RateLimiter

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_OLLAMA_MODEL = "llama3.1"
ENV_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "VIBE_LLM_MODEL",
    "VIBE_IMAGE_MODEL",
    "OLLAMA_HOST",
)


class ProviderError(NodeExecutionError):
    """An endpoint refused a request for good (4xx other than 408/429, a bad answer)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


class LLMConfig(BaseModel):
    """How to reach a model. ``api_key`` is never logged, dumped or written to a checkpoint."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    base_url: str = OPENAI_BASE_URL
    api_key: SecretStr | None = Field(default=None, exclude=True, repr=False)
    model: str = DEFAULT_OPENAI_MODEL
    temperature: float = 0.7
    timeout: float = 60.0
    max_tokens: int | None = None
    requests_per_minute: float | None = None
    max_concurrent_requests: int | None = 4
    prompt_price_per_1k: float | None = None
    completion_price_per_1k: float | None = None
    image_model: str | None = None
    image_size: str = "1024x1024"
    image_response_format: str | None = "b64_json"
    max_response_bytes: int = 1_000_000
    max_image_bytes: int = 50_000_000

    @field_validator("base_url")
    @classmethod
    def _check_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL with a host, got {value!r}")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError("base_url must not carry credentials, a query or a fragment")
        return value.strip().rstrip("/")

    @field_validator("timeout")
    @classmethod
    def _check_timeout(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("timeout must be > 0 seconds")
        return value

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> LLMConfig | None:
        """The configuration in the environment, or None when no model is configured.

        ``OPENAI_API_KEY`` (with ``OPENAI_BASE_URL``, default the OpenAI API) wins over
        ``OLLAMA_HOST`` (``host:port`` or a URL; no key; model default ``llama3.1``).
        ``OPENAI_BASE_URL`` alone (a local server without a key) also counts.
        """
        env = dict(os.environ if env is None else env)
        key = env.get("OPENAI_API_KEY", "").strip()
        base = env.get("OPENAI_BASE_URL", "").strip()
        model = env.get("VIBE_LLM_MODEL", "").strip()
        image_model = env.get("VIBE_IMAGE_MODEL", "").strip() or None
        ollama = env.get("OLLAMA_HOST", "").strip()
        try:
            if key or base:
                return cls(
                    base_url=base or OPENAI_BASE_URL,
                    api_key=SecretStr(key) if key else None,
                    model=model or DEFAULT_OPENAI_MODEL,
                    image_model=image_model,
                )
            if ollama:
                host = ollama if "://" in ollama else f"http://{ollama}"
                host = host.rstrip("/")
                if not host.endswith("/v1"):
                    host += "/v1"
                return cls(base_url=host, model=model or DEFAULT_OLLAMA_MODEL)
        except ValueError as exc:
            raise ConfigurationError(
                f"the LLM settings in the environment are invalid: {exc}"
            ) from None
        return None

    @property
    def origin(self) -> tuple[str, str, int]:
        return origin_of(self.base_url)

    def describe(self) -> str:
        """A one-line description without the key, for messages and logs."""
        return f"model {self.model!r} at {self.base_url}"

    def cost(self, prompt_tokens: float, completion_tokens: float) -> float | None:
        if self.prompt_price_per_1k is None and self.completion_price_per_1k is None:
            return None
        return round(
            prompt_tokens / 1000 * (self.prompt_price_per_1k or 0.0)
            + completion_tokens / 1000 * (self.completion_price_per_1k or 0.0),
            8,
        )


def _is_loopback(host: str) -> bool:
    return host in ("localhost", "::1", "[::1]") or host.startswith("127.")


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


@dataclass
class Response:
    status_code: int
    headers: httpx.Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


class Endpoint:
    """HTTP to one origin: credentials only there, no redirects, limits, classified errors."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        api_key: SecretStr | None = None,
        limiter: RateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.origin = origin_of(self.base_url)
        self.timeout = timeout
        self._key = api_key
        self.limiter = limiter or RateLimiter()
        self._transport = transport

    def scrub(self, text: str) -> str:
        secret = self._key.get_secret_value() if self._key else ""
        return text.replace(secret, "[REDACTED]") if secret else text

    def _client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=False,
            # proxy / CA settings from the environment apply to remote hosts, never to a
            # server on this machine (a local model needs no proxy)
            trust_env=not _is_loopback(self.origin[1]),
            transport=self._transport,
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        max_bytes: int = 1_000_000,
    ) -> Response:
        if not path.startswith("/") or "://" in path or path.startswith("//"):
            raise ProviderError(f"refusing request path {path!r}: must be relative to the base")
        url = self.base_url + path
        headers = {"Accept": "application/json"}
        if self._key is not None and origin_of(url) == self.origin:
            headers["Authorization"] = f"Bearer {self._key.get_secret_value()}"
        what = f"{method} {self.base_url}{path.split('?')[0]}"
        async with self.limiter:
            response = await fetch(
                self._client(), method, url, headers, body, params, max_bytes, what, self.scrub
            )
        return response


async def fetch(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str],
    body: Any,
    params: dict[str, str] | None,
    max_bytes: int,
    what: str,
    scrub: Any = str,
) -> Response:
    """One request with a size cap; classifies failures (see the module docstring)."""
    try:
        async with (
            client,
            client.stream(method, url, headers=headers, json=body, params=params) as reply,
        ):
            chunks: list[bytes] = []
            size = 0
            async for chunk in reply.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ProviderError(
                        f"{what}: the answer is larger than {max_bytes} bytes; refusing it"
                    )
                chunks.append(chunk)
            response = Response(reply.status_code, reply.headers, b"".join(chunks))
    except httpx.TimeoutException as exc:
        raise TransientError(f"{what}: timed out ({type(exc).__name__})") from None
    except httpx.TransportError as exc:
        raise TransientError(f"{what}: connection failed ({scrub(str(exc)) or exc!r})") from None
    status = response.status_code
    if 300 <= status < 400:
        target = response.headers.get("location", "?")
        raise ProviderError(
            f"{what}: the endpoint redirected ({status}) to {target}; redirects are not "
            "followed so credentials never leave the configured host. Fix base_url.",
            status_code=status,
        )
    if status == 408 or status == 429 or status >= 500:
        retry_after = retry_after_of(_StatusError(response))
        raise TransientError(
            f"{what}: HTTP {status} {_detail(response, scrub)}".rstrip(),
            retry_after=retry_after,
            status_code=status,
        )
    if status >= 400:
        hint = " (check the API key)" if status in (401, 403) else ""
        raise ProviderError(
            f"{what}: HTTP {status}{hint} {_detail(response, scrub)}".rstrip(), status_code=status
        )
    return response


class _StatusError(Exception):
    """Carries a response so the retry policy's ``Retry-After`` parser can read it."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _detail(response: Response, scrub: Any) -> str:
    text = response.body[:500].decode("utf-8", "replace")
    try:
        data = json.loads(response.body)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            text = str(error.get("message") or error)
        elif error:
            text = str(error)
    except ValueError:
        pass
    text = " ".join(str(scrub(text)).split())[:300]
    return f"- {text}" if text else ""


@dataclass
class ChatResult:
    """One chat completion: the text, why it stopped, and the usage numbers."""

    text: str
    finish_reason: str | None
    model: str
    usage: dict[str, float] = field(default_factory=dict)


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
            api_key=config.api_key,
            limiter=self.limiter,
            transport=transport,
        )
        self._transport = transport

    def __repr__(self) -> str:
        return f"LLMClient({self.config.describe()})"

    async def chat(
        self,
        messages: list[dict[str, str]],
        *,
        json_mode: bool = False,
        temperature: float | None = None,
        max_tokens: int | None = None,
    ) -> ChatResult:
        cfg = self.config
        body: dict[str, Any] = {
            "model": cfg.model,
            "messages": messages,
            "temperature": cfg.temperature if temperature is None else temperature,
        }
        if max_tokens or cfg.max_tokens:
            body["max_tokens"] = max_tokens or cfg.max_tokens
        if json_mode:
            body["response_format"] = {"type": "json_object"}
        reply = await self.endpoint.request(
            "POST", "/chat/completions", body=body, max_bytes=cfg.max_response_bytes
        )
        data = _json_of(reply, "chat completion")
        try:
            choice = data["choices"][0]
            content = choice["message"].get("content") or ""
            if not isinstance(content, str):
                raise TypeError("content is not text")
        except (KeyError, IndexError, TypeError, AttributeError) as exc:
            raise ProviderError(f"the chat completion has an unexpected shape ({exc})") from None
        return ChatResult(
            text=content,
            finish_reason=choice.get("finish_reason"),
            model=str(data.get("model") or cfg.model),
            usage=self.usage_of(data.get("usage")),
        )

    def usage_of(self, raw: Any) -> dict[str, float]:
        """Token counts (and cost when priced) from an answer's ``usage``; requests counted."""
        usage: dict[str, float] = {"requests": 1.0}
        if isinstance(raw, dict):
            names = {"input_tokens": "prompt_tokens", "output_tokens": "completion_tokens"}
            for key, value in raw.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    usage[names.get(str(key), str(key))] = float(value)
        if "total_tokens" not in usage and (
            "prompt_tokens" in usage or "completion_tokens" in usage
        ):
            usage["total_tokens"] = usage.get("prompt_tokens", 0.0) + usage.get(
                "completion_tokens", 0.0
            )
        cost = self.config.cost(
            usage.get("prompt_tokens", 0.0), usage.get("completion_tokens", 0.0)
        )
        if cost is not None:
            usage["cost"] = cost
        return usage

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
        usage = self.usage_of(data.get("usage"))
        usage["images"] = float(len(images))
        return images, usage

    async def download(self, url: str) -> bytes:
        """Fetch a provider-hosted file. No credentials are sent, whatever the host."""
        scheme = urlsplit(url).scheme.lower()
        if scheme not in ("http", "https"):
            raise ProviderError(f"refusing to download an image from a {scheme!r} URL")
        client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.config.timeout),
            follow_redirects=False,
            trust_env=not _is_loopback(origin_of(url)[1]),
            transport=self._transport,
        )
        what = f"GET {url.split('?')[0]}"
        reply = await fetch(client, "GET", url, {}, None, None, self.config.max_image_bytes, what)
        return reply.body


def _json_of(reply: Response, what: str) -> Any:
    try:
        return reply.json()
    except ValueError:
        raise ProviderError(f"the {what} answer is not JSON") from None
