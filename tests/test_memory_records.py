"""The lean forms large plans are held in (issue 15: 100k-node plans in little memory) behave
exactly like the plain ones.

* a checkpoint written chunk by chunk is byte for byte the documented layout, with the
  documented checksum, for small and large records alike;
* results and nodes that share their fields-set objects keep pydantic's fields-set semantics
  (construction, assignment, copies, ``exclude_unset``), one instance never changing another;
* the plan graph's edge sets compare and combine as sets;
* a durable run's checkpoint of a plan with more nodes than one encoder batch reads back
  with every result.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from strategies import chain_plan
from vibe_aigc import (
    ExecutionStatus,
    MetaPlanner,
    NodeResult,
    Vibe,
    WorkflowExecutor,
    WorkflowNode,
    WorkflowPlan,
)
from vibe_aigc.errors import CheckpointEncodeError
from vibe_aigc.jsondata import KnownJson
from vibe_aigc.models import NodeSet, plan_graph
from vibe_aigc.persistence.codec import JsonCodec
from vibe_aigc.persistence.file import atomic

CODEC = JsonCodec()
RESERVED = ("format", "schema_version", "checksum", "seal")
GUIDE = (
    "checkpoint_id",
    "plan_id",
    "created_at",
    "vibe",
    "workflow_plan",
    "completed_nodes",
    "node_results",
    "pending_nodes",
    "state",
    "total_nodes",
    "run_id",
    "journal_seq",
)


def documented_bytes(record: dict[str, Any]) -> bytes:
    """The layout the codec's docstring describes, written the plain way (whole strings)."""
    body = {k: v for k, v in record.items() if k not in RESERVED}
    body["format"] = "json"
    body["schema_version"] = 3
    canonical = json.dumps(
        body, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )
    ordered = {k: body[k] for k in GUIDE}
    ordered.update((k, body[k]) for k in sorted(body) if k not in ordered)
    ordered["format"] = ordered.pop("format")
    ordered["schema_version"] = ordered.pop("schema_version")
    ordered["checksum"] = "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()

    def canonical_of(value: Any) -> str:  # every value
        return json.dumps(
            value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
        )

    lines = []
    for key, value in ordered.items():
        name = json.dumps(key, ensure_ascii=False)
        if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
            inner = ",\n".join(
                f"    {json.dumps(k, ensure_ascii=False)}: {canonical_of(v)}"
                for k, v in value.items()
            )
            lines.append(f"  {name}: {{\n{inner}\n  }}")
        else:
            lines.append(f"  {name}: {canonical_of(value)}")
    # the seal comes last and hashes every byte before it
    prefix = ("{\n" + ",\n".join(lines) + ",\n  ").encode()
    digest = hashlib.sha256(prefix).hexdigest()
    return prefix + b'"seal": "sha256:' + digest.encode() + b'"\n}\n'


def record_of(n: int) -> dict[str, Any]:
    ids = [f"n{i:05d}" for i in reversed(range(n))]  # not sorted: the layout keeps the order
    nodes = [
        KnownJson(
            {
                "id": node_id,
                "type": "transform",
                "description": f'step é {i} "q"',
                "parameters": {"k": [i, 1.5, None, True]} if i % 3 else {},
                "dependencies": ids[i - 1 : i],
                "children": [{"id": f"{node_id}c", "children": []}] if i % 7 == 0 else [],
                "estimated_duration": None,
            }
        )
        for i, node_id in enumerate(ids)
    ]
    results = {
        node_id: KnownJson({"node_id": node_id, "status": "completed", "output": {"v": i}})
        for i, node_id in enumerate(ids)
    }
    return {
        "checkpoint_id": "cp-1",
        "plan_id": "p",
        "created_at": "2026-01-01T00:00:00Z",
        "vibe": {"description": "v", "metadata": {"big": list(range(n))}},
        "workflow_plan": {"id": "p", "source_vibe": {"description": "v"}, "root_nodes": nodes},
        "completed_nodes": ids,
        "node_results": results,
        "pending_nodes": [],
        "state": "completed",
        "total_nodes": n,
        "run_id": "r",
        "journal_seq": n - 1,
        "memos": {},
        "summary": {"deep": {"ids": ids}},
        "zz_extra": {node_id: i for i, node_id in enumerate(ids)},
    }


