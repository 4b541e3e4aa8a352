"""One runner per plan: an ``flock`` on ``<plan_dir>/.lock``.

The lock is an advisory ``fcntl.flock(LOCK_EX | LOCK_NB)`` on an open file, so the operating
system releases it when the holder exits or is killed: there are no stale locks to clean up.
After acquiring, the holder writes who it is (pid, hostname, start time, program) into the file
so that a second runner can say who is in the way. Taking the same plan's lock twice in one
process also fails (each :class:`PlanLock` opens its own file description), and the lock file
is never unlinked on release (unlinking would let two runners lock two different files).
``delete_plan`` does remove it, while holding it; so after locking, a runner checks that the
file it locked is still the one at the path, and locks the new one if not.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import stat
import sys
import time
from pathlib import Path
from types import TracebackType

from vibe_aigc import results
from vibe_aigc.errors import CheckpointLockedError, CheckpointWriteError
from vibe_aigc.persistence.file.atomic import ensure_dir

LOCK_NAME = ".lock"
_HOLDER_INFO_WAITS = 20  # x 5 ms: how long a refused runner waits for the holder's info
_STALE_RETRIES = 10  # times the lock file may be replaced under an acquiring runner
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


def _names_a_dead_process(raw: bytes) -> bool:
    """True when holder info names a process of this host that no longer exists."""
    try:
        info = json.loads(raw.decode("utf-8", "replace"))
        pid = info["pid"] if info.get("hostname") == socket.gethostname() else None
    except (ValueError, TypeError, KeyError, AttributeError):
        return False
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:  # e.g. EPERM: it exists
        return False
    return False


def current_holder(lock_path: Path) -> str | None:
    """Who holds the lock file now, read-only (it never locks, so it cannot make a starting
    runner fail, and never creates the file): the holder info, or None when there is no lock
    file, no info (released: release empties it), or info naming a process of this host that
    no longer exists (killed before it could release). Info naming another host counts."""
    try:
        fd = os.open(lock_path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        raw = os.pread(fd, 4096, 0)
    except OSError:
        return None
    finally:
        os.close(fd)
    if not raw.strip() or _names_a_dead_process(raw):
        return None
    return describe_holder(raw)


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
        for _ in range(_STALE_RETRIES):
            fd = self._lock_file()
            if fd is not None:
                break
        else:  # pragma: no cover - the lock file was replaced under us again and again
            raise CheckpointLockedError(self.plan_id, "the lock file keeps being replaced")
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

    def _lock_file(self) -> int | None:
        """Open and flock the lock file; None when it was removed before we locked it."""
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
                raw = os.pread(fd, 4096, 0)
                # the holder writes who it is right after locking: when both started at the
                # same moment, the file is still empty, or still names a holder that was
                # killed; give it a few milliseconds so the error can name the real one
                for _ in range(_HOLDER_INFO_WAITS):
                    if raw.strip() and not _names_a_dead_process(raw):
                        break
                    time.sleep(0.005)
                    raw = os.pread(fd, 4096, 0)
                holder = describe_holder(raw)
            except OSError as exc:  # pragma: no cover - reading our own open file
                holder = f"holder unknown ({exc})"
            finally:
                os.close(fd)
            raise CheckpointLockedError(self.plan_id, holder) from None
        except OSError as exc:
            os.close(fd)
            raise CheckpointWriteError(str(self.plan_dir), exc) from exc
        # delete_plan unlinks the lock file while holding it: if that happened between our
        # open and our flock, we hold an orphaned file that nobody else will ever lock, and
        # a third runner could lock a new one. Lock the file that is at the path instead.
        try:
            current = os.stat(self.path, follow_symlinks=False)
            mine = os.fstat(fd)
            stale = (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino)
        except FileNotFoundError:
            stale = True
        except OSError as exc:
            os.close(fd)
            raise CheckpointWriteError(str(self.plan_dir), exc) from exc
        if stale:
            os.close(fd)
            return None
        if mine.st_nlink != 1 or not stat.S_ISREG(mine.st_mode):
            # a hard link planted as .lock: truncating and chmod'ing it would damage the
            # file it is linked to, so nothing is written to it
            os.close(fd)
            raise CheckpointWriteError(
                str(self.plan_dir),
                OSError(f"{self.path} is not a plain file of its own (hard-linked); refused"),
            )
        return fd

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
