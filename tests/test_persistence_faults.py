"""Fault injection: the disk refuses a write at each step; earlier data stays intact.

The OS calls of ``vibe_aigc.persistence.file.atomic`` are looked up on the ``os`` module at call
time, so the tests patch ``atomic.os.<name>`` for the duration of one store call only.

A read-only folder is simulated by raising ``EROFS``: the tests run as root, and ``chmod 0500``
does not stop root from writing, so a real read-only folder cannot be produced here.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from vibe_aigc.errors import CheckpointWriteError
from vibe_aigc.persistence import FileCheckpointStore, WorkflowPersistenceManager
from vibe_aigc.persistence.file import atomic
from vibe_aigc.persistence.ids import new_checkpoint_id

ATOMIC = "vibe_aigc.persistence.file.atomic"


def record(plan_id: str = "plan-a", **extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "checkpoint_id": new_checkpoint_id(),
        "plan_id": plan_id,
        "created_at": "2026-02-05T10:30:00Z",
        "vibe": {"description": "d"},
        "workflow_plan": {"id": plan_id, "root_nodes": []},
        "completed_nodes": [],
        "node_results": {},
        "pending_nodes": ["n1"],
        "state": "running",
        "total_nodes": 1,
        "run_id": "r",
        "journal_seq": -1,
        "big": "x" * 100_000,
    }
    rec.update(extra)
    return rec


def failing(real: Callable[..., Any], code: int, on_call: int = 1) -> Callable[..., Any]:
    """``real`` that raises OSError(code) on its ``on_call``-th call (every call for 0)."""
    calls = {"n": 0}

    def fake(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if on_call in (0, calls["n"]):
            raise OSError(code, os.strerror(code))
        return real(*args, **kwargs)

    return fake


def half_then_fail(real: Callable[[int, Any], int], code: int) -> Callable[[int, Any], int]:
    calls = {"n": 0}

    def fake(fd: int, data: Any) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real(fd, bytes(data)[: len(data) // 2])
        raise OSError(code, os.strerror(code))

    return fake


STEPS = {
    # step: (os attribute, which call fails)
    "open-temp": ("open", 1),
    "write": ("write", 1),
    "fsync-file": ("fsync", 1),
    "replace": ("replace", 1),
    "fsync-folder": ("fsync", 2),
}


def temp_files(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name.startswith(".tmp-")]


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EIO, errno.EROFS])
@pytest.mark.parametrize("step", list(STEPS))
def test_checkpoint_write_faults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str, code: int
) -> None:
    store = FileCheckpointStore(tmp_path / "cps")
    old = record()
    store.write_checkpoint(old)
    plan_dir = tmp_path / "cps" / "plan-a"
    new = record()
    name, on_call = STEPS[step]
    monkeypatch.setattr(f"{ATOMIC}.os.{name}", failing(getattr(os, name), code, on_call))
    try:
        with pytest.raises(CheckpointWriteError) as info:
            store.write_checkpoint(new)
    finally:
        monkeypatch.undo()
    error: CheckpointWriteError = info.value
    assert error.path == str(plan_dir)
    assert str(plan_dir) in str(error)
    assert isinstance(error, OSError)
    assert isinstance(error.cause, OSError) and error.cause.errno == code
    assert store.read_checkpoint(old["checkpoint_id"]) == old
    assert temp_files(plan_dir) == []
    ids = store.latest_checkpoint_ids("plan-a")
    if step == "fsync-folder":  # renamed into place, but its durability is unknown
        assert ids == [new["checkpoint_id"], old["checkpoint_id"]]
    else:
        assert ids == [old["checkpoint_id"]]


def test_partial_write_then_disk_full(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileCheckpointStore(tmp_path / "cps")
    old = record()
    store.write_checkpoint(old)
    monkeypatch.setattr(f"{ATOMIC}.os.write", half_then_fail(os.write, errno.ENOSPC))
    try:
        with pytest.raises(CheckpointWriteError):
            store.write_checkpoint(record())
    finally:
        monkeypatch.undo()
    assert store.read_checkpoint(old["checkpoint_id"]) == old
    assert temp_files(tmp_path / "cps" / "plan-a") == []
    assert store.latest_checkpoint_ids("plan-a") == [old["checkpoint_id"]]


def test_folder_creation_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileCheckpointStore(tmp_path / "cps")
    monkeypatch.setattr(f"{ATOMIC}.os.mkdir", failing(os.mkdir, errno.EROFS))
    try:
        with pytest.raises(CheckpointWriteError) as info:
            store.write_checkpoint(record())
    finally:
        monkeypatch.undo()
    cause = info.value.cause
    assert isinstance(cause, OSError) and cause.errno == errno.EROFS
    assert list(tmp_path.iterdir()) == []


def test_read_only_folder_via_manager(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manager = WorkflowPersistenceManager(tmp_path / "cps")
    body = {k: v for k, v in record().items() if k not in ("checkpoint_id", "plan_id")}
    first = manager.save_checkpoint("plan-a", body)
    monkeypatch.setattr(f"{ATOMIC}.os.open", failing(os.open, errno.EROFS))
    try:
        with pytest.raises(CheckpointWriteError, match="Read-only file system"):
            manager.save_checkpoint("plan-a", body)
    finally:
        monkeypatch.undo()
    assert [e["checkpoint_id"] for e in manager.list_checkpoints()] == [first]


def half_then_fail_at(
    real: Callable[[int, Any, int], int], code: int
) -> Callable[[int, Any, int], int]:
    """``half_then_fail`` for ``os.pwrite``."""
    calls = {"n": 0}

    def fake(fd: int, data: Any, offset: int) -> int:
        calls["n"] += 1
        if calls["n"] == 1:
            return real(fd, bytes(data)[: len(data) // 2], offset)
        raise OSError(code, os.strerror(code))

    return fake


def segment_data(path: Path) -> bytes:
    """A segment's data: its bytes up to the first NUL (the zero room after it is not data)."""
    return path.read_bytes().split(b"\0", 1)[0]


