"""Content-addressed blobs (images, audio): the blob store contract and its folder version.

Binary outputs never go into checkpoints. A blob is stored once under its sha256 and named by
a reference that node outputs carry::

    {"sha256": "<64 hex>", "media_type": "image/png", "bytes": 1234, "path": "/abs/...png"}

(``path`` is where the file store keeps it, for people and for tools that want a file; a blob
is always found by its hash, never by a path taken from a record or a request.) Saving the same
bytes again writes nothing. The media type is sniffed from the bytes (PNG, JPEG, GIF, WebP).

:class:`FileBlobStore` keeps a plan's blobs in ``<root>/<plan_id>/artifacts/<sha256>.<ext>``
(0600; temp file, fsync, rename, fsync of the folder; symlinks refused). Blobs nothing
references any more are collected by the persistence manager when checkpoints are deleted.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from vibe_aigc.errors import CheckpointWriteError, NodeExecutionError
from vibe_aigc.persistence.ids import validate_plan_id

log = logging.getLogger("vibe_aigc.artifacts")

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
BLOB_NAME_RE = re.compile(r"^([0-9a-f]{64})\.[a-z0-9]{1,8}$")
BLOBS_DIR = "artifacts"
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/octet-stream": "bin",
}
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def sniff_media_type(data: bytes) -> str:
    """The media type of ``data`` by its magic bytes (``application/octet-stream`` if unknown)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


def is_artifact_ref(value: Any) -> bool:
    """True for a blob reference as :meth:`BlobStore.put` returns it."""
    return (
        isinstance(value, dict)
        and isinstance(value.get("sha256"), str)
        and SHA256_RE.fullmatch(value["sha256"]) is not None
        and "media_type" in value
    )


def artifact_refs(value: Any) -> set[str]:
    """Every blob sha256 referenced anywhere inside ``value`` (nested dicts and lists)."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if is_artifact_ref(item):
                found.add(item["sha256"])
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


@runtime_checkable
class BlobStore(Protocol):
    """Where a plan's binary outputs live, addressed by content."""

    def put(self, plan_id: str, data: bytes, media_type: str | None = None) -> dict[str, Any]:
        """Store ``data`` once; returns its reference."""
        ...

    def get(self, plan_id: str, ref: dict[str, Any]) -> bytes:
        """The bytes of a reference, checked against its hash (NodeExecutionError if not);
        FileNotFoundError when the plan has no such blob."""
        ...

    def exists(self, plan_id: str, ref: Any) -> bool:
        """True when ``ref`` names an intact blob of the plan."""
        ...

    def digests(self, plan_id: str) -> list[str]:
        """The sha256 of every blob the plan holds."""
        ...

    def remove(self, plan_id: str, keep: set[str], min_age_seconds: float = 0.0) -> list[str]:
        """Delete the plan's blobs whose hash is not in ``keep`` (and older than
        ``min_age_seconds``); returns what was removed."""
        ...


class FileBlobStore:
    """Blobs as files beside the plan's checkpoints (see the module docstring)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(os.path.abspath(root))

    def __repr__(self) -> str:
        return f"FileBlobStore({str(self.root)!r})"

    def folder(self, plan_id: str) -> Path:
        return self.root / validate_plan_id(plan_id) / BLOBS_DIR

    def _path(self, plan_id: str, ref: dict[str, Any]) -> Path:
        ext = EXTENSIONS.get(str(ref.get("media_type")), "bin")
        return self.folder(plan_id) / f"{ref['sha256']}.{ext}"

    def _ensure_folder(self, plan_id: str) -> Path:
        folder = self.folder(plan_id)
        for path in (folder.parent, folder):
            if path.is_symlink():
                raise NodeExecutionError(f"refusing to write artifacts through a link: {path}")
            try:
                os.makedirs(path, mode=0o700, exist_ok=True)
            except OSError as exc:
                raise CheckpointWriteError(str(path), exc) from exc
        return folder

    def put(self, plan_id: str, data: bytes, media_type: str | None = None) -> dict[str, Any]:
        media_type = media_type or sniff_media_type(data)
        digest = hashlib.sha256(data).hexdigest()
        ref: dict[str, Any] = {"sha256": digest, "media_type": media_type, "bytes": len(data)}
        folder = self._ensure_folder(plan_id)
        target = self._path(plan_id, ref)
        if not self._intact(target, digest, len(data)):
            self._write(folder, target, data)
        return {"path": str(target), **ref}

    @staticmethod
    def _intact(path: Path, digest: str, size: int) -> bool:
        try:
            if path.is_symlink() or path.stat().st_size != size:
                return False
            return hashlib.sha256(path.read_bytes()).hexdigest() == digest
        except OSError:
            return False

    @staticmethod
    def _write(folder: Path, target: Path, data: bytes) -> None:
        temp = folder / f".tmp-{os.getpid()}-{time.monotonic_ns()}"
        try:
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(temp, target)
            dir_fd = os.open(folder, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise CheckpointWriteError(str(folder), exc) from exc

    def exists(self, plan_id: str, ref: Any) -> bool:
        if not is_artifact_ref(ref):
            return False
        return self._intact(self._path(plan_id, ref), ref["sha256"], int(ref.get("bytes", -1)))

    def get(self, plan_id: str, ref: dict[str, Any]) -> bytes:
        if not is_artifact_ref(ref):
            raise NodeExecutionError(f"not an artifact reference: {str(ref)[:200]}")
        path = self._path(plan_id, ref)
        # O_NOFOLLOW: a symlink planted in the folder is refused (ELOOP), never followed
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        if hashlib.sha256(data).hexdigest() != ref["sha256"]:
            raise NodeExecutionError(f"artifact {path} does not match its sha256")
        return data

    def _entries(self, plan_id: str) -> list[os.DirEntry[str]]:
        folder = self.folder(plan_id)
        if folder.is_symlink() or not folder.is_dir():
            return []
        try:
            return list(os.scandir(folder))
        except OSError:
            return []

    def digests(self, plan_id: str) -> list[str]:
        out = []
        for entry in self._entries(plan_id):
            match = BLOB_NAME_RE.fullmatch(entry.name)
            if match and not entry.is_dir(follow_symlinks=False):
                out.append(match.group(1))
        return sorted(out)

    def remove(self, plan_id: str, keep: set[str], min_age_seconds: float = 0.0) -> list[str]:
        now = time.time()
        removed: list[str] = []
        for entry in self._entries(plan_id):
            match = BLOB_NAME_RE.fullmatch(entry.name)
            stale_temp = entry.name.startswith(".tmp-")
            if not (match or stale_temp) or entry.is_dir(follow_symlinks=False):
                continue
            if match and match.group(1) in keep:
                continue
            try:
                if now - entry.stat(follow_symlinks=False).st_mtime < min_age_seconds:
                    continue
                os.unlink(entry.path)
            except OSError as exc:
                log.warning("could not remove artifact %s: %s", entry.path, exc)
                continue
            removed.append(entry.path)
        return removed
