"""Retry policy: exponential backoff with full jitter, honouring Retry-After.

Transient: :class:`~vibe_aigc.errors.TransientError`, timeouts, connection errors, and any
error carrying an HTTP status of 408, 429 or 5xx (``status_code`` or ``response.status_code``,
as httpx and openai errors do). Everything else is permanent and fails at once.
"""

from __future__ import annotations

import math
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
    ``max_retry_after``: a server asking for a day, or for infinity, gets 2 minutes; a
    ``Retry-After`` that is not a number of seconds, such as NaN, is ignored).
    """

    max_attempts: int = 3
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 120.0

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise ConfigurationError("retry max_attempts must be a whole number >= 1")
        if self.max_attempts < 1:
            raise ConfigurationError("retry max_attempts must be >= 1")
        for name in ("base_delay", "max_delay", "max_retry_after"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ConfigurationError(f"retry {name} must be a number of seconds")
            if not 0 <= value < math.inf:
                raise ConfigurationError("retry delays must be >= 0 and finite")

    def with_overrides(self, overrides: Mapping[str, Any] | None) -> RetryPolicy:
        """A copy with per-node overrides from ``parameters["retry"]``."""
        if not overrides:
            return self
        if not isinstance(overrides, Mapping):
            raise ConfigurationError("parameters['retry'] must be a mapping of retry settings")
        allowed = {"max_attempts", "base_delay", "max_delay", "max_retry_after"}
        unknown = set(overrides) - allowed
        if unknown:
            raise ConfigurationError(f"unknown retry setting(s): {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for key, value in overrides.items():
            numeric = isinstance(value, int | float) and not isinstance(value, bool)
            if (
                not numeric
                or not math.isfinite(value)
                or (key == "max_attempts" and value != int(value))
            ):
                shown = repr(value)[:40]
                raise ConfigurationError(f"retry setting {key!r} must be a number, got {shown}")
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


def retry_notice(error: BaseException, delay: float) -> str:
    """The line to show while waiting to retry, naming the host when the error knows it:
    "rate limited by api.example.com:443, retrying in 42 s"."""
    host = getattr(error, "host", None)
    code = status_code_of(error)
    wait = f"{delay:.0f} s" if delay >= 10 else f"{delay:.1f} s"
    if isinstance(host, str) and host:
        if code == 429:
            return f"rate limited by {host}, retrying in {wait}"
        if code is not None:
            return f"HTTP {code} from {host}, retrying in {wait}"
        return f"{host} did not answer in time or refused the connection, retrying in {wait}"
    return f"retrying in {wait}"


def _seconds(value: float) -> float | None:
    """Seconds to wait: NaN means nothing (None), negative means now, infinity stays."""
    if math.isnan(value):
        return None
    return max(value, 0.0)


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
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _seconds(float(value))
    text = str(value).strip()[:100]
    try:
        return _seconds(float(text))
    except (ValueError, OverflowError):
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - utc_now()).total_seconds())
