"""Wiring of the Ray backend: a :class:`~vibe_aigc.executor.ray_runner.RayRunner` whose workers
rebuild this project's services from their configuration instead of receiving live objects.

* An :class:`~vibe_aigc.llm.LLMClient` travels as its :class:`~vibe_aigc.llm.LLMConfig` and is
  created again on the worker (its own connections; rate limits then hold per worker process).
* An :class:`~vibe_aigc.artifacts.ArtifactStore` travels as where its blobs live: the blob
  folder (a file store's ``<root>``: the folder must be shared by every machine, at the same
  path) or the store URL of a SQL store (blobs in the database; use an absolute SQLite path or
  a Postgres URL every machine reaches). Workers write large outputs there themselves and hand
  back only the reference.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from vibe_aigc.artifacts import ArtifactStore
from vibe_aigc.errors import ConfigurationError
from vibe_aigc.executor.ray_runner import RayRunner
from vibe_aigc.llm import LLMClient
from vibe_aigc.persistence import open_store
from vibe_aigc.persistence.blobs import FileBlobStore

BACKENDS = ("local", "ray")


def _client_recipe(client: LLMClient) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    return LLMClient, (client.config,)


@functools.lru_cache(maxsize=8)
def artifacts_at(url: str) -> ArtifactStore:
    """The artifact store over the store at ``url`` (one per worker process and URL)."""
    return ArtifactStore(open_store(url))


def _artifacts_recipe(store: ArtifactStore) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    blobs = store.blobs
    if isinstance(blobs, FileBlobStore):
        return ArtifactStore, (FileBlobStore(blobs.root),)
    url = getattr(getattr(blobs, "store", None), "url", None)
    if not isinstance(url, str):
        raise ConfigurationError(
            f"the artifact store over {blobs!r} cannot be reached from Ray workers; use a "
            "file store on a shared folder or a SQL store URL"
        )
    return artifacts_at, (url,)


def ray_runner(address: str | None = None, **options: Any) -> RayRunner:
    """A RayRunner for ``address`` (None: ``$VIBE_RAY_ADDRESS``, else a local instance)."""
    runner = RayRunner(address, **options)
    runner.recipe(LLMClient, _client_recipe)
    runner.recipe(ArtifactStore, _artifacts_recipe)
    return runner


def check_backend(backend: str) -> None:
    if backend not in BACKENDS:
        raise ConfigurationError(
            f"backend must be one of {', '.join(BACKENDS)}, got {str(backend)[:40]!r}"
        )
