"""One runner per plan: an ``flock`` on ``<plan_dir>/.lock``.

The lock is an advisory ``fcntl.flock(LOCK_EX | LOCK_NB)`` on an open file, so the operating
system releases it when the holder exits or is killed: there are no stale locks to clean up.
After acquiring, the holder writes who it is (pid, hostname, start time, program) into the file
so that a second runner can say who is in the way. Taking the same plan's lock twice in one
process also fails (each :class:`PlanLock` opens its own file description), and the lock file
is never unlinked on release (unlinking would let two runners lock two different files).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
from pathlib import Path
from types import TracebackType

from vibe_aigc import results
from vibe_aigc.errors import CheckpointLockedError, CheckpointWriteError
from vibe_aigc.persistence.atomic import ensure_dir

LOCK_NAME = ".lock"
_HELD: set[str] = set()  # lock files held by this process


def held_here(lock_path: Path) -> bool:
    """True when a :class:`PlanLock` of this process holds ``lock_path``."""
    return str(lock_path) in _HELD


def describe_holder(raw: bytes) -> str:
    """A one-line description of the holder info written in a lock file."""
    text = raw.decode("utf-8", "replace").strip()
    if not text:
        return "holder unknown: the lock file is empty (the holder may be starting up)"
    try:
        info = json.loads(text)
    except ValueError:
        info = None
    if not isinstance(info, dict):
        return f"holder info: {text[:200]!r}"
    here = " (this process)" if info.get("pid") == os.getpid() else ""
    return (
        f"pid {info.get('pid', '?')}{here} on {info.get('hostname', '?')}, "
        f"started {info.get('started_at', '?')}, program {info.get('argv0', '?')}"
    )


class PlanLock:
    """Context manager holding a plan's lock; raises CheckpointLockedError on contention.

    Acquiring creates the plan folder (0700) and the lock file (0600) when missing.
    """

    def __init__(self, plan_dir: Path, plan_id: str) -> None:
        self.plan_dir = plan_dir
        self.plan_id = plan_id
        self.path = plan_dir / LOCK_NAME
        self._fd: int | None = None

    @property
    def locked(self) -> bool:
        return self._fd is not None

    def acquire(self) -> PlanLock:
        if self._fd is not None:
            raise CheckpointLockedError(self.plan_id, "this PlanLock is already held")
        if os.path.islink(self.plan_dir):
            raise CheckpointWriteError(
                str(self.plan_dir), OSError("the plan folder is a symbolic link; refused")
            )
        ensure_dir(self.plan_dir)
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC
        try:
            fd = os.open(self.path, flags, 0o600)
        except OSError as exc:
            raise CheckpointWriteError(str(self.plan_dir), exc) from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                holder = describe_holder(os.pread(fd, 4096, 0))
            except OSError as exc:  # pragma: no cover - reading our own open file
                holder = f"holder unknown ({exc})"
            finally:
                os.close(fd)
            raise CheckpointLockedError(self.plan_id, holder) from None
        except OSError as exc:
            os.close(fd)
            raise CheckpointWriteError(str(self.plan_dir), exc) from exc
        try:
            os.fchmod(fd, 0o600)
            os.ftruncate(fd, 0)
            os.pwrite(fd, self._holder_info(), 0)
        except OSError as exc:
            os.close(fd)  # closing releases the flock
            raise CheckpointWriteError(str(self.plan_dir), exc) from exc
        self._fd = fd
        _HELD.add(str(self.path))
        return self

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        _HELD.discard(str(self.path))
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)  # no holder any more; the file itself stays
        os.close(fd)  # releases the flock

    def __enter__(self) -> PlanLock:
        return self.acquire()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.release()

    @staticmethod
    def _holder_info() -> bytes:
        info = {
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "started_at": results.iso_z(results.utc_now()),
            "argv0": sys.argv[0] if sys.argv else "",
        }
        return (json.dumps(info, ensure_ascii=False) + "\n").encode("utf-8")