@pytest.mark.parametrize("n", [0, 1, 3, 600, 1500])
def test_streamed_checkpoint_is_the_documented_layout(n: int) -> None:
    record = record_of(n)
    chunks = list(CODEC.encode_chunks(record))
    assert b"".join(chunks) == documented_bytes(record) == CODEC.encode(record)
    assert CODEC.decode(b"".join(chunks), "cp") == {
        k: v for k, v in record.items() if k not in RESERVED
    }


def test_a_large_checkpoint_comes_in_several_chunks_and_is_checked_first(tmp_path: Path) -> None:
    record = record_of(1500)
    record["node_results"]["n00001"] = {"node_id": "n00001", "output": float("nan")}
    with pytest.raises(CheckpointEncodeError):
        CODEC.encode_chunks(record)  # refused before any chunk exists
    big = record_of(6000)
    assert len(list(CODEC.encode_chunks(big))) > 1


def test_a_failing_chunk_leaves_no_file(tmp_path: Path) -> None:
    def chunks() -> Any:
        yield b"{"
        raise RuntimeError("the producer broke")

    with pytest.raises(RuntimeError, match="producer broke"):
        atomic.atomic_write_bytes(tmp_path / "cp.json", chunks())
    assert os.listdir(tmp_path) == []
    atomic.atomic_write_bytes(tmp_path / "cp.json", iter([b"ab", b"", b"cd"]))
    assert (tmp_path / "cp.json").read_bytes() == b"abcd"


def test_shared_fields_sets_keep_pydantic_semantics() -> None:
    a, b = NodeResult("a"), NodeResult("b")
    assert a.model_fields_set == b.model_fields_set == {"node_id"}
    a.error = "boom"
    a.status = ExecutionStatus.FAILED
    assert a.model_fields_set == {"node_id", "error", "status"}
    assert b.model_fields_set == {"node_id"}
    assert b.model_dump(exclude_unset=True) == {"node_id": "b"}
    assert a.model_dump(exclude_unset=True) == {
        "node_id": "a",
        "status": ExecutionStatus.FAILED,
        "error": "boom",
    }
    c = a.model_copy(update={"resumed": True})
    assert c.model_fields_set == {"node_id", "error", "status", "resumed"}
    assert a.model_fields_set == {"node_id", "error", "status"}
    node = WorkflowNode(id="x", type="analyze", description="d")
    other = WorkflowNode.model_validate({"id": "y", "type": "analyze", "description": "d"})
    node.estimated_duration = 2.0
    assert node.model_fields_set == {"id", "type", "description", "estimated_duration"}
    assert other.model_fields_set == {"id", "type", "description"}
    assert WorkflowNode.model_validate_json(node.model_dump_json()) == node


def test_records_pydantic_builds_keep_their_fields_in_a_key_sharing_dict() -> None:
    """Constructor, ``model_validate`` and ``model_validate_json`` alike: the fields live in
    a dict that shares the class's names (smaller than a dict of its own), and the records
    behave as pydantic's do (copies, assignment, a field added by assignment, pickling)."""
    import copy
    import pickle
    import sys

    data = {"id": "n1", "type": "transform", "description": "d", "dependencies": ["n0"]}
    built = [
        WorkflowNode(**data),
        WorkflowNode.model_validate(data),
        WorkflowNode.model_validate_json(json.dumps(data)),
        NodeResult("n1", "completed", result={"x": 1}),
    ]
    for record in built:
        own = dict(vars(record))
        assert sys.getsizeof(vars(record)) < sys.getsizeof(own), type(record)
        assert vars(record) == own
        assert list(vars(record)) == list(type(record).model_fields)
        for twin in (copy.copy(record), copy.deepcopy(record), pickle.loads(pickle.dumps(record))):
            assert twin == record
            assert twin.model_dump() == record.model_dump()
    node = built[0]
    node.description = "changed"
    node.parameters["k"] = 1
    assert node.model_dump()["description"] == "changed"
    assert node.parameters == {"k": 1} and built[1].parameters == {}
    assert node.model_fields_set == {"id", "type", "description", "dependencies"}
    assert node.model_copy(update={"id": "n2"}).id == "n2" and node.id == "n1"


