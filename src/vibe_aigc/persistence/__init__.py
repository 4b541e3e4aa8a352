"""Durable checkpoints: the public face (``WorkflowPersistenceManager``) and the store layer.

See ``store.py`` for the storage contract and lifecycle, ``file_store.py`` for the folder
layout, and ``codec.py`` for the file formats.
"""

from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointError,
    CheckpointLockedError,
    CheckpointNotFoundError,
)
from vibe_aigc.persistence.codec import SCHEMA_VERSION, JsonCodec
from vibe_aigc.persistence.file_store import FileCheckpointStore
from vibe_aigc.persistence.ids import new_checkpoint_id
from vibe_aigc.persistence.manager import WorkflowPersistenceManager
from vibe_aigc.persistence.store import CheckpointStore

__all__ = [
    "SCHEMA_VERSION",
    "CheckpointCorruptError",
    "CheckpointError",
    "CheckpointLockedError",
    "CheckpointNotFoundError",
    "CheckpointStore",
    "FileCheckpointStore",
    "JsonCodec",
    "WorkflowPersistenceManager",
    "new_checkpoint_id",
]
