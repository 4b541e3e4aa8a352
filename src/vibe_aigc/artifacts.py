"""Artifacts for tools: save a node's binary output, get a reference back, read it again.

:class:`ArtifactStore` is what tools see (``context.services["artifacts"]``). It writes through
the run's :class:`~vibe_aigc.persistence.blobs.BlobStore` (content-addressed, written once,
collected when nothing references it; see that module for the reference format)::

    {"sha256": "<64 hex>", "media_type": "image/png", "bytes": 1234, "path": "/abs/...png"}
"""

from __future__ import annotations

from typing import Any, Protocol

from vibe_aigc.persistence.blobs import (
    BlobStore,
    artifact_refs,
    is_artifact_ref,
    sniff_media_type,
)

__all__ = ["ArtifactStore", "artifact_refs", "is_artifact_ref", "sniff_media_type"]


class _HasBlobs(Protocol):
    @property
    def blobs(self) -> BlobStore: ...


class ArtifactStore:
    """A plan's artifacts, over a blob store (or anything with ``.blobs``: a persistence
    manager or a store)."""

    def __init__(self, source: BlobStore | _HasBlobs) -> None:
        self._source = source

    @property
    def blobs(self) -> BlobStore:
        source = self._source
        return source if isinstance(source, BlobStore) else source.blobs

    def save(self, plan_id: str, data: bytes, media_type: str | None = None) -> dict[str, Any]:
        """Store ``data`` (once) and return its reference."""
        return self.blobs.put(plan_id, data, media_type)

    def exists(self, plan_id: str, ref: Any) -> bool:
        """True when ``ref`` names an intact artifact of the plan."""
        return self.blobs.exists(plan_id, ref)

    def read(self, plan_id: str, ref: dict[str, Any]) -> bytes:
        """The bytes of an artifact, checked against its hash."""
        return self.blobs.get(plan_id, ref)
