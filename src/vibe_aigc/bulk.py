"""Work on many records at once (resuming, snapshotting or validating a large plan).

:func:`bulk_load` pauses Python's cyclic garbage collector while a resume decodes records, a
snapshot is built and written, or a plan's graph is built. All build only acyclic data (JSON
trees, node results, tuples of ids), so a collection finds nothing to free; but with a few
million objects alive each full collection walks all of them: at 50k-100k nodes they cost a
third of a resume, and half of building a plan's graph. Reference counting
still frees everything as usual; the collector runs again when the outermost pause ends.

A resume's records live as long as its run: :func:`run_scope` marks a run, and a pause
opened with ``keep=True`` (the load) ends by moving every object alive then out of the
collector's sight (``gc.freeze``) instead of leaving them all young, where the next
collections would walk them three times over (a quarter of a second at 50k nodes). The last
run to end gives them back (``gc.unfreeze``). A program that froze objects itself keeps its
own freeze: nothing is frozen or unfrozen for it.

(Stored node results are built by ``runs.stored``: ``model_construct`` after exact type checks
was measured no faster than ``NodeResult.model_validate``; a direct build is.)
"""

from __future__ import annotations

import contextlib
import functools
import gc
import threading
from collections.abc import Awaitable, Callable, Iterator
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class _Pause:
    """Nested / concurrent pauses: the first one stops the collector, the last one restarts
    it (only when it was running before). ``runs``: runs open in :func:`run_scope`;
    ``frozen``: this module froze objects (and unfreezes them when the last run ends)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.stopped = False
        self.keep = False
        self.runs = 0
        self.frozen = False


_PAUSE = _Pause()


@contextlib.contextmanager
def bulk_load(keep: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (see the module docstring).
    ``keep``: what the block builds lives as long as the run (see :func:`run_scope`)."""
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
            _PAUSE.keep = _PAUSE.keep or keep
            if _PAUSE.depth == 0:
                if _PAUSE.keep and _PAUSE.runs and (_PAUSE.frozen or gc.get_freeze_count() == 0):
                    gc.freeze()
                    _PAUSE.frozen = True
                _PAUSE.keep = False
                if _PAUSE.stopped:
                    _PAUSE.stopped = False
                    gc.enable()


def run_scope(func: Callable[P, Awaitable[T]]) -> Callable[P, Awaitable[T]]:
    """``func`` (a coroutine function running a plan) as a run whose loaded records live as
    long as it does (see the module docstring)."""

    @functools.wraps(func)
    async def scoped(*args: P.args, **kwargs: P.kwargs) -> T:
        with _PAUSE.lock:
            _PAUSE.runs += 1
        try:
            return await func(*args, **kwargs)
        finally:
            with _PAUSE.lock:
                _PAUSE.runs -= 1
                if _PAUSE.runs == 0 and _PAUSE.frozen:
                    _PAUSE.frozen = False
                    gc.unfreeze()

    return scoped
