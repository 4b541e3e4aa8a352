"""The file store: the guide's folder layout, atomic snapshots, an append-only journal.

Layout (folders 0700, files 0600; nothing exists until the first write)::

    <root>/<plan_id>/cp-<id>.json                 one snapshot per file (see codec.py)
    <root>/<plan_id>/journal-<startseq:012d>.jsonl journal segments, one record per line
                                                  (then zero room while open: segment.py)
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
import os
import stat
import time
from collections.abc import Callable, Collection
from pathlib import Path

from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointNotFoundError,
    CheckpointWriteError,
    ConfigurationError,
)
from vibe_aigc.models import is_safe_id
from vibe_aigc.persistence.blobs import BLOBS_DIR, BlobStore, FileBlobStore
from vibe_aigc.persistence.codec import Codec, JsonCodec, encode_chunks
from vibe_aigc.persistence.file import atomic
from vibe_aigc.persistence.file.journal import (
    QUARANTINE_RE,
    SEGMENT_RE,
    SegmentJournal,
    check_seq,
)
from vibe_aigc.persistence.file.lease import FileLease
from vibe_aigc.persistence.file.lock import LOCK_NAME, PlanLock, current_holder, held_here
from vibe_aigc.persistence.ids import is_checkpoint_id, validate_checkpoint_id, validate_plan_id
from vibe_aigc.persistence.records import Record, corrupt_summary, summary_of
from vibe_aigc.persistence.store import JournalRead, Lease

ARTIFACTS_DIR = BLOBS_DIR
PLAN_MARKER = ".vibe-plan"
"""An empty file in every plan folder the store made: only such folders are plans."""
STALE_TEMP_SECONDS = 60.0
_READ_FLAGS = (
    os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | os.O_CLOEXEC
)


class FileCheckpointStore:
    """Checkpoints as files under ``root`` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str], codec: Codec | None = None) -> None:
        self.root = Path(os.path.abspath(root))
        self.codec: Codec = codec if codec is not None else JsonCodec()
        self.url = self.root.as_uri()
        self.blobs: BlobStore = FileBlobStore(self.root)
        self._journal = SegmentJournal(self.codec, self._read_file, self._open_file)
        self._plan_dirs: dict[str, Path] = {}  # plan id -> root / plan id (validated)
        self._fenced_last: FileLease | None = None  # the lease _fenced accepted last

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
        path = self._plan_path(plan_id, write=True)  # re-check after creating
        if not os.path.lexists(path / PLAN_MARKER):
            atomic.create_empty(path / PLAN_MARKER)  # this folder is a plan the store made
        return path

    def _is_plan(self, plan_dir: Path) -> bool:
        """A folder the store made (its marker), or one from before markers existed that holds
        a well-named checkpoint; nothing else is treated as a plan, or ever cleared."""
        try:
            if os.path.lexists(plan_dir / PLAN_MARKER):
                return True
            return bool(self._checkpoint_names(plan_dir))
        except CheckpointCorruptError:
            return False

    def _forget_if_empty(self, plan_dir: Path) -> None:
        """Called with the lease still held: a lease that wrote nothing leaves nothing behind
        (no stray ``.lock`` or folder for a mistyped plan id)."""
        self._journal.close(plan_dir)
        if os.path.lexists(plan_dir / PLAN_MARKER):
            return
        with contextlib.suppress(OSError):
            names = os.listdir(plan_dir)
            if names == [LOCK_NAME]:
                os.unlink(plan_dir / LOCK_NAME)
                os.rmdir(plan_dir)

    def _open_file(self, path: Path) -> int:
        """A descriptor of the regular file at ``path``, opened to read (FileNotFoundError;
        CheckpointCorruptError for a link, something else than a file, or a failed open)."""
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
            regular = stat.S_ISREG(os.fstat(fd).st_mode)
        except OSError as exc:
            os.close(fd)
            raise CheckpointCorruptError(str(path), f"cannot be read ({exc})") from None
        if not regular:
            os.close(fd)
            raise CheckpointCorruptError(str(path), "is not a regular file")
        return fd

    def _read_file(self, path: Path) -> bytes:
        fd = self._open_file(path)
        try:
            # one read of the whole file: no chunks to join (a 40 MB checkpoint held twice)
            chunks = [os.read(fd, os.fstat(fd).st_size + 1)]
            while chunk := os.read(fd, 1 << 20):  # it grew meanwhile (or a short read)
                chunks.append(chunk)
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
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

    def _fsync_quietly(self, folder: Path) -> None:
        with contextlib.suppress(OSError):
            atomic.fsync_dir(folder)

    # ------------------------------------------------------------------ snapshots

    def write_checkpoint(self, record: Record) -> str:
        checkpoint_id = validate_checkpoint_id(record.get("checkpoint_id"))
        plan_id = validate_plan_id(record.get("plan_id"))
        data = encode_chunks(self.codec, record)  # checked here; written chunk by chunk
        plan_dir = self._ensure_plan_dir(plan_id)
        atomic.atomic_write_bytes(plan_dir / f"{checkpoint_id}.json", data)
        return checkpoint_id

    def _load(
        self, path: Path, checkpoint_id: str, plan_id: str, keep_text: Collection[str] = ()
    ) -> Record:
        record = self.codec.decode(self._read_file(path), str(path), keep_text)
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

    def read_checkpoint(
        self, checkpoint_id: str, plan_id: str | None = None, keep_text: Collection[str] = ()
    ) -> Record:
        checkpoint_id = validate_checkpoint_id(checkpoint_id)
        if plan_id is not None:
            plan_id = validate_plan_id(plan_id)
        found = self._find(checkpoint_id, plan_id)
        if found is None:
            raise CheckpointNotFoundError(checkpoint_id)
        path, plan = found
        try:
            return self._load(path, checkpoint_id, plan, keep_text)
        except FileNotFoundError:  # deleted meanwhile
            raise CheckpointNotFoundError(checkpoint_id) from None

    def list_checkpoints(self, plan_id: str | None = None) -> list[Record]:
        """Summaries of every snapshot, newest first (see :mod:`..records`)."""
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
                    out.append(dict(corrupt_summary(checkpoint_id, plan, exc.reason)))
                    continue
                out.append(dict(summary_of(record)))
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
            e.name
            for e in entries
            if is_safe_id(e.name)
            and e.is_dir(follow_symlinks=False)
            and self._is_plan(self.root / e.name)
        )

    def delete_plan(self, plan_id: str) -> list[str]:
        plan_dir = self._plan_path(plan_id)
        self._journal.close(plan_dir)
        if not os.path.isdir(plan_dir):
            return []
        lock_path = plan_dir / LOCK_NAME
        if not self._is_plan(plan_dir):
            # not a folder this store made: only a lock file of ours may go (and the folder,
            # when that leaves it empty); refused while someone holds it
            if not os.path.lexists(lock_path) or held_here(lock_path):
                return []
            own = PlanLock(plan_dir, plan_id).acquire()
            try:
                gone = [str(lock_path)] if atomic.remove_file(lock_path) else []
                with contextlib.suppress(OSError):
                    os.rmdir(plan_dir)
                    gone.append(str(plan_dir))
                return gone
            finally:
                own.release()
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
                            os.unlink(path)  # a link: the link goes, never its target
                            removed.append(str(path))
                        else:  # only the blobs the store wrote; foreign files stay
                            removed.extend(self.blobs.remove(plan_id, set()))
                            with contextlib.suppress(OSError):
                                os.rmdir(path)
                    except OSError as exc:
                        raise CheckpointWriteError(str(plan_dir), exc) from exc
            for name in (PLAN_MARKER, LOCK_NAME):
                if atomic.remove_file(plan_dir / name):
                    removed.append(str(plan_dir / name))
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
        """The plan's bare runner lock (a :meth:`lease` adds fencing on top of it)."""
        return PlanLock(self._plan_path(plan_id, write=True), plan_id)

    def artifacts_dir(self, plan_id: str) -> Path:
        return self._plan_path(plan_id) / ARTIFACTS_DIR

    # ------------------------------------------------------------------ the store contract

    def lease(self, plan_id: str) -> FileLease:
        plan_dir = self._plan_path(plan_id, write=True)
        return FileLease(PlanLock(plan_dir, plan_id), on_release=self._forget_if_empty)

    def holder(self, plan_id: str) -> str | None:
        return current_holder(self._plan_path(plan_id) / LOCK_NAME)

    def _fenced(self, lease: Lease, plan_id: str | None = None) -> FileLease:
        if lease is self._fenced_last and plan_id in (None, lease.plan_id):
            return lease  # checked below already (a lease's folder never changes)
        if not isinstance(lease, FileLease) or lease.plan_dir.parent != self.root:
            raise CheckpointWriteError(
                str(self.root), OSError("the lease belongs to another store; refused")
            )
        if plan_id is not None and plan_id != lease.plan_id:
            raise CheckpointWriteError(
                str(self.root),
                OSError(f"the lease is for plan {lease.plan_id!r}, not {plan_id!r}; refused"),
            )
        self._fenced_last = lease
        return lease

    def write_snapshot(self, lease: Lease, record: Record) -> None:
        fenced = self._fenced(lease, validate_plan_id(record.get("plan_id")))
        with fenced.writing():
            self.write_checkpoint(record)
            self._sweep_temp_files(fenced.plan_dir)

    def read_snapshot(
        self, checkpoint_id: str, plan_id: str | None = None, keep_text: Collection[str] = ()
    ) -> Record:
        return self.read_checkpoint(checkpoint_id, plan_id, keep_text)

    def snapshot_ids(self, plan_id: str) -> list[str]:
        return self.latest_checkpoint_ids(plan_id)

    def delete_snapshot(self, lease: Lease, checkpoint_id: str) -> bool:
        fenced = self._fenced(lease)
        with fenced.writing():
            return self.delete_checkpoint(checkpoint_id, fenced.plan_id)

    def append_entries(self, lease: Lease, entries: list[Record]) -> None:
        fenced = self._fenced(lease)
        with fenced.writing():
            self.append_journal(fenced.plan_id, entries)

    def read_entries(
        self, plan_id: str, after_seq: int = -1, into: Callable[[Record], None] | None = None
    ) -> JournalRead:
        return self._journal.read(self._plan_path(plan_id), after_seq, into)

    def trim_entries(self, lease: Lease, covered_seq: int) -> None:
        fenced = self._fenced(lease)
        with fenced.writing():
            self._journal.trim(fenced.plan_dir, covered_seq)

    def discard_entries(self, lease: Lease, after_seq: int) -> list[str]:
        fenced = self._fenced(lease)
        with fenced.writing():
            return self._journal.quarantine(fenced.plan_dir, check_seq(after_seq, "after_seq"))

    def close(self) -> None:
        self._journal.close_all()

    # ------------------------------------------------------------------ journal (file API)

    def append_journal(self, plan_id: str, records: list[Record]) -> None:
        if not records:
            return
        plan_dir = self._plan_dirs.get(plan_id)
        if plan_dir is None:
            plan_dir = self._plan_dirs[plan_id] = self.root / validate_plan_id(plan_id)
        # the folder checks (symlinks, resolving inside root, marker) run whenever a segment
        # is opened; while it stays open and its folder unchanged they still hold
        self._journal.append(plan_dir, records, prepare=lambda: self._ensure_plan_dir(plan_id))

    def close_journal(self, plan_id: str) -> None:
        """Close the plan's open journal segment (a later append reopens it)."""
        self._journal.close(self._plan_path(plan_id))

    def read_journal(self, plan_id: str, after_seq: int = -1) -> tuple[list[Record], list[str]]:
        """Entries after ``after_seq`` and warnings; damage raises CheckpointCorruptError."""
        found = self.read_entries(plan_id, after_seq)
        if found.damage is not None:
            where, _, reason = found.damage.partition(": ")
            raise CheckpointCorruptError(where, reason)
        return found.entries, found.warnings

    def rotate_journal(self, plan_id: str, next_seq: int) -> None:
        self._journal.rotate(self._plan_path(validate_plan_id(plan_id), write=True), next_seq)

    def compact_journal(self, plan_id: str, covered_seq: int) -> list[str]:
        return self._journal.compact(self._plan_path(plan_id), covered_seq)

    def quarantine_journal(self, plan_id: str) -> list[str]:
        """Move every journal segment aside (kept for inspection, ignored by reads)."""
        return self._journal.quarantine(self._plan_path(plan_id))
