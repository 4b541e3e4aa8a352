"""One plan's runs as one archive: ``vibe-aigc export`` / ``vibe-aigc import``.

An archive is a ``.tar.gz`` of regular files only::

    manifest.json                  format, version, plan id, sha256 + size of every other member,
                                   media type of every blob
    plan.json                      the plan (as its newest checkpoint stores it)
    lineage.json                   the plan's runs (``vibe-aigc runs --plan``), for reading
    checkpoints/<checkpoint>.json  every checkpoint record
    journal.jsonl                  every journal entry
    blobs/<sha256>                 every blob (images, audio) of the plan

Export reads through the store contract, so it works on every store. Import reads the whole
archive into memory within limits (members, bytes after decompression), checks every member
name and type, the manifest against every byte, every record's shape and every blob's hash,
and only then writes, through the store contract, under the plan's lease. A refused archive
raises :class:`~vibe_aigc.errors.ArchiveError` and writes nothing.
"""

from __future__ import annotations

import contextlib
import gzip
import hashlib
import io
import json
import os
import re
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vibe_aigc.errors import (
    ArchiveError,
    CheckpointCorruptError,
    CheckpointNotFoundError,
    LineageError,
)
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.persistence.blobs import EXTENSIONS, is_artifact_ref
from vibe_aigc.persistence.ids import validate_plan_id
from vibe_aigc.persistence.records import RESERVED_KEYS, Record, entry_problem, shape_problem
from vibe_aigc.results import iso_z, utc_now
from vibe_aigc.runs import history
from vibe_aigc.runs.checked import check_listed, plan_from_record, results_from_record
from vibe_aigc.runs.lineage import has_data

FORMAT = "vibe-aigc-archive"
VERSION = 1
MAX_BYTES = 1 << 30
"""Default limit on the archive's contents after decompression (a decompression bomb stops here)."""
MAX_MEMBERS = 100_000

_CHECKPOINT_RE = re.compile(r"^checkpoints/(cp-[A-Za-z0-9._-]{1,125})\.json$")
_BLOB_RE = re.compile(r"^blobs/([0-9a-f]{64})$")
_FIXED = ("manifest.json", "plan.json", "lineage.json", "journal.jsonl")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _dump(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, indent=2, sort_keys=True).encode("utf-8")


# --------------------------------------------------------------------------- export


def resolve_plan(manager: WorkflowPersistenceManager, target: str) -> str:
    """The plan of ``target``: a plan id, or the id of one of its runs."""
    if target in manager.plan_ids():
        return target
    for run in history.list_runs(manager):
        if run["run_id"] == target:
            return run["plan_id"]
    raise CheckpointNotFoundError(
        target, f"no plan or run {target!r} in {manager.url}; `vibe-aigc runs` lists them"
    )


def _blob_refs(records: list[Record]) -> dict[str, str]:
    found: dict[str, str] = {}
    stack: list[Any] = list(records)
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if is_artifact_ref(item):
                found.setdefault(item["sha256"], str(item.get("media_type")))
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def _blob(
    manager: WorkflowPersistenceManager, plan_id: str, digest: str, media: str | None
) -> tuple[str, bytes]:
    """A blob's media type and bytes (the file store needs the type to find the file)."""
    for media_type in ([media] if media in EXTENSIONS else []) + list(EXTENSIONS):
        ref = {"sha256": digest, "media_type": media_type}
        try:
            return str(media_type), manager.blobs.get(plan_id, ref)
        except FileNotFoundError:
            continue
    raise CheckpointCorruptError(f"blob {digest} of plan {plan_id!r}", "could not be read")


def export_archive(
    manager: WorkflowPersistenceManager, target: str, output: str | os.PathLike[str]
) -> dict[str, Any]:
    """Write the plan of ``target`` (plan or run id) to ``output``; returns a summary."""
    plan_id = resolve_plan(manager, target)
    snapshots = [
        {k: v for k, v in manager.load_checkpoint(c, plan_id).items() if k not in RESERVED_KEYS}
        for c in reversed(manager.latest_checkpoint_ids(plan_id))  # oldest first
    ]
    found = manager.read_entries(plan_id, -1)
    if found.damage is not None:
        where, _, reason = found.damage.partition(": ")
        raise CheckpointCorruptError(where, f"{reason}; repair it (resume) before exporting")
    entries = [{k: v for k, v in e.items() if k not in RESERVED_KEYS} for e in found.entries]
    members: dict[str, bytes] = {}
    if snapshots:
        members["plan.json"] = _dump(snapshots[-1]["workflow_plan"])
    members["lineage.json"] = _dump(history.list_runs(manager, plan_id))
    members["journal.jsonl"] = b"".join(
        json.dumps(e, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n" for e in entries
    )
    for record in snapshots:
        members[f"checkpoints/{record['checkpoint_id']}.json"] = _dump(record)
    refs = _blob_refs([*snapshots, *entries])
    media: dict[str, str] = {}
    for digest in manager.blobs.digests(plan_id):
        media[digest], members[f"blobs/{digest}"] = _blob(
            manager, plan_id, digest, refs.get(digest)
        )
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "plan_id": plan_id,
        "created_at": iso_z(utc_now()),
        "members": {n: {"sha256": _sha256(d), "size": len(d)} for n, d in members.items()},
        "blobs": media,
    }
    _write_tar(Path(output), {"manifest.json": _dump(manifest), **members})
    return {
        "plan_id": plan_id,
        "archive": str(output),
        "checkpoints": len(snapshots),
        "entries": len(entries),
        "blobs": len(media),
    }


