"""The Checkpoints guide's snippets with ``VIBE_STORE_URL`` set to each of the three stores.

``test_checkpoints_guide.py`` runs the guide literally against the default folder. Here the
same snippet functions (imported from it, not copied) run with ``VIBE_STORE_URL`` naming a file
store elsewhere, a SQLite database and a PostgreSQL database: nothing of the guide's API may
depend on the folder.

File-only, and so not run here: the parts that read the folder layout itself —
``test_storage_layout_matches_guide`` (folder and file modes), ``test_custom_storage_location``
and ``test_checkpoint_dir_precedence`` (an explicit folder wins over the URL, by design), and
the file checks inside ``test_automatic_checkpointing_snippet``,
``test_manual_checkpoint_snippet``, ``test_checkpoint_contents_match_guide`` (the key order of
the ``cp-*.json`` file) and the two corruption snippets (they truncate or flip bytes of a
file). For those, the store-independent half runs below against every store: the count of
snapshots, the manual checkpoint's id, the record's keys, and a damaged newest snapshot (a
row edited in place for the databases) falling back to the older one with nothing re-run.
"""

from __future__ import annotations

import inspect
import sqlite3
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

import test_checkpoints_guide as guide
from vibe_aigc import CheckpointCorruptError, ExecutionStatus, MetaPlanner, Vibe
from vibe_aigc.models import derive_plan_id

pytest_plugins = ("pgcluster",)

Snippet = Callable[..., Coroutine[Any, Any, None]]

STORE_INDEPENDENT: list[Snippet] = [
    guide.test_constructing_creates_no_folder,
    guide.test_manual_checkpoint_from_mapping,
    guide.test_list_get_delete_snippets,
    guide.test_resume_from_latest_snippet,
    guide.test_resume_from_specific_checkpoint_snippet,
    guide.test_time_travel_to_an_exact_checkpoint,
]


