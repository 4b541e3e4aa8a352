"""A content-addressed artifacts folder beside each plan's checkpoints.

Binary outputs (images, audio) never go into checkpoints. :meth:`ArtifactStore.save` writes the
bytes once to ``<checkpoint_dir>/<plan_id>/artifacts/<sha256>.<ext>`` (mode 0600; write to a
temporary file, fsync, rename, fsync the folder) and returns a reference for the node output::

    {"path": "/abs/.../artifacts/<sha256>.png", "sha256": "<64 hex>",
     "media_type": "image/png", "bytes": 1234}

Saving identical bytes again finds the existing file and writes nothing. The media type is
sniffed from the bytes (PNG, JPEG, GIF, WebP), not taken from the provider.

:func:`gc_artifacts` removes a plan's artifact files that no remaining checkpoint or journal
record references (by ``sha256``). Deleting a whole plan (``delete_plan``) removes the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import time
from pathlib import Path
from typing import Any

from vibe_aigc.errors import CheckpointError, CheckpointWriteError, NodeExecutionError
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.persistence.ids import validate_plan_id

log = logging.getLogger("vibe_aigc.artifacts")

SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
ARTIFACT_NAME_RE = re.compile(r"^([0-9a-f]{64})\.[a-z0-9]{1,8}$")
EXTENSIONS = {
    "image/png": "png",
    "image/jpeg": "jpg",
    "image/gif": "gif",
    "image/webp": "webp",
    "application/octet-stream": "bin",
}
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


def sniff_media_type(data: bytes) -> str:
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
    return (
        isinstance(value, dict)
        and isinstance(value.get("sha256"), str)
        and SHA256_RE.fullmatch(value["sha256"]) is not None
        and "path" in value
    )


def artifact_refs(value: Any) -> set[str]:
    """Every artifact sha256 referenced anywhere inside ``value`` (nested dicts and lists)."""
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


class ArtifactStore:
    """Writes and reads a plan's artifacts (see the module docstring)."""

    def __init__(self, manager: WorkflowPersistenceManager) -> None:
        self.manager = manager

    def folder(self, plan_id: str) -> Path:
        return self.manager.artifacts_dir(validate_plan_id(plan_id))

    def _ensure_folder(self, plan_id: str) -> Path:
        folder = self.folder(plan_id)
        plan_dir = folder.parent
        for path in (plan_dir, folder):
            if path.is_symlink():
                raise NodeExecutionError(f"refusing to write artifacts through a link: {path}")
            try:
                os.makedirs(path, mode=0o700, exist_ok=True)
            except OSError as exc:
                raise CheckpointWriteError(str(path), exc) from exc
        return folder

    def save(self, plan_id: str, data: bytes, media_type: str | None = None) -> dict[str, Any]:
        """Store ``data`` (once) and return its reference."""
        media_type = media_type or sniff_media_type(data)
        digest = hashlib.sha256(data).hexdigest()
        ext = EXTENSIONS.get(media_type, "bin")
        folder = self._ensure_folder(plan_id)
        target = folder / f"{digest}.{ext}"
        if not self._intact(target, digest, len(data)):
            self._write(folder, target, data)
        return {"path": str(target), "sha256": digest, "media_type": media_type, "bytes": len(data)}

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
        """True when ``ref`` names an intact artifact of the plan."""
        if not is_artifact_ref(ref):
            return False
        ext = EXTENSIONS.get(str(ref.get("media_type")), "bin")
        path = self.folder(plan_id) / f"{ref['sha256']}.{ext}"
        return self._intact(path, ref["sha256"], int(ref.get("bytes", -1)))

    def read(self, plan_id: str, ref: dict[str, Any]) -> bytes:
        """The bytes of an artifact, checked against its hash."""
        if not is_artifact_ref(ref):
            raise NodeExecutionError(f"not an artifact reference: {ref!r}")
        ext = EXTENSIONS.get(str(ref.get("media_type")), "bin")
        path = self.folder(plan_id) / f"{ref['sha256']}.{ext}"
        # O_NOFOLLOW: a symlink planted in the folder is refused (ELOOP), never followed
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as handle:
            data = handle.read()
        if hashlib.sha256(data).hexdigest() != ref["sha256"]:
            raise NodeExecutionError(f"artifact {path} does not match its sha256")
        return data


def referenced_artifacts(manager: WorkflowPersistenceManager, plan_id: str) -> set[str] | None:
    """Hashes referenced by the plan's checkpoints and journal; None if any record is unreadable
    (then nothing can safely be collected)."""
    refs: set[str] = set()
    try:
        for checkpoint_id in manager.latest_checkpoint_ids(plan_id):
            record = manager.load_checkpoint(checkpoint_id, plan_id)
            refs |= artifact_refs(record.get("node_results"))
            refs |= artifact_refs(record.get("memos"))
        records, _ = manager.read_journal(plan_id, -1)
    except CheckpointError as exc:
        log.warning("not collecting artifacts of plan %r: %s", plan_id, exc)
        return None
    for record in records:
        refs |= artifact_refs(record.get("result"))
        refs |= artifact_refs(record.get("value"))
    return refs


def gc_artifacts(
    manager: WorkflowPersistenceManager, plan_id: str, *, min_age_seconds: float = 0.0
) -> list[str]:
    """Delete the plan's artifact files no checkpoint or journal record references.

    Call it with the plan's lock held or with no run in flight (a running node may have saved
    an artifact it has not reported yet); ``min_age_seconds`` spares files younger than that.
    Returns the removed paths.
    """
    folder = manager.artifacts_dir(validate_plan_id(plan_id))
    if folder.is_symlink() or not folder.is_dir():
        return []
    refs = referenced_artifacts(manager, plan_id)
    if refs is None:
        return []
    now = time.time()
    removed: list[str] = []
    for entry in os.scandir(folder):
        match = ARTIFACT_NAME_RE.fullmatch(entry.name)
        stale_temp = entry.name.startswith(".tmp-")
        if not (match or stale_temp) or entry.is_dir(follow_symlinks=False):
            continue
        if match and match.group(1) in refs:
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
