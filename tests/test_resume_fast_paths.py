"""The resume path's shortcuts (issue 15) accept exactly what the full checks accept.

* a journal line's checksum is verified over its bytes as written; every line the strict
  reader refuses (duplicate keys, NaN, numbers out of range, lone surrogates, invalid UTF-8,
  a second ``"c"``, bad shapes) is refused all the same, even when the bytes hash right;
* stored node results load exactly as the full validation loads them (the same values and
  types, the same refusals), whatever shape a file gives them;
* a resume pauses the cyclic garbage collector only while it decodes, and restores it (also
  when the resume fails);
* a resume with the stored plan itself keeps every output and memo it should.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from test_fast_paths import chain
from vibe_aigc import ExecutionStatus, MetaPlanner, WorkflowExecutor, WorkflowPlan
from vibe_aigc.errors import CheckpointCorruptError, UnsupportedSchemaError
from vibe_aigc.persistence.codec import JsonCodec
from vibe_aigc.results import NodeResult, TextOutput
from vibe_aigc.runs.checked import results_from_record
from vibe_aigc.runs.stored import mark_resumed

CODEC = JsonCodec()


def as_written(body: bytes) -> bytes:
    """``body`` (a JSON object's bytes) as a journal line whose checksum hashes exactly these
    bytes: the form the writer uses, whatever the bytes say."""
    digest = hashlib.sha256(body).hexdigest()
    return body[:-1] + b',"c":"sha256:' + digest.encode() + b'"}\n'


def test_lines_as_written_read_back_as_the_strict_reader_reads_them() -> None:
    records: list[dict[str, Any]] = [
        {"seq": 0, "node_id": "a", "result": {"output": {"text": 'é \u2028 "q" \\ \t'}}},
        {"seq": 1, "n": -0.0, "f": 1.2e-05, "big": 2**70, "deep": [[[{}]]], "u": "\U0001f600"},
        {"seq": 2, "kind": "memo", "key": "job", "value": None},
        {"seq": 3, "text": "control \x01 and backslash-u \\u0041"},  # takes the strict path
    ]
    for record in records:
        assert CODEC.decode_line(CODEC.encode_line(record), "j") == record


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b'{"seq":1,"seq":2,"v":1}', "duplicate key"),
        (b'{"seq":1,"v":1,"x":{"a":1,"a":1}}', "duplicate key"),
        (b'{"seq":1,"v":1,"x":NaN}', "not JSON data"),
        (b'{"seq":1,"v":1,"x":-Infinity}', "not JSON data"),
        (b'{"seq":1,"v":1,"x":1e400}', "cannot be checksummed"),
        (b'{"seq":1,"v":1,"x":"\\ud800"}', "cannot be checksummed"),
        (b'{"seq":1,"v":1,"x":"\xff"}', "not UTF-8"),
        (b'{"seq":1,"v":1,"c":"sha256:00"}', "duplicate key"),  # a second "c"
        (b'{"seq":1,"v":true}', "'v' must be an integer"),
        (b'{"seq":true,"v":1}', "seq"),
        (b'{"seq":-1,"v":1}', "seq"),
        (b'{"v":1}', "seq"),
    ],
)
def test_lines_the_strict_reader_refuses_are_refused_however_they_hash(
    body: bytes, reason: str
) -> None:
    with pytest.raises(CheckpointCorruptError) as info:
        CODEC.decode_line(as_written(body), "j")
    assert reason in info.value.reason


def test_a_newer_journal_version_is_never_accepted_quickly() -> None:
    with pytest.raises(UnsupportedSchemaError):
        CODEC.decode_line(as_written(b'{"seq":1,"v":2}'), "j")


def test_a_line_hashing_right_as_written_loads_exactly_what_it_says() -> None:
    # not canonical (spaces, keys out of order), but its checksum covers its bytes
    line = as_written(b'{"v": 1, "seq": 4, "node_id": "a", "x": [1.50, "b"]}')
    assert CODEC.decode_line(line, "j") == {"seq": 4, "node_id": "a", "x": [1.5, "b"]}


def test_damaged_lines_as_written_are_refused() -> None:
    line = CODEC.encode_line({"seq": 5, "x": 1})
    for damaged in (
        line.replace(b'"x":1', b'"x":2'),  # content changed
        line.replace(b"sha256:", b"sha256:0")[:-3] + b'"}\n',  # digest changed
        line[:10] + line[11:],  # a byte lost
    ):
        with pytest.raises(CheckpointCorruptError):
            CODEC.decode_line(damaged, "j")


# ---------------------------------------------------------------------- stored results


def written(result: NodeResult) -> dict[str, Any]:
    """A result as snapshots and journal entries store it."""
    return json.loads(json.dumps(result.model_dump(mode="json", exclude_none=True)))


def full_way(node_id: str, data: dict[str, Any]) -> NodeResult | str:
    """The verdict of the full validation plus the loader's rules (finished, of this node)."""
    try:
        result = NodeResult.model_validate({"node_id": node_id, **data})
    except ValueError:
        return "refused"
    if result.node_id != node_id or result.status.value not in ("completed", "failed", "skipped"):
        return "refused"
    return result


def loaded(node_id: str, data: dict[str, Any]) -> NodeResult | str:
    try:
        return results_from_record({"node_results": {node_id: data}})[node_id]
    except CheckpointCorruptError:
        return "refused"


def same(a: NodeResult | str, b: NodeResult | str) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return (
        a == b
        and a.model_dump() == b.model_dump()
        and a.model_dump(mode="json") == b.model_dump(mode="json")
        and a.model_dump_json() == b.model_dump_json()
        and a.model_fields_set == b.model_fields_set
        and list(vars(a)) == list(vars(b))
        and type(a.output) is type(b.output)
        and type(a.status) is type(b.status)
        and a.started_at == b.started_at
        and all(
            (x is None) == (y is None) and (x is None or x.utcoffset() == y.utcoffset())
            for x, y in ((a.started_at, b.started_at), (a.completed_at, b.completed_at))
        )
    )


RUN = NodeResult(
    node_id="a",
    status="completed",
    output={"text": "hello", "tool": "t"},
    attempts=2,
    duration=0.5,
    usage={"prompt_tokens": 3.0, "cost": 0.25},
).model_copy(
    update={
        "started_at": NodeResult.model_validate(
            {"node_id": "a", "started_at": "2026-01-02T03:04:05.123456Z"}
        ).started_at,
        "completed_at": NodeResult.model_validate(
            {"node_id": "a", "completed_at": "2026-01-02T03:04:06Z"}
        ).completed_at,
    }
)


@pytest.mark.parametrize(
    "data",
    [
        written(RUN),
        written(NodeResult(node_id="a", status="failed", error="boom", attempts=3)),
        written(NodeResult(node_id="a", status="skipped", error="upstream failed")),
        {**written(RUN), "output": [1, {"text": 2}]},
        {**written(RUN), "output": {"text": "t"}},
        {**written(RUN), "resumed": True},
        # shapes the library does not write: the full validation decides, as before
        {**written(RUN), "attempts": True},
        {**written(RUN), "attempts": 1.0},
        {**written(RUN), "duration": 3},
        {**written(RUN), "usage": {"tokens": 3}},
        {**written(RUN), "usage": {"tokens": "3"}},
        {**written(RUN), "started_at": "2026-01-02T03:04:05+00:00"},
        {**written(RUN), "started_at": "2026-01-02"},
        {**written(RUN), "started_at": "2026-13-02T03:04:05Z"},
        {**written(RUN), "started_at": 1767323045},
        {**written(RUN), "status": "pending"},
        {**written(RUN), "status": "COMPLETED"},
        {**written(RUN), "status": ["completed"]},
        {**written(RUN), "node_id": "b"},
        {**written(RUN), "error": 3},
        {**written(RUN), "resumed": "yes"},
        {**written(RUN), "unknown": 1},
        {"status": "completed"},
    ],
)
def test_stored_results_load_as_the_full_validation_loads_them(data: dict[str, Any]) -> None:
    assert same(loaded("a", data), full_way("a", data))


_TIMES = st.one_of(
    st.none(),
    st.datetimes(timezones=st.just(UTC)).map(lambda d: d.isoformat().replace("+00:00", "Z")),
    st.sampled_from(
        [
            "2026-01-02T03:04:05Z",
            "2026-01-02T03:04:05.1Z",
            "2026-01-02T03:04:05.1234567Z",
            "2026-01-02T03:04:05+00:00",
            "2026-01-02 03:04:05Z",
            "2026-02-30T03:04:05Z",
            "2026-01-02T24:00:00Z",
            "2026-01-02",
            "",
        ]
    ),
    st.integers(0, 2**40),
    st.floats(allow_nan=False),
)
_VALUES: dict[str, Any] = {
    "node_id": st.sampled_from(["a", "b", 1, None]),
    "status": st.sampled_from(
        ["completed", "failed", "skipped", "pending", "running", "COMPLETED", 1, None]
    ),
    "output": st.one_of(
        st.none(),
        st.integers(),
        st.text(max_size=5),
        st.dictionaries(
            st.sampled_from(["text", "tool", "x"]), st.one_of(st.text(max_size=3), st.integers())
        ),
        st.lists(st.integers(), max_size=3),
    ),
    "error": st.one_of(st.none(), st.text(max_size=5), st.integers()),
    "attempts": st.one_of(st.integers(-3, 2**70), st.booleans(), st.floats(), st.text(max_size=2)),
    "started_at": _TIMES,
    "completed_at": _TIMES,
    "duration": st.one_of(
        st.none(), st.floats(allow_nan=False), st.integers(), st.text(max_size=2)
    ),
    "usage": st.one_of(
        st.none(),
        st.dictionaries(
            st.text(max_size=3),
            st.one_of(st.floats(allow_nan=False), st.integers(), st.text(max_size=2)),
            max_size=3,
        ),
        st.lists(st.integers(), max_size=2),
    ),
    "resumed": st.one_of(st.booleans(), st.integers(0, 1), st.text(max_size=2)),
    "unknown": st.integers(),
}


@settings(max_examples=400, deadline=None)
@given(st.fixed_dictionaries({}, optional=_VALUES))
def test_any_stored_shape_loads_as_the_full_validation_loads_it(data: dict[str, Any]) -> None:
    assert same(loaded("a", data), full_way("a", data))


@given(
    st.builds(
        NodeResult,
        node_id=st.just("a"),
        status=st.sampled_from(["completed", "failed", "skipped"]),
        output=st.one_of(
            st.none(), st.dictionaries(st.sampled_from(["text", "k"]), st.text(max_size=3))
        ),
        error=st.one_of(st.none(), st.text(max_size=5)),
        attempts=st.integers(0, 5),
        started_at=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
        completed_at=st.one_of(st.none(), st.datetimes(timezones=st.just(UTC))),
        duration=st.one_of(st.none(), st.floats(0, 1e6)),
        usage=st.one_of(
            st.none(), st.dictionaries(st.sampled_from(["cost", "tokens"]), st.floats(0, 10))
        ),
        resumed=st.booleans(),
    )
)
def test_every_result_the_library_writes_loads_back_equal(result: NodeResult) -> None:
    stored = written(result)
    back = loaded("a", stored)
    assert same(back, full_way("a", stored))
    assert isinstance(back, NodeResult) and back == result
    marked = mark_resumed(back)
    assert marked is back and back.resumed is True and "resumed" in back.model_fields_set
    assert back.model_dump()["resumed"] is True and back.model_copy().resumed is True
    fresh = mark_resumed(NodeResult(node_id="a", status="completed"))  # not set yet
    assert fresh.resumed is True and "resumed" in fresh.model_fields_set
    # built marked (a resume's load) = built, then marked when completed
    built = results_from_record({"node_results": {"a": stored}}, resumed=True)["a"]
    plain = loaded("a", stored)
    assert isinstance(plain, NodeResult)
    expected = mark_resumed(plain) if result.status == "completed" else plain
    assert built == expected and built.model_fields_set == expected.model_fields_set
    assert vars(built) == vars(expected)


def test_the_direct_way_is_on_with_this_pydantic() -> None:
    """The quick build is checked against pydantic at import; with the pydantic this project
    pins it must be on (else resumes silently lose their speed)."""
    from vibe_aigc.runs import stored

    assert stored._DIRECT


def test_a_text_output_reads_as_its_text_after_loading() -> None:
    result = loaded("a", written(RUN))
    assert isinstance(result, NodeResult) and isinstance(result.output, TextOutput)
    assert str(result.output) == "hello" and result.usage == {"prompt_tokens": 3.0, "cost": 0.25}


# ---------------------------------------------------------------------- whole resumes


class Stops(WorkflowExecutor):
    """Remembers a note in every node, fails at node ``stop`` (once)."""

    def __init__(self, stop: str | None) -> None:
        super().__init__(max_concurrency=1)
        self.stop = stop
        self.ran: list[str] = []

    async def execute_node(self, node: Any, context: Any) -> Any:
        self.ran.append(node.id)
        await context.remember("seen", node.id)
        if node.id == self.stop:
            raise RuntimeError("stop here")
        return {"text": node.id}


def test_resume_with_the_stored_plan_keeps_outputs_and_restores_the_collector(
    tmp_path: Path,
) -> None:
    plan = chain(6)
    first = MetaPlanner(executor=Stops("n3"), checkpoint_dir=tmp_path)
    failed = asyncio.run(first.execute_with_resume(plan))
    assert failed.status.value == "failed"
    assert gc.isenabled()

    again = Stops(None)
    done = asyncio.run(
        MetaPlanner(executor=again, checkpoint_dir=tmp_path).execute_with_resume(chain(6))
    )
    assert done.status.value == "completed"
    assert again.ran == ["n3", "n4", "n5"]  # n0..n2 kept; the failed node runs again
    assert [done.node_results[f"n{i}"].resumed for i in range(6)] == [True] * 3 + [False] * 3
    assert str(done.node_results["n1"].output) == "n1"
    assert gc.isenabled()

    gc.disable()  # a caller that runs without the collector keeps it off
    try:
        stored = asyncio.run(
            MetaPlanner(executor=Stops(None), checkpoint_dir=tmp_path).execute_with_resume(chain(6))
        )
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert all(r.resumed for r in stored.node_results.values())
    assert {n: r.output for n, r in stored.node_results.items()} == {
        n: r.output for n, r in done.node_results.items()
    }


class FreezeSeen(WorkflowExecutor):
    """Records whether objects were frozen (gc.freeze) while each node ran."""

    def __init__(self) -> None:
        super().__init__(max_concurrency=1)
        self.frozen: list[int] = []

    async def execute_node(self, node: Any, context: Any) -> Any:
        self.frozen.append(gc.get_freeze_count())
        return {"text": node.id}


class Cycle:
    def __init__(self) -> None:
        self.me = self


def test_a_resume_freezes_what_it_loaded_for_its_run_and_gives_it_back(tmp_path: Path) -> None:
    assert gc.get_freeze_count() == 0
    asyncio.run(
        MetaPlanner(executor=Stops("n3"), checkpoint_dir=tmp_path).execute_with_resume(chain(6))
    )
    seen = FreezeSeen()
    done = asyncio.run(
        MetaPlanner(executor=seen, checkpoint_dir=tmp_path).execute_with_resume(chain(6))
    )
    assert done.status.value == "completed" and len(seen.frozen) == 3
    assert all(count > 0 for count in seen.frozen)  # the loaded records: out of the collector's way
    assert gc.get_freeze_count() == 0 and gc.isenabled()  # given back when the run ended
    # a cycle that became garbage while frozen is collected once the run has ended
    collected = []
    import weakref

    cycle = Cycle()
    ref = weakref.ref(cycle, collected.append)
    gc.freeze()  # a program that freezes objects itself keeps its own freeze
    try:
        theirs = gc.get_freeze_count()
        del cycle
        stored = asyncio.run(
            MetaPlanner(executor=Stops(None), checkpoint_dir=tmp_path).execute_with_resume(chain(6))
        )
        assert all(r.resumed for r in stored.node_results.values())
        assert gc.get_freeze_count() >= theirs
    finally:
        gc.unfreeze()
    gc.collect()
    assert ref() is None and collected


class Counting(MetaPlanner):
    """Counts the plans it checks (check_plan, public)."""

    checks: list[int]

    def check_plan(self, plan: WorkflowPlan, graph: Any = None) -> Any:
        self.checks.append(plan.total_nodes)
        return super().check_plan(plan, graph)


def test_a_plan_is_checked_once_when_it_runs_and_not_at_all_with_nothing_left(
    tmp_path: Path,
) -> None:
    Counting.checks = []
    failed = asyncio.run(
        Counting(executor=Stops("n3"), checkpoint_dir=tmp_path).execute_with_resume(chain(6))
    )
    assert failed.status.value == "failed" and Counting.checks == [6]  # the fresh run
    done = asyncio.run(
        Counting(executor=Stops(None), checkpoint_dir=tmp_path).execute_with_resume(chain(6))
    )
    assert done.status.value == "completed" and Counting.checks == [6, 6]  # it ran again
    stored = asyncio.run(
        Counting(executor=Stops(None), checkpoint_dir=tmp_path).execute_with_resume(chain(6))
    )
    assert all(r.resumed for r in stored.node_results.values())
    assert Counting.checks == [6, 6]  # stored exactly as given, nothing to run: not checked
    edited = chain(6)
    edited.root_nodes[5].description = "changed"
    again = asyncio.run(
        Counting(executor=Stops(None), checkpoint_dir=tmp_path).execute_with_resume(edited)
    )
    assert again.status.value == "completed" and Counting.checks == [6, 6, 6]
    assert [n for n, r in again.node_results.items() if not r.resumed] == ["n5"]


def test_an_invalid_plan_is_still_refused_before_anything_runs(tmp_path: Path) -> None:
    plan = chain(3)
    asyncio.run(
        MetaPlanner(executor=Stops(None), checkpoint_dir=tmp_path).execute_with_resume(plan)
    )
    cyclic = chain(3)
    cyclic.root_nodes[0].dependencies = ["n2"]
    with pytest.raises(Exception, match="cycle"):
        asyncio.run(
            MetaPlanner(executor=Stops(None), checkpoint_dir=tmp_path).execute_with_resume(cyclic)
        )
    with pytest.raises(Exception, match="cycle"):
        asyncio.run(Stops(None).execute(cyclic))


class Secretive(WorkflowExecutor):
    """Fails at node ``stop`` once; records the api key each node saw."""

    def __init__(self, stop: str | None) -> None:
        super().__init__(max_concurrency=1)
        self.stop = stop
        self.keys: list[str] = []

    async def execute_node(self, node: Any, context: Any) -> Any:
        self.keys.append(node.parameters["api_key"])
        if node.id == self.stop:
            raise RuntimeError("stop here")
        return {"text": node.id}


def test_the_end_snapshot_of_a_resume_stores_the_plan_as_before(tmp_path: Path) -> None:
    def plan() -> WorkflowPlan:
        made = chain(4)
        for node in made.root_nodes:
            node.parameters = {"api_key": "sk-very-secret-value", "words": 3}
        return made

    asyncio.run(
        MetaPlanner(executor=Secretive("n2"), checkpoint_dir=tmp_path).execute_with_resume(plan())
    )
    folder = tmp_path / "fast-chain"
    first = {p.name for p in folder.glob("cp-*.json")}
    again = Secretive(None)
    done = asyncio.run(
        MetaPlanner(executor=again, checkpoint_dir=tmp_path).execute_with_resume(plan())
    )
    assert done.status.value == "completed"
    assert again.keys == ["sk-very-secret-value"] * 2  # the run used the caller's plan
    (end,) = [p for p in folder.glob("cp-*.json") if p.name not in first]
    assert b"sk-very-secret-value" not in end.read_bytes()
    stored = [json.loads(p.read_bytes())["workflow_plan"] for p in sorted(folder.glob("cp-*"))]
    assert all(s == stored[0] for s in stored)
    assert stored[0]["root_nodes"][0]["parameters"]["words"] == 3
    listed = MetaPlanner(checkpoint_dir=tmp_path).list_checkpoints()
    assert [c["state"] for c in listed][:1] == ["completed"]
    # the resumed results are stored as they loaded, marked resumed
    ends = json.loads(end.read_bytes())["node_results"]
    assert ends == {
        n: r.model_dump(mode="json", exclude_none=True) for n, r in done.node_results.items()
    }
    assert [ends[n]["resumed"] for n in ("n0", "n1", "n2", "n3")] == [True, True, False, False]


def test_the_collector_runs_again_after_a_resume_that_fails(tmp_path: Path) -> None:
    asyncio.run(
        MetaPlanner(executor=Stops("n1"), checkpoint_dir=tmp_path).execute_with_resume(chain(3))
    )
    for snapshot in (tmp_path / "fast-chain").glob("cp-*.json"):
        snapshot.write_bytes(b"{}")  # every checkpoint damaged: nothing to resume from
    with pytest.raises(CheckpointCorruptError, match="none of the"):
        asyncio.run(
            MetaPlanner(executor=Stops(None), checkpoint_dir=tmp_path).execute_with_resume(chain(3))
        )
    assert gc.isenabled()


EDITS = """
import asyncio, os, sys
from vibe_aigc import MetaPlanner, Vibe, WorkflowExecutor, WorkflowNode, WorkflowPlan

folder, edited, crash_at = sys.argv[1], sys.argv[2] == "edited", sys.argv[3]
ids = ["a", "b", "d", "c"] if edited else ["a", "b", "c"]
waits = {"a": [], "b": ["a"], "c": ["b"], "d": ["b"]}
nodes = [
    WorkflowNode(
        id=i,
        type="transform",
        description="changed" if edited and i == "c" else "step",
        dependencies=waits[i],
    )
    for i in ids
]
plan = WorkflowPlan(id="edited", root_nodes=nodes, source_vibe=Vibe(description="x"))


class Work(WorkflowExecutor):
    async def execute_node(self, node, context):
        if node.id == crash_at:
            os._exit(3)  # a power cut: no end snapshot
        print("ran", node.id, flush=True)
        return {"text": node.id}


result = asyncio.run(
    MetaPlanner(executor=Work(max_concurrency=1), checkpoint_dir=folder).execute_with_resume(
        plan
    )
)
print("status", result.status.value)
for warning in result.warnings:
    print("warning", warning)
"""


def test_an_edited_plan_that_crashes_resumes_with_its_own_progress(tmp_path: Path) -> None:
    """A resume with an edited plan writes a start snapshot of the edited plan: the store
    alone does not reproduce that state. Without it, a crash left the new plan's journal
    entries after the old plan's snapshot, and the next resume read them against the old
    plan (a new node's entry looked like damage and was set aside)."""
    script = tmp_path / "edits.py"
    script.write_text(EDITS)
    folder = tmp_path / "cps"

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, str(script), str(folder), *args],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    first = run("original", "-")
    assert first.returncode == 0 and "status completed" in first.stdout, first.stderr
    crashed = run("edited", "c")  # runs d (new), then dies in c (changed)
    assert crashed.returncode == 3 and "ran d" in crashed.stdout, crashed.stderr
    again = run("edited", "-")
    assert again.returncode == 0, again.stderr
    assert "status completed" in again.stdout
    assert "ran c" in again.stdout and "ran d" not in again.stdout  # d's output was kept
    assert "damaged" not in again.stdout


