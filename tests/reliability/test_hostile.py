"""Hostile input: ids that try to leave the checkpoint folder, foreign and hand-edited files,
symlinks pointing out, a newer schema, huge plans, and bad model answers.

Every API entry point (``MetaPlanner``, ``WorkflowPersistenceManager``, ``FileCheckpointStore``,
``ArtifactStore``) and every CLI entry point gets every id of :data:`CORPUS`. An audit hook
(:mod:`audit`) records each file the process opens, lists, creates, renames or removes while a
call runs: nothing may be touched outside the checkpoint folder, and a tree snapshot of the
sandbox around it must be unchanged. The CLI runs as the installed ``vibe-aigc`` (a
subprocess; checked by tree snapshots) and, for ids no argv can carry (NUL), in-process.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from audit import FileAccess
from reliability_kit import LedgerExecutor, build_chaos_plan, tree_state

from vibe_aigc import (
    ExecutionStatus,
    MetaPlanner,
    Vibe,
    WorkflowNode,
    WorkflowNodeType,
    WorkflowPlan,
)
from vibe_aigc.artifacts import ArtifactStore
from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointError,
    PlanValidationError,
    UnsupportedSchemaError,
)
from vibe_aigc.models import is_safe_id
from vibe_aigc.persistence import FileCheckpointStore, WorkflowPersistenceManager
from vibe_aigc.persistence.codec import checksum_of

BIN = Path(sys.executable).with_name("vibe-aigc")

CORPUS = [
    # traversal and absolute paths
    "..",
    ".",
    "../x",
    "../../outside",
    "../outside/secret.txt",
    "/etc/passwd",
    "/tmp",
    "a/b",
    "a/../../b",
    "plan-ok/../../outside",
    "cp-../x",
    "cp-../../outside/secret",
    "cp-a/b",
    "a\\b",
    "C:\\x",
    "\\\\server\\share",
    # NUL, control characters, whitespace
    "x\x00y",
    "\x00",
    "cp-\x00",
    "cp-abc\n",
    "plan\n",
    "plan\t",
    "",
    " ",
    " plan",
    "plan ",
    # very long
    "a" * 129,
    "a" * 5000,
    "cp-" + "a" * 97,
    "cp-" + "a" * 5000,
    # unicode look-alikes (fullwidth, one-dot leader, division / fraction slash, Cyrillic)
    "ｐlan",
    "plan\u2024\u2024x",
    "plan\u2215x",
    "plan\u2044x",
    "plan\uff0fx",
    "pl\u0430n",
    "cp-\u0430",
    "\u202eplan",
    # reserved names (Windows devices, our own files), trailing dots
    "CON",
    "NUL",
    "nul.txt",
    "COM1",
    "LPT1",
    ".lock",
    ".tmp-x",
    ".tmp-cp-1",
    "cp-x.json",
    "journal-000000000000.jsonl",
    "artifacts",
    "plan.",
    "plan..",
    "...",
    "~",
    "$HOME",
    "-rf",
    "--help",
]
QUICK_CLI = ["../../outside", "/etc/passwd", "cp-../x", "ｐlan"]


def unsafe(value: str) -> bool:
    return not is_safe_id(value)


# ---------------------------------------------------------------------- the sandbox


def vibe() -> Vibe:
    return Vibe(description="A poster about safety")


def small_plan(plan_id: str = "plan-ok") -> WorkflowPlan:
    return build_chaos_plan(41, total=8, plan_id=plan_id)


def make_sandbox(base: Path) -> tuple[Path, Path, str]:
    """``base/cps`` holds plan-ok with checkpoints and a journal; ``base/outside`` holds a
    canary. Returns (root, outside, a real checkpoint id)."""
    root, outside = base / "cps", base / "outside"
    outside.mkdir(parents=True)
    (outside / "secret.txt").write_text("canary")
    (outside / "cp-0000000000001-aaaa.json").write_text("{}")
    planner = MetaPlanner(
        executor=LedgerExecutor(None, scale=0.0), checkpoint_dir=root, checkpoint_interval=3
    )
    assert (
        asyncio.run(planner.execute_with_resume(small_plan())).status == ExecutionStatus.COMPLETED
    )
    return root, outside, planner.list_checkpoints("plan-ok")[0]["checkpoint_id"]


ALLOWED = (Exception,)  # any *error* is fine; what matters is what it touched
BAD_ID_ERRORS = (ValueError, CheckpointError, PlanValidationError, KeyError)


def check_call(name: str, call: Callable[[], Any], bad: str, root: Path, base: Path) -> list[str]:
    """Run one call; report what it touched outside ``root`` or changed where it must not."""
    problems = []
    outside_before = tree_state(base / "outside")
    plan_ok_before = tree_state(root / "plan-ok")
    root_before = tree_state(root)
    with FileAccess() as seen:
        try:
            outcome = call()
            if asyncio.iscoroutine(outcome):
                outcome = asyncio.run(outcome)
        except BAD_ID_ERRORS as exc:
            outcome = exc
        except FileNotFoundError as exc:  # ArtifactStore.read of a missing (valid) artifact
            if name != "artifacts.read" or unsafe(bad):
                problems.append(f"{name}({bad!r}) raised {exc!r}")
            outcome = exc
        except Exception as exc:
            problems.append(f"{name}({bad!r}) raised {type(exc).__name__}: {exc}")
            outcome = exc
    leaks = seen.outside(str(root))
    if leaks:
        problems.append(f"{name}({bad!r}) touched outside the folder: {leaks[:3]}")
    if tree_state(base / "outside") != outside_before:
        problems.append(f"{name}({bad!r}) changed the folder beside the checkpoints")
    if tree_state(root / "plan-ok") != plan_ok_before:
        problems.append(f"{name}({bad!r}) changed another plan's folder")
    if unsafe(bad):
        after = tree_state(root)
        changed = {k for k in set(root_before) | set(after) if root_before.get(k) != after.get(k)}
        # create_checkpoint(plan_id="plan-new", {"workflow_plan": {"id": bad}}) may write
        # plan-new's checkpoint (resuming it then refuses the mismatched plan as corrupt)
        changed = {k for k in changed if not k.startswith(f"plan-new{os.sep}") and k != "plan-new"}
        if changed:
            problems.append(f"{name}({bad!r}) changed {sorted(changed)[:3]}: {outcome!r}")
    return problems


def api_calls(root: Path, cp_id: str, bad: str) -> list[tuple[str, Callable[[], Any]]]:
    planner = MetaPlanner(executor=LedgerExecutor(None, scale=0.0), checkpoint_dir=root)
    durable = MetaPlanner(
        executor=LedgerExecutor(None, scale=0.0), checkpoint_dir=root, checkpoint_interval=1
    )
    manager = WorkflowPersistenceManager(root)
    store = FileCheckpointStore(root)
    artifacts = ArtifactStore(manager)
    good = manager.load_checkpoint(cp_id)
    body = {k: v for k, v in good.items() if k not in ("checkpoint_id", "plan_id", "created_at")}
    ref = {"path": "x", "sha256": "0" * 64, "media_type": "image/png", "bytes": 1}

    def hostile_plan() -> WorkflowPlan:
        return WorkflowPlan.model_construct(
            id=bad, source_vibe=vibe(), root_nodes=small_plan().root_nodes
        )

    def hostile_node_plan() -> WorkflowPlan:
        node = WorkflowNode(id=bad, type=WorkflowNodeType.GENERATE, description="x")
        return WorkflowPlan(id="plan-node-ids", source_vibe=vibe(), root_nodes=[node])

    return [
        ("plan", lambda: planner.plan(vibe(), plan_id=bad)),
        ("execute_with_resume(plan_id)", lambda: planner.execute_with_resume(vibe(), plan_id=bad)),
        (
            "execute_with_resume(checkpoint_id)",
            lambda: planner.execute_with_resume(vibe(), checkpoint_id=bad),
        ),
        ("execute_with_resume(None, id)", lambda: planner.execute_with_resume(None, bad)),
        ("execute_with_resume(plan.id)", lambda: planner.execute_with_resume(hostile_plan())),
        ("execute(plan.id)", lambda: durable.execute(hostile_plan())),
        ("execute(node id)", lambda: durable.execute(hostile_node_plan())),
        ("create_checkpoint", lambda: planner.create_checkpoint(plan_id=bad, execution_state={})),
        (
            "create_checkpoint(workflow_plan.id)",
            lambda: planner.create_checkpoint(
                plan_id="plan-new",
                execution_state={"workflow_plan": {**good["workflow_plan"], "id": bad}},
            ),
        ),
        ("list_checkpoints", lambda: planner.list_checkpoints(bad)),
        ("get_checkpoint", lambda: planner.get_checkpoint(bad)),
        ("delete_checkpoint", lambda: planner.delete_checkpoint(bad)),
        ("get_plan", lambda: planner.get_plan(bad)),
        ("manager.save_checkpoint", lambda: manager.save_checkpoint(bad, body)),
        ("manager.load_checkpoint", lambda: manager.load_checkpoint(bad)),
        ("manager.load_checkpoint(plan)", lambda: manager.load_checkpoint(cp_id, bad)),
        ("manager.list_checkpoints", lambda: manager.list_checkpoints(bad)),
        ("manager.delete_checkpoint", lambda: manager.delete_checkpoint(bad)),
        ("manager.delete_checkpoint(plan)", lambda: manager.delete_checkpoint(cp_id, bad)),
        ("delete_plan", lambda: manager.delete_plan(bad)),
        ("manager.latest_checkpoint_ids", lambda: manager.latest_checkpoint_ids(bad)),
        ("manager.prune", lambda: manager.prune(bad, 1)),
        ("manager.append_journal", lambda: manager.append_journal(bad, [{"seq": 0}])),
        ("manager.read_journal", lambda: manager.read_journal(bad)),
        ("manager.read_entries", lambda: manager.read_entries(bad)),
        ("manager.lease", lambda: manager.lease(bad).__enter__()),
        ("manager.lock", lambda: manager.lock(bad).__enter__().__exit__(None, None, None)),
        ("manager.collect_artifacts", lambda: manager.collect_artifacts(bad)),
        ("manager.running", lambda: manager.running(bad)),
        ("store.lease", lambda: store.lease(bad).acquire().release()),
        ("store.read_snapshot", lambda: store.read_snapshot(bad)),
        ("store.read_snapshot(plan)", lambda: store.read_snapshot(cp_id, bad)),
        ("store.snapshot_ids", lambda: store.snapshot_ids(bad)),
        ("store.read_entries", lambda: store.read_entries(bad)),
        (
            "store.write_checkpoint(cp)",
            lambda: store.write_checkpoint({**good, "checkpoint_id": bad}),
        ),
        ("store.write_checkpoint(plan)", lambda: store.write_checkpoint({**good, "plan_id": bad})),
        ("store.read_checkpoint", lambda: store.read_checkpoint(bad)),
        ("store.read_checkpoint(plan)", lambda: store.read_checkpoint(cp_id, bad)),
        ("store.list_checkpoints", lambda: store.list_checkpoints(bad)),
        ("store.latest_checkpoint_ids", lambda: store.latest_checkpoint_ids(bad)),
        ("store.delete_checkpoint", lambda: store.delete_checkpoint(bad)),
        ("store.delete_checkpoint(plan)", lambda: store.delete_checkpoint(cp_id, bad)),
        ("store.prune", lambda: store.prune(bad, 0)),
        ("store.delete_plan", lambda: store.delete_plan(bad)),
        ("store.lock", lambda: store.lock(bad).acquire().release()),
        ("store.artifacts_dir", lambda: store.artifacts_dir(bad)),
        ("store.append_journal", lambda: store.append_journal(bad, [{"seq": 0}])),
        ("store.read_journal", lambda: store.read_journal(bad)),
        ("store.rotate_journal", lambda: store.rotate_journal(bad, 0)),
        ("store.compact_journal", lambda: store.compact_journal(bad, 10)),
        ("store.quarantine_journal", lambda: store.quarantine_journal(bad)),
        ("blobs.digests", lambda: store.blobs.digests(bad)),
        ("blobs.remove", lambda: store.blobs.remove(bad, set())),
        ("artifacts.save", lambda: artifacts.save(bad, b"\x89PNG\r\n\x1a\nxx")),
        ("artifacts.exists", lambda: artifacts.exists(bad, ref)),
        ("artifacts.read", lambda: artifacts.read(bad, ref)),
    ]


@pytest.mark.parametrize("chunk", range(4))
def test_hostile_ids_on_every_api_entry_point(tmp_path: Path, chunk: int) -> None:
    base = tmp_path / "sandbox"
    root, _, cp_id = make_sandbox(base)
    problems: list[str] = []
    for bad in CORPUS[chunk::4]:
        for name, call in api_calls(root, cp_id, bad):
            problems += check_call(name, call, bad, root, base)
    # the real plan is still whole and resumes to the same outputs
    again = asyncio.run(
        MetaPlanner(
            executor=LedgerExecutor(None, scale=0.0), checkpoint_dir=root
        ).execute_with_resume(small_plan())
    )
    assert again.status == ExecutionStatus.COMPLETED and again.resumed_from is not None
    assert not problems, "\n".join(problems)
    if (root / "plan-new").exists():
        with pytest.raises(CheckpointCorruptError, match="none of the"):
            asyncio.run(
                MetaPlanner(
                    executor=LedgerExecutor(None, scale=0.0), checkpoint_dir=root
                ).execute_with_resume(plan_id="plan-new")
            )


# ---------------------------------------------------------------------- the command line


def cli_commands(bad: str, root: Path) -> list[list[str]]:
    d = ["--checkpoint-dir", str(root)]
    # `execute --plan-id ""` runs under the derived plan id (an empty flag counts as not
    # given); it writes only inside the folder, but is not an error: left out here
    execute = (
        [] if bad == "" else [["execute", "A poster about safety", "--plan-id", bad, "--plain", *d]]
    )
    return [
        ["resume", bad, *d],
        ["resume", "--plan", bad, *d],
        ["checkpoints", "--show", bad, *d],
        ["checkpoints", "--delete", bad, *d],
        ["checkpoints", "--list", "--plan", bad, *d],
        ["checkpoints", "--clear", "--plan", bad, *d],
        *execute,
        ["plan", "A poster about safety", "--plan-id", bad],
    ]


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBE_")}
    return subprocess.run(
        [str(BIN), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=60
    )


def cli_sweep(tmp_path: Path, ids: list[str]) -> None:
    base = tmp_path / "sandbox"
    root, _, _ = make_sandbox(base)
    work = base / "work"
    work.mkdir()
    problems = []
    for bad in ids:
        for args in cli_commands(bad, root):
            before = tree_state(base)
            done = run_cli(args, work)
            after = tree_state(base)
            changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
            if unsafe(bad):
                if done.returncode == 0:
                    problems.append(f"{args[:2]} {bad!r}: exit 0")
                if "Traceback" in done.stderr:
                    problems.append(f"{args[:2]} {bad!r}: traceback: {done.stderr[-300:]}")
                if changed:
                    problems.append(f"{args[:2]} {bad!r} changed {sorted(changed)[:3]}")
            else:
                stray = [k for k in changed if not k.startswith(f"cps/{bad}")]
                if args[0] == "checkpoints" and "--clear" in args and bad == "plan-ok":
                    stray = []
                if stray:
                    problems.append(f"{args[:2]} {bad!r} changed {sorted(stray)[:3]}")
    assert not problems, "\n".join(problems)


def test_hostile_ids_on_the_cli_quick(tmp_path: Path) -> None:
    cli_sweep(tmp_path, QUICK_CLI)


@pytest.mark.long
def test_hostile_ids_on_the_cli_long(tmp_path: Path) -> None:
    cli_sweep(tmp_path, [bad for bad in CORPUS if "\x00" not in bad])


def test_hostile_ids_on_the_cli_in_process(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every id, NUL included (no argv can carry a NUL to the installed command)."""
    from vibe_aigc import cli

    def main(args: list[str]) -> int:
        try:
            code = cli.main(args)
        except SystemExit as exc:  # argparse usage errors
            code = int(exc.code or 0)
        if unsafe(args[args.index(bad)] if bad in args else bad):
            assert code != 0, args
        return code

    base = tmp_path / "sandbox"
    root, _, _ = make_sandbox(base)
    monkeypatch.chdir(base)
    problems = []
    for bad in CORPUS:
        for args in cli_commands(bad, root):
            if args[0] == "execute" and not unsafe(bad):
                continue  # a real run; the subprocess sweep covers it
            name = " ".join(args[:2])
            problems += check_call(name, lambda a=args: main(a), bad, root, base)
    capsys.readouterr()
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------- files in the folder


