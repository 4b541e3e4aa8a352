"""The file store (the guide's folder layout); its segments, locks and atomic writes are private
to this package."""

from vibe_aigc.persistence.file.store import FileCheckpointStore

__all__ = ["FileCheckpointStore"]
