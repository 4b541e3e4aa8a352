"""One journal segment file: its data, then zeros made ahead of the writer.

Layout: ``[0, end)`` holds journal lines, each ending with a newline; ``[end, size)`` is room,
zeros written for real and synced once when it was made. A journal line never contains a NUL
byte (the JSON encoder escapes control characters; the journal refuses a line with one), so
the data ends at the first NUL byte, and a segment with no NUL byte (one written before room
existed, or one cut to its data) ends at its size.

Why real zeros: an append is then ``pwrite`` in place + ``fdatasync``, and neither the size
nor the block map changes, so the disk flushes the data and nothing else. ``posix_fallocate``
was measured and not taken: on ext4 it makes *unwritten* extents, and the first write into
each page of one converts it (a metadata journal commit), so a record entering a new page
cost ~250 µs against ~170 µs with real zeros (bench/probe_prealloc.py); making room with
zeros costs well under 1 µs per record it holds. The zeros are written one page at a time: the page
cache sizes a folio by the write that makes it, and an append dirties its whole folio, so room
made by one 1 MiB write would send 1 MiB to the disk at every fdatasync (measured: 1,048,576
bytes written per 390-byte record, against 4,485 for room made page by page). For the same
reason a reopened segment's room is cut and made again rather than reused: read back from the
disk (after a reboot) it would sit in large folios made by readahead.

What a crash leaves (:func:`examine`): an acknowledged batch was synced, so only the batch in
flight can be torn, and its pages (512-byte sectors at worst) reach the disk in any order.
Zeros where the data should go on are that batch's unwritten pages; non-zero bytes after them
are its pages that did reach the disk. Those start on a sector boundary, so a zero run that
gives way to data anywhere else is damage (a byte gone bad), never a torn append.

:class:`SegmentFile` is the open newest segment of a plan; :func:`seal` cuts a segment to its
valid data when a newer one starts. OS calls go through the ``os`` module at call time, so
fault-injection tests can patch them; an ``OSError`` becomes a ``CheckpointWriteError``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from vibe_aigc.errors import CheckpointWriteError
from vibe_aigc.persistence.file import atomic

ROOM_MIN = 64 * 1024
"""Room a new segment gets first: a trim starts a segment after every snapshot, so a run that
snapshots every few nodes must not write a mebibyte of zeros each time."""
ROOM_MAX = 1 << 20
"""The room made at once grows with the segment (doubling) up to this."""
SECTOR = 512
"""The smallest unit a disk persists: a torn append's surviving pages start on one."""
PAGE = 4096
_ZERO_PAGE = bytes(PAGE)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_NONBLOCK = getattr(os, "O_NONBLOCK", 0)
_NOATIME = getattr(os, "O_NOATIME", 0)


@dataclass(frozen=True, slots=True)
class Extent:
    """Where a segment's data ends, and what follows it (see :func:`examine`)."""

    size: int
    data_end: int
    """The first NUL byte (the size when there is none)."""
    valid_end: int
    """After the last newline before ``data_end``: the complete lines."""
    stale_at: int
    """The first non-zero byte after ``data_end``, or -1 when only zeros follow it."""

    @property
    def torn(self) -> bool:
        """A line is cut short (by the end of the file or by zeros)."""
        return self.valid_end < self.data_end

    @property
    def torn_append(self) -> bool:
        """Bytes after a zero gap, where a torn append leaves them (on a sector boundary)."""
        return self.stale_at >= 0 and self.stale_at % SECTOR == 0

    @property
    def damaged(self) -> bool:
        """Zeros inside the data that no torn append leaves: damage wherever it is."""
        return self.stale_at >= 0 and self.stale_at % SECTOR != 0