def write_record(path: Path, obj: dict[str, Any]) -> None:
    body = {k: v for k, v in obj.items() if k not in ("checksum", "seal")}
    body["checksum"] = checksum_of(body)  # no seal: the checksum alone decides
    path.write_text(json.dumps(body, indent=2))


def test_foreign_and_hand_edited_files(tmp_path: Path) -> None:
    base = tmp_path / "sandbox"
    root, _, _ = make_sandbox(base)
    plan_dir = root / "plan-ok"
    manager = WorkflowPersistenceManager(root)
    ids = manager.latest_checkpoint_ids("plan-ok")
    newest, second = plan_dir / f"{ids[0]}.json", plan_dir / f"{ids[1]}.json"
    original = manager.load_checkpoint(ids[0])
    # hand edits that keep the content: re-indented, keys reordered, CRLF line ends
    data = json.loads(newest.read_text())
    newest.write_text(json.dumps(dict(reversed(list(data.items()))), indent=7))
    assert manager.load_checkpoint(ids[0]) == original
    newest.write_bytes(newest.read_bytes().replace(b"\n", b"\r\n"))
    assert manager.load_checkpoint(ids[0]) == original
    # a hand edit of the content, checksum left alone: corrupt
    data["state"] = "completed!"
    newest.write_text(json.dumps(data))
    with pytest.raises(CheckpointCorruptError, match="checksum mismatch"):
        manager.load_checkpoint(ids[0])
    # an editor's byte-order mark: corrupt, says why
    second.write_bytes(b"\xef\xbb\xbf" + second.read_bytes())
    with pytest.raises(CheckpointCorruptError, match="not JSON"):
        manager.load_checkpoint(ids[1])
    # foreign things of every kind
    (plan_dir / "notes.txt").write_text("mine")
    (plan_dir / "cp-bad name.json").write_text("{}")
    (plan_dir / "cp-0000000000001-0000.json.bak").write_text("{}")
    (plan_dir / ".tmp-cp-0000000000001-0000.json-abcd").write_text("half")
    (plan_dir / "cp-0000000000002-0000.json").mkdir()
    os.mkfifo(plan_dir / "cp-0000000000003-0000.json")
    (plan_dir / "cp-0000000000004-0000.json").write_bytes(b"")
    (plan_dir / "cp-0000000000005-0000.json").write_bytes(os.urandom(1 << 20))
    (plan_dir / "journal-x.jsonl").write_text("garbage\n")
    (root / "README").write_text("my notes")
    (root / "my notes").mkdir()
    (root / "cp-0000000000006-0000.json").write_text("{}")
    started = time.monotonic()
    listing = manager.list_checkpoints()
    assert time.monotonic() - started < 10  # the FIFO is not waited on
    corrupt = {e["checkpoint_id"] for e in listing if e["corrupt"]}
    assert {ids[0], ids[1], "cp-0000000000003-0000", "cp-0000000000004-0000"} <= corrupt
    assert "cp-0000000000005-0000" in corrupt
    assert all(e["plan_id"] == "plan-ok" for e in listing)
    # resume skips the damaged newest two and says so
    result = asyncio.run(
        MetaPlanner(
            executor=LedgerExecutor(None, scale=0.0), checkpoint_dir=root
        ).execute_with_resume(small_plan())
    )
    assert result.status == ExecutionStatus.COMPLETED
    assert result.resumed_from == ids[2]
    assert any(ids[0] in w for w in result.warnings) and any(ids[1] in w for w in result.warnings)
    # the CLI lists them too
    listed = run_cli(["checkpoints", "--list", "--checkpoint-dir", str(root)], base)
    assert listed.returncode == 0 and "CORRUPT" in listed.stdout, listed.stderr
    # deleting the plan removes our files and keeps foreign ones (and their folder)
    manager.delete_plan("plan-ok")
    left = sorted(p.name for p in plan_dir.iterdir())
    assert left == sorted(
        [
            "notes.txt",
            "cp-bad name.json",
            "cp-0000000000001-0000.json.bak",
            "cp-0000000000002-0000.json",
            "journal-x.jsonl",
        ]
    ), left
    assert (root / "README").exists() and (root / "my notes").is_dir()


