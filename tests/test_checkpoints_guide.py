"""The Checkpoints guide (shared/spec/checkpoints.md), snippet by snippet, run literally."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from vibe_aigc import (
    CheckpointCorruptError,
    CheckpointNotFoundError,
    ExecutionStatus,
    MetaPlanner,
    Vibe,
    WorkflowExecutor,
    WorkflowNode,
)
from vibe_aigc.context import NodeContext
from vibe_aigc.models import derive_plan_id

GUIDE_KEYS = {
    "checkpoint_id",
    "plan_id",
    "created_at",
    "vibe",
    "workflow_plan",
    "completed_nodes",
    "node_results",
    "pending_nodes",
}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
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


async def test_automatic_checkpointing_snippet(workdir: Path, vibe: Vibe) -> None:
    # Checkpoint every 5 completed nodes
    planner = MetaPlanner(checkpoint_interval=5)
    result = await planner.execute_with_resume(vibe)
    assert result.status == ExecutionStatus.COMPLETED
    plan_dir = workdir / ".vibe_checkpoints" / derive_plan_id(vibe)
    files = sorted(plan_dir.glob("cp-*.json"))
    assert files, "no checkpoint written"
    total = result.get_summary()["total_nodes"]
    # start, every 5 completions, end
    assert len(files) >= 2 + total // 5


async def test_constructing_creates_no_folder(workdir: Path) -> None:
    MetaPlanner(checkpoint_interval=5)
    assert not (workdir / ".vibe_checkpoints").exists()


async def test_manual_checkpoint_snippet(workdir: Path, vibe: Vibe, capsys: Any) -> None:
    planner = MetaPlanner()
    plan = await planner.plan(vibe, plan_id="plan-001")
    current_state = await planner.execute(plan)
    # Create a checkpoint
    checkpoint_id = planner.create_checkpoint(plan_id="plan-001", execution_state=current_state)
    print(f"Saved checkpoint: {checkpoint_id}")
    assert checkpoint_id.startswith("cp-")
    assert (workdir / ".vibe_checkpoints" / "plan-001" / f"{checkpoint_id}.json").is_file()
    assert f"Saved checkpoint: {checkpoint_id}" in capsys.readouterr().out


async def test_manual_checkpoint_from_mapping(workdir: Path, vibe: Vibe) -> None:
    planner = MetaPlanner()
    plan = await planner.plan(vibe, plan_id="plan-001")
    first = plan.node_ids[0]
    checkpoint_id = planner.create_checkpoint(
        plan_id="plan-001",
        execution_state={
            "completed_nodes": [first],
            "node_results": {first: {"status": "completed", "output": "done by hand"}},
        },
    )
    stored = planner.get_checkpoint(checkpoint_id)
    assert stored["completed_nodes"] == [first]
    assert stored["node_results"][first]["output"] == "done by hand"
    assert stored["state"] == "interrupted"
    resumed = await planner.execute_with_resume(plan, checkpoint_id=checkpoint_id)
    assert resumed.node_results[first].output == "done by hand"
    assert resumed.status == ExecutionStatus.COMPLETED


async def test_list_get_delete_snippets(workdir: Path, vibe: Vibe, capsys: Any) -> None:
    planner = MetaPlanner(checkpoint_interval=3)
    await planner.execute_with_resume(vibe)

    checkpoints = planner.list_checkpoints()
    for cp in checkpoints:
        print(f"ID: {cp['checkpoint_id']}")
        print(f"Created: {cp['created_at']}")
        print(f"Plan: {cp['plan_id']}")
        print(f"Progress: {cp['completed_nodes']}/{cp['total_nodes']}")
        print()
    out = capsys.readouterr().out
    assert out.count("ID: cp-") == len(checkpoints) >= 2
    ids = [cp["checkpoint_id"] for cp in checkpoints]
    assert ids == sorted(ids, reverse=True)  # newest first
    newest = checkpoints[0]
    assert newest["state"] == "completed"
    assert newest["completed_nodes"] == newest["total_nodes"]
    assert newest["created_at"].endswith("Z")

    checkpoint_id = ids[-1]
    checkpoint = planner.get_checkpoint(checkpoint_id)
    print(f"Workflow state: {checkpoint['state']}")
    print(f"Node results: {checkpoint['node_results']}")
    assert set(checkpoint) >= GUIDE_KEYS
    assert checkpoint["state"] == "running"

    planner.delete_checkpoint(checkpoint_id)
    assert checkpoint_id not in [cp["checkpoint_id"] for cp in planner.list_checkpoints()]
    assert planner.delete_checkpoint(checkpoint_id) is False
    assert planner.delete_checkpoint("cp-abc123") is False


class Flaky(WorkflowExecutor):
    """Fails the named node until ``fixed``; counts every execution."""

    def __init__(self, fail_node: str) -> None:
        super().__init__()
        self.fail_node = fail_node
        self.fixed = False
        self.runs: dict[str, int] = {}

    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        self.runs[node.id] = self.runs.get(node.id, 0) + 1
        if node.id == self.fail_node and not self.fixed:
            raise ValueError("quota exceeded")
        return await super().execute_node(node, context)


async def test_resume_from_latest_snippet(workdir: Path, vibe: Vibe) -> None:
    probe = await MetaPlanner().plan(vibe)
    victim = probe.node_ids[len(probe.node_ids) // 2]
    executor = Flaky(victim)
    planner = MetaPlanner(executor=executor, checkpoint_interval=5)
    failed = await planner.execute_with_resume(vibe)
    assert failed.status == ExecutionStatus.FAILED
    assert planner.list_checkpoints()[0]["state"] == "failed"
    before = dict(executor.runs)

    executor.fixed = True
    # Automatically uses most recent checkpoint
    result = await planner.execute_with_resume(vibe)
    assert result.status == ExecutionStatus.COMPLETED
    assert result.resumed_from is not None
    for node_id, count in before.items():
        if failed.node_results[node_id].status == ExecutionStatus.COMPLETED:
            assert executor.runs[node_id] == count, f"{node_id} ran twice"
    assert executor.runs[victim] == 2


async def test_resume_from_specific_checkpoint_snippet(workdir: Path, vibe: Vibe) -> None:
    planner = MetaPlanner()
    with pytest.raises(CheckpointNotFoundError) as info:
        await planner.execute_with_resume(vibe, checkpoint_id="cp-abc123")
    assert "cp-abc123" in str(info.value) and "list_checkpoints()" in str(info.value)


async def test_time_travel_to_an_exact_checkpoint(workdir: Path, vibe: Vibe) -> None:
    executor = Flaky("none")
    planner = MetaPlanner(executor=executor, checkpoint_interval=2)
    await planner.execute_with_resume(vibe)
    checkpoints = planner.list_checkpoints()
    middle = next(cp for cp in checkpoints if 0 < cp["completed_nodes"] < cp["total_nodes"])
    kept = planner.get_checkpoint(middle["checkpoint_id"])["completed_nodes"]
    executor.runs.clear()
    result = await planner.execute_with_resume(vibe, checkpoint_id=middle["checkpoint_id"])
    assert result.status == ExecutionStatus.COMPLETED
    assert result.resumed_from == middle["checkpoint_id"]
    assert not set(kept) & set(executor.runs)  # recorded nodes kept their outputs
    plan = planner.get_plan(result.plan_id)
    assert plan is not None
    runnable = {n.id for n in plan.iter_nodes() if n.type.value != "composite"}
    assert set(executor.runs) == runnable - set(kept)


async def test_storage_layout_matches_guide(workdir: Path) -> None:
    planner = MetaPlanner(checkpoint_interval=2)
    for plan_id in ("plan-001", "plan-002"):
        plan = await planner.plan(Vibe(description=f"A poster for {plan_id}"), plan_id=plan_id)
        await planner.execute_with_resume(plan)
    root = workdir / ".vibe_checkpoints"
    assert sorted(p.name for p in root.iterdir() if p.is_dir()) == ["plan-001", "plan-002"]
    for plan_dir in root.iterdir():
        files = list(plan_dir.glob("cp-*.json"))
        assert files
        assert all(f.stat().st_mode & 0o777 == 0o600 for f in files)
        assert plan_dir.stat().st_mode & 0o777 == 0o700


async def test_custom_storage_location_snippet(tmp_path: Path) -> None:
    from vibe_aigc.persistence import WorkflowPersistenceManager

    manager = WorkflowPersistenceManager(
        checkpoint_dir=str(tmp_path / "path" / "to" / "checkpoints")
    )
    planner = MetaPlanner(persistence_manager=manager)
    result = await planner.execute_with_resume(Vibe(description="A short film about rain"))
    assert result.status == ExecutionStatus.COMPLETED
    assert list((tmp_path / "path" / "to" / "checkpoints").glob("*/cp-*.json"))


async def test_checkpoint_dir_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("VIBE_CHECKPOINT_DIR", str(tmp_path / "from-env"))
    assert MetaPlanner().checkpoint_dir == tmp_path / "from-env"
    assert MetaPlanner(checkpoint_dir=tmp_path / "arg").checkpoint_dir == tmp_path / "arg"
    monkeypatch.delenv("VIBE_CHECKPOINT_DIR")
    assert MetaPlanner().checkpoint_dir == tmp_path / ".vibe_checkpoints"


async def test_checkpoint_contents_match_guide(workdir: Path, vibe: Vibe) -> None:
    planner = MetaPlanner(checkpoint_interval=1)
    await planner.execute_with_resume(vibe)
    path = next((workdir / ".vibe_checkpoints").glob("*/cp-*.json"))
    data = json.loads(path.read_text())
    assert set(data) >= GUIDE_KEYS
    assert list(data)[:8] == [
        "checkpoint_id",
        "plan_id",
        "created_at",
        "vibe",
        "workflow_plan",
        "completed_nodes",
        "node_results",
        "pending_nodes",
    ]
    assert data["checkpoint_id"] == path.stem and data["plan_id"] == path.parent.name
    assert data["created_at"].endswith("Z")
    assert {"description", "style", "constraints"} <= set(data["vibe"])
    assert data["workflow_plan"]["id"] == data["plan_id"]
    assert {"schema_version", "checksum", "state"} <= set(data)
    newest = planner.get_checkpoint(planner.list_checkpoints()[0]["checkpoint_id"])
    for node_id in newest["completed_nodes"]:
        assert newest["node_results"][node_id]["status"] == "completed"
        assert "output" in newest["node_results"][node_id]
    assert newest["pending_nodes"] == []


async def test_best_practice_fallback_snippet(workdir: Path, vibe: Vibe) -> None:
    planner = MetaPlanner(checkpoint_interval=100)
    await planner.execute_with_resume(vibe)
    for cp in planner.list_checkpoints():
        path = workdir / ".vibe_checkpoints" / cp["plan_id"] / f"{cp['checkpoint_id']}.json"
        path.write_bytes(path.read_bytes()[:40])  # truncate every checkpoint
    checkpoint_id = planner.list_checkpoints()[0]["checkpoint_id"]

    try:
        result = await planner.execute_with_resume(vibe)
    except CheckpointCorruptError:
        # Fall back to fresh execution
        planner.delete_checkpoint(checkpoint_id)
        result = await planner.execute(vibe)
    else:
        pytest.fail("every checkpoint is corrupt: CheckpointCorruptError expected")
    assert result.status == ExecutionStatus.COMPLETED


async def test_corrupt_newest_falls_back_and_says_so(workdir: Path, vibe: Vibe) -> None:
    executor = Flaky("none")
    planner = MetaPlanner(executor=executor, checkpoint_interval=2)
    await planner.execute_with_resume(vibe)
    newest = planner.list_checkpoints()[0]
    path = workdir / ".vibe_checkpoints" / newest["plan_id"] / f"{newest['checkpoint_id']}.json"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0x20
    path.write_bytes(bytes(raw))
    assert planner.list_checkpoints()[0].get("corrupt") is True
    executor.runs.clear()
    result = await planner.execute_with_resume(vibe)
    assert result.status == ExecutionStatus.COMPLETED
    assert result.resumed_from != newest["checkpoint_id"]
    assert any(newest["checkpoint_id"] in w for w in result.warnings)
    assert executor.runs == {}  # the journal restored everything after the older snapshot
