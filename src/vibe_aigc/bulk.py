"""Work on many records at once (resuming, snapshotting or validating a large plan).

:func:`bulk_load` pauses Python's cyclic garbage collector while a resume decodes records, a
snapshot is built and written, or a plan's graph is built. All build only acyclic data (JSON
trees, node results, tuples of ids), so a collection finds nothing to free; but with a few
million objects alive each full collection walks all of them: at 50k-100k nodes they cost a
third of a resume, and half of building a plan's graph. Reference counting
still frees everything as usual; the collector runs again when the outermost pause ends.

(Stored node results are built by ``runs.stored``: ``model_construct`` after exact type checks
was measured no faster than ``NodeResult.model_validate``; a direct build is.)
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator


class _Pause:
    """Nested / concurrent pauses: the first one stops the collector, the last one restarts
    it (only when it was running before)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.stopped = False


_PAUSE = _Pause()


@contextlib.contextmanager
def bulk_load() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (see the module docstring)."""
    with _PAUSE.lock:
        if _PAUSE.depth == 0:
            _PAUSE.stopped = gc.isenabled()
            if _PAUSE.stopped:
                gc.disable()
        _PAUSE.depth += 1
    try:
        yield
    finally:
        with _PAUSE.lock:
            _PAUSE.depth -= 1
            if _PAUSE.depth == 0 and _PAUSE.stopped:
                _PAUSE.stopped = False
                gc.enable()
