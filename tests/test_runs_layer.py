"""The runs layer through the public API: values that leave a node, stores opened by URL,
serializable events, fencing of a run that lost its lease, finished plans not run again."""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from vibe_aigc import (
    CheckpointLockedError,
    ConfigurationError,
    EventKind,
    ExecutionStatus,
    MetaPlanner,
    NodeContext,
    ProgressEvent,
    Vibe,
    WorkflowExecutor,
    WorkflowNode,
    WorkflowNodeType,
    WorkflowPlan,
)
from vibe_aigc.persistence import FileCheckpointStore, WorkflowPersistenceManager, open_store

VIBE = Vibe(description="runs layer test")


def plan_ab(plan_id: str = "plan-ab") -> WorkflowPlan:
    return WorkflowPlan(
        id=plan_id,
        source_vibe=VIBE,
        root_nodes=[
            WorkflowNode(id="a", type=WorkflowNodeType.GENERATE, description="make a value"),
            WorkflowNode(
                id="b", type=WorkflowNodeType.TRANSFORM, description="use it", dependencies=["a"]
            ),
        ],
    )


class Recording(WorkflowExecutor):
    """Node a returns ``value``; node b records what it saw (and fails the first ``fail_b``
    times, permanently, like a crash the user fixes before resuming)."""

    def __init__(self, value: Any, fail_b: int = 0) -> None:
        super().__init__()
        self.value = value
        self.fail_b = fail_b
        self.seen: list[Any] = []

    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        if node.id == "a":
            return self.value
        self.seen.append(context.dependency_outputs["a"])
        if self.fail_b > 0:
            self.fail_b -= 1
            raise ValueError("b fails this time")
        return {"ok": True}


async def test_a_dependent_sees_the_same_value_live_and_after_a_resume(tmp_path: Path) -> None:
    value = {"pair": ("x", "y"), "nested": [("a", 1)]}
    live = Recording(value)
    result = await MetaPlanner(executor=live, checkpoint_dir=tmp_path / "live").execute_with_resume(
        plan_ab()
    )
    assert result.status == ExecutionStatus.COMPLETED
    interrupted = Recording(value, fail_b=1)
    folder = tmp_path / "resumed"
    first = await MetaPlanner(executor=interrupted, checkpoint_dir=folder).execute_with_resume(
        plan_ab()
    )
    assert first.status == ExecutionStatus.FAILED
    resumed = Recording(value)
    again = await MetaPlanner(executor=resumed, checkpoint_dir=folder).execute_with_resume(
        plan_ab()
    )
    assert again.status == ExecutionStatus.COMPLETED and again.resumed_from
    expected = {"pair": ["x", "y"], "nested": [["a", 1]]}
    assert live.seen == [expected]
    assert interrupted.seen == [expected]
    assert resumed.seen == [expected]  # from storage: identical to the live value


async def test_an_output_with_non_string_keys_fails_its_node_with_the_path(
    tmp_path: Path,
) -> None:
    executor = Recording({"fine": {1: ("x", "y")}})
    result = await MetaPlanner(executor=executor, checkpoint_dir=tmp_path).execute_with_resume(
        plan_ab()
    )
    a, b = result.node_results["a"], result.node_results["b"]
    assert a.status == ExecutionStatus.FAILED
    assert "output.fine" in (a.error or "") and "not a string" in (a.error or "")
    assert b.status == ExecutionStatus.SKIPPED
    assert executor.seen == []  # nothing built on a value that could not be stored


async def test_an_output_nested_too_deep_fails_the_node_not_the_run(tmp_path: Path) -> None:
    deep: Any = "leaf"
    for _ in range(400):
        deep = {"d": deep}
    result = await MetaPlanner(
        executor=Recording(deep), checkpoint_dir=tmp_path
    ).execute_with_resume(plan_ab())
    assert result.node_results["a"].status == ExecutionStatus.FAILED
    assert "nested more than" in (result.node_results["a"].error or "")
    # and the plan resumes (nothing unloadable was written)
    again = await MetaPlanner(
        executor=Recording({"ok": 1}), checkpoint_dir=tmp_path
    ).execute_with_resume(plan_ab())
    assert again.status == ExecutionStatus.COMPLETED


def test_open_store_by_url_and_path(tmp_path: Path) -> None:
    for url in (str(tmp_path / "a"), (tmp_path / "b").as_uri(), f"file://{tmp_path}/c"):
        store = open_store(url)
        assert isinstance(store, FileCheckpointStore)
        assert store.url.startswith("file://")
    with pytest.raises(ConfigurationError, match="unknown store scheme"):
        open_store("redis://127.0.0.1/0")
    with pytest.raises(ConfigurationError, match="names a host"):
        open_store("file://elsewhere/tmp/x")
    with pytest.raises(ConfigurationError):
        open_store("")


async def test_store_url_selects_the_store_everywhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "by-url"
    monkeypatch.setenv("VIBE_STORE_URL", target.as_uri())
    monkeypatch.setenv("VIBE_CHECKPOINT_DIR", str(tmp_path / "by-dir"))
    result = await MetaPlanner(executor=Recording({"v": 1})).execute_with_resume(plan_ab())
    assert result.status == ExecutionStatus.COMPLETED
    assert (target / "plan-ab").is_dir() and not (tmp_path / "by-dir").exists()
    planner = MetaPlanner(executor=Recording({"v": 2}), store=str(tmp_path / "explicit"))
    await planner.execute_with_resume(plan_ab())
    assert (tmp_path / "explicit" / "plan-ab").is_dir()
    manager = WorkflowPersistenceManager(store=(tmp_path / "explicit").as_uri())
    assert next(c["plan_id"] for c in manager.list_checkpoints()) == "plan-ab"


