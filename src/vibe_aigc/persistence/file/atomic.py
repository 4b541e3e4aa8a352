"""Crash-safe file writes: a reader never sees half a file.

:func:`atomic_write_bytes` writes a temporary file in the target's folder, flushes and fsyncs
it, renames it over the target with ``os.replace`` and fsyncs the folder, so after a crash the
target holds either the old bytes or the new ones. (A journal segment's appends are
``segment.py``'s.)

Every OS call is made through the module attribute (``os.write``, ``os.fsync``, ``os.replace``,
...) at call time, so fault-injection tests can monkeypatch them. Any ``OSError`` becomes a
:class:`~vibe_aigc.errors.CheckpointWriteError` naming the folder, and no temporary file is
left behind.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

from vibe_aigc.errors import CheckpointWriteError

TEMP_PREFIX = ".tmp-"
FILE_MODE = 0o600
DIR_MODE = 0o700
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        if written <= 0:  # pragma: no cover - os.write raises instead on Linux
            raise OSError(errno.EIO, "write returned no progress")
        view = view[written:]


def _discard(fd: int, path: Path) -> None:
    """After a failed write: close ``fd`` (if open) and remove the half-made file."""
    if fd >= 0:
        with contextlib.suppress(OSError):
            os.close(fd)
    with contextlib.suppress(OSError):
        os.unlink(path)


def fsync_dir(path: Path) -> None:
    """fsync a folder so a rename / create / unlink inside it survives a crash.

    File systems that cannot fsync a folder (``EINVAL``) are tolerated.
    """
    fd = os.open(path, os.O_RDONLY | _DIRECTORY | _CLOEXEC)
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno != errno.EINVAL:
            raise
    finally:
        os.close(fd)


def ensure_dir(path: Path, mode: int = DIR_MODE) -> None:
    """Create ``path`` and any missing parents with ``mode``; fsync each new folder's parent.

    Existing folders (or symlinks to folders) are left as they are; a file in the way is
    refused. Callers that must not follow a symlinked folder check for it first.
    """
    missing: list[Path] = []
    current = path
    while not os.path.lexists(current):
        missing.append(current)
        if current.parent == current:  # pragma: no cover - the root always exists
            break
        current = current.parent
    try:
        if not missing and not os.path.isdir(path):
            raise OSError(errno.ENOTDIR, "exists and is not a folder", str(path))
        for folder in reversed(missing):
            try:
                os.mkdir(folder, mode)
            except FileExistsError:
                if not os.path.isdir(folder):
                    raise
                continue
            os.chmod(folder, mode)  # undo the umask
            fsync_dir(folder.parent)
    except OSError as exc:
        raise CheckpointWriteError(str(path), exc) from exc


def atomic_write_bytes(path: Path, data: bytes | Iterable[bytes], mode: int = FILE_MODE) -> None:
    """Replace ``path`` with ``data`` atomically and durably (its folder must exist).

    ``data`` may be an iterable of chunks (a large checkpoint, encoded as it is written): the
    file holds their concatenation. An error while producing a chunk removes the temporary
    file and propagates as it is."""
    folder = path.parent
    tmp = folder / f"{TEMP_PREFIX}{path.name}-{secrets.token_hex(6)}"
    fd = -1
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)
        os.fchmod(fd, mode)
        for chunk in (data,) if isinstance(data, bytes) else data:
            _write_all(fd, chunk)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        os.replace(tmp, path)
        fsync_dir(folder)
    except OSError as exc:
        _discard(fd, tmp)
        raise CheckpointWriteError(str(folder), exc) from exc
    except BaseException:  # the chunks' producer failed: no half-made file stays
        _discard(fd, tmp)
        raise


def create_empty(path: Path, mode: int = FILE_MODE) -> bool:
    """Create an empty file durably; False when it already exists."""
    folder = path.parent
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, mode)
    except FileExistsError:
        return False
    except OSError as exc:
        raise CheckpointWriteError(str(folder), exc) from exc
    try:
        os.fchmod(fd, mode)
        os.fsync(fd)
        os.close(fd)
        fd = -1
        fsync_dir(folder)
    except OSError as exc:
        _discard(fd, path)
        raise CheckpointWriteError(str(folder), exc) from exc
    return True


def remove_file(path: Path) -> bool:
    """Unlink ``path`` (a symlink itself, never its target); False when it did not exist."""
    try:
        os.unlink(path)
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise CheckpointWriteError(str(path.parent), exc) from exc
    return True
