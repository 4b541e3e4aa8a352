"""A lease on one plan of the file store: the plan's flock plus fencing.

Writes go through :meth:`FileLease.writing`, which holds the lease's I/O guard and refuses once
the lease is released; releasing takes the same guard, so it waits for a write in progress and
every later write is refused with :class:`~vibe_aigc.errors.CheckpointLockedError`. A run that
lost its lease (cancelled twice, its lock released) can therefore never write again.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

from vibe_aigc.errors import CheckpointLockedError
from vibe_aigc.persistence.file.lock import PlanLock
from vibe_aigc.persistence.store import released_lease

_TOKENS = itertools.count(1)


class FileLease:
    """One writer's hold on one plan folder (see the module docstring)."""

    def __init__(self, lock: PlanLock, on_release: Callable[[Path], None] | None = None) -> None:
        self._lock = lock
        self.plan_id = lock.plan_id
        self.plan_dir = lock.plan_dir
        self.token = 0
        self._on_release = on_release
        self._io = threading.Lock()
        self._held = False

    def __repr__(self) -> str:
        state = "held" if self._held else "not held"
        return f"FileLease({self.plan_id!r}, token={self.token}, {state})"

    @property
    def held(self) -> bool:
        return self._held

    def acquire(self) -> FileLease:
        if self._held:
            raise CheckpointLockedError(self.plan_id, "this lease is already held")
        self._lock.acquire()
        self.token = (os.getpid() << 32) | next(_TOKENS)
        self._held = True
        return self

    def release(self) -> None:
        with self._io:  # waits for a write in progress; every later write is refused
            if not self._held:
                return
            self._held = False
            try:
                if self._on_release is not None:
                    self._on_release(self.plan_dir)
            finally:
                self._lock.release()

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the I/O guard for one write; CheckpointLockedError when the lease is gone."""
        with self._io:
            if not self._held:
                raise released_lease(self.plan_id)
            yield

    def __enter__(self) -> FileLease:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
