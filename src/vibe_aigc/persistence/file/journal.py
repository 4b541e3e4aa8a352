"""The file store's journal: append-only segment files, private to the file store.

``<plan>/journal-<startseq:012d>.jsonl`` holds entries from ``startseq`` up to the next
segment's start, one codec line each. Appends go to the newest segment through a kept-open
:class:`~.segment.SegmentFile`: each batch is written in place into zero room made ahead, with
one ``fdatasync``; a segment's data ends at its first NUL byte (see ``segment.py`` for the
layout and what a crash can leave). After a snapshot the runs layer trims: the current segment
is closed, so the next batch starts a new segment named by its first seq (the older one is cut
to its data first), and segments every entry of which a snapshot covers are deleted. Closing a
plan's journal (the lease's release) cuts the unused room off its newest segment. A damaged
segment is set aside as ``quarantined-journal-...`` (kept for inspection, never read again).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import stat
import threading
from collections.abc import Callable
from pathlib import Path

from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointEncodeError,
    CheckpointWriteError,
    UnsupportedSchemaError,
)
from vibe_aigc.persistence.codec import Codec
from vibe_aigc.persistence.file import atomic, segment
from vibe_aigc.persistence.file.lines import ALL, Lines
from vibe_aigc.persistence.records import Record
from vibe_aigc.persistence.store import JournalRead

SEGMENT_RE = re.compile(r"journal-(\d{12,})\.jsonl")
QUARANTINE_RE = re.compile(r"quarantined-journal-(\d{12,})\.jsonl(\.\d+)?")

ReadFile = Callable[[Path], bytes]
OpenFile = Callable[[Path], int]


def segment_name(start_seq: int) -> str:
    return f"journal-{start_seq:012d}.jsonl"


def check_seq(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CheckpointEncodeError(what, f"must be an integer, found {type(value).__name__}")
    return value


def segments(plan_dir: Path) -> list[tuple[int, Path]]:
    """The plan's segments by start seq (symlinks and folders are not segments)."""
    try:
        entries = list(os.scandir(plan_dir))
    except FileNotFoundError:
        return []
    out = []
    for entry in entries:
        match = SEGMENT_RE.fullmatch(entry.name)
        if match and not entry.is_dir(follow_symlinks=False):
            out.append((int(match.group(1)), plan_dir / entry.name))
    return sorted(out)


def _fsync_quietly(folder: Path) -> None:
    with contextlib.suppress(OSError):
        atomic.fsync_dir(folder)


def _folder_stamp(plan_dir: Path) -> tuple[int, int] | None:
    try:
        info = os.lstat(plan_dir)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode):
        return None
    return info.st_ino, info.st_mtime_ns


def _ending(
    path: Path, extent: segment.Extent, lines: Lines, newest: bool
) -> tuple[str | None, str | None]:
    """(damage, warning) for what follows a segment's complete ``lines``. Zeros alone are a
    clean end (then the lines are not even counted). In the newest segment a torn line and
    a torn append's leftovers are dropped with a warning; in an older one they are damage."""
    torn = extent.data_end - extent.valid_end
    if not torn and extent.stale_at < 0:
        return None, None
    number = len(lines) + 1  # the first line after the complete ones
    if extent.damaged:
        return (
            f"{path}: line {number}: a zero byte at offset {extent.data_end} inside the data "
            "(not where a torn append leaves zeros)",
            None,
        )
    if not newest:
        if torn:
            cut = "" if extent.data_end == extent.size else " (cut by zero bytes)"
            return f"{path}: line {number}: incomplete line (no newline){cut}", None
        return (  # not torn: bytes follow the zeros
            f"{path}: line {number}: bytes at offset {extent.stale_at} after the end of "
            f"the data (zeros from offset {extent.data_end})",
            None,
        )
    parts = [f"a torn last line ({torn} bytes without a newline)"] if torn else []
    if extent.stale_at >= 0:
        parts.append(
            f"bytes from offset {extent.stale_at} after zeros from offset {extent.data_end} "
            "(only some pages of the append reached the disk)"
        )
    return None, f"{path}: dropped {' and '.join(parts)}; a crash interrupted an append"


