"""One client for any OpenAI-compatible endpoint (OpenAI, Ollama, vLLM, llama.cpp, LM Studio).

Configuration is an :class:`LLMConfig`, given explicitly or read by :meth:`LLMConfig.from_env`
from ``OPENAI_API_KEY`` / ``OPENAI_BASE_URL`` / ``VIBE_LLM_MODEL`` / ``VIBE_IMAGE_MODEL`` /
``VIBE_PRICES`` or ``OLLAMA_HOST``. Over :class:`Endpoint` (plain HTTP with httpx):

* **The key goes to one host.** ``Authorization`` is attached only to requests whose scheme,
  host and port equal the configured ``base_url`` (checked on every request); redirects are
  never followed. Image URLs returned by a provider are fetched without credentials.
  :func:`plain_http_warning` says when the key would cross the network unencrypted.
* **Secrets stay secret.** ``api_key`` is a ``SecretStr``, excluded from ``model_dump`` and
  masked in ``repr``; every message the client produces is scrubbed of the key (also URL- and
  base64-encoded, also in part) and of URL credentials, *before* it is cut to length; model
  answers are scrubbed of the key too. :func:`secret_values` lists what to redact by value.
* **Errors are classified.** 408/429/5xx, timeouts and connection errors raise
  :class:`~vibe_aigc.errors.TransientError` (with ``retry_after`` from ``Retry-After`` and the
  ``host``), so the executor's retry policy retries them; other 4xx raise
  :class:`ProviderError` (permanent).
* **Limits.** Every request goes through the endpoint's :class:`~vibe_aigc.ratelimit.RateLimiter`,
  reads at most ``max_response_bytes``, ends at ``timeout`` seconds (total) and fails after
  ``idle_timeout`` seconds without data or, streamed, without a token.
* **Usage.** Only plausible counts are kept (:mod:`.usage`); with a price, ``cost_usd``.
* **Streaming and structured output.** See :class:`LLMClient.chat` and :mod:`.stream`.
"""

from vibe_aigc.llm.client import ChatResult, LLMClient, response_format
from vibe_aigc.llm.config import (
    DEFAULT_OLLAMA_MODEL,
    DEFAULT_OPENAI_MODEL,
    ENV_VARS,
    OPENAI_BASE_URL,
    LLMConfig,
    StructuredOutput,
    is_loopback,
    origin_of,
    plain_http_warning,
    secret_values,
    url_secrets,
)
from vibe_aigc.llm.scrub import Scrubber, redact_urls
from vibe_aigc.llm.stream import ProgressFn, TokenProgress
from vibe_aigc.llm.transport import Endpoint, ProviderError, Response, fetch
from vibe_aigc.llm.usage import usage_of

__all__ = [
    "DEFAULT_OLLAMA_MODEL",
    "DEFAULT_OPENAI_MODEL",
    "ENV_VARS",
    "OPENAI_BASE_URL",
    "ChatResult",
    "Endpoint",
    "LLMClient",
    "LLMConfig",
    "ProgressFn",
    "ProviderError",
    "Response",
    "Scrubber",
    "StructuredOutput",
    "TokenProgress",
    "fetch",
    "is_loopback",
    "origin_of",
    "plain_http_warning",
    "redact_urls",
    "response_format",
    "secret_values",
    "url_secrets",
    "usage_of",
]