class Scan:
    """What :func:`examine` finds, found a block at a time (:meth:`feed`, in file order): a
    segment is scanned without holding it (a resumed 100k-node run's segment is ~40 MB, and
    reading it whole to open it for appending held it twice). Beside the :class:`Extent`:
    what :func:`_keep` needs, and where the last complete line starts."""

    def __init__(self) -> None:
        self.size = 0
        self.data_end = -1  # the first NUL, -1 until one is seen
        self.valid_end = 0
        self.stale_at = -1
        self.line_start = 0
        """Where the last complete line before ``data_end`` starts (``valid_end`` - 1 ends it)."""
        self.last_newline = -1
        """The last newline anywhere in the file."""
        self.last_data = -1
        """The last non-NUL byte anywhere in the file."""

    def feed(self, block: bytes) -> None:
        base, length = self.size, len(block)
        rest = length  # where this block's bytes after the data's end begin
        if self.data_end < 0:
            nul = block.find(b"\0")
            newline = block.rfind(b"\n", 0, length if nul < 0 else nul)
            if newline >= 0:
                before = block.rfind(b"\n", 0, newline)
                self.line_start = base + before + 1 if before >= 0 else self.valid_end
                self.valid_end = base + newline + 1
            if nul >= 0:
                self.data_end, rest = base + nul, nul
        else:
            rest = 0
        if self.stale_at < 0 and rest < length and block.count(b"\0", rest) != length - rest:
            self.stale_at = base + length - len(block[rest:].lstrip(b"\0"))
        newline = block.rfind(b"\n")
        if newline >= 0:
            self.last_newline = base + newline
        data = len(block.rstrip(b"\0"))  # the block itself when it ends in data: no copy
        if data:
            self.last_data = base + data - 1
        self.size += length

    @property
    def extent(self) -> Extent:
        data_end = self.size if self.data_end < 0 else self.data_end
        return Extent(self.size, data_end, self.valid_end, self.stale_at)


def examine(raw: bytes) -> Extent:
    """The :class:`Extent` of a segment's bytes."""
    found = Scan()
    found.feed(raw)
    return found.extent


def _keep(scan: Scan) -> tuple[int, bool]:
    """Where appends go on in a segment, and whether non-zero bytes after it must be cut.

    A torn line and a torn append's leftovers are cut (readers drop them anyway, and new
    lines must never follow them). Damage is left for the readers to report, as it was found:
    only a torn last line is cut, after the last newline of the file.
    """
    extent = scan.extent
    if extent.damaged:
        end = scan.last_newline + 1
        return end, scan.last_data >= end
    return extent.valid_end, extent.torn or extent.stale_at >= 0


def scan_fd(fd: int) -> Scan:
    """The :class:`Scan` of the whole file, read a block at a time."""
    found, size = Scan(), os.fstat(fd).st_size
    while found.size < size:
        block = os.pread(fd, min(ROOM_MAX, size - found.size), found.size)
        if not block:
            break
        found.feed(block)
    return found


def last_line(path: Path) -> bytes | None:
    """The last complete line of the segment at ``path`` (without its newline), None when it
    has none: read without reading the segment whole into memory. Raises OSError (a link,
    not a regular file, unreadable)."""
    fd = os.open(path, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | _NONBLOCK)  # a FIFO: no wait
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        found = scan_fd(fd)
        if found.valid_end == 0:
            return None
        length = found.valid_end - 1 - found.line_start
        line = os.pread(fd, length, found.line_start)
        if len(line) != length:  # cut meanwhile: the caller reads it whole
            raise OSError(errno.EIO, "segment changed while read", str(path))
        return line
    finally:
        os.close(fd)


def _pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        if written <= 0:  # pragma: no cover - os.pwrite raises instead on Linux
            raise OSError(errno.EIO, "pwrite returned no progress")
        view, offset = view[written:], offset + written


def _datasync(fd: int) -> None:
    sync = getattr(os, "fdatasync", None)  # not on macOS: fsync does the same and more
    (sync if sync is not None else os.fsync)(fd)


def _no_atime(fd: int) -> None:
    """Reads through ``fd`` leave the access time alone, where the OS allows it (the owner
    may): an access-time update dirties the inode, and the next ``fdatasync`` then writes the
    inode too (the append's check reads one byte at the end before every write)."""
    if _NOATIME:
        with contextlib.suppress(OSError):
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | _NOATIME)


def _checked_open(path: Path, flags: int, mode: int) -> int:
    fd = os.open(path, flags | _NOFOLLOW | _CLOEXEC, mode)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        if info.st_nlink > 1:  # a hard link planted in the folder: never write through it
            raise OSError(errno.EMLINK, "journal segment has other hard links", str(path))
    except OSError:
        with contextlib.suppress(OSError):
            os.close(fd)
        raise
    return fd


