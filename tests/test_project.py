"""Project hygiene: the public API, the README's commands and CI agree."""

from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import vibe_aigc
import vibe_aigc.persistence

ROOT = Path(__file__).resolve().parents[1]


def isort_order(names: list[str]) -> list[str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then the rest."""

    def key(name: str) -> tuple[int, str]:
        if name.isupper():
            return 0, name
        return (1, name) if name[:1].isupper() else (2, name)

    return sorted(names, key=key)


def test_public_api_is_explicit_and_sorted() -> None:
    names = vibe_aigc.__all__
    assert names == isort_order(names)
    for name in names:
        assert hasattr(vibe_aigc, name), name
    public = {n for n in dir(vibe_aigc) if not n.startswith("_")}
    # every public attribute that is not a submodule is listed
    modules = {n for n in public if type(getattr(vibe_aigc, n)).__name__ == "module"}
    assert public - modules <= set(names)


def test_guide_imports_work() -> None:
    from vibe_aigc import CheckpointCorruptError as a
    from vibe_aigc import MetaPlanner, Vibe, WorkflowNode, WorkflowNodeType, WorkflowPlan  # noqa: F401
    from vibe_aigc.executor import WorkflowExecutor  # noqa: F401
    from vibe_aigc.persistence import CheckpointCorruptError as b
    from vibe_aigc.persistence import WorkflowPersistenceManager  # noqa: F401
    from vibe_aigc.visualization import VisualizationFormat, WorkflowVisualizer  # noqa: F401

    assert a is b
    assert vibe_aigc.persistence.__all__ == isort_order(vibe_aigc.persistence.__all__)


def test_version_has_one_source() -> None:
    assert vibe_aigc.__version__ == version("vibe-aigc")


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block, "README must open with a bash code block"
    assert text.index(block.group(0)) < 200, "the set-up commands must come first"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_opens_with_two_commands_and_ci_runs_the_test_one() -> None:
    commands = readme_commands()
    assert len(commands) == 2
    assert "vibe-aigc execute" in commands[0]
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert commands[1] in ci, "the README's test command must appear verbatim in .ci/run"
