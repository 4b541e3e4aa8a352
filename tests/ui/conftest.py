"""A real headless chromium (Debian's /usr/bin/chromium, driven by Playwright for Python).

Under ``CI=true`` a browser that cannot start fails the tests; elsewhere they skip with the
reason. Playwright's own browser download is never used (``executable_path``).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import Any

import pytest
from ui_kit import BROWSER_ARGS

CHROMIUM = os.environ.get("VIBE_TEST_CHROMIUM", "/usr/bin/chromium")


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the browser tests need chromium and playwright under CI: {reason}")
    pytest.skip(reason)


@pytest.fixture(autouse=True)
def _web_extra() -> None:
    """`vibe-aigc ui` needs the web extra (starlette, uvicorn, markdown-it-py)."""
    missing = [
        name
        for name in ("starlette", "uvicorn", "markdown_it")
        if importlib.util.find_spec(name) is None
    ]
    if missing:
        _unavailable(f"the web extra is not installed (pip install 'vibe-aigc[web]'): {missing}")


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        _unavailable(f"playwright is not installed (pip install 'vibe-aigc[browser]'): {exc}")
    if not os.path.exists(CHROMIUM):
        _unavailable(f"no chromium at {CHROMIUM} (apt-get install -y chromium)")
    manager = sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
    except Exception as exc:
        manager.stop()
        _unavailable(f"chromium did not start: {exc}")
    try:
        yield browser
    finally:
        browser.close()
        manager.stop()


@pytest.fixture
def page(chromium: Any) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1400, "height": 900})
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.errors = errors
    try:
        yield tab
    finally:
        context.close()