def _write_tar(path: Path, members: dict[str, bytes]) -> None:
    folder = path.parent if str(path.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=folder)
    try:
        with os.fdopen(fd, "wb") as raw:
            with tarfile.open(fileobj=raw, mode="w:gz") as tar:
                for name, data in members.items():
                    info = tarfile.TarInfo(name)
                    info.size, info.mode, info.mtime = len(data), 0o644, 0
                    tar.addfile(info, io.BytesIO(data))
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


# --------------------------------------------------------------------------- import


class _Limited(io.RawIOBase):
    """A reader that refuses to yield more than ``limit`` bytes (a decompression bomb)."""

    def __init__(self, inner: Any, limit: int, archive: str) -> None:
        self.inner, self.left, self.archive = inner, limit, archive

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.inner.read(min(len(buffer), self.left + 1))
        if len(data) > self.left:
            raise ArchiveError(self.archive, None, "it expands beyond the size limit")
        self.left -= len(data)
        buffer[: len(data)] = data
        return len(data)


@dataclass
class _Contents:
    plan_id: str
    snapshots: list[Record] = field(default_factory=list)
    entries: list[Record] = field(default_factory=list)
    blobs: list[tuple[bytes, str]] = field(default_factory=list)


def _member_problem(member: tarfile.TarInfo) -> str | None:
    name = member.name
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "an absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "a path that leaves the archive ('..')"
    if member.issym() or member.islnk():
        return "a link"
    if member.ischr() or member.isblk() or member.isfifo():
        return "a device or pipe"
    if not member.isreg():
        return "not a regular file"
    if name not in _FIXED and not _CHECKPOINT_RE.match(name) and not _BLOB_RE.match(name):
        return "not a member an export writes"
    return None


def read_members(path: str, max_bytes: int, max_members: int) -> dict[str, bytes]:
    """Every member of the archive, checked by name, type and size (ArchiveError)."""
    members: dict[str, bytes] = {}
    try:
        with open(path, "rb") as raw:
            stream = _Limited(gzip.GzipFile(fileobj=raw, mode="rb"), max_bytes + (1 << 20), path)
            with tarfile.open(fileobj=io.BufferedReader(stream), mode="r|") as tar:
                total = 0
                for member in tar:
                    problem = _member_problem(member)
                    if problem is not None:
                        raise ArchiveError(path, member.name, problem)
                    if member.name in members:
                        raise ArchiveError(path, member.name, "the member appears twice")
                    if len(members) >= max_members:
                        raise ArchiveError(path, None, f"more than {max_members} members")
                    total += member.size
                    if total > max_bytes:
                        raise ArchiveError(path, member.name, "its contents exceed the size limit")
                    handle = tar.extractfile(member)
                    data = handle.read(member.size + 1) if handle is not None else b""
                    if len(data) != member.size:
                        raise ArchiveError(path, member.name, "truncated")
                    members[member.name] = data
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise ArchiveError(path, None, f"not a readable .tar.gz ({exc})") from None
    return members


def _json(path: str, name: str, data: bytes) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArchiveError(path, name, f"not JSON ({exc})") from None


