"""Durable storage: the public face (``WorkflowPersistenceManager``), the store contract, and
``open_store(url)``.

See ``store.py`` for the contract and lifecycle, ``records.py`` for the record shapes,
``codec.py`` for the byte formats, ``file/`` for the folder layout, ``blobs.py`` for media.
"""

from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointLockedError,
    CheckpointNotFoundError,
)
from vibe_aigc.persistence.blobs import BlobStore, FileBlobStore
from vibe_aigc.persistence.codec import JsonCodec
from vibe_aigc.persistence.factory import open_store
from vibe_aigc.persistence.file import FileCheckpointStore
from vibe_aigc.persistence.ids import new_checkpoint_id
from vibe_aigc.persistence.manager import WorkflowPersistenceManager
from vibe_aigc.persistence.records import SCHEMA_VERSION
from vibe_aigc.persistence.store import JournalRead, Lease, Store

CheckpointStore = Store
"""The store contract's earlier name."""

__all__ = [
    "SCHEMA_VERSION",
    "BlobStore",
    "CheckpointCorruptError",
    "CheckpointError",
    "CheckpointLockedError",
    "CheckpointNotFoundError",
    "CheckpointStore",
    "FileBlobStore",
    "FileCheckpointStore",
    "JournalRead",
    "JsonCodec",
    "Lease",
    "Store",
    "WorkflowPersistenceManager",
    "new_checkpoint_id",
    "open_store",
]