class SegmentFile:
    """The open newest segment of a plan: each batch is written in place into the room at
    the end of the data and made durable with one ``fdatasync``.

    Opening cuts the file at the end of its valid data: what a crash left after it (a torn
    line, a torn append's leftovers: see the module docstring), so new lines never follow
    them, and old room. A batch that does not fit extends the room first (new zeros and the
    data in one go, one ``fsync``: the size changes). A failed append cuts the file back
    to the end of the data (the room is made again by the next append): what was recorded
    before stays, and the error is a ``CheckpointWriteError``.
    """

    def __init__(self, path: Path, mode: int = atomic.FILE_MODE) -> None:
        self.path = path
        self.end = self.capacity = 0
        fd = -1
        try:
            created = not os.path.lexists(path)
            fd = _checked_open(path, os.O_RDWR | os.O_CREAT, mode)
            if created:
                os.fchmod(fd, mode)
            _no_atime(fd)
            self.fd = fd
            self._settle()
            if created:
                atomic.fsync_dir(path.parent)
        except OSError as exc:
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
            self.fd = -1
            raise CheckpointWriteError(str(path.parent), exc) from exc

    def _settle(self) -> None:
        """Find the end of the data and cut the file there: what must not precede new lines
        durably, zero room without a sync (the next append makes fresh room: see the module
        docstring)."""
        found = scan_fd(self.fd)
        end, cut = _keep(found)
        if end < found.size:
            os.ftruncate(self.fd, end)
            if cut:
                os.fsync(self.fd)  # gone for good before anything is written after it
        self.end = self.capacity = end

    def _unchanged(self) -> bool:
        """Nobody else wrote or cut the file since our last append (then the byte at our
        end is still a zero of the room, and the size still ours).

        The size comes from ``lseek``, not ``fstat``: a stat marks the file's ctime as seen,
        so (multigrain timestamps, Linux 6.13+) the next write stamps a fine-grained new
        mtime and ctime and dirties the inode, and the ``fdatasync`` after it then writes the
        inode as well as the data: a second disk write per record (~190 against ~125 µs,
        ``bench/probe_sync_inode.py``). Unseen, the timestamps move at the clock tick only.
        """
        if os.lseek(self.fd, 0, os.SEEK_END) != self.capacity:
            return False
        return self.end == self.capacity or os.pread(self.fd, 1, self.end) == b"\0"

    def append(self, data: bytes) -> None:
        wrote = False
        try:
            if not self._unchanged():
                self._settle()
            end = self.end + len(data)
            wrote = True
            if end <= self.capacity:
                _pwrite_all(self.fd, data, self.end)
                # fdatasync, not fsync: the size and the block map stay as they are (the
                # room was written and synced when it was made), so the data is all a later
                # read needs; what fdatasync leaves out (the mtime) is not needed for that
                _datasync(self.fd)
            else:
                room = min(ROOM_MAX, max(ROOM_MIN, self.capacity))
                capacity = -(-(end + room) // PAGE) * PAGE
                # the new pages first, one page per write (page-sized folios: see the module
                # docstring), then the data into them
                start = self.capacity
                if start % PAGE:  # finish the partial last page with the first write
                    _pwrite_all(self.fd, _ZERO_PAGE[: PAGE - start % PAGE], start)
                    start += PAGE - start % PAGE
                for offset in range(start, capacity, PAGE):
                    _pwrite_all(self.fd, _ZERO_PAGE, offset)
                _pwrite_all(self.fd, data, self.end)
                os.fsync(self.fd)  # the size changed: this sync commits it with the data
                self.capacity = capacity
        except OSError as exc:
            if wrote:  # undo a partial write (and drop the room: the next append remakes it)
                with contextlib.suppress(OSError):
                    os.ftruncate(self.fd, self.end)
                self.capacity = self.end
            raise CheckpointWriteError(str(self.path.parent), exc) from exc
        self.end += len(data)

    def close(self, trim_room: bool = False) -> None:
        """Close; with ``trim_room``, cut the unused room off first (a finished segment
        keeps only its data). Only zeros go, and the file reads the same with or without
        them, so the cut needs no sync; it is skipped when someone else changed the file."""
        if self.fd < 0:
            return
        with contextlib.suppress(OSError):
            if trim_room and self.end < self.capacity and self._unchanged():
                os.ftruncate(self.fd, self.end)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.fd = -1


def seal(path: Path) -> None:
    """Cut the segment at ``path`` to its valid data before a newer segment starts: a torn
    line or a torn append's leftovers (fsynced: in an older segment they would be damage),
    and its unused room (not synced: zeros read the same as no bytes)."""
    try:
        fd = _checked_open(path, os.O_RDWR, 0)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise CheckpointWriteError(str(path.parent), exc) from exc
    try:
        found = scan_fd(fd)
        end, cut = _keep(found)
        if cut:
            os.ftruncate(fd, end)
            os.fsync(fd)
        elif end < found.size:
            with contextlib.suppress(OSError):  # only zeros: housekeeping, may fail quietly
                os.ftruncate(fd, end)
    except OSError as exc:
        raise CheckpointWriteError(str(path.parent), exc) from exc
    finally:
        with contextlib.suppress(OSError):
            os.close(fd)
