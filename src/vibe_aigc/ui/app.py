"""The web app: a Starlette application over :class:`~vibe_aigc.ui.backend.UIBackend`.

One static page (``static/index.html`` + ``app.js`` + ``dag.js`` + ``style.css``, served
from the package by name: no directory listing, no file path from a request) talks to a JSON
API. Live pages use Server-Sent Events: the server tails the store (``read_entries`` after the
last seq it sent, four times a second, server-side) and pushes each finished node as a
:class:`~vibe_aigc.executor.ProgressEvent` dict, so a run started by another process shows
live without the browser polling. Every request passes :class:`~vibe_aigc.ui.security.Guard`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from typing import Any

import anyio.to_thread
from starlette.applications import Starlette
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import (
    FileResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vibe_aigc.errors import CheckpointError, CheckpointLockedError, CheckpointNotFoundError
from vibe_aigc.executor import EventKind, ProgressEvent
from vibe_aigc.ui import derive
from vibe_aigc.ui.actions import ActionRefused, Actions, cancel
from vibe_aigc.ui.backend import NotFound, UIBackend
from vibe_aigc.ui.security import HEADERS, SESSION_COOKIE, TOKEN_COOKIE, Guard

TAIL_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0
STATIC = {
    "app.js": "text/javascript; charset=utf-8",
    "dag.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
INLINE_MEDIA = ("image/png", "image/jpeg", "image/gif", "image/webp")
_KINDS = {
    "completed": EventKind.NODE_COMPLETED,
    "failed": EventKind.NODE_FAILED,
    "skipped": EventKind.NODE_SKIPPED,
}


def _static(name: str) -> bytes:
    return (resources.files("vibe_aigc.ui") / "static" / name).read_bytes()


class Guarded:
    """ASGI middleware: the Guard's verdict on every request, the security headers on every
    answer."""

    def __init__(self, app: ASGIApp, guard: Guard) -> None:
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in HEADERS.items():
                    if key not in headers:
                        headers[key] = value
            await send(message)

        request = Request(scope)
        path = request.url.path
        needs_token = path.startswith(("/api/", "/artifacts/"))
        verdict = self.guard.check(
            request.method,
            {k.lower(): v for k, v in request.headers.items()},
            request.cookies,
            needs_token=needs_token,
        )
        if not verdict.ok:
            refusal = JSONResponse({"error": verdict.reason}, status_code=verdict.status)
            await refusal(scope, receive, with_headers)
            return
        await self.app(scope, receive, with_headers)


def create_app(backend: UIBackend, actions: Actions, guard: Guard) -> ASGIApp:
    """The ASGI app serving ``backend``'s store (see the module docstring)."""
    index = _static("index.html")
    assets = {name: _static(name) for name in STATIC}

    async def call(func: Callable[..., Any], *args: Any) -> Any:
        return await anyio.to_thread.run_sync(lambda: func(*args))

    def api(handler: Callable[[Request], Awaitable[Any]]) -> Callable[[Request], Awaitable[Any]]:
        async def wrapped(request: Request) -> Response:
            try:
                outcome = await handler(request)
            except (NotFound, CheckpointNotFoundError) as exc:
                return JSONResponse({"error": str(exc) or "not found"}, status_code=404)
            except ActionRefused as exc:
                return JSONResponse({"error": str(exc)}, status_code=exc.status)
            except CheckpointLockedError as exc:
                return JSONResponse({"error": str(exc)}, status_code=409)
            except CheckpointError as exc:
                return JSONResponse({"error": str(exc)}, status_code=500)
            return outcome if isinstance(outcome, Response) else JSONResponse(outcome)

        return wrapped

    async def page(request: Request) -> Response:
        token = request.query_params.get("token")
        if token is not None:  # the link printed at start: keep the token in a cookie
            if not guard.token_ok({"x-vibe-token": token}, {}):
                return JSONResponse({"error": "wrong access token"}, status_code=401)
            answer = RedirectResponse("/", status_code=303)
            answer.set_cookie(TOKEN_COOKIE, token, httponly=True, samesite="strict")
            return answer
        return Response(index, media_type="text/html; charset=utf-8")

    async def static(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in assets:
            return Response("not found", status_code=404, media_type="text/plain")
        return Response(assets[name], media_type=STATIC[name])

    async def session(request: Request) -> Response:
        sid = request.cookies.get(SESSION_COOKIE) or secrets.token_urlsafe(24)
        answer = JSONResponse(
            {"csrf": guard.csrf_for(sid), "store": backend.url, "token": guard.token is not None}
        )
        answer.set_cookie(SESSION_COOKIE, sid, httponly=True, samesite="strict")
        return answer

    async def runs(request: Request) -> Any:
        q = request.query_params
        found = await call(backend.runs, q.get("state", ""), q.get("plan", ""), q.get("q", ""))
        return {"runs": found, "store": backend.url}

    async def plan(request: Request) -> Any:
        cp = request.query_params.get("checkpoint") or None
        return await call(backend.plan_view, request.path_params["plan_id"], cp)

    async def node(request: Request) -> Any:
        p = request.path_params
        cp = request.query_params.get("checkpoint") or None
        return await call(backend.node_view, p["plan_id"], p["node_id"], cp)

    async def checkpoints(request: Request) -> Any:
        return await call(backend.checkpoints, request.path_params["plan_id"])

    async def diff(request: Request) -> Any:
        q = request.query_params
        a, b = q.get("a", ""), q.get("b", "")
        return await call(backend.diff, request.path_params["plan_id"], a, b)

    async def artifact(request: Request) -> Response:
        p = request.path_params
        try:
            data, media = await call(backend.artifact, p["plan_id"], p["sha256"])
        except (NotFound, CheckpointError):
            return Response("not found", status_code=404, media_type="text/plain")
        headers = {"content-security-policy": "default-src 'none'; sandbox"}
        if media not in INLINE_MEDIA:
            media = "application/octet-stream"
            headers["content-disposition"] = "attachment"
        return Response(data, media_type=media, headers=headers)

    async def events(request: Request) -> Response:
        plan_id = backend.plan_id(request.path_params["plan_id"])
        view = await call(backend.plan_view, plan_id)
        return StreamingResponse(
            _stream(request, backend, view),
            media_type="text/event-stream",
            headers={"x-accel-buffering": "no"},
        )

    async def body(request: Request) -> dict[str, Any]:
        try:
            data = json.loads(await request.body() or b"{}")
        except ValueError:
            raise ActionRefused("the request body is not JSON") from None
        if not isinstance(data, dict):
            raise ActionRefused("the request body must be a JSON object")
        return data

    async def resume(request: Request) -> Any:
        plan_id = backend.plan_id(request.path_params["plan_id"])
        retry = bool((await body(request)).get("retry_failed"))
        return actions.resume(plan_id, retry_failed=retry).view()

    async def fork(request: Request) -> Any:
        data = await body(request)
        backend.plan_id(request.path_params["plan_id"])
        cp = backend.checkpoint_id(str(data.get("checkpoint_id", "")))
        nodes, sets = data.get("from") or [], data.get("set") or []
        if not isinstance(nodes, list) or not isinstance(sets, list):
            raise ActionRefused("'from' and 'set' are lists")
        return actions.fork(cp, nodes, sets).view()

    async def stop(request: Request) -> Any:
        holder = await call(backend.holder, request.path_params["plan_id"])
        return {"message": cancel(holder)}

    async def delete(request: Request) -> Any:
        p = request.path_params
        if not await call(backend.delete_checkpoint, p["plan_id"], p["checkpoint_id"]):
            raise NotFound(f"no checkpoint {p['checkpoint_id']!r}")
        return {"message": f"deleted checkpoint {p['checkpoint_id']}"}

    async def export(request: Request) -> Any:
        return actions.export(backend.plan_id(request.path_params["plan_id"])).view()

    def the_job(request: Request) -> Any:
        try:
            job = actions.job(int(request.path_params["job_id"]))
        except ValueError:
            job = None
        if job is None:
            raise NotFound("no such job")
        return job

    async def job(request: Request) -> Any:
        return the_job(request).view()

    async def download(request: Request) -> Response:
        found = the_job(request)
        view = found.view()
        if found.download is None or not view["download"]:
            raise NotFound("nothing to download")
        return FileResponse(
            found.download, media_type="application/gzip", filename=found.download.name
        )

    routes = [
        Route("/", page),
        Route("/static/{name}", static),
        Route("/api/session", api(session)),
        Route("/api/runs", api(runs)),
        Route("/api/plans/{plan_id}", api(plan)),
        Route("/api/plans/{plan_id}/nodes/{node_id}", api(node)),
        Route("/api/plans/{plan_id}/checkpoints", api(checkpoints)),
        Route("/api/plans/{plan_id}/diff", api(diff)),
        Route("/api/plans/{plan_id}/events", api(events)),
        Route("/api/plans/{plan_id}/resume", api(resume), methods=["POST"]),
        Route("/api/plans/{plan_id}/fork", api(fork), methods=["POST"]),
        Route("/api/plans/{plan_id}/cancel", api(stop), methods=["POST"]),
        Route("/api/plans/{plan_id}/export", api(export), methods=["POST"]),
        Route(
            "/api/plans/{plan_id}/checkpoints/{checkpoint_id}/delete",
            api(delete),
            methods=["POST"],
        ),
        Route("/api/jobs/{job_id}", api(job)),
        Route("/api/jobs/{job_id}/download", api(download)),
        Route("/artifacts/{plan_id}/{sha256}", artifact),
    ]

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            actions.close()

    app = Starlette(routes=routes, lifespan=lifespan)
    return Guarded(app, guard)


def _sse(event: str, data: Any) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode()


async def _stream(
    request: Request, backend: UIBackend, view: dict[str, Any]
) -> AsyncIterator[bytes]:
    """Tail the plan's journal and newest checkpoint; one SSE event per finished node."""
    plan_id = view["plan_id"]
    last_seq = int(view["last_seq"])
    newest = view["checkpoint_id"]
    total = int(view["totals"]["total"])
    finished = {n["id"] for n in view["nodes"] if n["state"] in derive.FINISHED}
    counts = dict(view["totals"]["counts"])
    yield _sse("hello", {"plan_id": plan_id, "last_seq": last_seq, "checkpoint_id": newest})
    quiet = 0.0
    while not await request.is_disconnected():
        try:
            entries, latest = await anyio.to_thread.run_sync(backend.tail, plan_id, last_seq)
        except (CheckpointError, NotFound) as exc:
            yield _sse("problem", {"error": str(exc)})
            entries, latest = [], newest
        for entry in entries:
            last_seq = max(last_seq, int(entry.get("seq", last_seq)))
            result = entry.get("result")
            node_id = entry.get("node_id")
            if entry.get("kind") == "memo" or not isinstance(result, dict):
                continue
            state = str(result.get("status", "completed"))
            if not isinstance(node_id, str) or state not in _KINDS:
                continue
            if node_id not in finished:
                finished.add(node_id)
                counts[state] = counts.get(state, 0) + 1
            event = ProgressEvent(
                kind=_KINDS[state],
                plan_id=plan_id,
                done=len(finished),
                total=total,
                counts=counts,
                run_id=entry.get("run_id"),
                node_id=node_id,
                attempt=result.get("attempts") if isinstance(result.get("attempts"), int) else None,
                error=result.get("error") if isinstance(result.get("error"), str) else None,
            )
            node = {
                "id": node_id,
                "state": state,
                "attempts": result.get("attempts", 0),
                "duration": result.get("duration"),
                "cost_usd": derive.cost_of(result),
                "started_at": result.get("started_at"),
                "completed_at": result.get("completed_at"),
            }
            yield _sse("node", {"event": event.to_dict(), "node": node, "seq": last_seq})
            quiet = 0.0
        if latest is not None and latest != newest:
            newest = latest
            yield _sse("checkpoint", {"checkpoint_id": latest})
            quiet = 0.0
        if quiet >= HEARTBEAT_SECONDS:
            yield b": keep-alive\n\n"
            quiet = 0.0
        await asyncio.sleep(TAIL_SECONDS)
        quiet += TAIL_SECONDS
