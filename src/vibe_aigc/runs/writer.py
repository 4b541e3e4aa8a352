"""A journal writer thread: group commit off the event loop, housekeeping in order.

The scheduler's hook numbers each journal record on the event loop and hands it here; one
thread appends whatever has queued up in a single ``write`` + ``fsync`` (so completions that
finish together share an fsync) and resolves the batch's futures with one wake-up of their
loop. Journal housekeeping (rotation, compaction) goes through the same queue, so it happens
exactly between the appends queued before and after it.

A record that nothing could share an fsync with (``alone``: no other node is running, so no
other completion can arrive while it is written) and that finds the thread idle is written by
the caller itself, on the loop: the loop has nothing else to do meanwhile, and the two thread
hand-offs (queue, then the wake-up of the loop) cost about as much as a SQLite commit
(bench/RESULTS.md, issue 13). With nodes in flight, records always go through the thread, so
they keep sharing fsyncs.
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
        # items queued and not yet finished by the thread; a caller writes a record itself
        # only while this is 0, holding the lock (so the thread cannot be writing meanwhile)
        self._busy = 0
        self._lock = threading.Lock()
        self.failure: BaseException | None = None
        self.failed_from: int | None = None  # first seq of the batch that failed

    def _refuse_if_stopped(self) -> None:
        if self._stopped:
            raise RuntimeError("the journal writer was stopped")

    def _ensure_started(self) -> None:
        self._refuse_if_stopped()
        if not self._started:
            self._started = True
            self._thread.start()

    def append(self, record: Record, *, alone: bool = False) -> asyncio.Future[Any]:
        """Queue one record; the future resolves once it is durable (or fails). ``alone``:
        nothing could share its fsync, so when the thread is idle it is written right here
        (blocking) and the future is already done."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        if alone:
            self._refuse_if_stopped()
            with self._lock:
                if self._busy == 0:
                    error = self._append([record])
                    if error is not None:
                        future.set_exception(error)
                    else:
                        future.set_result(None)
                    return future
        self._put(("append", record, loop, future))
        return future

    def write_now(self, record: Record) -> bool:
        """Write a record that nothing could share an fsync with right here (blocking), when
        the thread is idle: True once it is durable (the error, sticky, raises); False when
        the thread is busy, and the caller :meth:`append` s it instead. No future: what a
        chain pays for every node."""
        self._refuse_if_stopped()
        with self._lock:
            if self._busy:
                return False
            error = self._append([record])
        if error is not None:
            raise error
        return True

    def call(self, func: Callable[[], Any]) -> asyncio.Future[Any]:
        """Run ``func`` on the writer thread after everything queued before it."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        self._put(("call", func, loop, future))
        return future

    def _put(self, item: _Append | _Call) -> None:
        self._ensure_started()
        with self._lock:
            self._busy += 1
        self._queue.put(item)

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
                error: BaseException | None = None
                try:
                    outcome = func()  # type: ignore[operator]
                except BaseException as exc:
                    outcome, error = None, exc
                self._done(1)  # before the wake-up: the woken caller may write next
                _settle(loop, future, outcome, error)
            self._write(pending)

    def _done(self, count: int) -> None:
        with self._lock:
            self._busy -= count

    def _append(self, records: list[Record]) -> BaseException | None:
        """Append ``records`` unless an earlier append failed; the error, sticky, or None."""
        if self.failure is None:
            try:
                self._append_batch(records)
            except BaseException as exc:
                self.failure = exc
                self.failed_from = int(records[0]["seq"])
        return self.failure

    def _write(self, batch: list[_Append]) -> None:
        if not batch:
            return
        error = self._append([record for _, record, _, _ in batch])
        self._done(len(batch))
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
