"""A journal writer thread: group commit off the event loop, housekeeping in order.

The scheduler's hook numbers each journal record on the event loop and hands it here; one
thread appends whatever has queued up in a single ``write`` + ``fsync`` (so completions that
finish together share an fsync) and resolves the batch's futures with one wake-up of their
loop. (Writing a lone record from the loop itself, to save the hand-off, measured slower here
side by side: bench/RESULTS.md, issue 15.) Journal housekeeping (rotation, compaction) goes
through the same queue, so it happens exactly between the appends queued before and after it.
After a failed append, every later append fails too (sticky): nothing at or above the failed
batch's first seq is ever written, so the caller can safely number on from there.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any

Record = dict[str, Any]
_Append = tuple[str, Record, asyncio.AbstractEventLoop, "asyncio.Future[Any]"]
_Call = tuple[str, Callable[[], Any], asyncio.AbstractEventLoop, "asyncio.Future[Any]"]


class JournalWriter:
    """Appends journal records of one plan from a dedicated thread (see the module docstring).

    ``append_batch(records)`` is the store's append (one write + one fsync for the list).
    """

    def __init__(self, append_batch: Callable[[list[Record]], None], name: str) -> None:
        self._append_batch = append_batch
        self._queue: queue.SimpleQueue[_Append | _Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = False
        self._stopped = False
        self.failure: BaseException | None = None
        self.failed_from: int | None = None  # first seq of the batch that failed

    def _ensure_started(self) -> None:
        if self._stopped:
            raise RuntimeError("the journal writer was stopped")
        if not self._started:
            self._started = True
            self._thread.start()

    def append(self, record: Record) -> asyncio.Future[Any]:
        """Queue one record; the future resolves once it is durable (or fails)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._ensure_started()
        self._queue.put(("append", record, loop, future))
        return future

    def call(self, func: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run ``func`` on the writer thread after everything queued before it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._ensure_started()
        self._queue.put(("call", func, loop, future))
        return future

    def stop(self) -> None:
        """Finish what is queued, then end the thread (blocking; call it off the loop)."""
        if self._started and not self._stopped:
            self._stopped = True
            self._queue.put(None)
            self._thread.join()
        self._stopped = True

    # ------------------------------------------------------------------ the thread

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            items = [item]
            while item is not None:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                items.append(item)
            pending: list[_Append] = []
            for entry in items:
                if entry is None:
                    self._write(pending)
                    return
                if entry[0] == "append":
                    pending.append(entry)  # type: ignore[arg-type]
                    continue
                self._write(pending)
                pending = []
                _, func, loop, future = entry
                try:
                    outcome = func()  # type: ignore[operator]
                except BaseException as exc:
                    _settle(loop, future, None, exc)
                else:
                    _settle(loop, future, outcome, None)
            self._write(pending)

    def _write(self, batch: list[_Append]) -> None:
        if not batch:
            return
        error = self.failure
        if error is None:
            try:
                self._append_batch([record for _, record, _, _ in batch])
            except BaseException as exc:
                self.failure = error = exc
                self.failed_from = int(batch[0][1]["seq"])
        # one wake-up of each waiting loop per batch, not one per record
        by_loop: dict[asyncio.AbstractEventLoop, list[asyncio.Future[Any]]] = {}
        for _, _, loop, future in batch:
            by_loop.setdefault(loop, []).append(future)
        for loop, futures in by_loop.items():
            _settle_all(loop, futures, error)
        batch.clear()


def _settle(
    loop: asyncio.AbstractEventLoop,
    future: asyncio.Future[Any],
    result: Any,
    error: BaseException | None,
) -> None:
    def apply() -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(apply)


def _settle_all(
    loop: asyncio.AbstractEventLoop,
    futures: list[asyncio.Future[Any]],
    error: BaseException | None,
) -> None:
    def apply() -> None:
        for future in futures:
            if future.done():
                continue
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(None)

    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
        loop.call_soon_threadsafe(apply)
