"""Storage faults during real runs: ENOSPC and EIO at each step of each kind of write.

Every OS call of ``vibe_aigc.persistence.file.atomic`` and ``.segment`` (and of the lock
module) goes through a proxy of ``os`` (:class:`FaultyOs`) that names each call by what it does
and to which file (``write:checkpoint``, ``pwrite:journal``, ``fdatasync:journal``,
``fsync:checkpoint``, ``replace:checkpoint``, ``fsync:folder``, ``open:journal`` ...) and can
make the n-th such call fail once, or fail from then on (a disk that stays full). A dry run
lists the calls a run makes; each scenario then fails one of them.

Must hold for each scenario:

* the run stops with ``CheckpointWriteError`` (durability was asked for; it is never silently
  dropped) whose message names the checkpoint folder - unless the fault hit housekeeping that
  is allowed to fail quietly (pruning, compaction, a folder fsync after an unlink);
* after it returns nothing is still writing, the plan lock is free, and no node starts;
* every checkpoint file still loads, and everything recorded as completed is work that
  returned (never a node that was in flight), with the output an uninterrupted run gives;
* once the disk is fine again, a resume completes with exactly the uninterrupted outputs and
  never re-runs a recorded completion.

A read-only folder is simulated (``EROFS`` from every call that would change it): the tests
run as root, and ``chmod`` does not stop root from writing.
"""

from __future__ import annotations

import asyncio
import errno
import os
import stat
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from reliability_kit import (
    LedgerExecutor,
    build_chaos_plan,
    durable_record,
    read_ledger,
    tree_state,
)

from vibe_aigc import ExecutionStatus, MetaPlanner, WorkflowNodeType
from vibe_aigc.errors import CheckpointWriteError
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.persistence.file import atomic, lock, segment

PLAN_NODES = 30
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND


def kind_of(path: Any) -> str:
    name = os.path.basename(os.fsdecode(path))
    if name.startswith((".tmp-", "cp-")):
        return "checkpoint"
    if "journal" in name:
        return "journal"
    if name == ".lock":
        return "lock"
    return "folder"


@dataclass
class Rule:
    event: str
    nth: int
    code: int
    persistent: bool


class FaultyOs:
    """``os`` for the persistence modules, with named calls that can be made to fail."""

    def __init__(self) -> None:
        self._real = os
        self._fds: dict[int, str] = {}
        self._guard = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.rule: Rule | None = None
        self.read_only = False
        self.failed: list[str] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def _check(self, event: str, mutating: bool = True) -> None:
        with self._guard:
            self.counts[event] += 1
            count = self.counts[event]
            rule = self.rule
        if self.read_only and mutating:
            self.failed.append(event)
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        if rule is None or rule.event != event:
            return
        if count == rule.nth or (rule.persistent and count > rule.nth):
            self.failed.append(event)
            raise OSError(rule.code, os.strerror(rule.code))

    def open(self, path: Any, flags: int, mode: int = 0o777, **kw: Any) -> int:
        kind = kind_of(path)
        self._check(f"open:{kind}", mutating=bool(flags & _WRITE_FLAGS))
        fd = self._real.open(path, flags, mode, **kw)
        self._fds[fd] = kind
        return fd

    def close(self, fd: int) -> None:
        self._fds.pop(fd, None)
        self._real.close(fd)

    def write(self, fd: int, data: Any) -> int:
        self._check(f"write:{self._fds.get(fd, '?')}")
        return self._real.write(fd, data)

    def pwrite(self, fd: int, data: Any, offset: int) -> int:
        self._check(f"pwrite:{self._fds.get(fd, '?')}")
        return self._real.pwrite(fd, data, offset)

    def fsync(self, fd: int) -> None:
        self._check(f"fsync:{self._fds.get(fd, '?')}")
        self._real.fsync(fd)

    def fdatasync(self, fd: int) -> None:
        self._check(f"fdatasync:{self._fds.get(fd, '?')}")
        self._real.fdatasync(fd)

    def ftruncate(self, fd: int, size: int) -> None:
        self._check(f"ftruncate:{self._fds.get(fd, '?')}")
        self._real.ftruncate(fd, size)

    def fchmod(self, fd: int, mode: int) -> None:
        self._check(f"fchmod:{self._fds.get(fd, '?')}")
        self._real.fchmod(fd, mode)

    def replace(self, src: Any, dst: Any) -> None:
        self._check(f"replace:{kind_of(dst)}")
        self._real.replace(src, dst)

    def unlink(self, path: Any) -> None:
        self._check(f"unlink:{kind_of(path)}")
        self._real.unlink(path)

    def mkdir(self, path: Any, mode: int = 0o777) -> None:
        self._check("mkdir:folder")
        self._real.mkdir(path, mode)

    def chmod(self, path: Any, mode: int) -> None:
        self._check("chmod:folder")
        self._real.chmod(path, mode)


