"""Ray is an optional extra: without it, asking for the Ray backend says how to install it.

The interpreter runs with ``ray`` made unimportable (``sys.modules["ray"] = None``, what Python
does for a package that is not there), then runs the real command."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from vibe_aigc import ConfigurationError, MetaPlanner

BLOCK_RAY = "import sys; sys.modules['ray'] = None; from vibe_aigc.cli import main; "


def test_backend_ray_without_ray_says_how_to_install_it(tmp_path: Path) -> None:
    argv = ["execute", "a haiku about rain", "--backend", "ray", "--checkpoint-dir", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_RAY + f"sys.exit(main({argv!r}))"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0
    assert "pip install 'vibe-aigc[ray]'" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())  # nothing ran, nothing was written


def test_an_unknown_backend_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="backend must be one of local, ray"):
        MetaPlanner(llm_config=False, backend="spark")
