"""HTTP to one origin (:class:`Endpoint`): credentials only there, no redirects, size caps,
a total deadline and an idle timeout per request, scrubbed and classified errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr

from vibe_aigc.errors import NodeExecutionError, TransientError
from vibe_aigc.llm.config import is_loopback, origin_of
from vibe_aigc.llm.scrub import Scrubber
from vibe_aigc.ratelimit import RateLimiter
from vibe_aigc.retry import retry_after_of

if TYPE_CHECKING:  # imported where a request is made: httpx (and what it imports) costs
    import httpx  # 16 MB and 40 ms at startup, for a run that never calls a model

StreamReader = Callable[["httpx.Response"], Awaitable[Any]]
DETAIL_CHARS = 300


class ProviderError(NodeExecutionError):
    """An endpoint refused a request for good (4xx other than 408/429, a bad answer)."""

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        self.status_code = status_code
        super().__init__(message)


@dataclass
class Response:
    status_code: int
    headers: httpx.Headers
    body: bytes
    streamed: Any = None  # what the stream reader returned, for an event-stream answer

    def json(self) -> Any:
        return json.loads(self.body)


def host_of(url: str) -> str:
    _, host, port = origin_of(url)
    return f"{host}:{port}"


def http_client(
    timeout: float, idle: float | None, host: str, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    import httpx

    wait = min(timeout, idle or timeout)
    return httpx.AsyncClient(
        timeout=httpx.Timeout(wait),  # connect / each read / each write / the pool: idle
        follow_redirects=False,
        # proxy / CA settings from the environment apply to remote hosts, never to a
        # server on this machine (a local model needs no proxy)
        trust_env=not is_loopback(host),
        transport=transport,
    )


class Endpoint:
    """HTTP to one origin: credentials only there, no redirects, limits, classified errors."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float,
        idle_timeout: float | None = None,
        api_key: SecretStr | None = None,
        limiter: RateLimiter | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        secrets: Iterable[str] = (),
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.origin = origin_of(self.base_url)
        self.timeout = timeout
        self.idle_timeout = idle_timeout
        self._key = api_key
        self.scrubber = Scrubber([*(secrets), *([api_key.get_secret_value()] if api_key else [])])
        self.limiter = limiter or RateLimiter()
        self._transport = transport

    def scrub(self, text: str) -> str:
        """A message without the key (any encoding) and without URL credentials."""
        return self.scrubber(text)

    def _client(self) -> httpx.AsyncClient:
        return http_client(self.timeout, self.idle_timeout, self.origin[1], self._transport)

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        max_bytes: int = 1_000_000,
        reader: StreamReader | None = None,
    ) -> Response:
        if not path.startswith("/") or "://" in path or path.startswith("//"):
            raise ProviderError(f"refusing request path {path!r}: must be relative to the base")
        url = self.base_url + path
        accept = "text/event-stream, application/json" if reader else "application/json"
        headers = {"Accept": accept}
        if self._key is not None and origin_of(url) == self.origin:
            headers["Authorization"] = f"Bearer {self._key.get_secret_value()}"
        what = f"{method} {self.base_url}{path.split('?')[0]}"
        async with self.limiter:
            response = await fetch(
                self._client(),
                method,
                url,
                headers,
                body,
                params,
                max_bytes,
                what,
                self.scrub,
                deadline=self.timeout,
                reader=reader,
            )
        return response


def is_event_stream(reply: httpx.Response) -> bool:
    kind = str(reply.headers.get("content-type", ""))
    return kind.split(";")[0].strip() == "text/event-stream"


async def fetch(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str],
    body: Any,
    params: dict[str, str] | None,
    max_bytes: int,
    what: str,
    scrub: Callable[[str], str] | None = None,
    *,
    deadline: float | None = None,
    reader: StreamReader | None = None,
) -> Response:
    """One request with a size cap and a total deadline; classifies failures."""
    clean: Callable[[str], str] = scrub or Scrubber()
    what = clean(what)
    host = host_of(url)
    try:
        async with asyncio.timeout(deadline):
            response = await _exchange(
                client, method, url, headers, body, params, max_bytes, what, clean, host, reader
            )
    except TimeoutError:
        raise TransientError(
            f"{what}: timed out: no complete answer within {deadline:g} s (the request's "
            "total deadline)",
            host=host,
        ) from None
    status = response.status_code
    if 300 <= status < 400:
        target = clean(response.headers.get("location", "?"))[:DETAIL_CHARS]
        raise ProviderError(
            f"{what}: the endpoint redirected ({status}) to {target}; redirects are not "
            "followed so credentials never leave the configured host. Fix base_url.",
            status_code=status,
        )
    if status == 408 or status == 429 or status >= 500:
        retry_after = retry_after_of(_StatusError(response))
        raise TransientError(
            f"{what}: HTTP {status} {_detail(response, clean)}".rstrip(),
            retry_after=retry_after,
            status_code=status,
            host=host,
        )
    if status >= 400:
        hint = " (check the API key)" if status in (401, 403) else ""
        raise ProviderError(
            f"{what}: HTTP {status}{hint} {_detail(response, clean)}".rstrip(), status_code=status
        )
    return response


async def _exchange(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    headers: dict[str, str],
    body: Any,
    params: dict[str, str] | None,
    max_bytes: int,
    what: str,
    clean: Callable[[str], str],
    host: str,
    reader: StreamReader | None,
) -> Response:
    import httpx  # imported by http_client() already: a lookup

    try:
        async with (
            client,
            client.stream(method, url, headers=headers, json=body, params=params) as reply,
        ):
            if reader is not None and 200 <= reply.status_code < 300 and is_event_stream(reply):
                return Response(reply.status_code, reply.headers, b"", await reader(reply))
            chunks: list[bytes] = []
            size = 0
            async for chunk in reply.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ProviderError(
                        f"{what}: the answer is larger than {max_bytes} bytes; refusing it"
                    )
                chunks.append(chunk)
            return Response(reply.status_code, reply.headers, b"".join(chunks))
    except httpx.TimeoutException as exc:
        raise TransientError(
            f"{what}: timed out: no data for {client.timeout.read or 0:g} s (idle timeout, "
            f"{type(exc).__name__})",
            host=host,
        ) from None
    except httpx.TransportError as exc:
        detail = clean(str(exc))[:DETAIL_CHARS] or type(exc).__name__
        raise TransientError(f"{what}: connection failed ({detail})", host=host) from None


class _StatusError(Exception):
    """Carries a response so the retry policy's ``Retry-After`` parser can read it."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


def _detail(response: Response, scrub: Callable[[str], str]) -> str:
    """The provider's error message: scrubbed first (whole), then cut."""
    text = response.body.decode("utf-8", "replace")
    try:
        data = json.loads(response.body)
        error = data.get("error") if isinstance(data, dict) else None
        if isinstance(error, dict):
            text = str(error.get("message") or error)
        elif error:
            text = str(error)
    except (ValueError, RecursionError):
        pass
    text = " ".join(scrub(text).split())[:DETAIL_CHARS]
    return f"- {text}" if text else ""
