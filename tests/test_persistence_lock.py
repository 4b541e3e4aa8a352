"""The plan lock, with real processes: fail fast while held, free again once the holder dies."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from vibe_aigc.persistence.lock import PlanLock, describe_holder

from vibe_aigc.errors import CheckpointLockedError
from vibe_aigc.persistence import FileCheckpointStore

HOLD = """
import sys, time
from pathlib import Path
from vibe_aigc.persistence import FileCheckpointStore
lock = FileCheckpointStore(Path(sys.argv[1])).lock("plan-a")
lock.acquire()
print("locked", flush=True)
time.sleep(110)
"""

TRY = """
import json, sys
from pathlib import Path
from vibe_aigc.errors import CheckpointLockedError
from vibe_aigc.persistence import FileCheckpointStore
try:
    with FileCheckpointStore(Path(sys.argv[1])).lock("plan-a"):
        print(json.dumps({"locked": True}))
except CheckpointLockedError as exc:
    print(json.dumps({"locked": False, "holder": exc.holder, "message": str(exc)}))
"""


def run_try(root: Path) -> dict[str, object]:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", TRY, str(root)], capture_output=True, timeout=60, check=True
    )
    assert time.monotonic() - started < 30  # fails fast, never waits for the holder
    result: dict[str, object] = json.loads(done.stdout)
    return result


@pytest.fixture
def holder(tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(tmp_path / "cps")],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"locked\n", proc.stderr.read() if proc.stderr else ""
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_second_process_fails_fast_then_lock_is_free_after_sigkill(
    tmp_path: Path, holder: subprocess.Popen[bytes]
) -> None:
    root = tmp_path / "cps"
    result = run_try(root)
    assert result["locked"] is False
    assert f"pid {holder.pid} " in str(result["holder"])
    assert "started " in str(result["holder"])
    assert "another process" in str(result["message"])

    store = FileCheckpointStore(root)
    with pytest.raises(CheckpointLockedError) as info, store.lock("plan-a"):
        pass  # pragma: no cover
    assert f"pid {holder.pid} " in info.value.holder
    with pytest.raises(CheckpointLockedError):  # delete_plan refuses to pull the rug
        store.delete_plan("plan-a")

    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    assert run_try(root) == {"locked": True}  # no stale lock
    with store.lock("plan-a") as lock:
        assert lock.locked
        info_on_disk = json.loads((root / "plan-a" / ".lock").read_text())
        assert info_on_disk["pid"] == os.getpid()
        assert info_on_disk["started_at"].endswith("Z")
        assert set(info_on_disk) == {"pid", "hostname", "started_at", "argv0"}
    assert (root / "plan-a" / ".lock").read_bytes() == b""  # holder info cleared on release
    assert store.delete_plan("plan-a")


def test_same_plan_twice_in_one_process(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path / "cps")
    first = store.lock("plan-a")
    second = store.lock("plan-a")
    with first:
        with pytest.raises(CheckpointLockedError) as info:
            second.acquire()
        assert "(this process)" in info.value.holder
        assert not second.locked
        with pytest.raises(CheckpointLockedError):
            first.acquire()  # the same object, twice
    second.acquire()
    second.release()
    second.release()  # idempotent


def test_lock_is_not_inherited_by_exec(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path / "cps")
    with store.lock("plan-a"):
        child = subprocess.Popen(
            [sys.executable, "-c", "import time; time.sleep(60)"], close_fds=False
        )
    try:
        assert run_try(tmp_path / "cps") == {"locked": True}
    finally:
        child.kill()
        child.wait(timeout=30)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"", "holder unknown"),
        (b"garbage", "holder info: 'garbage'"),
        (b"[1]", "holder info: '[1]'"),
        (b'{"pid": 7, "hostname": "h", "started_at": "t", "argv0": "x"}', "pid 7 on h, started t"),
    ],
)
def test_describe_holder(raw: bytes, expected: str) -> None:
    assert expected in describe_holder(raw)


def test_plan_lock_creates_folder_with_modes(tmp_path: Path) -> None:
    plan_dir = tmp_path / "cps" / "plan-a"
    with PlanLock(plan_dir, "plan-a"):
        assert oct(plan_dir.stat().st_mode & 0o777) == "0o700"
        assert oct((plan_dir / ".lock").stat().st_mode & 0o777) == "0o600"
