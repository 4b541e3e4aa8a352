"""The stub servers (see the package docstring). Standard library only; loopback only."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import struct
import threading
import time
import uuid
import zlib
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

HERMETIC_ENV = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OLLAMA_HOST",
    "VIBE_LLM_MODEL",
    "VIBE_IMAGE_MODEL",
    "VIBE_PRICES",
    "VIBE_PLANNER",
    "VIBE_LLM_MAX_TOKENS",
    "VIBE_STORE_URL",
    "VIBE_NODE_TIMEOUT",
    "COMFYUI_URL",
)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def tiny_png(seed: object, size: int = 8) -> bytes:
    """A valid ``size`` x ``size`` RGB PNG whose colour is derived from ``seed``."""
    r, g, b = hashlib.sha256(str(seed).encode()).digest()[:3]
    row = b"\x00" + bytes((r, g, b)) * size
    raw = row * size

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON, or None


@dataclass
class Answer:
    """An HTTP answer. With ``pieces`` ((delay, bytes) pairs) the body is written piece by
    piece after each delay; without a known length (``length=False``) the connection closes
    at the end (how an event stream ends)."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    content_type: str = "application/json"
    pieces: list[tuple[float, bytes]] | None = None
    length: bool = True


def json_answer(data: Any, status: int = 200, **kw: Any) -> Answer:
    return Answer(status=status, body=json.dumps(data).encode(), **kw)


