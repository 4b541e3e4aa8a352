"""Hermetic tests: no model or ComfyUI settings leak in from the developer's environment.

Without this, ``MetaPlanner()`` in any test (or a CLI subprocess, which inherits
``os.environ``) would pick up ``OPENAI_API_KEY`` / ``OLLAMA_HOST`` and call a real endpoint.
Tests that want a model configure one explicitly against the stub servers in
``vibe_aigc.testing``.
"""

from __future__ import annotations

import pytest

from vibe_aigc.testing import HERMETIC_ENV


@pytest.fixture(autouse=True)
def _no_model_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in HERMETIC_ENV:
        monkeypatch.delenv(name, raising=False)