def test_a_runs_pending_results_are_what_pydantic_builds() -> None:
    """The scheduler's starting state builds its pending results as copies of one (issue 15):
    each equals ``NodeResult(node_id=...)`` and changes like one, without touching another."""
    from vibe_aigc.results import ExecutionResult

    state = ExecutionResult.starting("p", ["a", "b"])
    for node_id, result in state.node_results.items():
        built = NodeResult(node_id=node_id)
        assert same(result, built) and repr(result) == repr(built)
    a, b = state.node_results["a"], state.node_results["b"]
    a.status, a.output = ExecutionStatus.COMPLETED, {"text": "x"}
    assert b.status == ExecutionStatus.PENDING and b.output is None
    assert a.model_fields_set == {"node_id", "status", "output"}
    assert b.model_fields_set == {"node_id"}
    assert state.model_dump(mode="json")["node_results"]["a"]["status"] == "completed"
    done = NodeResult(node_id="a", status="completed", output={"text": "kept"})
    failed = NodeResult(node_id="b", status="failed", error="boom")
    taken = ExecutionResult.starting("p", ["a", "b"], {"a": done, "b": failed})
    assert taken.node_results["a"] is done  # taken over, not a pending one to replace
    assert same(taken.node_results["b"], NodeResult(node_id="b"))  # only completed ones