def verify(path: str, members: dict[str, bytes]) -> _Contents:
    """Check the manifest against every byte and every record's shape (ArchiveError)."""
    if "manifest.json" not in members:
        raise ArchiveError(path, None, "it has no manifest.json")
    manifest = _json(path, "manifest.json", members["manifest.json"])
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ArchiveError(path, "manifest.json", f"not a {FORMAT} manifest")
    if manifest.get("version") != VERSION:
        raise ArchiveError(path, "manifest.json", f"version {manifest.get('version')!r} is unknown")
    listed = manifest.get("members")
    media = manifest.get("blobs")
    plan_id = manifest.get("plan_id")
    if not isinstance(listed, dict) or not isinstance(media, dict) or not isinstance(plan_id, str):
        raise ArchiveError(path, "manifest.json", "members, blobs and plan_id are required")
    try:
        validate_plan_id(plan_id)
    except ValueError:
        raise ArchiveError(path, "manifest.json", f"plan id {plan_id!r} is not safe") from None
    present = set(members) - {"manifest.json"}
    if set(listed) != present:
        odd = sorted(set(listed) ^ present)[:5]
        raise ArchiveError(path, None, f"the manifest does not list exactly the members: {odd}")
    for name in sorted(present):
        want = listed[name]
        data = members[name]
        if not isinstance(want, dict) or want.get("size") != len(data):
            raise ArchiveError(path, name, "its size differs from the manifest")
        if want.get("sha256") != _sha256(data):
            raise ArchiveError(path, name, "its sha256 differs from the manifest")
    contents = _Contents(plan_id)
    for name in sorted(present):
        if (match := _CHECKPOINT_RE.match(name)) is not None:
            contents.snapshots.append(_checkpoint(path, name, members[name], match[1], plan_id))
        elif (match := _BLOB_RE.match(name)) is not None:
            if _sha256(members[name]) != match[1]:
                raise ArchiveError(path, name, "its bytes do not have the sha256 it is named by")
            if media.get(match[1]) not in EXTENSIONS:
                raise ArchiveError(path, name, "the manifest gives it no known media type")
            contents.blobs.append((members[name], str(media[match[1]])))
    if not contents.snapshots:
        raise ArchiveError(path, None, "it holds no checkpoint")
    contents.entries = _entries(path, members.get("journal.jsonl", b""), plan_id)
    return contents


def _checkpoint(path: str, name: str, data: bytes, checkpoint_id: str, plan_id: str) -> Record:
    record = _json(path, name, data)
    if not isinstance(record, dict):
        raise ArchiveError(path, name, "not a checkpoint record")
    problem = shape_problem(record)
    if problem is None and record["checkpoint_id"] != checkpoint_id:
        problem = f"it names checkpoint {record['checkpoint_id']!r}"
    if problem is None and record["plan_id"] != plan_id:
        problem = f"it belongs to plan {record['plan_id']!r}, not {plan_id!r}"
    if problem is None:
        try:
            plan_from_record(record, name)
            check_listed(results_from_record(record, name), record["completed_nodes"], name)
        except CheckpointCorruptError as exc:
            problem = exc.reason
    if problem is not None:
        raise ArchiveError(path, name, problem)
    return record


def _entries(path: str, data: bytes, plan_id: str) -> list[Record]:
    out: list[Record] = []
    for number, line in enumerate(data.splitlines(), 1):
        entry = _json(path, f"journal.jsonl line {number}", line)
        problem = entry_problem(entry) if isinstance(entry, dict) else "not an object"
        if problem is None and entry.get("plan_id") != plan_id:
            problem = f"it belongs to plan {entry.get('plan_id')!r}"
        if problem is None and out and entry["seq"] <= out[-1]["seq"]:
            problem = "seq does not increase"
        if problem is not None:
            raise ArchiveError(path, f"journal.jsonl line {number}", problem)
        out.append(entry)
    return out


def import_archive(
    manager: WorkflowPersistenceManager,
    path: str | os.PathLike[str],
    *,
    max_bytes: int = MAX_BYTES,
    max_members: int = MAX_MEMBERS,
) -> dict[str, Any]:
    """Verify the archive at ``path`` completely, then write its plan into ``manager``'s
    store (LineageError when the store already holds that plan); returns a summary."""
    where = os.fspath(path)
    contents = verify(where, read_members(where, max_bytes, max_members))
    plan_id = contents.plan_id
    if has_data(manager, plan_id):
        raise LineageError(
            f"plan {plan_id!r} already exists in {manager.url}; delete it "
            "(`vibe-aigc checkpoints --clear --plan ...`) or import into another --store"
        )
    with manager.lease(plan_id) as lease:
        for record in sorted(contents.snapshots, key=lambda r: str(r["checkpoint_id"])):
            manager.store.write_snapshot(lease, record)
        if contents.entries:
            manager.append_entries(lease, contents.entries)
        for data, media_type in contents.blobs:
            manager.blobs.put(plan_id, data, media_type)
    return {
        "plan_id": plan_id,
        "archive": where,
        "checkpoints": len(contents.snapshots),
        "entries": len(contents.entries),
        "blobs": len(contents.blobs),
    }