@pytest.fixture
def faulty(monkeypatch: pytest.MonkeyPatch) -> FaultyOs:
    proxy = FaultyOs()
    monkeypatch.setattr(atomic, "os", proxy)
    monkeypatch.setattr(segment, "os", proxy)
    monkeypatch.setattr(lock, "os", proxy)
    return proxy


PLAN = build_chaos_plan(21, total=PLAN_NODES, plan_id="plan-faults")
COMPOSITES = {
    n.id for n in PLAN.iter_nodes() if n.type == WorkflowNodeType.COMPOSITE and n.children
}


def reference() -> dict[str, Any]:
    result = asyncio.run(LedgerExecutor(None, scale=0.0).execute(PLAN))
    return {k: v.output for k, v in result.node_results.items()}


REFERENCE = reference()


def planner(cpdir: Path, ledger: Path) -> MetaPlanner:
    return MetaPlanner(
        executor=LedgerExecutor(str(ledger), max_concurrency=3, scale=0.05),
        persistence_manager=WorkflowPersistenceManager(cpdir, keep_last=4),
        checkpoint_interval=3,
    )


# Housekeeping may fail quietly: pruning old checkpoints and compacting old segments
# (unlink + a folder fsync: open and fsync of the folder), clearing the holder info from
# the lock file on release, and cutting the unused zero room off a segment (at a rotation, at
# the journal's close: zeros read the same as no bytes).
QUIET = {
    "unlink:checkpoint",
    "unlink:journal",
    "open:folder",
    "fsync:folder",
    "ftruncate:lock",
    "ftruncate:journal",
}


def calls_of_a_run(tmp_path: Path, faulty: FaultyOs) -> Counter[str]:
    asyncio.run(planner(tmp_path / "dry", tmp_path / "dry.txt").execute_with_resume(PLAN))
    counts = Counter(faulty.counts)
    faulty.counts.clear()
    return counts


async def scenario(tmp_path: Path, faulty: FaultyOs, rule: Rule) -> str:
    """Run with ``rule`` armed, check the aftermath, then resume on a healthy disk."""
    cpdir, ledger = tmp_path / "cps", tmp_path / "ledger.txt"
    faulty.counts.clear()
    faulty.failed.clear()
    faulty.rule = rule
    outcome = "completed"
    try:
        result = await planner(cpdir, ledger).execute_with_resume(PLAN)
    except CheckpointWriteError as exc:
        outcome = "stopped"
        assert faulty.failed, "a write error without an injected fault"
        assert str(cpdir) in str(exc), str(exc)
        assert exc.path.startswith(str(cpdir))
        assert isinstance(exc.cause, OSError) and exc.cause.errno == rule.code
        assert "Earlier checkpoints are intact" in str(exc)
    else:
        assert result.status == ExecutionStatus.COMPLETED
        assert set(faulty.failed) <= QUIET, (rule, faulty.failed)
    faulty.rule = None
    # nothing still writes, the lock is free, no node starts any more
    lines = len(read_ledger(ledger))
    state = tree_state(cpdir)
    await asyncio.sleep(0.02)
    assert tree_state(cpdir) == state, "a write outlived the run"
    assert len(read_ledger(ledger)) == lines, "a node started after the run stopped"
    with WorkflowPersistenceManager(cpdir).lock(PLAN.id):
        pass
    # what is recorded loads, is work that returned, and is right
    record = durable_record(cpdir, PLAN.id)
    returned = {e.node_id for e in read_ledger(ledger) if e.event == "done"}
    for node_id, output in record.outputs.items():
        assert node_id in returned or node_id in COMPOSITES, f"{node_id} recorded but in flight"
        assert output == REFERENCE[node_id], node_id
    for cp in WorkflowPersistenceManager(cpdir).list_checkpoints(PLAN.id):
        assert not cp["corrupt"], cp
    plan_dir = cpdir / PLAN.id  # gone when the very first write failed: nothing is left
    assert not plan_dir.exists() or not [
        p for p in plan_dir.iterdir() if p.name.startswith(".tmp-")
    ]
    # the disk is fine again: resume
    before = len(read_ledger(ledger))
    again = await planner(cpdir, ledger).execute_with_resume(PLAN)
    assert again.status == ExecutionStatus.COMPLETED
    assert {k: v.output for k, v in again.node_results.items()} == REFERENCE
    rerun = {e.node_id for e in read_ledger(ledger)[before:] if e.event == "start"}
    assert not rerun & set(record.outputs), sorted(rerun & set(record.outputs))
    # a refused write is not damage: nothing was moved aside
    assert not [p for p in (cpdir / PLAN.id).iterdir() if p.name.startswith("quarantined")]
    return outcome


