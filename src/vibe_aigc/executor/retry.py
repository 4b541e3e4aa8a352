"""Retry policy: exponential backoff with full jitter, honouring Retry-After.

Transient: :class:`~vibe_aigc.errors.TransientError`, timeouts, connection errors, and any
error carrying an HTTP status of 408, 429 or 5xx (``status_code`` or ``response.status_code``,
as httpx and openai errors do). Everything else is permanent and fails at once.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from email.utils import parsedate_to_datetime
from typing import Any

from vibe_aigc.errors import ConfigurationError, TransientError
from vibe_aigc.results import utc_now

_TRANSIENT_CLASS_NAMES = {
    "TimeoutException",
    "ConnectError",
    "ConnectTimeout",
    "ReadTimeout",
    "WriteTimeout",
    "PoolTimeout",
    "NetworkError",
    "ReadError",
    "WriteError",
    "RemoteProtocolError",
    "APIConnectionError",
    "APITimeoutError",
    "RateLimitError",
    "InternalServerError",
}


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a node is retried.

    Delay before attempt ``k+1`` is uniform in ``[0, min(max_delay, base_delay * 2**(k-1))]``
    (full jitter), or the error's ``Retry-After`` when it has one (capped at
    ``max_retry_after``).
    """

    max_attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 600.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ConfigurationError("retry max_attempts must be >= 1")
        if self.base_delay < 0 or self.max_delay < 0 or self.max_retry_after < 0:
            raise ConfigurationError("retry delays must be >= 0")

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> RetryPolicy:
        """A copy with per-node overrides from ``parameters["retry"]``."""
        if not overrides:
            return self
        allowed = {"max_attempts", "base_delay", "max_delay", "max_retry_after"}
        unknown = set(overrides) - allowed
        if unknown:
            raise ConfigurationError(f"unknown retry setting(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for key, value in overrides.items():
            values[key] = int(value) if key == "max_attempts" else float(value)
        return replace(self, **values)

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter delay after failed attempt number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return rng.uniform(0.0, ceiling)

    def delay_for(self, attempt: int, error: BaseException, rng: random.Random) -> float:
        retry_after = retry_after_of(error)
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return self.backoff(attempt, rng)


def status_code_of(error: BaseException) -> int | None:
    code = getattr(error, "status_code", None)
    if code is None:
        response = getattr(error, "response", None)
        code = getattr(response, "status_code", None)
    return code if isinstance(code, int) else None


def is_transient(error: BaseException) -> bool:
    if isinstance(error, TransientError | TimeoutError | ConnectionError):
        return True
    code = status_code_of(error)
    if code is not None:
        return code in (408, 429) or 500 <= code <= 599
    return any(cls.__name__ in _TRANSIENT_CLASS_NAMES for cls in type(error).__mro__)


def retry_after_of(error: BaseException) -> float | None:
    """Seconds from ``error.retry_after`` or a ``Retry-After`` response header."""
    value: Any = getattr(error, "retry_after", None)
    if value is None:
        response = getattr(error, "response", None)
        headers = getattr(response, "headers", None)
        if headers is not None:
            try:
                value = headers.get("retry-after") or headers.get("Retry-After")
            except Exception:
                value = None
    if value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - utc_now()).total_seconds())