class StubServer:
    """A threaded HTTP server on loopback; subclasses implement :meth:`handle`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        if host not in LOOPBACK:
            raise ValueError("stub servers listen on loopback only")
        self.lock = threading.Lock()
        self.requests: list[RecordedRequest] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                return

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    body = None
                request = RecordedRequest(
                    method, self.path, {k.lower(): v for k, v in self.headers.items()}, body
                )
                with stub.lock:
                    stub.requests.append(request)
                answer = stub.handle(request)
                if answer.delay:
                    time.sleep(answer.delay)
                pieces = answer.pieces if answer.pieces is not None else [(0.0, answer.body)]
                try:
                    self.send_response(answer.status)
                    if not any(k.lower() == "content-type" for k in answer.headers):
                        self.send_header("Content-Type", answer.content_type)
                    if answer.length:
                        size = sum(len(piece) for _, piece in pieces)
                        self.send_header("Content-Length", str(size))
                    else:
                        self.send_header("Connection", "close")
                        self.close_connection = True
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.end_headers()
                    for wait, piece in pieces:
                        if wait:
                            time.sleep(wait)
                        self.wfile.write(piece)
                        self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout test)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            block_on_close = False

            def handle_error(self, request: Any, client_address: Any) -> None:
                return  # a client that hung up is not a test failure

        self.server = Server((host, port), Handler)
        self.thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return self.origin

    def handle(self, request: RecordedRequest) -> Answer:
        raise NotImplementedError

    def start(self) -> StubServer:
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests_to(self, path_prefix: str) -> list[RecordedRequest]:
        with self.lock:
            return [r for r in self.requests if r.path.startswith(path_prefix)]


# --------------------------------------------------------------------------- OpenAI-compatible


@dataclass
class Reply:
    """One scripted answer. ``content`` becomes the chat message; ``body`` replaces the whole
    JSON answer; ``raw`` replaces the bytes; ``redirect_to`` answers 307 to that URL.

    Streaming: a chat request asking ``stream: true`` gets server-sent events (``stream=None``;
    ``False`` answers one JSON body anyway, ``True`` streams always): the content in ``chunks``
    (default: word by word), ``chunk_delay`` seconds apart, then a usage event when asked
    (``stream_options.include_usage``) and ``[DONE]``. ``stall`` seconds of keep-alive comments
    and no token follow the first chunk. ``trickle`` sends the whole answer one byte at a time,
    that many seconds apart. ``echo`` is a template for the content with the request's
    credentials: ``{auth}`` (the Authorization header), ``{key}``, ``{key_b64}``, ``{key_url}``.
    """

    content: str | None = None
    status: int = 200
    body: Any = None
    raw: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    usage: dict[str, Any] | None = None
    finish_reason: str = "stop"
    redirect_to: str | None = None
    stream: bool | None = None
    chunks: list[str] | None = None
    chunk_delay: float = 0.0
    stall: float = 0.0
    trickle: float = 0.0
    echo: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Reply:
        return cls(**data)


DEFAULT_USAGE = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}


class OpenAIStub(StubServer):
    """``/v1/chat/completions`` and ``/v1/images/generations`` with scripted answers.

    ``script("chat", Reply(...), ...)`` queues answers; with the queue empty, chat answers
    ``default_content`` (or ``"Stub answer: <start of the last user message>"``) and images
    answer one deterministic PNG per requested image (``b64_json``).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, default_content: str | None = None):
        super().__init__(host, port)
        self.default_content = default_content
        self.scripts: dict[str, deque[Reply]] = {"chat": deque(), "images": deque()}

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def script(self, endpoint: str, *replies: Reply) -> None:
        with self.lock:
            self.scripts[endpoint].extend(replies)

    def _next(self, endpoint: str) -> Reply | None:
        with self.lock:
            queue = self.scripts[endpoint]
            return queue.popleft() if queue else None

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return self.requests_to("/v1/chat/completions")

    def handle(self, request: RecordedRequest) -> Answer:
        path = urlsplit(request.path).path
        if request.method == "POST" and path == "/v1/chat/completions":
            return self._chat(request)
        if request.method == "POST" and path == "/v1/images/generations":
            return self._images(request)
        if request.method == "GET" and path.startswith("/files/"):
            return Answer(body=tiny_png(path), content_type="image/png")
        if request.method == "GET" and path == "/v1/models":
            return json_answer({"object": "list", "data": [{"id": "stub-model"}]})
        return json_answer({"error": {"message": f"no route {path}"}}, 404)

    @staticmethod
    def _special(reply: Reply) -> Answer | None:
        if reply.redirect_to:
            return Answer(status=307, headers={"Location": reply.redirect_to}, delay=reply.delay)
        if reply.raw is not None:
            return Answer(reply.status, reply.raw, dict(reply.headers), reply.delay)
        if reply.body is not None or reply.status != 200:
            body = reply.body if reply.body is not None else {"error": {"message": "scripted"}}
            return json_answer(body, reply.status, headers=dict(reply.headers), delay=reply.delay)
        return None

    def _chat(self, request: RecordedRequest) -> Answer:
        reply = self._next("chat") or Reply()
        special = self._special(reply)
        if special is not None:
            return _trickled(special, reply.trickle)
        content = reply.content
        if content is None:
            content = self.default_content
        if content is None:
            messages = (request.body or {}).get("messages") or [{}]
            last = str(messages[-1].get("content", "")).strip().splitlines() or [""]
            content = f"Stub answer: {last[0][:80]}"
        if reply.echo is not None:
            content = _echo(reply.echo, request)
        body = request.body if isinstance(request.body, dict) else {}
        wants_stream = bool(body.get("stream")) if reply.stream is None else reply.stream
        if wants_stream:
            return _event_stream(reply, content, body)
        model = (request.body or {}).get("model", "stub-model")
        data = {
            "id": "chatcmpl-stub",
            "object": "chat.completion",
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": content},
                    "finish_reason": reply.finish_reason,
                }
            ],
            "usage": reply.usage if reply.usage is not None else dict(DEFAULT_USAGE),
        }
        return _trickled(
            json_answer(data, headers=dict(reply.headers), delay=reply.delay), reply.trickle
        )

    def _images(self, request: RecordedRequest) -> Answer:
        reply = self._next("images") or Reply()
        special = self._special(reply)
        if special is not None:
            return special
        body = request.body or {}
        n = int(body.get("n") or 1)
        png = tiny_png(body.get("prompt", ""))
        data = [{"b64_json": base64.b64encode(png).decode()} for _ in range(n)]
        usage = reply.usage or {"input_tokens": 5, "output_tokens": 100, "total_tokens": 105}
        return json_answer({"created": 0, "data": data, "usage": usage}, delay=reply.delay)


def _trickled(answer: Answer, seconds: float) -> Answer:
    if seconds > 0:
        answer.pieces = [(seconds, answer.body[i : i + 1]) for i in range(len(answer.body))]
    return answer


def _echo(template: str, request: RecordedRequest) -> str:
    auth = request.headers.get("authorization", "")
    key = auth.removeprefix("Bearer ")
    return template.format(
        auth=auth,
        key=key,
        key_b64=base64.b64encode(key.encode()).decode(),
        key_url=quote(key, safe=""),
    )


