"""Crash-safe file writes: a reader never sees half a file.

:func:`atomic_write_bytes` writes a temporary file in the target's folder, flushes and fsyncs
it, renames it over the target with ``os.replace`` and fsyncs the folder, so after a crash the
target holds either the old bytes or the new ones. :func:`append_bytes` is the journal's
append: one ``write`` + one ``fsync`` per batch on an ``O_APPEND`` descriptor.

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
import stat
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


def _repair_tail(fd: int) -> int:
    """Cut a torn last line (bytes after the last newline) off a journal; return the new size."""
    size = os.fstat(fd).st_size
    if size == 0 or os.pread(fd, 1, size - 1) == b"\n":
        return size
    end = size
    chunk = 65536
    while end > 0:
        start = max(0, end - chunk)
        block = os.pread(fd, end - start, start)
        cut = block.rfind(b"\n")
        if cut >= 0:
            new_size = start + cut + 1
            break
        end = start
    else:
        new_size = 0
    os.ftruncate(fd, new_size)
    return new_size


class AppendHandle:
    """An open journal segment: one ``write`` + one ``fsync`` per batch.

    Opening cuts off a torn last line left by an earlier crash (so new lines never follow a
    half line) and, for a new file, fsyncs the folder. A failed append truncates the file back
    to its previous size. Keeping the handle open between batches saves an open, a stat and a
    tail check per node; the store decides when a handle is still the right one.
    """

    def __init__(self, path: Path, mode: int = FILE_MODE) -> None:
        self.path = path
        fd = -1
        try:
            created = not os.path.lexists(path)
            fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | _NOFOLLOW | _CLOEXEC, mode)
            info = os.fstat(fd)
            if not stat.S_ISREG(info.st_mode):
                raise OSError(errno.EINVAL, "not a regular file", str(path))
            if info.st_nlink > 1:  # a hard link planted in the folder: never write through it
                raise OSError(errno.EMLINK, "journal segment has other hard links", str(path))
            if created:
                os.fchmod(fd, mode)
            self.size = _repair_tail(fd)
            if created:
                fsync_dir(path.parent)
        except OSError as exc:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
            raise CheckpointWriteError(str(path.parent), exc) from exc
        self.fd = fd

    def append(self, data: bytes) -> None:
        try:
            if os.fstat(self.fd).st_size != self.size:  # changed behind our back: re-check
                self.size = _repair_tail(self.fd)
            _write_all(self.fd, data)
            os.fsync(self.fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.ftruncate(self.fd, self.size)
            raise CheckpointWriteError(str(self.path.parent), exc) from exc
        self.size += len(data)

    def close(self) -> None:
        if self.fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = -1


def append_bytes(path: Path, data: bytes, mode: int = FILE_MODE) -> None:
    """Append ``data`` to ``path`` with one write and one fsync (created with ``mode``)."""
    handle = AppendHandle(path, mode)
    try:
        handle.append(data)
    finally:
        handle.close()


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


def repair_tail(path: Path) -> None:
    """Cut a torn last line off the journal segment at ``path`` (if any) and fsync it."""
    try:
        fd = os.open(path, os.O_RDWR | _NOFOLLOW | _CLOEXEC)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise CheckpointWriteError(str(path.parent), exc) from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or info.st_nlink > 1:
            # a hard link planted as a segment: cutting it would cut the file it links to
            raise OSError(errno.EMLINK, "journal segment has other hard links", str(path))
        before = info.st_size
        if _repair_tail(fd) != before:
            os.fsync(fd)
    except OSError as exc:
        raise CheckpointWriteError(str(path.parent), exc) from exc
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