def test_symlinks_pointing_out_of_the_folder(tmp_path: Path) -> None:
    base = tmp_path / "sandbox"
    root, outside, cp_id = make_sandbox(base)
    plan_dir = root / "plan-ok"
    manager = WorkflowPersistenceManager(root)
    # a copy of a real checkpoint and journal outside, linked from inside
    foreign_plan = outside / "plan-x"
    foreign_plan.mkdir()
    real_cp = plan_dir / f"{cp_id}.json"
    (outside / "cp.json").write_bytes(real_cp.read_bytes())
    segment = max(plan_dir.glob("journal-*.jsonl"))  # the newest: where appends go
    (outside / "journal.jsonl").write_bytes(segment.read_bytes())
    link_cp = "cp-0000000000009-aaaa"
    (plan_dir / f"{link_cp}.json").symlink_to(outside / "cp.json")
    (root / "plan-link").symlink_to(foreign_plan)
    (foreign_plan / f"{link_cp}.json").write_bytes(real_cp.read_bytes())
    (plan_dir / "artifacts").symlink_to(outside)
    before = tree_state(outside)

    with FileAccess() as seen:
        with pytest.raises(CheckpointCorruptError, match="symbolic link"):
            manager.load_checkpoint(link_cp, "plan-ok")
        assert next(e for e in manager.list_checkpoints() if e["checkpoint_id"] == link_cp)[
            "corrupt"
        ]
        assert "plan-link" not in manager.plan_ids()
        with pytest.raises((CheckpointError, ValueError)):
            manager.load_checkpoint(link_cp, "plan-link")
        with pytest.raises(CheckpointError):
            asyncio.run(
                MetaPlanner(
                    executor=LedgerExecutor(None, scale=0.0), checkpoint_dir=root
                ).execute_with_resume(small_plan("plan-link"))
            )
        with pytest.raises(CheckpointError):
            manager.delete_plan("plan-link")
        # deleting never follows: the links go, their targets stay
        assert manager.delete_checkpoint(link_cp, "plan-ok")
    assert not seen.outside(str(root)), seen.outside(str(root))
    assert tree_state(outside) == before

    # a journal segment and the lock file linked out
    segment.unlink()
    segment.symlink_to(outside / "journal.jsonl")
    with FileAccess() as seen:
        with pytest.raises(CheckpointError):
            manager.append_journal("plan-ok", [{"seq": 10_000}])
        result = asyncio.run(
            MetaPlanner(
                executor=LedgerExecutor(None, scale=0.0), checkpoint_dir=root
            ).execute_with_resume(small_plan())
        )
        assert result.status == ExecutionStatus.COMPLETED
    assert not seen.outside(str(root)), seen.outside(str(root))
    (plan_dir / ".lock").unlink()
    (plan_dir / ".lock").symlink_to(outside / "secret.txt")
    with FileAccess() as seen, pytest.raises(CheckpointError):
        manager.lock("plan-ok").__enter__()
    assert not seen.outside(str(root)), seen.outside(str(root))
    (plan_dir / ".lock").unlink()
    with FileAccess() as seen:
        manager.delete_plan("plan-ok")  # unlinks the artifacts link, never empties its target
    assert not seen.outside(str(root)), seen.outside(str(root))
    assert tree_state(outside) == before
    assert (outside / "secret.txt").read_text() == "canary"


