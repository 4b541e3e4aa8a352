"""``open_store(url)``: one factory for every store, backends imported only when asked for.

=================================  ==========================================================
``/path`` or ``relative/path``     the file store in that folder (the guide's layout)
``file:///abs/path``               the same, as a URL
``sqlite:///path/to/runs.db``      the SQLite store (stdlib ``sqlite3``)
``postgresql://user:pw@host/db``   the PostgreSQL store (``pip install 'vibe-aigc[postgres]'``)
=================================  ==========================================================
"""

from __future__ import annotations

import importlib
import os
from typing import cast
from urllib.parse import unquote, urlsplit

from vibe_aigc.errors import ConfigurationError
from vibe_aigc.persistence.store import Store

ENV_URL = "VIBE_STORE_URL"
ENV_DIR = "VIBE_CHECKPOINT_DIR"
DEFAULT_DIR = ".vibe_checkpoints"

# scheme -> (module, class, how to install it)
_BACKENDS: dict[str, tuple[str, str, str]] = {
    "sqlite": ("vibe_aigc.persistence.sqlite", "SQLiteStore", "part of Python (sqlite3)"),
    "postgresql": (
        "vibe_aigc.persistence.postgres",
        "PostgresStore",
        "pip install 'vibe-aigc[postgres]'",
    ),
}
_BACKENDS["postgres"] = _BACKENDS["postgresql"]


def _file_store(path: str) -> Store:
    from vibe_aigc.persistence.file import FileCheckpointStore

    return FileCheckpointStore(os.path.abspath(os.path.expanduser(path)))


def open_store(url: str | os.PathLike[str]) -> Store:
    """The store ``url`` names (see the module docstring); ConfigurationError otherwise."""
    text = os.fspath(url)
    if not isinstance(text, str) or not text.strip():
        raise ConfigurationError("a store URL or folder is required, got an empty string")
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme == "" or (len(scheme) == 1 and os.name == "nt"):
        return _file_store(text)
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise ConfigurationError(f"file URLs name a local folder; {text!r} names a host")
        return _file_store(unquote(parts.path))
    backend = _BACKENDS.get(scheme)
    if backend is None:
        known = ", ".join(["file", *sorted(_BACKENDS)])
        raise ConfigurationError(f"unknown store scheme {scheme!r} in the store URL; use {known}")
    module_name, class_name, install = backend
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ConfigurationError(
            f"the {scheme} store is not available ({exc}); {install}"
        ) from None
    return cast(Store, getattr(module, class_name).from_url(text))
