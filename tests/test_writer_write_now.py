"""``JournalWriter.write_now``: the recorder's way to write a lone record with no future (what
a chain does for every node). It writes on the caller's thread only while the writer thread is
idle, keeps the order of what is queued, and shares the sticky failure of ``append``."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest

from vibe_aigc.runs.writer import JournalWriter


class Store:
    def __init__(self) -> None:
        self.batches: list[tuple[list[int], str]] = []
        self.gate = threading.Event()
        self.gate.set()
        self.fail_at: int | None = None

    def append(self, records: list[dict[str, Any]]) -> None:
        self.gate.wait(10)
        seqs = [r["seq"] for r in records]
        if self.fail_at in seqs:
            raise OSError(28, "No space left on device")
        self.batches.append((seqs, threading.current_thread().name))


def test_written_here_while_the_thread_is_idle() -> None:
    store = Store()
    writer = JournalWriter(store.append, "writer-under-test")
    assert writer.write_now({"seq": 0}) is True
    assert store.batches == [([0], threading.current_thread().name)]
    writer.stop()


def test_refused_while_the_thread_is_busy_so_order_holds() -> None:
    store = Store()
    writer = JournalWriter(store.append, "writer-under-test")

    async def go() -> None:
        store.gate.clear()
        queued = writer.append({"seq": 0})  # the thread blocks in the store on it
        assert writer.write_now({"seq": 1}) is False  # busy: the caller must queue it
        later = writer.append({"seq": 1})
        store.gate.set()
        await asyncio.gather(queued, later)

    asyncio.run(go())
    writer.stop()
    assert [seqs for seqs, _ in store.batches] in ([[0], [1]], [[0, 1]])
    assert all(name == "writer-under-test" for _, name in store.batches)


def test_a_failure_is_raised_and_sticks() -> None:
    store = Store()
    store.fail_at = 1
    writer = JournalWriter(store.append, "writer-under-test")
    assert writer.write_now({"seq": 0}) is True
    with pytest.raises(OSError, match="No space"):
        writer.write_now({"seq": 1})
    store.fail_at = None
    with pytest.raises(OSError, match="No space"):  # sticky: nothing after it is written
        writer.write_now({"seq": 2})
    assert writer.failed_from == 1
    assert [seqs for seqs, _ in store.batches] == [[0]]
    writer.stop()
    with pytest.raises(RuntimeError, match="stopped"):
        writer.write_now({"seq": 3})