def test_checkpoint_from_a_newer_version(tmp_path: Path) -> None:
    base = tmp_path / "sandbox"
    root, _, cp_id = make_sandbox(base)
    path = root / "plan-ok" / f"{cp_id}.json"
    data = json.loads(path.read_text())
    data["schema_version"] = 99
    data["something_new"] = {"x": 1}
    write_record(path, data)
    manager = WorkflowPersistenceManager(root)
    with pytest.raises(UnsupportedSchemaError) as info:
        manager.load_checkpoint(cp_id)
    assert "upgrade" in str(info.value) and info.value.version == 99
    entry = next(e for e in manager.list_checkpoints() if e["checkpoint_id"] == cp_id)
    assert entry["corrupt"] and "upgrade" in entry["error"]
    before = tree_state(root)
    with pytest.raises(UnsupportedSchemaError, match="upgrade"):
        asyncio.run(
            MetaPlanner(
                executor=LedgerExecutor(None, scale=0.0), checkpoint_dir=root
            ).execute_with_resume(small_plan())
        )
    assert tree_state(root) == before  # nothing moved aside, nothing written
    shown = run_cli(["checkpoints", "--show", cp_id, "--checkpoint-dir", str(root)], base)
    assert shown.returncode == 1 and "upgrade" in shown.stderr, shown.stderr