def _event_stream(reply: Reply, content: str, body: dict[str, Any]) -> Answer:
    model = body.get("model", "stub-model")
    chunks = reply.chunks if reply.chunks is not None else re.findall(r"\S+\s*|\s+", content)

    def event(data: dict[str, Any]) -> bytes:
        return b"data: " + json.dumps(data).encode() + b"\n\n"

    def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return event({"object": "chat.completion.chunk", "model": model, "choices": [choice]})

    pieces: list[tuple[float, bytes]] = [(reply.delay, chunk({"role": "assistant"}))]
    for i, text in enumerate(chunks):
        pieces.append((reply.chunk_delay if i else 0.0, chunk({"content": text})))
        if i == 0 and reply.stall > 0:
            beats = max(1, int(reply.stall / 0.2))
            pieces += [(reply.stall / beats, b": keep-alive\n\n") for _ in range(beats)]
    pieces.append((0.0, chunk({}, reply.finish_reason)))
    options = body.get("stream_options") or {}
    usage = reply.usage if reply.usage is not None else dict(DEFAULT_USAGE)
    if isinstance(options, dict) and options.get("include_usage") and usage:  # {}: none sent
        pieces.append((0.0, event({"object": "chat.completion.chunk", "model": model,
                                   "choices": [], "usage": usage})))  # fmt: skip
    pieces.append((0.0, b"data: [DONE]\n\n"))
    if reply.trickle > 0:
        whole = b"".join(piece for _, piece in pieces)
        pieces = [(reply.trickle, whole[i : i + 1]) for i in range(len(whole))]
    return Answer(
        body=b"",
        headers=dict(reply.headers),
        content_type="text/event-stream",
        pieces=pieces,
        length=False,
    )


# --------------------------------------------------------------------------- ComfyUI-like


@dataclass
class Job:
    prompt_id: str
    number: int
    workflow: Any
    submitted: float
    fails: bool

    @property
    def filename(self) -> str:
        return f"vibe_{self.prompt_id[:8]}_00001_.png"

    def image(self) -> bytes:
        return tiny_png(json.dumps(self.workflow, sort_keys=True))


class ComfyUIStub(StubServer):
    """A ComfyUI-like job server. Jobs finish ``job_seconds`` after submission; the first
    ``fail_jobs`` submissions end in an execution error. ``GET /stats`` counts submissions."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, job_seconds: float = 0.2, fail_jobs: int = 0
    ) -> None:
        super().__init__(host, port)
        self.job_seconds = job_seconds
        self.fail_jobs = fail_jobs
        self.jobs: dict[str, Job] = {}

    @property
    def submissions(self) -> int:
        with self.lock:
            return len(self.jobs)

    def _done(self, job: Job) -> bool:
        return time.monotonic() - job.submitted >= self.job_seconds

    def handle(self, request: RecordedRequest) -> Answer:
        parts = urlsplit(request.path)
        path = parts.path
        if request.method == "POST" and path == "/prompt":
            workflow = (
                (request.body or {}).get("prompt") if isinstance(request.body, dict) else None
            )
            if not isinstance(workflow, dict) or not workflow:
                return json_answer({"error": {"message": "invalid prompt"}, "node_errors": {}}, 400)
            with self.lock:
                number = len(self.jobs)
                job = Job(
                    uuid.uuid4().hex, number, workflow, time.monotonic(), number < self.fail_jobs
                )
                self.jobs[job.prompt_id] = job
            return json_answer({"prompt_id": job.prompt_id, "number": number, "node_errors": {}})
        if request.method == "GET" and path.startswith("/history/"):
            job_or_none = self.jobs.get(path.rsplit("/", 1)[-1])
            if job_or_none is None or not self._done(job_or_none):
                return json_answer({})
            return json_answer({job_or_none.prompt_id: self._history(job_or_none)})
        if request.method == "GET" and path == "/queue":
            with self.lock:
                running = [[j.number, j.prompt_id, {}, {}, []] for j in self.jobs.values()
                           if not self._done(j)]  # fmt: skip
            return json_answer({"queue_running": running, "queue_pending": []})
        if request.method == "GET" and path == "/view":
            name = parse_qs(parts.query).get("filename", [""])[0]
            with self.lock:
                found = [j for j in self.jobs.values() if j.filename == name and not j.fails]
            if not found:
                return json_answer({"error": "not found"}, 404)
            return Answer(body=found[0].image(), content_type="image/png")
        if request.method == "GET" and path == "/stats":
            return json_answer({"submissions": self.submissions})
        return json_answer({"error": f"no route {path}"}, 404)

    @staticmethod
    def _history(job: Job) -> dict[str, Any]:
        if job.fails:
            message = ["execution_error", {"exception_message": "stub: the sampler failed"}]
            return {
                "prompt": [job.number, job.prompt_id, job.workflow, {}, []],
                "outputs": {},
                "status": {"status_str": "error", "completed": False, "messages": [message]},
            }
        image = {"filename": job.filename, "subfolder": "", "type": "output"}
        return {
            "prompt": [job.number, job.prompt_id, job.workflow, {}, []],
            "outputs": {"9": {"images": [image]}},
            "status": {"status_str": "success", "completed": True, "messages": []},
        }
