"""Per-endpoint rate limits: a requests-per-minute token bucket plus a concurrency bound.

One :class:`RateLimiter` guards one endpoint (one base URL); every call to it goes through
``async with limiter:``, which first takes a concurrency slot, then waits for a token. Tokens
refill continuously at ``requests_per_minute / 60`` per second up to ``burst`` (default 1, so
requests are spaced evenly; providers count per minute and punish bursts with 429s).

The limiter may be used from several event loops one after another (a CLI that calls
``asyncio.run`` twice): its asyncio primitives are created per loop. The token bucket itself is
shared, so the rate holds across loops too. Clock and sleep are injectable for tests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from types import TracebackType

from vibe_aigc.errors import ConfigurationError

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class RateLimiter:
    """``async with limiter:`` around every request to one endpoint (see the module docstring)."""

    def __init__(
        self,
        requests_per_minute: float | None = None,
        max_concurrent: int | None = None,
        *,
        burst: float = 1.0,
        clock: Clock = time.monotonic,
        sleep: Sleep | None = None,
    ) -> None:
        if requests_per_minute is not None and requests_per_minute <= 0:
            raise ConfigurationError("requests_per_minute must be > 0 (or None for no limit)")
        if max_concurrent is not None and max_concurrent < 1:
            raise ConfigurationError("max_concurrent_requests must be >= 1 (or None)")
        if burst < 1:
            raise ConfigurationError("burst must be >= 1")
        self.requests_per_minute = requests_per_minute
        self.max_concurrent = max_concurrent
        self.burst = float(burst)
        self._clock = clock
        self._sleep: Sleep = sleep or asyncio.sleep
        self._tokens = self.burst
        self._last = clock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._slots: asyncio.Semaphore | None = None
        self._bucket_lock: asyncio.Lock | None = None
        self.waited = 0.0  # total seconds spent waiting for tokens (for tests and reports)

    def _primitives(self) -> tuple[asyncio.Semaphore | None, asyncio.Lock]:
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._bucket_lock is None:
            self._loop = loop
            self._bucket_lock = asyncio.Lock()
            self._slots = asyncio.Semaphore(self.max_concurrent) if self.max_concurrent else None
        return self._slots, self._bucket_lock

    async def _take_token(self, lock: asyncio.Lock) -> None:
        rpm = self.requests_per_minute
        if rpm is None:
            return
        rate = rpm / 60.0
        async with lock:  # callers queue in order; one computes its wait at a time
            while True:
                now = self._clock()
                self._tokens = min(self.burst, self._tokens + (now - self._last) * rate)
                self._last = now
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                wait = (1.0 - self._tokens) / rate
                self.waited += wait
                await self._sleep(wait)

    async def acquire(self) -> None:
        slots, lock = self._primitives()
        if slots is not None:
            await slots.acquire()
        try:
            await self._take_token(lock)
        except BaseException:
            if slots is not None:
                slots.release()
            raise

    def release(self) -> None:
        if self._slots is not None:
            self._slots.release()

    async def __aenter__(self) -> RateLimiter:
        await self.acquire()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()