# ---------------------------------------------------------------------- big plans


def wide_plan(n: int) -> WorkflowPlan:
    """``n`` nodes: 100 parallel chains with links across."""
    nodes = []
    for i in range(n):
        deps = [f"n{i - 1}"] if i % 100 else []
        if i >= 100:
            deps.append(f"n{i - 100}")
        nodes.append(
            WorkflowNode(
                id=f"n{i}", type=WorkflowNodeType.GENERATE, description=f"s{i}", dependencies=deps
            )
        )
    return WorkflowPlan(id="plan-wide", source_vibe=vibe(), root_nodes=nodes)


def nested_plan(levels: int) -> WorkflowPlan:
    """``levels`` levels of children (composite and not), with a side child at each."""
    node = WorkflowNode(id=f"d{levels}", type=WorkflowNodeType.GENERATE, description="leaf")
    for k in range(levels - 1, 0, -1):
        kind = WorkflowNodeType.COMPOSITE if k % 2 else WorkflowNodeType.GENERATE
        side = WorkflowNode(id=f"d{k}x", type=WorkflowNodeType.GENERATE, description="side")
        node = WorkflowNode(id=f"d{k}", type=kind, description=f"level {k}", children=[node, side])
    return WorkflowPlan(id="plan-nested", source_vibe=vibe(), root_nodes=[node])


