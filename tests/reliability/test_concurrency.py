"""Several processes resuming the same plan at the same moment.

Each round starts N runner processes that wait on a barrier file, then call
``execute_with_resume`` together. Exactly one runs; every other one fails fast with
``CheckpointLockedError`` naming the holder, and runs nothing; no node runs twice. A holder
killed with SIGKILL leaves no stale lock: the next round again has exactly one winner.
"""

from __future__ import annotations

import asyncio
import json
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from reliability_kit import (
    CHAOS_PLAN_ID,
    RUNNER,
    LedgerExecutor,
    build_chaos_plan,
    durable_record,
    read_ledger,
)

from vibe_aigc import ExecutionStatus

SEED = 31


def reference() -> dict[str, Any]:
    result = asyncio.run(LedgerExecutor(None, scale=0.0).execute(build_chaos_plan(SEED)))
    assert result.status == ExecutionStatus.COMPLETED
    return {k: v.output for k, v in result.node_results.items()}


def start(
    cpdir: Path, ledger: Path, barrier: Path | None, scale: float = 1.0
) -> subprocess.Popen[str]:
    args = [sys.executable, str(RUNNER), str(cpdir), str(ledger), str(SEED), "--interval", "5"]
    args += ["--scale", str(scale)]
    if barrier is not None:
        args += ["--barrier", str(barrier)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_lines(ledger: Path, count: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while len(read_ledger(ledger)) < count:
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no progress"
        time.sleep(0.002)


def release_together(procs: list[subprocess.Popen[str]], barrier: Path) -> None:
    for proc in procs:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready", proc.communicate()
    barrier.touch()


def round_of(
    n: int, cpdir: Path, ledger: Path, barrier: Path, kill_winner_after: int | None = None
) -> tuple[subprocess.Popen[str], dict[str, Any] | None, list[str]]:
    """Start ``n`` resumers at once; returns the winner, its result (None if killed) and the
    losers' stderr."""
    barrier.unlink(missing_ok=True)
    procs = [start(cpdir, ledger, barrier) for _ in range(n)]
    seen = len(read_ledger(ledger))
    release_together(procs, barrier)
    losers: list[str] = []
    winner: subprocess.Popen[str] | None = None
    pending = list(procs)
    deadline = time.monotonic() + 30
    # the losers fail fast, while the winner is still running
    while len(losers) < n - 1:
        assert time.monotonic() < deadline, "losers did not fail fast"
        for proc in list(pending):
            if proc.poll() is not None:
                out, err = proc.communicate()
                assert proc.returncode == 3, (proc.returncode, out, err)
                losers.append(err)
                pending.remove(proc)
        time.sleep(0.005)
    assert len(pending) == 1
    winner = pending[0]
    assert winner.poll() is None, "the winner finished before every loser was refused"
    for err in losers:
        assert "CheckpointLockedError" not in err or "locked" in err
        assert f"pid {winner.pid}" in err, err  # names the holder
        elapsed = float(re.search(r"locked after ([0-9.]+)s", err).group(1))  # type: ignore[union-attr]
        assert elapsed < 5.0, err
    result = None
    if kill_winner_after is not None:
        wait_lines(ledger, seen + kill_winner_after, winner)
        winner.send_signal(signal.SIGKILL)
        winner.communicate(timeout=30)
    else:
        out, err = winner.communicate(timeout=120)
        assert winner.returncode == 0, err
        result = json.loads(out.strip().splitlines()[-1])
    pids = {e.pid for e in read_ledger(ledger)[seen:]}
    assert pids <= {str(winner.pid)}, "a refused process ran nodes"
    return winner, result, losers


@pytest.mark.parametrize("n", [2, 8])
def test_processes_resuming_one_plan(tmp_path: Path, n: int) -> None:
    cpdir, ledger, barrier = tmp_path / "cps", tmp_path / "ledger.txt", tmp_path / "go"
    expected = reference()
    # some progress first, then a crash: there is something to resume
    first = start(cpdir, ledger, None)
    wait_lines(ledger, 40, first)
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    recorded = set(durable_record(cpdir, CHAOS_PLAN_ID).outputs)
    before = len(read_ledger(ledger))

    # round 1: n at once; the winner is killed with SIGKILL part-way
    round_of(n, cpdir, ledger, barrier, kill_winner_after=30)
    # round 2: n at once again - no stale lock, exactly one winner, which completes
    _, result, _ = round_of(n, cpdir, ledger, barrier)
    assert result is not None and result["status"] == "completed"
    assert result["outputs"] == expected

    later = read_ledger(ledger)[before:]
    starts = Counter(e.node_id for e in later if e.event == "start")
    assert not set(starts) & recorded, "recorded completions ran again"
    # a node ran at most twice after the first crash: once, plus once more if it was in flight
    # when round 1's winner was killed (at most max_concurrency = 4 such nodes)
    twice = [node for node, count in starts.items() if count > 1]
    assert all(count <= 2 for count in starts.values()) and len(twice) <= 4, starts


def test_lock_file_removed_between_open_and_flock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``delete_plan`` (e.g. ``cleanup_on_success``) unlinks ``.lock`` while holding it. A
    runner that opened the old file just before must not end up "holding" that orphaned file
    while a third runner locks the new one: two runners on one plan."""
    from vibe_aigc.errors import CheckpointLockedError
    from vibe_aigc.persistence import FileCheckpointStore
    from vibe_aigc.persistence.file import lock

    store = FileCheckpointStore(tmp_path / "cps")
    holder = store.lock("plan-a").acquire()
    real = lock.fcntl
    fired = []

    class RacyFcntl:
        LOCK_EX, LOCK_NB = real.LOCK_EX, real.LOCK_NB

        def flock(self, fd: int, op: int) -> None:
            if not fired:  # the late runner opened the file; the holder cleans up and leaves
                fired.append(fd)
                store.delete_plan("plan-a")
                holder.release()
            real.flock(fd, op)

    monkeypatch.setattr(lock, "fcntl", RacyFcntl())
    late = store.lock("plan-a").acquire()
    monkeypatch.setattr(lock, "fcntl", real)
    assert fired
    with pytest.raises(CheckpointLockedError):
        store.lock("plan-a").acquire()  # the late runner holds the lock everyone sees
    late.release()
    with store.lock("plan-a"):
        pass