class SegmentJournal:
    """Appends and reads one store's journals (see the module docstring)."""

    def __init__(self, codec: Codec, read_file: ReadFile, open_file: OpenFile) -> None:
        self.codec = codec
        self._read_file = read_file
        self._open_file = open_file  # segments are read through it a block at a time
        # plan folder -> (folder's (inode, mtime_ns), segment start seq, open segment).
        # A folder whose entries changed (a rotation, a compaction, another store's work)
        # has a new mtime, so the cached segment is only reused while it is still current.
        self._appenders: dict[Path, tuple[tuple[int, int], int, segment.SegmentFile]] = {}
        self._rotate: set[Path] = set()  # the next batch starts a new segment
        self._last: dict[Path, int] = {}  # highest seq stored, while a segment is open
        self.guard = threading.Lock()

    # ------------------------------------------------------------------ appending

    def append(
        self, plan_dir: Path, records: list[Record], prepare: Callable[[], object] | None = None
    ) -> None:
        """Append ``records`` in one write + sync. ``prepare`` runs before a segment is
        (re)opened (the store's folder checks); not while the open one is still current."""
        if not records:
            return
        lone = len(records) == 1  # a chain's every record: no list, join or pairs
        if lone:
            data = self.codec.encode_line(records[0])
        else:
            data = b"".join([self.codec.encode_line(record) for record in records])
        if b"\0" in data:  # the data of a segment ends at its first NUL byte
            raise CheckpointEncodeError("journal record", "the codec's line holds a NUL byte")
        if lone:
            first = last_seq = check_seq(records[0]["seq"], "journal record 'seq'")
        else:
            seqs = [check_seq(r["seq"], "journal record 'seq'") for r in records]
            for before, after in itertools.pairwise(seqs):
                if after <= before:
                    raise CheckpointEncodeError(
                        "journal batch", f"seq {after} follows {before}; seqs must increase"
                    )
            first, last_seq = seqs[0], seqs[-1]
        if first < 0:
            raise CheckpointEncodeError("journal record 'seq'", f"{first} is negative")
        with self.guard:
            stamp = _folder_stamp(plan_dir)  # once per append: prepare and _appender share it
            if prepare is not None:
                cached = self._appenders.get(plan_dir)
                if cached is None or plan_dir in self._rotate or cached[0] != stamp:
                    prepare()  # before anything reads or writes the folder
                    stamp = _folder_stamp(plan_dir)
            last = self._last.get(plan_dir)
            if last is None:
                last = self._highest_seq(plan_dir)
            if first <= last:
                raise CheckpointEncodeError(
                    "journal record 'seq'", f"{first} is not above {last}, the highest stored"
                )
            start, handle = self._appender(plan_dir, first, stamp)
            if handle is None:
                raise CheckpointEncodeError(
                    "journal record 'seq'",
                    f"{first} is below {start}, the first seq of the current segment",
                )
            handle.append(data)
            self._last[plan_dir] = last_seq

    def _highest_seq(self, plan_dir: Path) -> int:
        """The seq of the newest line that decodes (-1 when there is none): the bound every
        append must be above. The last line is read alone (:func:`segment.last_line`); when
        it does not decode, the segment is read from the end, one line at a time (decoding
        the whole journal for it doubled a resume's reading and held every entry in memory)."""
        for _, path in reversed(segments(plan_dir)):
            try:  # the last line alone, the segment not held: the one a writer appends to
                line = segment.last_line(path)
                if line:
                    return int(self.codec.decode_line(line, str(path))["seq"])
            except UnsupportedSchemaError:
                raise  # written by a newer vibe-aigc: never written past
            except (OSError, CheckpointCorruptError):
                pass  # the careful way, line by line from the end, says what it is
            try:
                raw = self._read_file(path)
            except (FileNotFoundError, CheckpointCorruptError):
                continue  # compacted meanwhile, or not a readable file: the one before
            # complete lines only: what follows the last newline is a torn append, which a
            # read drops and the segment's next opener cuts
            end = raw.rfind(b"\n", 0, segment.examine(raw).data_end) + 1
            while end > 0:  # line by line from the end, without splitting the segment
                stop = end - 1 if raw[end - 1] == 0x0A else end  # without its newline
                begin = raw.rfind(b"\n", 0, stop) + 1
                line, end = raw[begin:stop], begin
                if not line:
                    continue
                try:
                    return int(self.codec.decode_line(line, str(path))["seq"])
                except UnsupportedSchemaError:
                    raise  # written by a newer vibe-aigc: never written past
                except CheckpointCorruptError:
                    continue  # a torn or damaged line counts for nothing
        return -1

    def _appender(
        self, plan_dir: Path, first_seq: int, stamp: tuple[int, int] | None
    ) -> tuple[int, segment.SegmentFile | None]:
        """The open current segment, reopened when the folder changed (``stamp``: its
        :func:`_folder_stamp` now), or a new segment when a trim asked for one. ``None`` when
        ``first_seq`` is below the current segment's start.
        """
        cached = self._appenders.get(plan_dir)
        if cached is not None and plan_dir not in self._rotate:
            cached_stamp, start, handle = cached
            if stamp is not None and cached_stamp == stamp:
                return start, (handle if first_seq >= start else None)
        self._drop(plan_dir)
        atomic.ensure_dir(plan_dir)
        existing = segments(plan_dir)
        if plan_dir in self._rotate or not existing:
            if existing and existing[-1][0] > first_seq:
                return existing[-1][0], None
            if existing:
                segment.seal(existing[-1][1])
            start, path = first_seq, plan_dir / segment_name(first_seq)
        else:
            start, path = existing[-1]
        if first_seq < start:
            return start, None
        handle = segment.SegmentFile(path)  # cuts what a crash left after the valid data
        self._rotate.discard(plan_dir)
        fresh = _folder_stamp(plan_dir)
        if fresh is not None:
            self._appenders[plan_dir] = (fresh, start, handle)
        return start, handle

    def _drop(self, plan_dir: Path, trim_room: bool = False) -> None:
        self._last.pop(plan_dir, None)
        cached = self._appenders.pop(plan_dir, None)
        if cached is not None:
            cached[2].close(trim_room)

    def close(self, plan_dir: Path) -> None:
        """Close the plan's open segment, cutting its unused room off (a later append
        reopens it and makes room again)."""
        with self.guard:
            self._drop(plan_dir, trim_room=True)

    def close_all(self) -> None:
        with self.guard:
            for plan_dir in list(self._appenders):
                self._drop(plan_dir, trim_room=True)

    # ------------------------------------------------------------------ reading

    def read(
        self, plan_dir: Path, after_seq: int = -1, into: Callable[[Record], None] | None = None
    ) -> JournalRead:
        """Entries after ``after_seq``; damage in the middle stops the read (see
        :class:`~vibe_aigc.persistence.store.JournalRead`): the valid entries before it are
        returned with ``damage`` set. Lines up to ``after_seq`` are skipped undecoded when
        they are in order (:meth:`_covered_lines`): what a snapshot covers is not read again,
        and damage there costs nothing after it."""
        after_seq = check_seq(after_seq, "after_seq")
        found = JournalRead()
        add = into if into is not None else found.entries.append
        all_segments = segments(plan_dir)
        previous: int | None = None
        for index, (start, path) in enumerate(all_segments):
            newest = index == len(all_segments) - 1
            limit = None if newest else all_segments[index + 1][0]
            if limit is not None and limit - 1 <= after_seq:
                continue  # every record of this segment is <= after_seq
            try:
                fd = self._open_file(path)
            except FileNotFoundError:  # compacted meanwhile
                continue
            except CheckpointCorruptError as exc:
                found.damage = f"{path}: {exc.reason}"
                return found
            try:
                previous = self._read_segment(
                    fd, path, (start, limit, newest), after_seq, previous, found, add
                )
            except OSError as exc:
                found.damage = f"{path}: cannot be read ({exc})"
            finally:
                os.close(fd)
            if found.damage is not None:
                return found
        return found

    def _read_segment(
        self,
        fd: int,
        path: Path,
        where: tuple[int, int | None, bool],
        after_seq: int,
        previous: int | None,
        found: JournalRead,
        add: Callable[[Record], None],
    ) -> int | None:
        """One segment's entries after ``after_seq`` handed to ``add``, read through ``fd``
        a block at a time (``where``: its first seq, the next segment's, whether it is the
        newest); damage is set on ``found``. Returns the last seq read (``previous`` when
        none); OSError when the file cannot be read."""
        start, limit, newest = where
        scan = segment.scan_fd(fd)
        extent = scan.extent
        lines = Lines(fd, extent.data_end, extent.valid_end - 1, scan.line_start)
        tail = lines.tail  # b"" when the data ends with a newline
        end_damage, end_warning = _ending(path, extent, lines, newest)
        if end_damage is not None:
            found.damage = end_damage  # unless a line before it is damaged too
        skip = self._covered_lines(lines, start, after_seq, str(path))
        if skip:
            previous = after_seq
        for number, line in enumerate(lines.after(skip), skip + 1):
            try:
                record = self.codec.decode_line(line, str(path))
            except UnsupportedSchemaError:
                raise  # written by a newer vibe-aigc: not damage, never dropped
            except CheckpointCorruptError as exc:
                if newest and not tail and number == len(lines):
                    found.warnings.append(
                        f"{path}: dropped a damaged last line {number} ({exc.reason}; "
                        "a crash probably interrupted an append)"
                    )
                    break
                found.damage = f"{path}: line {number}: {exc.reason}"
                return previous
            seq = record["seq"]
            problem = None
            if seq < start:
                problem = f"seq {seq} is below the segment's first seq {start}"
            elif limit is not None and seq >= limit:
                problem = f"seq {seq} belongs to the next segment (from {limit})"
            elif previous is not None and seq <= previous:
                problem = f"seq {seq} does not follow seq {previous}"
            if problem is not None:
                found.damage = f"{path}: line {number}: {problem}"
                return previous
            previous = seq
            if seq > after_seq:
                add(record)
        if found.damage is None and end_warning is not None:
            found.warnings.append(end_warning)
        return previous

    def _covered_lines(self, lines: Lines, start: int, after_seq: int, source: str) -> int:
        """How many leading ``lines`` of a segment starting at ``start`` hold exactly the seqs
        ``start..after_seq`` (what the caller's snapshot covers): they are not decoded. Lines
        are written one seq after another, so line ``k`` holds ``start + k``; the last of
        them is decoded to confirm it. :data:`ALL` when the segment's last line is covered
        (then every line is: nothing is read, nor counted). 0 (read every line) when it does
        not hold seq ``after_seq`` or does not decode: a gap, damage, a foreign file."""
        last = lines.last_line()
        if last is not None and after_seq >= start:
            try:  # lines are written in seq order: the last one covered, every one is
                if self.codec.decode_line(last, source)["seq"] <= after_seq:
                    return ALL
            except CheckpointCorruptError:  # the full read says what it is
                pass
        count = after_seq - start + 1
        if count < 2 or count > len(lines):
            return 0
        try:
            record = self.codec.decode_line(lines[count - 1], source)
        except CheckpointCorruptError:  # UnsupportedSchemaError too: the full read says it
            return 0
        return count if record["seq"] == after_seq else 0

    # ------------------------------------------------------------------ housekeeping

    def rotate(self, plan_dir: Path, next_seq: int) -> None:
        """Start a segment at ``next_seq`` now (CheckpointEncodeError if one starts above)."""
        next_seq = check_seq(next_seq, "next_seq")
        if next_seq < 0:
            raise CheckpointEncodeError("next_seq", f"{next_seq} is negative")
        with self.guard:
            self._drop(plan_dir)
            self._rotate.discard(plan_dir)
        atomic.ensure_dir(plan_dir)
        existing = segments(plan_dir)
        if existing:
            start, current = existing[-1]
            if next_seq == start:
                return
            if next_seq < start:
                raise CheckpointEncodeError(
                    "next_seq", f"{next_seq} is below {start}, the current segment's first seq"
                )
            segment.seal(current)
        atomic.create_empty(plan_dir / segment_name(next_seq))

    def trim(self, plan_dir: Path, covered_seq: int) -> list[str]:
        """The next batch starts a new segment; delete segments every entry of which is
        ``<= covered_seq`` (the newest segment always stays: it shows the highest seq)."""
        covered_seq = check_seq(covered_seq, "covered_seq")
        with self.guard:
            last = self._last.get(plan_dir)
            self._drop(plan_dir, trim_room=True)  # done with: keeps its data only
            self._rotate.add(plan_dir)
        removed = self.compact(plan_dir, covered_seq)
        if last is not None:
            with self.guard:
                self._last[plan_dir] = last  # a trim keeps the highest seq (the newest stays)
        return removed

    def compact(self, plan_dir: Path, covered_seq: int) -> list[str]:
        covered_seq = check_seq(covered_seq, "covered_seq")
        with self.guard:
            self._drop(plan_dir)
        removed = [
            str(path)
            for (_, path), (next_start, _) in itertools.pairwise(segments(plan_dir))
            if next_start - 1 <= covered_seq and atomic.remove_file(path)
        ]
        if removed:
            _fsync_quietly(plan_dir)
        return removed

    def quarantine(self, plan_dir: Path, after_seq: int | None = None) -> list[str]:
        """Move segments aside (all, or those holding entries after ``after_seq``); the valid
        entries up to ``after_seq`` of a segment that is moved are written back first, to a
        segment of their own, so nothing recorded before the damage is lost."""
        with self.guard:
            self._drop(plan_dir)
            self._rotate.add(plan_dir)
        keep: list[Record] = []
        doomed = segments(plan_dir)
        if after_seq is not None:
            starts = [s for s, _ in doomed]
            ends = [*(s - 1 for s in starts[1:]), None]
            doomed = [
                (s, p)
                for (s, p), end in zip(doomed, ends, strict=True)
                if end is None or end > after_seq
            ]
            if doomed:
                found = self.read(plan_dir, doomed[0][0] - 1).entries
                keep = [r for r in found if r["seq"] <= after_seq]
        moved: list[str] = []
        for start, path in doomed:
            target = plan_dir / f"quarantined-{segment_name(start)}"
            suffix = 0
            while target.exists():
                suffix += 1
                target = plan_dir / f"quarantined-{segment_name(start)}.{suffix}"
            try:
                os.replace(path, target)
            except OSError as exc:
                raise CheckpointWriteError(str(plan_dir), exc) from exc
            moved.append(str(target))
        if moved:
            _fsync_quietly(plan_dir)
        if keep:
            self.append(plan_dir, keep)
        return moved
