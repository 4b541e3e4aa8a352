"""How to reach a model: :class:`LLMConfig`, read from the environment or given explicitly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Literal
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from vibe_aigc.errors import ConfigurationError
from vibe_aigc.llm.scrub import Scrubber, redact_urls
from vibe_aigc.pricing import Price, parse_prices, price_for, prices_from_env

OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"
DEFAULT_OLLAMA_MODEL = "llama3.1"
ENV_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "VIBE_LLM_MODEL",
    "VIBE_IMAGE_MODEL",
    "OLLAMA_HOST",
    "VIBE_PRICES",
)
URL_ENV_VARS = ("OPENAI_BASE_URL", "OLLAMA_HOST", "COMFYUI_URL")
StructuredOutput = Literal["auto", "json_schema", "json_object", "json", "none"]


def is_loopback(host: str) -> bool:
    return host in ("localhost", "::1", "[::1]") or host.startswith("127.")


def origin_of(url: str) -> tuple[str, str, int]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, (parts.hostname or "").lower(), port


class LLMConfig(BaseModel):
    """How to reach a model. ``api_key`` is never logged, dumped or written to a checkpoint.

    Timeouts: ``timeout`` is the total deadline of one request (connect, send, the whole
    answer), ``idle_timeout`` the longest wait for the next byte or token (``None``: the
    ``timeout``). ``stream`` asks for server-sent events (token by token; a server that answers
    in one piece is fine too). ``structured_output`` picks how a plan's JSON schema is sent
    (``auto`` tries OpenAI ``json_schema``, then llama.cpp ``json_object`` + ``schema``, then
    plain JSON mode, then nothing, remembering what the server accepted). ``prices`` is a
    price table (:mod:`vibe_aigc.pricing`); ``prompt/completion_price_per_1k`` still work.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    base_url: str = OPENAI_BASE_URL
    api_key: SecretStr | None = Field(default=None, exclude=True, repr=False)
    model: str = DEFAULT_OPENAI_MODEL
    temperature: float = 0.7
    timeout: float = 300.0
    idle_timeout: float | None = 60.0
    max_tokens: int | None = None
    stream: bool = True
    structured_output: StructuredOutput = "auto"
    requests_per_minute: float | None = None
    max_concurrent_requests: int | None = 4
    prices: dict[str, Price] | None = None
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
            shown = redact_urls(value)[:200]
            raise ValueError(f"base_url must be an http(s) URL with a host, got {shown!r}")
        if parts.username or parts.password or parts.query or parts.fragment:
            raise ValueError(
                "base_url must not carry credentials, a query or a fragment "
                "(put the key in OPENAI_API_KEY / api_key)"
            )
        return value.strip().rstrip("/")

    @field_validator("timeout", "idle_timeout")
    @classmethod
    def _check_timeout(cls, value: float | None) -> float | None:
        if value is not None and not 0 < value < float("inf"):
            raise ValueError("timeouts must be > 0 seconds")
        return value

    @field_validator("prices", mode="before")
    @classmethod
    def _check_prices(cls, value: object) -> object:
        return None if value is None else parse_prices(value, "LLMConfig(prices=...)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> LLMConfig | None:
        """The configuration in the environment, or None when no model is configured.

        ``OPENAI_API_KEY`` (with ``OPENAI_BASE_URL``, default the OpenAI API) wins over
        ``OLLAMA_HOST`` (``host:port`` or a URL; no key; model default ``llama3.1``).
        ``OPENAI_BASE_URL`` alone (a local server without a key) also counts. ``VIBE_PRICES``
        names a price table file; ``VIBE_LLM_MAX_TOKENS`` caps every answer.
        """
        env = dict(os.environ if env is None else env)
        key = env.get("OPENAI_API_KEY", "").strip()
        base = env.get("OPENAI_BASE_URL", "").strip()
        model = env.get("VIBE_LLM_MODEL", "").strip()
        image_model = env.get("VIBE_IMAGE_MODEL", "").strip() or None
        max_tokens = env.get("VIBE_LLM_MAX_TOKENS", "").strip() or None
        ollama = env.get("OLLAMA_HOST", "").strip()
        scrub = Scrubber(secret_values(None, env))
        try:
            prices = prices_from_env(env)
            if key or base:
                return cls(
                    base_url=base or OPENAI_BASE_URL,
                    api_key=SecretStr(key) if key else None,
                    model=model or DEFAULT_OPENAI_MODEL,
                    image_model=image_model,
                    prices=prices,
                    max_tokens=max_tokens,
                )
            if ollama:
                host = ollama if "://" in ollama else f"http://{ollama}"
                host = host.rstrip("/")
                if not host.endswith("/v1"):
                    host += "/v1"
                return cls(
                    base_url=host,
                    model=model or DEFAULT_OLLAMA_MODEL,
                    prices=prices,
                    max_tokens=max_tokens,
                )
        except ValueError as exc:
            raise ConfigurationError(
                f"the LLM settings in the environment are invalid: {scrub(str(exc))}"
            ) from None
        return None

    @property
    def origin(self) -> tuple[str, str, int]:
        return origin_of(self.base_url)

    def describe(self) -> str:
        """A one-line description without the key, for messages and logs."""
        return f"model {self.model!r} at {self.base_url}"

    def price(self, model: str | None = None) -> Price | None:
        """The price of ``model`` (default the configured one), from ``prices`` or per-1k."""
        found = price_for(self.prices, model or self.model) or price_for(self.prices, self.model)
        if found is None and (self.prompt_price_per_1k or self.completion_price_per_1k):
            found = Price(
                input=(self.prompt_price_per_1k or 0.0) * 1000,
                output=(self.completion_price_per_1k or 0.0) * 1000,
            )
        return found

    def image_price(self) -> Price | None:
        return price_for(self.prices, self.image_model) if self.image_model else None


def url_secrets(url: str) -> list[str]:
    """The credentials inside ``url``: userinfo and credential-like query parameter values."""
    try:
        parts = urlsplit(url if "://" in url else f"http://{url}")
        found = [unquote(v) for v in (parts.username, parts.password) if v]
        found += [v for k, v in parse_qsl(parts.query) if redact_urls(f"?{k}=x") != f"?{k}=x"]
    except ValueError:
        return []
    return [v for v in found if v]


def secret_values(config: LLMConfig | None, env: Mapping[str, str] | None = None) -> list[str]:
    """Every secret value to redact wherever it appears: the configured key, the key and URL
    credentials in ``env`` (default ``os.environ``), and their URL-/base64-encoded forms."""
    env = os.environ if env is None else env
    raw: list[str] = []
    if config is not None and config.api_key is not None:
        raw.append(config.api_key.get_secret_value())
    if config is not None:
        raw += url_secrets(config.base_url)
    key = env.get("OPENAI_API_KEY", "").strip()
    if key:
        raw.append(key)
    for name in URL_ENV_VARS:
        raw += url_secrets(env.get(name, "").strip())
    return Scrubber(raw).values()


def plain_http_warning(config: LLMConfig) -> str | None:
    """A warning line when the key would travel over plain http to another machine."""
    scheme, host, port = config.origin
    if config.api_key is None or scheme != "http" or is_loopback(host):
        return None
    return (
        f"warning: the API key would be sent over plain http to {host}:{port}, which is not "
        "this machine; anyone on the network path can read it. Use an https:// base URL."
    )