# ---------------------------------------------------------------------- a segment's lines


@settings(max_examples=300, deadline=None)
@given(
    raw=st.lists(st.sampled_from([b"a", b"bc", b"\n", b"\n\n", b"\x00"]), max_size=30).map(
        b"".join
    ),
    cut=st.integers(0, 40),
    asked=st.lists(st.integers(0, 40), max_size=4),
    block=st.integers(1, 9),
)
def test_segment_lines_are_the_lines_of_the_data(
    raw: bytes, cut: int, asked: list[int], block: int
) -> None:
    """A segment's lines (read a block at a time, found lazily: a covered journal reads its
    last line only) are exactly the newline-ended lines of its data, whatever is asked first
    and wherever the blocks cut them."""
    from vibe_aigc.persistence.file.lines import Lines

    end = min(cut, len(raw))
    *complete, tail = raw[:end].split(b"\n")
    last = raw.rfind(b"\n", 0, end)
    with tempfile.TemporaryFile() as file:
        file.write(raw)
        file.flush()
        lines = Lines(file.fileno(), end, last, raw.rfind(b"\n", 0, max(last, 0)) + 1, block)
        assert len(lines) == len(complete) and lines.tail == tail
        assert lines.last_line() == (complete[-1] if complete else None)
        for index in asked:  # in any order, the last one possibly first
            if index < len(complete):
                assert lines[index] == complete[index]
        for skip in (0, 1, len(complete) // 2, len(complete) - 1, len(complete), len(complete) + 1):
            assert list(lines.after(max(skip, 0))) == complete[max(skip, 0) :]


def test_a_segment_cut_while_it_is_read_is_an_error_not_fewer_lines(tmp_path: Path) -> None:
    """Lines read a block at a time from a file cut meanwhile (no writer cuts before the
    scan's last newline: this is another program) raise OSError instead of ending early."""
    from vibe_aigc.persistence.file.lines import Lines

    path = tmp_path / "segment"
    path.write_bytes(b"one\ntwo\nthree\n")
    fd = os.open(path, os.O_RDWR)
    try:
        lines = Lines(fd, 14, 13, 8, block=4)
        os.ftruncate(fd, 6)
        with pytest.raises(OSError):
            list(lines.after(0))
    finally:
        os.close(fd)


def test_a_journal_the_snapshot_covers_is_not_read_past_its_last_line(tmp_path: Path) -> None:
    """Lines a snapshot covers are not read: damage among them (here a line lost and one
    garbled in the middle) costs nothing, and a resume with nothing left reads the last."""
    planner = MetaPlanner(executor=Stops(None), checkpoint_dir=tmp_path)
    assert asyncio.run(planner.execute_with_resume(chain(12))).status == ExecutionStatus.COMPLETED
    (journal,) = (tmp_path / "fast-chain").glob("journal-*.jsonl")
    lines = journal.read_bytes().rstrip(b"\0").split(b"\n")
    del lines[4]
    lines[6] = b"not json at all"
    journal.write_bytes(b"\n".join(lines))
    again = MetaPlanner(executor=Stops(None), checkpoint_dir=tmp_path)
    result = asyncio.run(again.execute_with_resume(chain(12)))
    assert result.status == ExecutionStatus.COMPLETED and result.warnings == []
    assert all(r.resumed for r in result.node_results.values())
