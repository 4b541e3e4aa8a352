"""Blobs of a SQL store kept in its ``vibe_blobs`` table (when no artifact folder is set).

With ``VIBE_ARTIFACT_DIR`` (or ``?artifact_dir=``) a SQL store keeps blobs as files in that
folder (:class:`~vibe_aigc.persistence.blobs.FileBlobStore`, a shared mount in a cluster).
Without one they go into the database, content-addressed by sha256 like the files, up to
:data:`MAX_DB_BLOB` bytes each; a larger blob is refused with a ConfigurationError saying to
set an artifact folder. References carry no ``path`` (there is no file).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from vibe_aigc.errors import ConfigurationError, NodeExecutionError
from vibe_aigc.persistence.blobs import is_artifact_ref, sniff_media_type
from vibe_aigc.persistence.ids import validate_plan_id

if TYPE_CHECKING:
    from vibe_aigc.persistence.sql.base import SqlStore, Tx

MAX_DB_BLOB = 1 << 20
"""The largest blob kept in the database (1 MiB); larger ones need an artifact folder."""

_PUT = (
    "INSERT INTO vibe_blobs (plan_id, sha256, media_type, size, data, created_at) "
    "VALUES (?, ?, ?, ?, ?, {now}) ON CONFLICT (plan_id, sha256) DO UPDATE SET "
    "media_type = excluded.media_type, size = excluded.size, data = excluded.data"
)
_GET = "SELECT data FROM vibe_blobs WHERE plan_id = ? AND sha256 = ?"
_LIST = "SELECT sha256, {now} - created_at FROM vibe_blobs WHERE plan_id = ?"
_DELETE = "DELETE FROM vibe_blobs WHERE plan_id = ? AND sha256 = ?"


class SqlBlobStore:
    """Blobs in the store's ``vibe_blobs`` table (see the module docstring)."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store

    def __repr__(self) -> str:
        return f"SqlBlobStore({self.store.url!r})"

    def _sql(self, statement: str) -> str:
        return self.store._sql(statement)

    def put(self, plan_id: str, data: bytes, media_type: str | None = None) -> dict[str, Any]:
        plan_id = validate_plan_id(plan_id)
        data = bytes(data)
        if len(data) > MAX_DB_BLOB:
            raise ConfigurationError(
                f"a blob of {len(data)} bytes is larger than the {MAX_DB_BLOB} bytes a SQL "
                "store keeps in its database; set VIBE_ARTIFACT_DIR (or ?artifact_dir= in the "
                "store URL) to a folder for artifacts"
            )
        media_type = media_type or sniff_media_type(data)
        digest = hashlib.sha256(data).hexdigest()

        def op(tx: Tx, attempt: int) -> None:
            tx.run(self._sql(_PUT), (plan_id, digest, media_type, len(data), data))

        self.store._transact(op, write=True, what=f"store blob {digest[:12]}")
        return {"sha256": digest, "media_type": media_type, "bytes": len(data)}

    def _fetch(self, plan_id: str, digest: str) -> bytes | None:
        def op(tx: Tx, attempt: int) -> list[tuple[Any, ...]]:
            return tx.rows(self._sql(_GET), (plan_id, digest))

        rows = self.store._transact(op, write=False, what=f"read blob {digest[:12]}")
        return bytes(rows[0][0]) if rows else None

    def get(self, plan_id: str, ref: dict[str, Any]) -> bytes:
        plan_id = validate_plan_id(plan_id)
        if not is_artifact_ref(ref):
            raise NodeExecutionError(f"not an artifact reference: {str(ref)[:200]}")
        data = self._fetch(plan_id, ref["sha256"])
        if data is None:
            raise FileNotFoundError(f"{self.store.url}#{plan_id}/blobs/{ref['sha256']}")
        if hashlib.sha256(data).hexdigest() != ref["sha256"]:
            raise NodeExecutionError(
                f"artifact {self.store.url}#{plan_id}/blobs/{ref['sha256']} does not match "
                "its sha256"
            )
        return data

    def exists(self, plan_id: str, ref: Any) -> bool:
        if not is_artifact_ref(ref):
            return False
        data = self._fetch(validate_plan_id(plan_id), ref["sha256"])
        return data is not None and hashlib.sha256(data).hexdigest() == ref["sha256"]

    def digests(self, plan_id: str) -> list[str]:
        plan_id = validate_plan_id(plan_id)

        def op(tx: Tx, attempt: int) -> list[tuple[Any, ...]]:
            return tx.rows(self._sql(_LIST), (plan_id,))

        return sorted(str(row[0]) for row in self.store._transact(op, write=False, what="list"))

    def remove(self, plan_id: str, keep: set[str], min_age_seconds: float = 0.0) -> list[str]:
        plan_id = validate_plan_id(plan_id)

        def op(tx: Tx, attempt: int) -> list[str]:
            removed = []
            for digest, age in tx.rows(self._sql(_LIST), (plan_id,)):
                if digest in keep or float(age) < min_age_seconds:
                    continue
                if tx.run(self._sql(_DELETE), (plan_id, digest)):
                    removed.append(f"{self.store.url}#{plan_id}/blobs/{digest}")
            return removed

        return self.store._transact(op, write=True, what="remove blobs")
