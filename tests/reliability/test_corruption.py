"""Corruption fuzzing on the files of a real run: truncate, bit-flip, splice and rewrite every
checkpoint and journal file.

Loads must return exactly what was written or raise ``CheckpointCorruptError`` (never another
exception, never silently different data). Resume from latest must then pick the newest valid
state, say so (``resumed_from`` and ``warnings``), and finish with exactly the outputs of an
uninterrupted run.

The "real run" is a 40-node plan run with ``checkpoint_interval=6`` and ``keep_last=None``,
whose final checkpoint is then removed: the folder looks like a run that crashed just before
its last snapshot, so the journal holds records after the newest checkpoint. A second plan's
folder provides foreign files to splice in.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_kit import LedgerExecutor, build_chaos_plan

from store_records import sealed
from vibe_aigc import ExecutionStatus, MetaPlanner, NodeResult, WorkflowPlan
from vibe_aigc.errors import CheckpointCorruptError, UnsupportedSchemaError
from vibe_aigc.persistence import JsonCodec, WorkflowPersistenceManager
from vibe_aigc.persistence.codec import checksum_of
from vibe_aigc.persistence.file.journal import SEGMENT_RE
from vibe_aigc.runs import load_resume_state

PLAN_A, PLAN_B = "plan-fuzz-a", "plan-fuzz-b"
CODEC = JsonCodec()
FUZZ = settings(
    max_examples=int(os.environ.get("VIBE_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


class Pristine:
    """The untouched run (a plain class: hypothesis prints it by its short repr)."""

    def __init__(
        self,
        root: Path,
        plan: WorkflowPlan,
        reference: dict[str, Any],
        checkpoints: dict[str, dict[str, Any]],
        segments: dict[str, list[dict[str, Any]]],
        files: list[str],
        foreign: list[Path],
    ) -> None:
        self.root = root
        self.plan = plan
        self.reference = reference
        self.checkpoints = checkpoints  # id -> record (plan A)
        self.segments = segments  # file name -> records (plan A)
        self.files = files  # plan A file names that hold data
        self.foreign = foreign  # every data file of both plans (splice sources)

    def __repr__(self) -> str:
        return f"Pristine({self.root})"


def make_run(root: Path, plan: WorkflowPlan) -> None:
    planner = MetaPlanner(
        executor=LedgerExecutor(None, max_concurrency=1, scale=0.0),  # deterministic files
        persistence_manager=WorkflowPersistenceManager(root, keep_last=None),
        checkpoint_interval=6,
    )
    result = asyncio.run(planner.execute_with_resume(plan))
    assert result.status == ExecutionStatus.COMPLETED
    newest = planner.list_checkpoints(plan.id)[0]
    assert newest["state"] == "completed"
    (root / plan.id / f"{newest['checkpoint_id']}.json").unlink()  # "crashed before the end"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Pristine:
    root = tmp_path_factory.mktemp("pristine") / "cps"
    plan = build_chaos_plan(7, total=40, plan_id=PLAN_A)
    make_run(root, plan)
    make_run(root, build_chaos_plan(8, total=40, plan_id=PLAN_B))
    reference = asyncio.run(LedgerExecutor(None, scale=0.0).execute(plan))
    manager = WorkflowPersistenceManager(root)
    checkpoints = {
        cp["checkpoint_id"]: manager.load_checkpoint(cp["checkpoint_id"])
        for cp in manager.list_checkpoints(PLAN_A)
    }
    segments = {}
    for path in sorted((root / PLAN_A).iterdir()):
        if SEGMENT_RE.fullmatch(path.name):
            lines = path.read_bytes().splitlines()
            segments[path.name] = [CODEC.decode_line(line, path.name) for line in lines]
    assert len(checkpoints) >= 5 and len(segments) >= 2, (checkpoints.keys(), segments.keys())
    # the journal holds completions after the newest checkpoint
    newest = max(checkpoints)
    assert any(r["seq"] > checkpoints[newest]["journal_seq"] for s in segments.values() for r in s)
    files = [f"{c}.json" for c in checkpoints] + [s for s in segments if segments[s]]
    foreign = [
        root / p / f
        for p in (PLAN_A, PLAN_B)
        for f in sorted(
            x.name for x in (root / p).iterdir() if x.name.startswith(("cp-", "journal-"))
        )
    ]
    return Pristine(
        root=root,
        plan=plan,
        reference={k: v.output for k, v in reference.node_results.items()},
        checkpoints=checkpoints,
        segments=segments,
        files=files,
        foreign=foreign,
    )


# ---------------------------------------------------------------------- mutations


def rewrite_checkpoint(data: bytes, op: str, arg: int) -> bytes:
    """Valid JSON with a recomputed checksum, but wrong content."""
    obj = json.loads(data)
    obj.pop("checksum")
    node_ids = sorted(obj["node_results"])
    victim = node_ids[arg % len(node_ids)] if node_ids else None
    bad_values: list[Any] = [None, 0, -1, "x", [], {}, True, 1.5]
    if op == "drop-key":
        keys = sorted(k for k in obj if k != "schema_version")
        del obj[keys[arg % len(keys)]]
    elif op == "retype-key":
        keys = sorted(k for k in obj if k != "schema_version")
        obj[keys[arg % len(keys)]] = bad_values[arg % len(bad_values)]
    elif op == "bad-node-result" and victim is not None:
        field, value = [
            ("status", "bogus"),
            ("status", 5),
            ("attempts", "many"),
            ("started_at", "yesterday"),
            ("usage", {"tokens": "lots"}),
            ("node_id", 7),
            ("resumed", "maybe"),
        ][arg % 7]
        obj["node_results"][victim][field] = value
    elif op == "bad-plan":
        plan = obj["workflow_plan"]
        roots = plan["root_nodes"]
        choice = arg % 6
        if choice == 0:  # a cycle
            roots[0]["dependencies"] = [roots[-1]["id"]]
        elif choice == 1:  # another plan's id
            plan["id"] = "plan-somewhere-else"
        elif choice == 2:  # a duplicate id
            roots[1]["id"] = roots[0]["id"]
        elif choice == 3:  # a dangling dependency
            roots[-1]["dependencies"] = ["no-such-node"]
        elif choice == 4:  # a path for an id
            roots[-1]["id"] = "../../etc"
        else:
            plan["root_nodes"] = "nodes"
    elif op == "bad-memos":
        obj["memos"] = [["x"], 5, {"t000": 3}, "memo"][arg % 4]
    elif op == "newer-schema":
        obj["schema_version"] = 99
    elif op == "bad-journal-seq":
        obj["journal_seq"] = ["x", None, 1.5, 10**30][arg % 4]
    return sealed(obj)


def rewrite_line(data: bytes, op: str, arg: int) -> bytes:
    """One journal line rewritten with a recomputed checksum."""
    lines = data.split(b"\n")
    indexes = [i for i, line in enumerate(lines) if line]
    index = indexes[arg % len(indexes)]
    obj = json.loads(lines[index])
    obj.pop("c")
    if op == "drop-key":
        keys = sorted(k for k in obj if k != "v")
        del obj[keys[arg % len(keys)]]
    elif op == "bad-result":
        result = obj.get("result")
        if isinstance(result, dict):
            result[["status", "attempts", "completed_at"][arg % 3]] = "bogus"
        else:
            obj["value"] = object.__repr__(obj)  # a memo: still valid data
    elif op == "retype":
        keys = sorted(k for k in obj if k not in ("v", "seq"))
        obj[keys[arg % len(keys)]] = [None, 5, "x", [], {}][arg % 5]
    elif op == "seq":
        obj["seq"] = [-1, obj["seq"] + 1000, 0, "7"][arg % 4]
    elif op == "newer-version":
        obj["v"] = 9
    obj["c"] = checksum_of(obj)
    lines[index] = json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()
    return b"\n".join(lines)


@st.composite
def mutations(draw: st.DrawFn, kind: str) -> tuple[str, str, tuple[Any, ...]]:
    """(file selector, mutation name, arguments) - resolved against the pristine folder."""
    which = draw(st.integers(0, 10**6))
    name = draw(st.sampled_from(["truncate", "bit-flip", "splice", "rewrite"]))
    if name == "truncate":
        args: tuple[Any, ...] = (draw(st.floats(0, 1)),)
    elif name == "bit-flip":
        args = (draw(st.floats(0, 1, exclude_max=True)), draw(st.integers(0, 7)))
    elif name == "splice":
        args = (draw(st.integers(0, 10**6)), draw(st.floats(0, 1)), draw(st.floats(0, 1)))
        args += (draw(st.booleans()),)  # cut at line boundaries
    else:
        ops = (
            [
                "drop-key",
                "retype-key",
                "bad-node-result",
                "bad-plan",
                "bad-memos",
                "newer-schema",
                "bad-journal-seq",
            ]
            if kind == "checkpoint"
            else ["drop-key", "bad-result", "retype", "seq", "newer-version"]
        )
        args = (draw(st.sampled_from(ops)), draw(st.integers(0, 10**6)))
    return str(which), name, args


def cut_at(data: bytes, fraction: float, lines: bool) -> int:
    position = int(len(data) * fraction)
    if lines:
        previous = data.rfind(b"\n", 0, position)
        position = previous + 1 if previous >= 0 else 0
    return position


def apply(pristine: Pristine, folder: Path, target: str, name: str, args: tuple[Any, ...]) -> bytes:
    path = folder / PLAN_A / target
    data = path.read_bytes()
    if name == "truncate":
        new = data[: int(len(data) * args[0])]
    elif name == "bit-flip":
        raw = bytearray(data)
        raw[int(len(raw) * args[0])] ^= 1 << args[1]
        new = bytes(raw)
    elif name == "splice":
        other = pristine.foreign[args[0] % len(pristine.foreign)].read_bytes()
        new = data[: cut_at(data, args[1], args[3])] + other[cut_at(other, args[2], args[3]) :]
    elif target.endswith(".json"):
        new = rewrite_checkpoint(data, *args)
    else:
        new = rewrite_line(data, *args)
    path.write_bytes(new)
    return new


@contextlib.contextmanager
def copy_of(pristine: Pristine) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "cps"
        shutil.copytree(pristine.root, folder)
        yield folder


# ---------------------------------------------------------------------- the properties


def resume(pristine: Pristine, folder: Path) -> tuple[Any, list[str]]:
    """Resume from latest; returns (result, ledger of executions)."""
    ledger = folder.parent / "ledger.txt"
    planner = MetaPlanner(executor=LedgerExecutor(str(ledger), scale=0.0), checkpoint_dir=folder)
    result = asyncio.run(planner.execute_with_resume(pristine.plan))
    ran = ledger.read_text().split() if ledger.exists() else []
    return result, ran


def valid_checkpoints(folder: Path) -> list[str]:
    """Checkpoints of plan A that load *and* hold a runnable plan of plan A, newest first."""
    manager = WorkflowPersistenceManager(folder)
    out = []
    for checkpoint_id in manager.latest_checkpoint_ids(PLAN_A):
        try:
            record = manager.load_checkpoint(checkpoint_id, PLAN_A)
            plan = WorkflowPlan.model_validate(record["workflow_plan"])
            graph = plan.validate_plan()
            assert plan.id == PLAN_A
            done = set()
            for node_id, data in record["node_results"].items():
                result = NodeResult.model_validate({"node_id": node_id, **data})
                assert result.node_id == node_id
                if result.status == ExecutionStatus.COMPLETED:
                    done.add(node_id)
            assert done == set(record["completed_nodes"])
            assert all(graph.before[n] <= done for n in done)
            memos = record.get("memos", {})
            assert isinstance(memos, dict) and all(isinstance(v, dict) for v in memos.values())
        except Exception:
            continue
        out.append(checkpoint_id)
    return out


@FUZZ
@given(mutation=mutations("checkpoint"))
def test_checkpoint_file_mutations(pristine: Pristine, mutation: Any) -> None:
    which, name, args = mutation
    ids = sorted(pristine.checkpoints)
    checkpoint_id = ids[int(which) % len(ids)]
    with copy_of(pristine) as folder:
        written = apply(pristine, folder, f"{checkpoint_id}.json", name, args)
        manager = WorkflowPersistenceManager(folder)
        try:
            loaded = manager.load_checkpoint(checkpoint_id, PLAN_A)
        except CheckpointCorruptError as exc:
            assert exc.path == str(folder / PLAN_A / f"{checkpoint_id}.json")
            if name == "rewrite" and args[0] == "newer-schema":
                assert isinstance(exc, UnsupportedSchemaError) and "upgrade" in str(exc)
        else:
            if name == "rewrite":  # valid shape: exactly what the file says
                expected = json.loads(written)
                del expected["checksum"], expected["schema_version"]
                expected.pop("seal", None)  # written since schema v3
                expected.pop("format", None)  # optional: files from before it existed lack it
                assert loaded == expected
            else:
                assert loaded == pristine.checkpoints[checkpoint_id]
        listing = manager.list_checkpoints(PLAN_A)  # never raises
        assert len(listing) == len(ids)
        newer = name == "rewrite" and args[0] == "newer-schema" and checkpoint_id == max(ids)
        check_resume(pristine, folder, ids, newer=newer)


REWRITES = [
    (op, arg)
    for op, count in [
        ("drop-key", 16),
        ("retype-key", 16),
        ("bad-node-result", 7),
        ("bad-plan", 6),
        ("bad-memos", 4),
        ("newer-schema", 1),
        ("bad-journal-seq", 4),
    ]
    for arg in range(count)
]


@pytest.mark.parametrize(("op", "arg"), REWRITES)
def test_every_rewrite_of_the_newest_checkpoint(pristine: Pristine, op: str, arg: int) -> None:
    """The table behind the fuzzing: each hand edit of the newest checkpoint, resumed."""
    ids = sorted(pristine.checkpoints)
    with copy_of(pristine) as folder:
        apply(pristine, folder, f"{max(ids)}.json", "rewrite", (op, arg))
        check_resume(pristine, folder, ids, newer=op == "newer-schema")


def check_resume(pristine: Pristine, folder: Path, ids: list[str], newer: bool = False) -> None:
    valid = valid_checkpoints(folder)
    newest = max(ids)
    if newer:  # written by a newer vibe-aigc: stop and ask for an upgrade, change nothing
        before = sorted(p.name for p in (folder / PLAN_A).iterdir())
        with pytest.raises(UnsupportedSchemaError, match="upgrade"):
            resume(pristine, folder)
        assert sorted(p.name for p in (folder / PLAN_A).iterdir()) == before
        return
    with copy_of_folder(folder) as again:
        assert check_state(pristine, again).checkpoint_id == valid[0]
    result, _ = resume(pristine, folder)
    assert result.status == ExecutionStatus.COMPLETED
    assert {k: v.output for k, v in result.node_results.items()} == pristine.reference
    assert result.resumed_from == valid[0]
    if valid[0] != newest:
        assert any(newest in w for w in result.warnings), result.warnings
        assert any(f"resumed from {valid[0]}" in w for w in result.warnings), result.warnings


def all_lines(pristine: Pristine) -> list[dict[str, Any]]:
    """Every journal record of both plans (what a splice may legitimately bring in)."""
    out = []
    for path in pristine.foreign:
        if path.name.startswith("journal-"):
            out += [CODEC.decode_line(line, path.name) for line in path.read_bytes().splitlines()]
    return out


def check_state(pristine: Pristine, folder: Path) -> Any:
    """Rebuild the resume state: outputs as written, and dependency-closed (a node recorded as
    completed never waits on a node that is not: that would be an output built on a lost
    past)."""
    manager = WorkflowPersistenceManager(folder)
    with manager.lease(PLAN_A) as lease:
        state = load_resume_state(manager, lease, PLAN_A)
    assert state is not None
    graph = state.plan.validate_plan()
    for node_id, result in state.completed.items():
        assert result.output == pristine.reference[node_id], node_id
        missing = [b for b in graph.before[node_id] if b not in state.completed]
        assert not missing, f"{node_id} completed but {missing} not"
    return state


@FUZZ
@given(mutation=mutations("journal"))
def test_journal_file_mutations(pristine: Pristine, mutation: Any) -> None:
    which, name, args = mutation
    names = sorted(n for n in pristine.segments if pristine.segments[n])
    target = names[int(which) % len(names)]
    original = [r for s in sorted(pristine.segments) for r in pristine.segments[s]]
    with copy_of(pristine) as folder:
        apply(pristine, folder, target, name, args)
        manager = WorkflowPersistenceManager(folder)
        try:
            records, _ = manager.read_journal(PLAN_A)
        except CheckpointCorruptError as exc:
            assert str(folder / PLAN_A) in exc.path
        else:
            # each record read is a record that was written (whole lines of a spliced-in
            # file included); a rewrite changes exactly one
            allowed = all_lines(pristine) if name == "splice" else original
            strangers = [r for r in records if r not in allowed]
            assert len(strangers) <= (1 if name == "rewrite" else 0), strangers
        covered = max(r["seq"] for r in pristine.segments[target]) <= max(
            c["journal_seq"] for c in pristine.checkpoints.values()
        )
        if name == "rewrite" and args[0] == "newer-version" and not covered:
            # a line a resume must read was written by a newer version: stop, change nothing
            check_resume(pristine, folder, sorted(pristine.checkpoints), newer=True)
            return
        with copy_of_folder(folder) as again:
            state = check_state(pristine, again)
            full = len(state.completed) == len(pristine.plan.node_ids)
            if not full and not state.warnings:
                # silently shorter: only whole lines cut off the end of the newest segment
                # (the same files as a crash before those appends)
                assert target == max(names) and name in ("truncate", "splice"), (name, args)
        result, _ = resume(pristine, folder)
        assert result.status == ExecutionStatus.COMPLETED
        assert {k: v.output for k, v in result.node_results.items()} == pristine.reference
        assert result.resumed_from == max(pristine.checkpoints)


@contextlib.contextmanager
def copy_of_folder(folder: Path) -> Any:
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copytree(folder, Path(tmp) / "cps")
        yield Path(tmp) / "cps"


def test_resume_state_after_every_single_truncation_of_the_newest_segment(
    pristine: Pristine,
) -> None:
    """Exhaustive on line boundaries: a shorter journal is always a consistent prefix."""
    newest = max(n for n in pristine.segments if pristine.segments[n])
    data = (pristine.root / PLAN_A / newest).read_bytes()
    ends = [i + 1 for i, byte in enumerate(data) if byte == 10]
    with copy_of(pristine) as folder:
        manager = WorkflowPersistenceManager(folder)
        for end in [0, *ends]:
            (folder / PLAN_A / newest).write_bytes(data[:end])
            with manager.lease(PLAN_A) as lease:
                assert load_resume_state(manager, lease, PLAN_A) is not None
            check_state(pristine, folder)