def timed(figures: dict[str, float], name: str, call: Callable[[], Any]) -> Any:
    started = time.perf_counter()
    out = call()
    figures[name] = time.perf_counter() - started
    return out


def measure(tmp_path: Path, plan: WorkflowPlan, interval: int | None) -> dict[str, float]:
    figures: dict[str, float] = {}
    text = plan.model_dump_json()
    # parsed the way a checkpoint is loaded (json, then the model): pydantic's own JSON parser
    # (model_validate_json) stops at a nesting depth of about 100 levels of children
    timed(figures, "parse", lambda: WorkflowPlan.model_validate(json.loads(text)))
    timed(figures, "validate", plan.validate_plan)
    run = timed(
        figures,
        "execute",
        lambda: asyncio.run(LedgerExecutor(None, max_concurrency=8, scale=0.0).execute(plan)),
    )
    assert run.status == ExecutionStatus.COMPLETED
    planner = MetaPlanner(
        executor=LedgerExecutor(None, max_concurrency=8, scale=0.0),
        checkpoint_dir=tmp_path / f"cps-{plan.id}-{plan.total_nodes}-{interval}",
        checkpoint_interval=interval,
    )
    durable = timed(figures, "durable", lambda: asyncio.run(planner.execute_with_resume(plan)))
    assert durable.status == ExecutionStatus.COMPLETED
    again = timed(figures, "resume", lambda: asyncio.run(planner.execute_with_resume(plan)))
    assert all(r.resumed for r in again.node_results.values())
    assert {k: v.output for k, v in again.node_results.items()} == {
        k: v.output for k, v in run.node_results.items()
    }
    return figures


