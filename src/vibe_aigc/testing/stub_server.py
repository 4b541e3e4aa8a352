"""Run a stub server as its own process (for crash tests that kill the client, not the server).

Usage::

    python -m vibe_aigc.testing.stub_server openai [--port 0] [--script FILE]
    python -m vibe_aigc.testing.stub_server comfyui [--port 0] [--job-seconds S] [--fail-jobs N]

Prints ``READY <base_url>`` on stdout once listening; stops on SIGTERM / SIGINT. ``--script``
is a JSON file ``{"chat": [reply, ...], "images": [reply, ...]}`` of :class:`Reply` fields.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

from vibe_aigc.testing.servers import LOOPBACK, ComfyUIStub, OpenAIStub, Reply, StubServer


@contextlib.contextmanager
def stub_process(kind: str, *args: str) -> Iterator[str]:
    """Run ``python -m vibe_aigc.testing.stub_server KIND ARGS...`` and yield its base URL.

    The server is terminated (and reaped) when the block ends, whatever happened inside.
    """
    server = subprocess.Popen(
        [sys.executable, "-m", "vibe_aigc.testing.stub_server", kind, *args],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        ready = server.stdout.readline().split()
        if len(ready) != 2 or ready[0] != "READY":
            raise RuntimeError(f"the {kind} stub did not start: {ready!r}")
        yield ready[1]
    finally:
        server.terminate()
        server.communicate(timeout=10)


def build(args: argparse.Namespace) -> StubServer:
    if args.kind == "comfyui":
        return ComfyUIStub(args.host, args.port, args.job_seconds, args.fail_jobs)
    stub = OpenAIStub(args.host, args.port)
    if args.script:
        with open(args.script, encoding="utf-8") as handle:
            script: dict[str, list[dict[str, Any]]] = json.load(handle)
        for endpoint, replies in script.items():
            stub.script(endpoint, *(Reply.from_dict(r) for r in replies))
    return stub


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m vibe_aigc.testing.stub_server")
    parser.add_argument("kind", choices=["openai", "comfyui"])
    parser.add_argument("--host", default="127.0.0.1", choices=list(LOOPBACK))
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--job-seconds", type=float, default=0.2)
    parser.add_argument("--fail-jobs", type=int, default=0)
    parser.add_argument("--script")
    args = parser.parse_args(argv)
    stub = build(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    stub.start()
    print(f"READY {stub.base_url}", flush=True)
    try:
        stop.wait()
    finally:
        stub.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
