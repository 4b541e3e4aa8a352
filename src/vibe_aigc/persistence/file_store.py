"""The file store: the guide's folder layout, atomic snapshots, an append-only journal.

Layout (folders 0700, files 0600; nothing exists until the first write)::

    <root>/<plan_id>/cp-<id>.json                 one snapshot per file (see codec.py)
    <root>/<plan_id>/journal-<startseq:012d>.jsonl journal segments, one record per line
    <root>/<plan_id>/.lock                        the plan's runner lock (see lock.py)
    <root>/<plan_id>/artifacts/                   large binary outputs (created by their writer)

Every id is validated before a path is built, and every plan folder must resolve inside the
root: a plan folder that is a symbolic link is refused, and files are opened with
``O_NOFOLLOW``, so a symlinked checkpoint or segment is refused too.

Listing ignores files that are not named ``<valid checkpoint id>.json`` (``notes.txt``,
``cp-bad name.json``, leftover ``.tmp-*`` files): no id could address them. ``.tmp-*`` files a
killed writer left behind are removed by :meth:`FileCheckpointStore.prune` (run after every
save) once they are a minute old. A well-named file
that fails to decode is listed as corrupt. Folders whose names are not safe plan ids, and
symlinked folders, are not plans.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import stat
import threading
import time
from pathlib import Path
from typing import Any

from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointEncodeError,
    CheckpointNotFoundError,
    CheckpointWriteError,
    ConfigurationError,
    UnsupportedSchemaError,
)
from vibe_aigc.models import is_safe_id
from vibe_aigc.persistence import atomic
from vibe_aigc.persistence.codec import Codec, JsonCodec
from vibe_aigc.persistence.ids import is_checkpoint_id, validate_checkpoint_id, validate_plan_id
from vibe_aigc.persistence.lock import LOCK_NAME, PlanLock, held_here

Record = dict[str, Any]

SEGMENT_RE = re.compile(r"journal-(\d{12,})\.jsonl")
QUARANTINE_RE = re.compile(r"quarantined-journal-(\d{12,})\.jsonl(\.\d+)?")
ARTIFACTS_DIR = "artifacts"
STALE_TEMP_SECONDS = 60.0
_READ_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC
)


def segment_name(start_seq: int) -> str:
    return f"journal-{start_seq:012d}.jsonl"


def _check_seq(value: object, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise CheckpointEncodeError(what, f"must be an integer, found {type(value).__name__}")
    return value


class FileCheckpointStore:
    """Checkpoints as files under ``root`` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str], codec: Codec | None = None) -> None:
        self.root = Path(os.path.abspath(root))
        self.codec: Codec = codec if codec is not None else JsonCodec()
        # plan id -> (plan folder's (inode, mtime_ns), segment start seq, open segment).
        # A folder whose entries changed (a rotation, a compaction, another store's work)
        # has a new mtime, so the cached segment is only reused while it is still current.
        self._appenders: dict[str, tuple[tuple[int, int], int, atomic.AppendHandle]] = {}
        self._journal_guard = threading.Lock()

    def __repr__(self) -> str:
        return f"FileCheckpointStore({str(self.root)!r})"

    # ------------------------------------------------------------------ paths

    def _plan_path(self, plan_id: str, *, write: bool = False) -> Path:
        """The validated plan folder, refused when it is a symlink or resolves outside root."""
        path = self.root / validate_plan_id(plan_id)
        problem = None
        if os.path.islink(path):
            problem = "the plan folder is a symbolic link; refusing to follow it"
        else:
            real_root = os.path.realpath(self.root)
            if os.path.dirname(os.path.realpath(path)) != real_root:
                problem = "the plan folder resolves outside the checkpoint folder; refused"
        if problem is not None:
            if write:
                raise CheckpointWriteError(str(path), OSError(problem))
            raise CheckpointCorruptError(str(path), problem)
        return path

    def _ensure_plan_dir(self, plan_id: str) -> Path:
        path = self._plan_path(plan_id, write=True)
        atomic.ensure_dir(path)
        return self._plan_path(plan_id, write=True)  # re-check after creating

    def _read_file(self, path: Path) -> bytes:
        try:
            fd = os.open(path, _READ_FLAGS)
        except FileNotFoundError:
            raise
        except OSError as exc:
            if os.path.islink(path):
                reason = "is a symbolic link; refusing to follow it"
            else:
                reason = f"cannot be read ({exc.strerror or exc})"
            raise CheckpointCorruptError(str(path), reason) from None
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise CheckpointCorruptError(str(path), "is not a regular file")
            chunks = []
            while chunk := os.read(fd, 1 << 20):
                chunks.append(chunk)
            return b"".join(chunks)
        except OSError as exc:
            raise CheckpointCorruptError(str(path), f"cannot be read ({exc})") from None
        finally:
            os.close(fd)

    def _checkpoint_names(self, plan_dir: Path) -> list[str]:
        """Checkpoint ids stored in ``plan_dir``, newest first (no decoding)."""
        try:
            entries = list(os.scandir(plan_dir))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CheckpointCorruptError(str(plan_dir), f"cannot be listed ({exc})") from None
        ids = [
            e.name[:-5]
            for e in entries
            if e.name.endswith(".json")
            and is_checkpoint_id(e.name[:-5])
            and not e.is_dir(follow_symlinks=False)
        ]
        return sorted(ids, reverse=True)

    def _segments(self, plan_dir: Path) -> list[tuple[int, Path]]:
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

    def _fsync_quietly(self, folder: Path) -> None:
        with contextlib.suppress(OSError):
            atomic.fsync_dir(folder)

    # ------------------------------------------------------------------ snapshots

    def write_checkpoint(self, record: Record) -> str:
        checkpoint_id = validate_checkpoint_id(record.get("checkpoint_id"))
        plan_id = validate_plan_id(record.get("plan_id"))
        data = self.codec.encode(record)
        plan_dir = self._ensure_plan_dir(plan_id)
        atomic.atomic_write_bytes(plan_dir / f"{checkpoint_id}.json", data)
        return checkpoint_id

    def _load(self, path: Path, checkpoint_id: str, plan_id: str) -> Record:
        record = self.codec.decode(self._read_file(path), str(path))
        if record["checkpoint_id"] != checkpoint_id or record["plan_id"] != plan_id:
            raise CheckpointCorruptError(
                str(path),
                f"spliced: the file holds checkpoint {record['checkpoint_id']!r} of plan "
                f"{record['plan_id']!r} but is stored as {plan_id}/{checkpoint_id}.json",
            )
        return record

    def _find(self, checkpoint_id: str, plan_id: str | None) -> tuple[Path, str] | None:
        plans = [plan_id] if plan_id is not None else self.plan_ids()
        for plan in plans:
            path = self._plan_path(plan) / f"{checkpoint_id}.json"
            if os.path.lexists(path):
                return path, plan
        return None

    def read_checkpoint(self, checkpoint_id: str, plan_id: str | None = None) -> Record:
        checkpoint_id = validate_checkpoint_id(checkpoint_id)
        if plan_id is not None:
            plan_id = validate_plan_id(plan_id)
        found = self._find(checkpoint_id, plan_id)
        if found is None:
            raise CheckpointNotFoundError(checkpoint_id)
        path, plan = found
        try:
            return self._load(path, checkpoint_id, plan)
        except FileNotFoundError:  # deleted meanwhile
            raise CheckpointNotFoundError(checkpoint_id) from None

    def list_checkpoints(self, plan_id: str | None = None) -> list[Record]:
        plans = [validate_plan_id(plan_id)] if plan_id is not None else self.plan_ids()
        out: list[Record] = []
        for plan in plans:
            plan_dir = self._plan_path(plan)
            for checkpoint_id in self._checkpoint_names(plan_dir):
                path = plan_dir / f"{checkpoint_id}.json"
                try:
                    record = self._load(path, checkpoint_id, plan)
                except FileNotFoundError:
                    continue
                except CheckpointCorruptError as exc:
                    out.append(
                        {
                            "checkpoint_id": checkpoint_id,
                            "plan_id": plan,
                            "path": str(path),
                            "corrupt": True,
                            "error": exc.reason,
                        }
                    )
                    continue
                out.append(
                    {
                        "checkpoint_id": checkpoint_id,
                        "plan_id": plan,
                        "created_at": record["created_at"],
                        "completed_nodes": len(record["completed_nodes"]),
                        "total_nodes": record["total_nodes"],
                        "state": record["state"],
                        "path": str(path),
                        "corrupt": False,
                    }
                )
        out.sort(key=lambda e: (e["checkpoint_id"], e["plan_id"]), reverse=True)
        return out

    def latest_checkpoint_ids(self, plan_id: str) -> list[str]:
        return self._checkpoint_names(self._plan_path(plan_id))

    def delete_checkpoint(self, checkpoint_id: str, plan_id: str | None = None) -> bool:
        checkpoint_id = validate_checkpoint_id(checkpoint_id)
        if plan_id is not None:
            plan_id = validate_plan_id(plan_id)
        found = self._find(checkpoint_id, plan_id)
        if found is None or not atomic.remove_file(found[0]):
            return False
        self._fsync_quietly(found[0].parent)
        return True

    def prune(self, plan_id: str, keep_last: int | None) -> list[str]:
        plan_dir = self._plan_path(plan_id)
        self._sweep_temp_files(plan_dir)
        if keep_last is None:
            return []
        if not isinstance(keep_last, int) or isinstance(keep_last, bool) or keep_last < 0:
            raise ConfigurationError(
                f"keep_last must be None or an integer >= 0, not {keep_last!r}"
            )
        deleted = [
            checkpoint_id
            for checkpoint_id in self._checkpoint_names(plan_dir)[keep_last:]
            if atomic.remove_file(plan_dir / f"{checkpoint_id}.json")
        ]
        if deleted:
            self._fsync_quietly(plan_dir)
        return deleted

    @staticmethod
    def _sweep_temp_files(plan_dir: Path) -> None:
        """Remove temporary files that a killed writer left behind (each crash during a
        snapshot leaves one). Only files older than :data:`STALE_TEMP_SECONDS`: a write in
        progress takes milliseconds, and a writer without the plan lock may be mid-write."""
        cutoff = time.time() - STALE_TEMP_SECONDS
        with contextlib.suppress(OSError):
            for entry in os.scandir(plan_dir):
                if entry.name.startswith(atomic.TEMP_PREFIX) and not entry.is_dir(
                    follow_symlinks=False
                ):
                    with contextlib.suppress(OSError):
                        if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                            os.unlink(entry.path)

    # ------------------------------------------------------------------ plans

    def plan_ids(self) -> list[str]:
        try:
            entries = list(os.scandir(self.root))
        except (FileNotFoundError, NotADirectoryError):
            return []
        return sorted(
            e.name for e in entries if is_safe_id(e.name) and e.is_dir(follow_symlinks=False)
        )

    def delete_plan(self, plan_id: str) -> list[str]:
        plan_dir = self._plan_path(plan_id)
        with self._journal_guard:
            self._drop_appender(plan_id)
        if not os.path.isdir(plan_dir):
            return []
        lock_path = plan_dir / LOCK_NAME
        guard = None if held_here(lock_path) else PlanLock(plan_dir, plan_id).acquire()
        removed: list[str] = []
        try:
            for entry in sorted(os.scandir(plan_dir), key=lambda e: e.name):
                path = plan_dir / entry.name
                name = entry.name
                ours = (
                    (name.endswith(".json") and is_checkpoint_id(name[:-5]))
                    or SEGMENT_RE.fullmatch(name) is not None
                    or QUARANTINE_RE.fullmatch(name) is not None
                    or name.startswith(atomic.TEMP_PREFIX)
                )
                if ours and not entry.is_dir(follow_symlinks=False):
                    if atomic.remove_file(path):
                        removed.append(str(path))
                elif name == ARTIFACTS_DIR:
                    try:
                        if entry.is_symlink() or not entry.is_dir():
                            os.unlink(path)
                        else:
                            shutil.rmtree(path)
                    except OSError as exc:
                        raise CheckpointWriteError(str(plan_dir), exc) from exc
                    removed.append(str(path))
            if atomic.remove_file(lock_path):
                removed.append(str(lock_path))
            try:
                os.rmdir(plan_dir)
            except OSError:  # foreign files stay, and so does their folder
                self._fsync_quietly(plan_dir)
            else:
                removed.append(str(plan_dir))
                self._fsync_quietly(self.root)
        finally:
            if guard is not None:
                guard.release()
        return removed

    def lock(self, plan_id: str) -> PlanLock:
        return PlanLock(self._plan_path(plan_id, write=True), plan_id)

    def artifacts_dir(self, plan_id: str) -> Path:
        return self._plan_path(plan_id) / ARTIFACTS_DIR

    # ------------------------------------------------------------------ journal

    def append_journal(self, plan_id: str, records: list[Record]) -> None:
        plan_id = validate_plan_id(plan_id)
        if not records:
            return
        lines = [self.codec.encode_line(record) for record in records]
        seqs = [_check_seq(r["seq"], "journal record 'seq'") for r in records]
        for before, after in itertools.pairwise(seqs):
            if after <= before:
                raise CheckpointEncodeError(
                    "journal batch", f"seq {after} follows {before}; seqs must increase"
                )
        if seqs[0] < 0:
            raise CheckpointEncodeError("journal record 'seq'", f"{seqs[0]} is negative")
        with self._journal_guard:
            start, handle = self._appender(plan_id, seqs[0])
            if handle is None:
                raise CheckpointEncodeError(
                    "journal record 'seq'",
                    f"{seqs[0]} is below {start}, the first seq of the current segment",
                )
            handle.append(b"".join(lines))

    def _folder_stamp(self, plan_dir: Path) -> tuple[int, int] | None:
        try:
            info = os.lstat(plan_dir)
        except OSError:
            return None
        if not stat.S_ISDIR(info.st_mode):
            return None
        return info.st_ino, info.st_mtime_ns

    def _appender(self, plan_id: str, first_seq: int) -> tuple[int, atomic.AppendHandle | None]:
        """The open current segment of the plan, reopened when the folder changed.

        ``None`` when ``first_seq`` is below the current segment's start (nothing is opened).
        """
        cached = self._appenders.get(plan_id)
        if cached is not None:
            stamp, start, handle = cached
            if stamp == self._folder_stamp(self.root / plan_id):
                return start, (handle if first_seq >= start else None)
            self._drop_appender(plan_id)
        plan_dir = self._ensure_plan_dir(plan_id)
        segments = self._segments(plan_dir)
        start, path = segments[-1] if segments else (first_seq, plan_dir / segment_name(first_seq))
        if first_seq < start:
            return start, None
        handle = atomic.AppendHandle(path)
        fresh = self._folder_stamp(plan_dir)
        if fresh is not None:
            self._appenders[plan_id] = (fresh, start, handle)
        return start, handle

    def _drop_appender(self, plan_id: str) -> None:
        cached = self._appenders.pop(plan_id, None)
        if cached is not None:
            cached[2].close()

    def close_journal(self, plan_id: str) -> None:
        """Close the plan's open journal segment (a later append reopens it)."""
        with self._journal_guard:
            self._drop_appender(validate_plan_id(plan_id))

    def read_journal(self, plan_id: str, after_seq: int = -1) -> tuple[list[Record], list[str]]:
        after_seq = _check_seq(after_seq, "after_seq")
        segments = self._segments(self._plan_path(plan_id))
        records: list[Record] = []
        warnings: list[str] = []
        previous: int | None = None
        for index, (start, path) in enumerate(segments):
            newest = index == len(segments) - 1
            limit = None if newest else segments[index + 1][0]
            if limit is not None and limit - 1 <= after_seq:
                continue  # every record of this segment is <= after_seq
            try:
                lines = self._read_file(path).split(b"\n")
            except FileNotFoundError:  # compacted meanwhile
                continue
            tail = lines.pop()  # b"" when the segment ends with a newline
            if tail and not newest:
                raise CheckpointCorruptError(
                    str(path), f"line {len(lines) + 1}: incomplete line (no newline)"
                )
            if tail:
                warnings.append(
                    f"{path}: dropped a torn last line ({len(tail)} bytes without a newline; "
                    "a crash interrupted an append)"
                )
            for number, line in enumerate(lines, 1):
                try:
                    record = self.codec.decode_line(line, str(path))
                except UnsupportedSchemaError:
                    raise  # written by a newer vibe-aigc: not damage, never dropped
                except CheckpointCorruptError as exc:
                    if newest and not tail and number == len(lines):
                        warnings.append(
                            f"{path}: dropped a damaged last line {number} ({exc.reason}; "
                            "a crash probably interrupted an append)"
                        )
                        break
                    raise CheckpointCorruptError(
                        str(path), f"line {number}: {exc.reason}"
                    ) from None
                seq = record["seq"]
                problem = None
                if seq < start:
                    problem = f"seq {seq} is below the segment's first seq {start}"
                elif limit is not None and seq >= limit:
                    problem = f"seq {seq} belongs to the next segment (from {limit})"
                elif previous is not None and seq <= previous:
                    problem = f"seq {seq} does not follow seq {previous}"
                if problem is not None:
                    raise CheckpointCorruptError(str(path), f"line {number}: {problem}")
                previous = seq
                if seq > after_seq:
                    records.append(record)
        return records, warnings

    def rotate_journal(self, plan_id: str, next_seq: int) -> None:
        plan_id = validate_plan_id(plan_id)
        next_seq = _check_seq(next_seq, "next_seq")
        if next_seq < 0:
            raise CheckpointEncodeError("next_seq", f"{next_seq} is negative")
        with self._journal_guard:
            self._drop_appender(plan_id)
        plan_dir = self._ensure_plan_dir(plan_id)
        segments = self._segments(plan_dir)
        if segments:
            start, current = segments[-1]
            if next_seq == start:
                return
            if next_seq < start:
                raise CheckpointEncodeError(
                    "next_seq", f"{next_seq} is below {start}, the current segment's first seq"
                )
            atomic.repair_tail(current)
        atomic.create_empty(plan_dir / segment_name(next_seq))

    def compact_journal(self, plan_id: str, covered_seq: int) -> list[str]:
        covered_seq = _check_seq(covered_seq, "covered_seq")
        plan_dir = self._plan_path(plan_id)
        with self._journal_guard:
            self._drop_appender(plan_id)
        segments = self._segments(plan_dir)
        removed = [
            str(path)
            for (_, path), (next_start, _) in itertools.pairwise(segments)
            if next_start - 1 <= covered_seq and atomic.remove_file(path)
        ]
        if removed:
            self._fsync_quietly(plan_dir)
        return removed

    def quarantine_journal(self, plan_id: str) -> list[str]:
        """Move every journal segment aside (kept for inspection, ignored by reads)."""
        plan_dir = self._plan_path(plan_id)
        with self._journal_guard:
            self._drop_appender(plan_id)
        moved: list[str] = []
        for start, path in self._segments(plan_dir):
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
            self._fsync_quietly(plan_dir)
        return moved