def show(name: str, plan: WorkflowPlan, interval: int | None, figures: dict[str, float]) -> None:
    cells = ", ".join(f"{k} {v:.3f}s" for k, v in figures.items())
    print(f"\n{name} ({plan.total_nodes} nodes, checkpoint_interval={interval}): {cells}")


def test_big_and_deep_plans_quick(tmp_path: Path) -> None:
    for name, plan, interval in [
        ("10,000 nodes", wide_plan(10_000), None),
        ("50 levels", nested_plan(50), 1),
    ]:
        figures = measure(tmp_path, plan, interval)
        show(name, plan, interval, figures)
        assert figures["validate"] < 30 and figures["durable"] < 120  # sanity, not a benchmark


@pytest.mark.long
@pytest.mark.timeout(1800)
def test_big_and_deep_plans_long(tmp_path: Path) -> None:
    for name, plan, interval in [
        ("10,000 nodes", wide_plan(10_000), None),
        ("10,000 nodes", wide_plan(10_000), 1000),
        ("10,000 nodes", wide_plan(10_000), 100),
        ("50 levels", nested_plan(50), None),
        ("50 levels", nested_plan(50), 1),
        ("120 levels", nested_plan(120), 1),
    ]:
        show(name, plan, interval, measure(tmp_path, plan, interval))


# ---------------------------------------------------------------------- model answers


def good_answer() -> str:
    plan = small_plan()
    return json.dumps({"id": "x", "root_nodes": plan.model_dump(mode="json")["root_nodes"]})