@pytest.mark.parametrize("step", ["write", "partial-write", "fsync"])
def test_journal_append_faults_roll_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """A batch is written in place into the segment's room (pwrite) and made durable with
    fdatasync; each step failing leaves the segment's data as it was."""
    store = FileCheckpointStore(tmp_path / "cps")
    store.append_journal("plan-a", [{"seq": 0, "x": "a" * 1000}])
    segment = tmp_path / "cps" / "plan-a" / "journal-000000000000.jsonl"
    data = segment_data(segment)
    if step == "write":
        monkeypatch.setattr(f"{ATOMIC}.os.pwrite", failing(os.pwrite, errno.ENOSPC))
    elif step == "partial-write":
        monkeypatch.setattr(f"{ATOMIC}.os.pwrite", half_then_fail_at(os.pwrite, errno.ENOSPC))
    else:
        monkeypatch.setattr(f"{ATOMIC}.os.fdatasync", failing(os.fdatasync, errno.EIO))
    try:
        with pytest.raises(CheckpointWriteError) as info:
            store.append_journal("plan-a", [{"seq": 1, "x": "b" * 5000}, {"seq": 2}])
    finally:
        monkeypatch.undo()
    assert info.value.path == str(segment.parent)
    assert segment.read_bytes() == data  # back to its data (the room is made again later)
    assert store.read_journal("plan-a") == ([{"seq": 0, "x": "a" * 1000}], [])
    store.append_journal("plan-a", [{"seq": 3}])
    assert [r["seq"] for r in store.read_journal("plan-a")[0]] == [0, 3]


def test_journal_segment_creation_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = FileCheckpointStore(tmp_path / "cps")
    store.write_checkpoint(record())
    monkeypatch.setattr(f"{ATOMIC}.os.open", failing(os.open, errno.EROFS, on_call=0))
    try:
        with pytest.raises(CheckpointWriteError):
            store.rotate_journal("plan-a", 0)
        with pytest.raises(CheckpointWriteError):
            store.append_journal("plan-a", [{"seq": 0}])
    finally:
        monkeypatch.undo()
    assert store.read_journal("plan-a") == ([], [])


def test_fsync_dir_tolerates_einval(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = {"n": 0}
    real = os.fsync

    def fake(fd: int) -> None:
        calls["n"] += 1
        if calls["n"] == 1:
            raise OSError(errno.EINVAL, "fsync not supported on folders here")
        real(fd)

    monkeypatch.setattr(f"{ATOMIC}.os.fsync", fake)
    try:
        atomic.fsync_dir(tmp_path)
    finally:
        monkeypatch.undo()
    assert calls["n"] == 1