def test_graph_edges_behave_as_sets() -> None:
    many = [WorkflowNode(id=f"d{i}", type="analyze", description="d") for i in range(12)]
    plan = WorkflowPlan(
        id="p",
        source_vibe=Vibe(description="v"),
        root_nodes=[
            *many,
            WorkflowNode(id="one", type="analyze", description="d", dependencies=["d0", "d0"]),
            WorkflowNode(
                id="all", type="analyze", description="d", dependencies=[n.id for n in many]
            ),
        ],
    )
    graph = plan_graph(plan)
    assert graph.before["one"] == {"d0"} and {"d0"} == graph.before["one"]
    assert graph.before["all"] == {n.id for n in many}
    assert graph.before["d0"] == set() and not graph.before["d0"]
    assert graph.after["d0"] == {"one", "all"}
    assert graph.before["one"] <= graph.before["all"]
    assert graph.before["all"] - {"d0"} == {f"d{i}" for i in range(1, 12)}
    assert "d3" in graph.before["all"] and "one" not in graph.before["all"]
    assert sorted(NodeSet(["b", "a", "b"])) == ["a", "b"]
    assert repr(NodeSet(["a"])) == "{'a'}" and repr(NodeSet()) == "set()"


class Echo(WorkflowExecutor):
    async def execute_node(self, node: WorkflowNode, context: Any) -> Any:
        return {"node": node.id, "text": f"out {node.id}"}


def test_a_durable_run_larger_than_a_batch_reads_back(tmp_path: Path) -> None:
    nodes = [
        WorkflowNode(
            id=f"n{i:04d}",
            type="transform",
            description="step",
            dependencies=[f"n{i - 1:04d}"] if i % 50 else [],
        )
        for i in range(1200)
    ]
    plan = WorkflowPlan(id="big", source_vibe=Vibe(description="v"), root_nodes=nodes)
    planner = MetaPlanner(executor=Echo(max_concurrency=None), checkpoint_dir=tmp_path)
    result = asyncio.run(planner.execute_with_resume(plan))
    assert result.status == ExecutionStatus.COMPLETED
    again = asyncio.run(planner.execute_with_resume(plan))
    assert again.status == ExecutionStatus.COMPLETED
    assert {k: r.output for k, r in again.node_results.items()} == {
        n.id: {"node": n.id, "text": f"out {n.id}"} for n in nodes
    }
    assert all(r.resumed for r in again.node_results.values())
    files = sorted((tmp_path / "big").glob("cp-*.json"))
    raw = files[-1].read_bytes()
    assert raw == documented_bytes(CODEC.decode(raw, "cp"))


def test_results_replayed_from_the_journal_share_the_plans_strings(tmp_path: Path) -> None:
    """A resume that replays the journal (here: the end snapshot lost) keeps no string of its
    own per result: each result's node id is the plan's, each output's names one string."""

    def plan() -> WorkflowPlan:
        return chain_plan(40, "shared-strings", prefix="s")

    folder = tmp_path / "cp"
    first = asyncio.run(
        MetaPlanner(executor=Echo(), checkpoint_dir=folder).execute_with_resume(plan())
    )
    assert first.status == ExecutionStatus.COMPLETED
    snapshots = sorted((folder / "shared-strings").glob("cp-*.json"), key=os.path.getmtime)
    assert len(snapshots) == 2
    snapshots[-1].unlink()  # as if the run had died after its last journal line
    given = plan()
    again = asyncio.run(
        MetaPlanner(executor=Echo(), checkpoint_dir=folder).execute_with_resume(given)
    )
    assert again.status == ExecutionStatus.COMPLETED
    results = [again.node_results[node.id] for node in given.root_nodes]
    assert all(r.resumed for r in results)
    assert all(r.node_id is node.id for r, node in zip(results, given.root_nodes, strict=True))
    names = {id(name) for r in results for name in r.output}
    assert len(names) == 2  # "node" and "text", once each
    assert [r.output for r in results] == [r.output for r in first.node_results.values()]


