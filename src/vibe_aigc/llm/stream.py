"""Reading a streamed chat completion (server-sent events) token by token.

:class:`ChatStream` reads ``data: {...}`` events until ``data: [DONE]``, with a byte cap, an
idle rule (no token for ``idle`` seconds fails the request even while the server sends
keep-alive comments) and progress reports: ``on_progress(TokenProgress)`` after tokens arrive
(at most every ``every`` seconds) and once more with ``done=True``. It returns the answer in the
non-streamed chat completion shape, so the caller parses one shape.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from vibe_aigc.errors import TransientError
from vibe_aigc.llm.transport import DETAIL_CHARS, ProviderError

if TYPE_CHECKING:  # imported where a request is made: httpx (and what it imports) costs
    import httpx  # 16 MB and 40 ms at startup, for a run that never calls a model

log = logging.getLogger("vibe_aigc.llm")


@dataclass(frozen=True)
class TokenProgress:
    """How far one streamed answer is: tokens so far (one per content event), seconds since
    the request started, and whether the answer is complete."""

    tokens: int
    elapsed: float
    done: bool = False

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.elapsed if self.elapsed > 0 else 0.0


ProgressFn = Callable[[TokenProgress], object]


class ChatStream:
    """A stream reader for :meth:`Endpoint.request` (see the module docstring)."""

    def __init__(
        self,
        *,
        what: str,
        host: str,
        max_bytes: int,
        idle: float,
        on_progress: ProgressFn | None = None,
        every: float = 0.2,
        scrub: Callable[[str], str] = str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.what = what
        self.host = host
        self.max_bytes = max_bytes
        self.idle = idle
        self.on_progress = on_progress
        self.every = every
        self.scrub = scrub
        self.clock = clock
        self.tokens = 0
        self.started = clock()
        self._reported = self.started

    def _report(self, done: bool = False) -> None:
        if self.on_progress is None:
            return
        now = self.clock()
        if not done and now - self._reported < self.every:
            return
        self._reported = now
        try:
            self.on_progress(TokenProgress(self.tokens, now - self.started, done))
        except Exception:  # a display bug must not fail a paid-for answer
            log.warning("token progress callback %r failed", self.on_progress, exc_info=True)

    async def __call__(self, reply: httpx.Response) -> dict[str, Any]:
        parts: list[str] = []
        state: dict[str, Any] = {"model": None, "usage": None, "finish_reason": None}
        size = 0
        buffer = b""
        last_token = self.clock()
        done = False
        async for chunk in reply.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise ProviderError(
                    f"{self.what}: the streamed answer is larger than {self.max_bytes} bytes; "
                    "refusing it"
                )
            buffer += chunk
            *lines, buffer = buffer.split(b"\n")
            for line in lines:
                if self._event(line.strip(), parts, state):
                    last_token = self.clock()
                elif line.strip() == b"data: [DONE]" or line.strip() == b"data:[DONE]":
                    done = True
            if done:
                break
            if self.clock() - last_token > self.idle:
                raise TransientError(
                    f"{self.what}: no token for {self.idle:g} s (idle timeout)", host=self.host
                )
        if buffer.strip():
            self._event(buffer.strip(), parts, state)
        if state["finish_reason"] is None:
            # every server we know sends a finish reason before [DONE]; without one the answer
            # was cut short (llama-cpp-python ends a stream when another request arrives)
            how = "without a finish reason" if done else "early"
            raise TransientError(f"{self.what}: the answer stream ended {how}", host=self.host)
        self._report(done=True)
        return {
            "model": state["model"],
            "choices": [
                {
                    "message": {"role": "assistant", "content": "".join(parts)},
                    "finish_reason": state["finish_reason"],
                }
            ],
            "usage": state["usage"],
            "tokens": self.tokens,
        }

    def _event(self, line: bytes, parts: list[str], state: dict[str, Any]) -> bool:
        """Apply one SSE line; True when it carried tokens."""
        if not line.startswith(b"data:"):
            return False  # a comment (": keep-alive"), "event:", "id:" or a blank line
        data = line[5:].strip()
        if data == b"[DONE]" or not data:
            return False
        try:
            event = json.loads(data)
        except (ValueError, RecursionError):
            raise ProviderError(f"{self.what}: a streamed event is not JSON") from None
        if not isinstance(event, dict):
            raise ProviderError(f"{self.what}: a streamed event is not a JSON object")
        error = event.get("error")
        if error:
            message = error.get("message") if isinstance(error, dict) else error
            text = " ".join(self.scrub(str(message)).split())[:DETAIL_CHARS]
            raise ProviderError(f"{self.what}: the stream reported an error - {text}")
        if isinstance(event.get("model"), str):
            state["model"] = event["model"]
        if isinstance(event.get("usage"), dict):
            state["usage"] = event["usage"]
        got = False
        choices = event.get("choices")
        for choice in choices if isinstance(choices, list) else []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta, dict):
                piece = delta.get("content")
                if isinstance(piece, str) and piece:
                    parts.append(piece)
                    got = True
                elif isinstance(delta.get("reasoning_content"), str):
                    got = True  # a reasoning model thinking: alive, but not answer text
            if choice.get("finish_reason"):
                state["finish_reason"] = str(choice["finish_reason"])
        if got:
            self.tokens += 1
            self._report()
        return got