async def test_events_round_trip_through_json(tmp_path: Path) -> None:
    events: list[ProgressEvent] = []
    planner = MetaPlanner(
        executor=Recording({"v": 1}), checkpoint_dir=tmp_path, progress_callback=events.append
    )
    await planner.execute_with_resume(plan_ab())
    kinds = {e.kind for e in events}
    assert {EventKind.NODE_COMPLETED, EventKind.CHECKPOINT_SAVED} <= kinds
    for event in events:
        line = json.dumps(event.to_dict())
        back = ProgressEvent.from_dict(json.loads(line))
        assert back.to_dict() == event.to_dict()
        assert back.state is None  # no live object leaves the process
    last = events[-1]
    assert last.kind == EventKind.WORKFLOW_COMPLETED
    assert last.counts["completed"] == 2 and last.to_dict()["status"] == "completed"
    saved = [e for e in events if e.kind == EventKind.CHECKPOINT_SAVED]
    assert saved[-1].durable == 2  # what is recorded, not what a snapshot holds


async def test_a_finished_plan_is_not_run_or_rewritten_again(tmp_path: Path) -> None:
    executor = Recording({"v": 1})
    planner = MetaPlanner(executor=executor, checkpoint_dir=tmp_path)
    await planner.execute_with_resume(plan_ab())
    files = sorted(p.name for p in (tmp_path / "plan-ab").iterdir())
    again = await planner.execute_with_resume(plan_ab())
    assert again.status == ExecutionStatus.COMPLETED
    assert all(r.resumed for r in again.node_results.values())
    assert len(executor.seen) == 1  # b ran once
    assert sorted(p.name for p in (tmp_path / "plan-ab").iterdir()) == files  # nothing new
    fresh = await planner.execute_with_resume(plan_ab(), fresh=True)
    assert not any(r.resumed for r in fresh.node_results.values())


class SlowToStop(WorkflowPersistenceManager):
    """Takes its time writing the "interrupted" checkpoint (a slow disk)."""

    def save_checkpoint(self, plan_id: str, record_body: dict[str, Any], lease: Any = None) -> str:
        if record_body.get("state") == "interrupted":
            time.sleep(0.4)
        return super().save_checkpoint(plan_id, record_body, lease)


class Forever(WorkflowExecutor):
    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        if node.id == "a":
            return {"v": 1}
        await asyncio.sleep(60)
        return None


async def test_two_cancellations_release_the_lease_only_after_the_last_write(
    tmp_path: Path,
) -> None:
    """Issue 11.1 (failed before the fix: the second cancel returned while the shielded
    "interrupted" snapshot was still being written, and the plan's lock was already free)."""
    manager = SlowToStop(tmp_path)
    planner = MetaPlanner(executor=Forever(), persistence_manager=manager)
    task = asyncio.create_task(planner.execute_with_resume(plan_ab()))
    for _ in range(100):
        await asyncio.sleep(0.01)
        if any(c["completed_nodes"] for c in manager.list_checkpoints("plan-ab")) or list(
            (tmp_path / "plan-ab").glob("journal-*")
        ):
            break
    await asyncio.sleep(0.05)
    task.cancel()
    await asyncio.sleep(0.1)  # now inside the slow final write
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    states = [c["state"] for c in manager.list_checkpoints("plan-ab")]
    assert states[0] == "interrupted"  # the final write finished before the call returned
    stamp = sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / "plan-ab").iterdir())
    with manager.lease("plan-ab"):  # free now, and nothing of the old run writes any more
        await asyncio.sleep(0.5)
        after = sorted((p.name, p.stat().st_mtime_ns) for p in (tmp_path / "plan-ab").iterdir())
        assert [n for n, _ in after] == [n for n, _ in stamp]


def test_a_released_lease_refuses_every_write(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path)
    lease = store.lease("plan-f")
    with lease:
        store.append_entries(lease, [{"seq": 0, "node_id": "a"}])
    with pytest.raises(CheckpointLockedError, match="no longer holds"):
        store.append_entries(lease, [{"seq": 1, "node_id": "a"}])
    with pytest.raises(CheckpointLockedError):
        store.trim_entries(lease, 0)
    assert [e["seq"] for e in store.read_entries("plan-f").entries] == [0]


def test_a_hard_linked_lock_file_is_never_truncated(tmp_path: Path) -> None:
    """Issue 11.3 (failed before the fix: the target was truncated and chmod'ed 0600)."""
    from vibe_aigc import CheckpointWriteError

    precious = tmp_path / "precious.txt"
    precious.write_text("keep me\n")
    os.chmod(precious, 0o644)
    plan_dir = tmp_path / "cps" / "plan-h"
    plan_dir.mkdir(parents=True)
    os.link(precious, plan_dir / ".lock")
    manager = WorkflowPersistenceManager(tmp_path / "cps")
    with pytest.raises(CheckpointWriteError, match="hard-linked"), manager.lease("plan-h"):
        pass
    assert precious.read_text() == "keep me\n"
    assert precious.stat().st_mode & 0o777 == 0o644


async def test_a_planner_closes_its_store_and_can_be_used_again(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'runs.db'}"
    with MetaPlanner(executor=Recording({"v": 1}), store=url) as planner:
        first = await planner.execute_with_resume(plan_ab())
    assert first.status == ExecutionStatus.COMPLETED
    again = await planner.execute_with_resume(plan_ab())  # reopened on use
    assert all(r.resumed for r in again.node_results.values())
    planner.close()
