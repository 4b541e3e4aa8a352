"""One contract suite for every checkpoint store.

The ``store`` fixture is parametrized over store kinds. Today there is only the file store;
SQLite and Postgres stores will be added to ``STORE_KINDS`` (and ``make_store``) when they
exist, and must pass this suite unchanged.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from strategies import json_values, plans
from vibe_aigc.errors import (
    CheckpointEncodeError,
    CheckpointLockedError,
    CheckpointNotFoundError,
)
from vibe_aigc.models import WorkflowPlan
from vibe_aigc.persistence import CheckpointStore, FileCheckpointStore, new_checkpoint_id

StoreFactory = Callable[[Path], CheckpointStore]

# Add "sqlite" / "postgres" here when those stores exist.
STORE_KINDS = ["file"]


def make_store(kind: str, root: Path) -> CheckpointStore:
    if kind == "file":
        return FileCheckpointStore(root / "checkpoints")
    raise AssertionError(kind)  # pragma: no cover


@pytest.fixture(params=STORE_KINDS)
def store_factory(request: pytest.FixtureRequest) -> StoreFactory:
    kind: str = request.param
    return lambda root: make_store(kind, root)


@pytest.fixture
def store(store_factory: StoreFactory, tmp_path: Path) -> CheckpointStore:
    return store_factory(tmp_path)


def record(
    plan_id: str = "plan-a", checkpoint_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "checkpoint_id": checkpoint_id or new_checkpoint_id(),
        "plan_id": plan_id,
        "created_at": "2026-02-05T10:30:00Z",
        "vibe": {"description": "a calm café", "style": "lofi", "constraints": ["≤ 3 min"]},
        "workflow_plan": {"id": plan_id, "root_nodes": [{"id": "n1", "parameters": {"k": 1}}]},
        "completed_nodes": ["n1"],
        "node_results": {
            "n1": {"status": "completed", "output": {"text": "héllo 🌙", "score": 0.1, "n": None}}
        },
        "pending_nodes": ["n2", "n3"],
        "state": "running",
        "total_nodes": 3,
        "run_id": "run-1",
        "journal_seq": 4,
    }
    rec.update(extra)
    return rec


def test_protocol_is_satisfied(store: CheckpointStore) -> None:
    assert isinstance(store, CheckpointStore)


def test_round_trip_exact(store: CheckpointStore) -> None:
    rec = record(extra_key={"nested": [1, 2.5, -0.0, True, None, "ü"]})
    assert store.write_checkpoint(rec) == rec["checkpoint_id"]
    assert store.read_checkpoint(rec["checkpoint_id"]) == rec
    assert store.read_checkpoint(rec["checkpoint_id"], "plan-a") == rec


def test_overwrite_same_id(store: CheckpointStore) -> None:
    rec = record()
    store.write_checkpoint(rec)
    rec2 = {**rec, "state": "completed"}
    store.write_checkpoint(rec2)
    assert store.read_checkpoint(rec["checkpoint_id"]) == rec2
    assert store.latest_checkpoint_ids("plan-a") == [rec["checkpoint_id"]]


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plan=plans(), output=json_values)
def test_round_trip_generated_plans(
    store_factory: StoreFactory,
    tmp_path_factory: pytest.TempPathFactory,
    plan: WorkflowPlan,
    output: Any,
) -> None:
    store = store_factory(tmp_path_factory.mktemp("prop"))
    ids = plan.node_ids
    rec = record(
        plan.id,
        vibe=plan.source_vibe.model_dump(mode="json"),
        workflow_plan=plan.model_dump(mode="json"),
        completed_nodes=ids[:1],
        node_results={ids[0]: {"status": "completed", "output": output}},
        pending_nodes=ids[1:],
        total_nodes=len(ids),
    )
    store.write_checkpoint(rec)
    loaded = store.read_checkpoint(rec["checkpoint_id"], plan.id)
    assert loaded == rec
    assert WorkflowPlan.model_validate(loaded["workflow_plan"]) == plan


def test_not_found(store: CheckpointStore) -> None:
    with pytest.raises(CheckpointNotFoundError) as info:
        store.read_checkpoint("cp-abc123")
    assert info.value.checkpoint_id == "cp-abc123"
    store.write_checkpoint(record("plan-a"))
    with pytest.raises(CheckpointNotFoundError):
        store.read_checkpoint("cp-abc123", "plan-a")
    rec_b = record("plan-b")
    store.write_checkpoint(rec_b)
    with pytest.raises(CheckpointNotFoundError):  # exists, but in another plan
        store.read_checkpoint(rec_b["checkpoint_id"], "plan-a")


def test_empty_store(store: CheckpointStore) -> None:
    assert store.list_checkpoints() == []
    assert store.list_checkpoints("plan-a") == []
    assert store.latest_checkpoint_ids("plan-a") == []
    assert store.plan_ids() == []
    assert store.read_journal("plan-a") == ([], [])
    assert store.delete_plan("plan-a") == []
    assert store.prune("plan-a", 1) == []
    assert store.compact_journal("plan-a", 10) == []


def test_list_newest_first(store: CheckpointStore) -> None:
    written = []
    for i, plan in enumerate(["plan-a", "plan-b", "plan-a"]):
        rec = record(plan, completed_nodes=["n1"] * (i + 1), state=f"s{i}")
        store.write_checkpoint(rec)
        written.append(rec)
    listed = store.list_checkpoints()
    assert [e["checkpoint_id"] for e in listed] == [r["checkpoint_id"] for r in reversed(written)]
    top = listed[0]
    assert top["plan_id"] == "plan-a"
    assert top["created_at"] == "2026-02-05T10:30:00Z"
    assert top["completed_nodes"] == 3
    assert top["total_nodes"] == 3
    assert top["state"] == "s2"
    assert top["corrupt"] is False
    assert "path" not in top  # summaries name no file: the contract has no paths
    only_a = store.list_checkpoints("plan-a")
    assert [e["checkpoint_id"] for e in only_a] == [
        written[2]["checkpoint_id"],
        written[0]["checkpoint_id"],
    ]
    assert store.latest_checkpoint_ids("plan-a") == [e["checkpoint_id"] for e in only_a]
    assert store.plan_ids() == ["plan-a", "plan-b"]


def test_delete_checkpoint(store: CheckpointStore) -> None:
    rec = record()
    store.write_checkpoint(rec)
    assert store.delete_checkpoint(rec["checkpoint_id"], "plan-b") is False
    assert store.delete_checkpoint(rec["checkpoint_id"]) is True
    assert store.delete_checkpoint(rec["checkpoint_id"]) is False
    assert store.delete_checkpoint("cp-unknown") is False
    with pytest.raises(CheckpointNotFoundError):
        store.read_checkpoint(rec["checkpoint_id"])


def test_prune(store: CheckpointStore) -> None:
    recs = [record() for _ in range(5)]
    for rec in recs:
        store.write_checkpoint(rec)
    other = record("plan-b")
    store.write_checkpoint(other)
    assert store.prune("plan-a", None) == []
    deleted = store.prune("plan-a", 2)
    assert sorted(deleted) == sorted(r["checkpoint_id"] for r in recs[:3])
    assert store.latest_checkpoint_ids("plan-a") == [
        recs[4]["checkpoint_id"],
        recs[3]["checkpoint_id"],
    ]
    assert store.latest_checkpoint_ids("plan-b") == [other["checkpoint_id"]]
    assert store.prune("plan-a", 2) == []


def test_journal_append_read(store: CheckpointStore) -> None:
    store.append_journal("plan-a", [{"seq": 0, "node_id": "n1", "result": {"output": "ü"}}])
    store.append_journal("plan-a", [{"seq": 1, "node_id": "n2"}, {"seq": 3, "node_id": "n3"}])
    store.append_journal("plan-a", [])
    records, warnings = store.read_journal("plan-a")
    assert warnings == []
    assert records == [
        {"seq": 0, "node_id": "n1", "result": {"output": "ü"}},
        {"seq": 1, "node_id": "n2"},
        {"seq": 3, "node_id": "n3"},
    ]
    assert [r["seq"] for r in store.read_journal("plan-a", after_seq=0)[0]] == [1, 3]
    assert [r["seq"] for r in store.read_journal("plan-a", after_seq=2)[0]] == [3]
    assert store.read_journal("plan-a", after_seq=3) == ([], [])
    assert store.read_journal("plan-b") == ([], [])


def test_journal_rejects_bad_batches(store: CheckpointStore) -> None:
    with pytest.raises(CheckpointEncodeError):
        store.append_journal("plan-a", [{"node_id": "no seq"}])
    with pytest.raises(CheckpointEncodeError):
        store.append_journal("plan-a", [{"seq": 2}, {"seq": 2}])
    with pytest.raises(CheckpointEncodeError):
        store.append_journal("plan-a", [{"seq": 1, "c": "reserved"}])
    store.rotate_journal("plan-a", 5)
    with pytest.raises(CheckpointEncodeError):  # below the current segment
        store.append_journal("plan-a", [{"seq": 4}])
    with pytest.raises(CheckpointEncodeError):
        store.rotate_journal("plan-a", 3)
    assert store.read_journal("plan-a") == ([], [])


def test_journal_rotate_and_compact(store: CheckpointStore) -> None:
    store.rotate_journal("plan-a", 0)
    store.rotate_journal("plan-a", 0)  # idempotent
    store.append_journal("plan-a", [{"seq": 0}, {"seq": 1}])
    store.rotate_journal("plan-a", 2)
    store.append_journal("plan-a", [{"seq": 2}, {"seq": 3}])
    store.rotate_journal("plan-a", 4)
    store.append_journal("plan-a", [{"seq": 4}])
    assert [r["seq"] for r in store.read_journal("plan-a")[0]] == [0, 1, 2, 3, 4]
    assert [r["seq"] for r in store.read_journal("plan-a", 2)[0]] == [3, 4]
    assert store.compact_journal("plan-a", 0) == []  # segment [0, 1] is not fully covered
    removed = store.compact_journal("plan-a", 1)
    assert len(removed) == 1
    assert [r["seq"] for r in store.read_journal("plan-a")[0]] == [2, 3, 4]
    assert [r["seq"] for r in store.read_journal("plan-a", 3)[0]] == [4]
    removed = store.compact_journal("plan-a", 100)  # the newest segment always stays
    assert len(removed) == 1
    assert [r["seq"] for r in store.read_journal("plan-a")[0]] == [4]
    store.append_journal("plan-a", [{"seq": 5}])
    assert [r["seq"] for r in store.read_journal("plan-a")[0]] == [4, 5]


def test_delete_plan(store: CheckpointStore) -> None:
    recs = [record("plan-a"), record("plan-a")]
    for rec in recs:
        store.write_checkpoint(rec)
    keep = record("plan-b")
    store.write_checkpoint(keep)
    store.append_journal("plan-a", [{"seq": 0}])
    store.rotate_journal("plan-a", 1)
    with store.lock("plan-a"):
        pass
    removed = store.delete_plan("plan-a")
    assert removed
    assert store.plan_ids() == ["plan-b"]
    assert store.list_checkpoints("plan-a") == []
    assert store.read_journal("plan-a") == ([], [])
    assert store.read_checkpoint(keep["checkpoint_id"]) == keep
    assert store.delete_plan("plan-a") == []


def test_delete_plan_while_holding_its_lock(store: CheckpointStore) -> None:
    store.write_checkpoint(record("plan-a"))
    with store.lock("plan-a"):
        assert store.delete_plan("plan-a")
    assert store.plan_ids() == []


def test_lock_excludes_second_holder(store: CheckpointStore) -> None:
    with store.lock("plan-a"):
        with pytest.raises(CheckpointLockedError) as info, store.lock("plan-a"):
            pass  # pragma: no cover
        assert info.value.plan_id == "plan-a"
        with store.lock("plan-b"):  # other plans are independent
            pass
    with store.lock("plan-a"):  # released
        pass


def test_artifacts_dir_not_created(store: CheckpointStore) -> None:
    path = store.artifacts_dir("plan-a")
    assert path.name == "artifacts"
    assert not path.exists()