def rules_for(counts: Counter[str], every: bool) -> list[Rule]:
    rules = []
    for event in sorted(counts):
        total = counts[event]
        picks = range(1, total + 1) if every else sorted({1, (total + 1) // 2, total})
        for i, nth in enumerate(picks):
            for code in (errno.ENOSPC, errno.EIO) if every else [(errno.ENOSPC, errno.EIO)[i % 2]]:
                for persistent in (False, True) if every else [i % 2 == 0]:
                    rules.append(Rule(event, nth, code, persistent))
    return rules


def run_rules(tmp_path: Path, faulty: FaultyOs, every: bool) -> Counter[str]:
    counts = calls_of_a_run(tmp_path, faulty)
    # every kind of write a run makes is exercised
    for needed in (
        "write:checkpoint",
        "fsync:checkpoint",
        "replace:checkpoint",
        "fsync:folder",
        "pwrite:journal",  # each batch, in place
        "fdatasync:journal",  # ... made durable
        "fsync:journal",  # a batch that extends the room (size changes)
        "open:journal",
    ):
        assert counts[needed] > 0, (needed, counts)
    outcomes: Counter[str] = Counter()
    for index, rule in enumerate(rules_for(counts, every)):
        outcome = asyncio.run(scenario(tmp_path / f"s{index}", faulty, rule))
        outcomes[f"{rule.event} {outcome}"] += 1
    return outcomes


def test_faults_at_each_step_quick(tmp_path: Path, faulty: FaultyOs) -> None:
    outcomes = run_rules(tmp_path, faulty, every=False)
    print("\nstorage faults:", sum(outcomes.values()), "scenarios:", dict(sorted(outcomes.items())))
    stopped = sum(v for k, v in outcomes.items() if k.endswith("stopped"))
    assert stopped >= 15, outcomes


@pytest.mark.long
@pytest.mark.timeout(3600)
def test_faults_at_every_call_long(tmp_path: Path, faulty: FaultyOs) -> None:
    outcomes = run_rules(tmp_path, faulty, every=True)
    print("\nstorage faults:", sum(outcomes.values()), "scenarios:", dict(sorted(outcomes.items())))


# ---------------------------------------------------------------------- read-only folder


async def test_read_only_folder(tmp_path: Path, faulty: FaultyOs) -> None:
    """EROFS on every call that would change the folder: reading works, running stops at once
    with a clear error naming the folder, and nothing changes."""
    cpdir, ledger = tmp_path / "cps", tmp_path / "ledger.txt"
    half = await planner(cpdir, ledger).execute_with_resume(PLAN)  # a finished run to read
    assert half.status == ExecutionStatus.COMPLETED
    manager = WorkflowPersistenceManager(cpdir)
    listed = manager.list_checkpoints()
    before = tree_state(cpdir)
    faulty.read_only = True
    try:
        for entry in listed:
            manager.load_checkpoint(entry["checkpoint_id"])
        assert manager.list_checkpoints() == listed
        fresh = build_chaos_plan(22, total=10, plan_id="plan-faults-new")
        for target in (PLAN, fresh):
            with pytest.raises(CheckpointWriteError) as info:
                await planner(cpdir, ledger).execute_with_resume(target, fresh=True)
            assert str(cpdir) in str(info.value)
            assert info.value.cause.errno == errno.EROFS  # type: ignore[union-attr]
            assert "Read-only file system" in str(info.value)
    finally:
        faulty.read_only = False
    assert tree_state(cpdir) == before
    assert not any(e.node_id for e in read_ledger(ledger)[len(PLAN.node_ids) * 2 :])


def test_real_read_only_bits_do_not_stop_root(tmp_path: Path) -> None:
    """Documents why EROFS is simulated: as root, a 0500 folder is still writable."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        if os.geteuid() != 0:
            pytest.skip("not root: chmod does make the folder read-only here")
        (folder / "x").write_text("root writes anyway")
    finally:
        folder.chmod(0o700)