def test_a_snapshot_form_is_kept_with_its_result_only() -> None:
    """What a run's snapshots reuse is kept in the result itself: a copy, a pickle or a
    rebuilt result is another result and has none (then it is dumped afresh)."""
    import copy
    import pickle

    from vibe_aigc.jsondata import JsonText
    from vibe_aigc.results import keep_snapshot_form, snapshot_form

    result = NodeResult("a", "completed", result={"x": 1})
    assert snapshot_form(result) is None
    text = JsonText('{"node_id":"a"}')
    keep_snapshot_form(result, text)
    assert snapshot_form(result) is text
    assert "_snapshot_form" not in result.model_dump() and "_snapshot_form" not in vars(result)
    for other in (
        result.model_copy(),
        result.model_copy(update={"resumed": True}),
        copy.deepcopy(result),
        pickle.loads(pickle.dumps(result)),
    ):
        assert snapshot_form(other) is None
    assert result == NodeResult("a", "completed", result={"x": 1})


class FailsOnce(WorkflowExecutor):
    """Node s3 fails in the first run only."""

    def __init__(self, fail: bool) -> None:
        super().__init__()
        self.fail = fail

    async def execute_node(self, node: WorkflowNode, context: Any) -> Any:
        if self.fail and node.id == "s3":
            raise ValueError("not this time")
        return {"node": node.id}


@pytest.mark.parametrize("lose_end_snapshot", [True, False])
def test_a_resumed_runs_snapshot_holds_each_result_as_it_is(
    tmp_path: Path, lose_end_snapshot: bool
) -> None:
    """The texts a load keeps with its results (journal lines, or a sealed snapshot's
    entries) are what the resumed run's snapshot holds; a result that failed and runs again
    is written as it ends, not as the text it was loaded with."""
    folder = tmp_path / "cp"
    first = asyncio.run(
        MetaPlanner(executor=FailsOnce(True), checkpoint_dir=folder).execute_with_resume(
            chain_plan(8, "forms", prefix="s")
        )
    )
    assert first.node_results["s3"].status == ExecutionStatus.FAILED
    plan_dir = folder / "forms"
    if lose_end_snapshot:  # the results come back from the journal's lines
        sorted(plan_dir.glob("cp-*.json"), key=os.path.getmtime)[-1].unlink()
    again = asyncio.run(
        MetaPlanner(executor=FailsOnce(False), checkpoint_dir=folder).execute_with_resume(
            chain_plan(8, "forms", prefix="s")
        )
    )
    assert again.status == ExecutionStatus.COMPLETED
    assert [n for n, r in again.node_results.items() if r.resumed] == ["s0", "s1", "s2"]
    newest = sorted(plan_dir.glob("cp-*.json"), key=os.path.getmtime)[-1]
    stored = json.loads(newest.read_text())["node_results"]
    for node_id, result in again.node_results.items():
        assert stored[node_id] == result.model_dump(mode="json", exclude_none=True), node_id


def test_a_graph_keeps_parents_of_children_only() -> None:
    """A plan of roots holds no parent table (100k Nones were 4 MB); nested children still
    inherit their ancestors' dependencies through it."""
    roots = [
        WorkflowNode(id=f"n{i}", type="transform", description="s", dependencies=[f"n{i - 1}"])
        for i in range(1, 50)
    ]
    flat = WorkflowPlan(
        id="flat",
        root_nodes=[WorkflowNode(id="n0", type="analyze", description="s"), *roots],
        source_vibe=Vibe(description="d"),
    )
    assert plan_graph(flat).parent == {}
    leaf = WorkflowNode(id="leaf", type="generate", description="s")
    nested = WorkflowPlan(
        id="nested",
        root_nodes=[
            WorkflowNode(id="first", type="analyze", description="s"),
            WorkflowNode(
                id="box",
                type="composite",
                description="s",
                dependencies=["first"],
                children=[leaf],
            ),
        ],
        source_vibe=Vibe(description="d"),
    )
    graph = plan_graph(nested)
    assert graph.parent == {"leaf": "box"}
    assert graph.dependency_ids("leaf") == ["first"] and set(graph.before["leaf"]) == {"first"}
    assert set(graph.before["box"]) == {"first", "leaf"}