def bad_answers() -> list[tuple[str, str]]:
    good = good_answer()
    deep = (
        '{"id":"x","root_nodes":['
        + '{"id":"a","type":"generate","description":"d","children":[' * 3000
        + "]}" * 3000
        + "]}"
    )
    node = {"id": "n", "type": "generate", "description": "d"}
    return [
        ("empty", ""),
        ("prose", "Sure! Here is your plan: first we write, then we edit."),
        ("fenced prose", "```json\nnot json\n```"),
        ("truncated", good[: len(good) // 2]),
        ("truncated at 1", good[:1]),
        ("a list", json.dumps([node])),
        ("a number", "42"),
        ("a string", json.dumps(good)),
        ("null", "null"),
        ("no root_nodes", json.dumps({"id": "x", "nodes": [node]})),
        ("root_nodes not a list", json.dumps({"root_nodes": {"a": node}})),
        ("node not an object", json.dumps({"root_nodes": ["n"]})),
        ("node type unknown", json.dumps({"root_nodes": [{**node, "type": "dance"}]})),
        ("node id traversal", json.dumps({"root_nodes": [{**node, "id": "../../etc"}]})),
        ("node id NUL", json.dumps({"root_nodes": [{**node, "id": "a\x00b"}]})),
        ("parameters a list", json.dumps({"root_nodes": [{**node, "parameters": [1]}]})),
        ("children a string", json.dumps({"root_nodes": [{**node, "children": "kids"}]})),
        ("cycle", json.dumps({"root_nodes": [{**node, "dependencies": ["n"]}]})),
        ("extra keys", json.dumps({"root_nodes": [{**node, "shell": "rm -rf /"}]})),
        (
            "huge description",
            json.dumps({"root_nodes": [{**node, "description": "x" * 5_000_000}]}),
        ),
        (
            "many nodes",
            json.dumps({"root_nodes": [{**node, "id": f"n{i}"} for i in range(20_000)]}),
        ),
        ("deeply nested", deep),
        ("NaN", '{"root_nodes": [{"id": "n", "type": "generate", "description": NaN}]}'),
        ("duplicate ids", json.dumps({"root_nodes": [node, node]})),
        ("huge number", '{"root_nodes": [], "x": ' + "9" * 100_000 + "}"),
    ]


CONTENT_OK = {"huge description"}  # valid data; refused for its size by the planner


@pytest.mark.parametrize(("name", "answer"), bad_answers(), ids=[n for n, _ in bad_answers()])
def test_model_answers_that_are_not_plans(name: str, answer: str) -> None:
    """The LLM planner's parser: every bad answer becomes a list of problems, quickly, and
    never an exception or a plan."""
    from vibe_aigc.planner.llm import parse_plan_answer
    from vibe_aigc.tools import default_registry

    started = time.monotonic()
    plan, problems = parse_plan_answer(
        answer, vibe=vibe(), plan_id="plan-model", tools=default_registry()
    )
    assert time.monotonic() - started < 10, name
    if name in CONTENT_OK:
        return
    assert plan is None and problems, (name, problems)
    # and the plan model itself, given the same text, raises a ValueError (pydantic's)
    with pytest.raises(ValueError):
        WorkflowPlan.model_validate_json(answer).validate_plan()


async def test_model_answers_through_the_llm_planner() -> None:
    """Each bad answer given twice (first answer and repair round) by an OpenAI-compatible
    stub: planning fails with a PlanningError that says why; never another exception."""
    from vibe_aigc import LLMConfig, PlanningError, RetryPolicy
    from vibe_aigc.llm import LLMClient
    from vibe_aigc.planner.llm import LLMPlanner
    from vibe_aigc.testing import OpenAIStub, Reply
    from vibe_aigc.tools import default_registry

    answers = [*bad_answers(), ("over a megabyte", "x" * 1_500_000)]
    with OpenAIStub() as stub:
        config = LLMConfig(base_url=stub.base_url, model="m", max_response_bytes=4_000_000)
        client = LLMClient(config)
        planner = LLMPlanner(
            client, default_registry(client), retry_policy=RetryPolicy(base_delay=0)
        )
        for name, answer in answers:
            stub.script("chat", Reply(content=answer), Reply(content=answer))
            started = time.monotonic()
            with pytest.raises(PlanningError) as info:
                await planner.plan(vibe(), plan_id="plan-model")
            assert str(info.value), name
            assert time.monotonic() - started < 20, name
            stub.scripts["chat"].clear()


def test_every_truncation_of_a_good_answer() -> None:
    from vibe_aigc.planner.llm import parse_plan_answer
    from vibe_aigc.tools import default_registry

    good = good_answer()
    tools = default_registry()
    plan, problems = parse_plan_answer(good, vibe=vibe(), plan_id="plan-model", tools=tools)
    assert plan is not None, problems
    for cut in range(0, len(good), max(1, len(good) // 400)):
        plan, problems = parse_plan_answer(
            good[:cut], vibe=vibe(), plan_id="plan-model", tools=tools
        )
        assert plan is None and problems, cut


@pytest.mark.parametrize(
    "args",
    [["--show", ""], ["--delete", ""], ["--clear", "--plan", ""]],
    ids=["show", "delete", "clear-plan"],
)
def test_an_empty_id_never_clears_every_checkpoint(tmp_path: Path, args: list[str]) -> None:
    """Regression (found by this suite, fixed in cli.py): an empty id is falsy, and
    ``checkpoints --show ""`` fell through to ``--clear`` of every plan."""
    base = tmp_path / "sandbox"
    root, _, _ = make_sandbox(base)
    before = tree_state(root)
    run_cli(["checkpoints", *args, "--checkpoint-dir", str(root)], base)
    assert tree_state(root) == before