class Where:
    """The store a test runs against, and how to damage one of its snapshots."""

    def __init__(self, kind: str, url: str, root: Path) -> None:
        self.kind, self.url, self.root = kind, url, root

    def damage(self, plan_id: str, checkpoint_id: str) -> None:
        """Flip one byte in the middle of the stored snapshot (file or row)."""

        def flip(raw: bytes) -> bytes:
            data = bytearray(raw)
            data[len(data) // 2] ^= 0x20
            return bytes(data)

        if self.kind == "file":
            path = self.root / plan_id / f"{checkpoint_id}.json"
            path.write_bytes(flip(path.read_bytes()))
            return
        select = "SELECT data FROM vibe_snapshots WHERE plan_id = ? AND checkpoint_id = ?"
        update = "UPDATE vibe_snapshots SET data = ? WHERE plan_id = ? AND checkpoint_id = ?"
        if self.kind == "sqlite":
            with sqlite3.connect(self.url.removeprefix("sqlite://")) as conn:
                (raw,) = conn.execute(select, (plan_id, checkpoint_id)).fetchone()
                conn.execute(update, (flip(raw), plan_id, checkpoint_id))
            return
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as pg:
            row = pg.execute(select.replace("?", "%s"), (plan_id, checkpoint_id)).fetchone()
            assert row is not None
            pg.execute(update.replace("?", "%s"), (flip(bytes(row[0])), plan_id, checkpoint_id))


@pytest.fixture(params=["file", "sqlite", "postgres"])
def where(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Where:
    if request.param == "file":
        root = tmp_path / "elsewhere"
        found = Where("file", f"file://{root}", root)
    elif request.param == "sqlite":
        found = Where("sqlite", f"sqlite://{tmp_path / 'runs.db'}", tmp_path)
    else:
        found = Where("postgres", request.getfixturevalue("pg_url"), tmp_path)
    monkeypatch.setenv("VIBE_STORE_URL", found.url)
    return found


@pytest.fixture
def workdir(where: Where, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIBE_CHECKPOINT_DIR", raising=False)
    return tmp_path


@pytest.fixture
def vibe() -> Vibe:
    return Vibe(
        description="Write a blog post about durable AI pipelines",
        style="practical",
        constraints=["under 800 words"],
    )


@pytest.mark.parametrize("snippet", STORE_INDEPENDENT, ids=lambda f: f.__name__[5:])
async def test_snippet_on_every_store(
    snippet: Snippet, where: Where, workdir: Path, vibe: Vibe, capsys: pytest.CaptureFixture[str]
) -> None:
    given = {"workdir": workdir, "vibe": vibe, "capsys": capsys}
    await snippet(**{name: given[name] for name in inspect.signature(snippet).parameters})
    planner = MetaPlanner()
    assert planner.persistence_manager.url.startswith(where.url.split("://")[0])
    assert not (workdir / ".vibe_checkpoints").exists()  # nothing went to the default folder


async def test_automatic_checkpointing_on_every_store(
    where: Where, workdir: Path, vibe: Vibe
) -> None:
    planner = MetaPlanner(checkpoint_interval=5)
    result = await planner.execute_with_resume(vibe)
    assert result.status == ExecutionStatus.COMPLETED
    snapshots = planner.list_checkpoints(derive_plan_id(vibe))
    total = result.get_summary()["total_nodes"]
    assert len(snapshots) >= 2 + total // 5  # start, every 5 completions, end


async def test_manual_checkpoint_on_every_store(
    where: Where, workdir: Path, vibe: Vibe, capsys: pytest.CaptureFixture[str]
) -> None:
    planner = MetaPlanner()
    plan = await planner.plan(vibe, plan_id="plan-001")
    current_state = await planner.execute(plan)
    checkpoint_id = planner.create_checkpoint(plan_id="plan-001", execution_state=current_state)
    print(f"Saved checkpoint: {checkpoint_id}")
    assert checkpoint_id.startswith("cp-")
    assert planner.get_checkpoint(checkpoint_id)["plan_id"] == "plan-001"
    assert f"Saved checkpoint: {checkpoint_id}" in capsys.readouterr().out


async def test_checkpoint_contents_on_every_store(
    where: Where, workdir: Path, vibe: Vibe
) -> None:
    planner = MetaPlanner(checkpoint_interval=1)
    await planner.execute_with_resume(vibe)
    for summary in planner.list_checkpoints():
        data = planner.get_checkpoint(summary["checkpoint_id"])
        assert set(data) >= guide.GUIDE_KEYS | {"state"}  # checksum: inside the stored bytes
        assert data["workflow_plan"]["id"] == data["plan_id"]
        assert data["created_at"].endswith("Z")
    newest = planner.get_checkpoint(planner.list_checkpoints()[0]["checkpoint_id"])
    assert newest["pending_nodes"] == []
    for node_id in newest["completed_nodes"]:
        assert newest["node_results"][node_id]["status"] == "completed"


async def test_damaged_newest_falls_back_on_every_store(
    where: Where, workdir: Path, vibe: Vibe
) -> None:
    executor = guide.Flaky("none")
    planner = MetaPlanner(executor=executor, checkpoint_interval=2)
    await planner.execute_with_resume(vibe)
    newest = planner.list_checkpoints()[0]
    where.damage(newest["plan_id"], newest["checkpoint_id"])
    assert planner.list_checkpoints()[0].get("corrupt") is True
    with pytest.raises(CheckpointCorruptError):
        planner.get_checkpoint(newest["checkpoint_id"])
    executor.runs.clear()
    result = await planner.execute_with_resume(vibe)
    assert result.status == ExecutionStatus.COMPLETED
    assert result.resumed_from != newest["checkpoint_id"]
    assert any(newest["checkpoint_id"] in w for w in result.warnings)
    assert executor.runs == {}  # the journal restored everything after the older snapshot
