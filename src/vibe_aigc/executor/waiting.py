"""Waiting for the first of a run's nodes in flight to finish."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection, Iterable
from typing import TypeVar

T = TypeVar("T")


async def first_finished(running: Collection[asyncio.Task[T]]) -> Iterable[asyncio.Task[T]]:
    """The tasks of ``running`` that are done once one is: ``asyncio.wait(running,
    return_when=FIRST_COMPLETED)``, with a shortcut for a lone task (a chain's every node):
    it is awaited directly, without wait's waiter future and callbacks, and the caller wakes
    one loop pass sooner. Cancelling the caller then cancels the task through the await (the
    scheduler's abort cancels it either way); a task that swallows that cancellation and
    finishes anyway does not swallow the caller's: it is raised here all the same.
    """
    if len(running) != 1:
        done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
        return done
    (only,) = running
    me = asyncio.current_task()
    asked = me.cancelling() if me is not None else 0
    with contextlib.suppress(Exception):  # its outcome is the caller's to take
        await only
    if me is not None and me.cancelling() > asked:
        raise asyncio.CancelledError  # the node swallowed the run's cancellation
    return (only,)
