"""The journal writer: group commit on its thread, a lone record written by its caller.

Whatever path a record takes (the caller writes it because nothing could share its fsync and
the thread is idle, or the thread writes it with whatever queued up beside it), the store sees
every record exactly once, in seq order, housekeeping calls land exactly between the records
queued before and after them, and a failed append fails every later one (sticky).
"""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vibe_aigc.runs.writer import JournalWriter


class Store:
    """Records what reaches it and on which thread; can be told to fail or to be slow."""

    def __init__(self) -> None:
        self.log: list[tuple[str, Any]] = []  # ("batch", [seqs]) or ("call", tag)
        self.threads: list[str] = []
        self.fail_at: int | None = None
        self.gate: threading.Event | None = None

    def append(self, records: list[dict[str, Any]]) -> None:
        if self.gate is not None:
            self.gate.wait(10)
        seqs = [r["seq"] for r in records]
        if self.fail_at is not None and self.fail_at in seqs:
            raise OSError(28, "No space left on device")
        self.log.append(("batch", seqs))
        self.threads.append(threading.current_thread().name)


def written(store: Store) -> list[int]:
    return [seq for kind, seqs in store.log if kind == "batch" for seq in seqs]


def test_a_lone_record_is_written_by_the_caller_when_the_thread_is_idle() -> None:
    store = Store()
    writer = JournalWriter(store.append, "writer-under-test")

    async def go() -> None:
        future = writer.append({"seq": 0}, alone=True)
        assert future.done() and future.exception() is None  # durable on return
        assert written(store) == [0]
        await writer.append({"seq": 1})  # not alone: through the thread
        assert written(store) == [0, 1]

    asyncio.run(go())
    writer.stop()
    assert store.threads == [threading.main_thread().name, "writer-under-test"]


def test_a_lone_record_waits_its_turn_behind_a_busy_thread() -> None:
    store = Store()
    store.gate = threading.Event()
    writer = JournalWriter(store.append, "writer-under-test")

    async def go() -> None:
        first = writer.append({"seq": 0})  # the thread blocks in the store on it
        second = writer.append({"seq": 1}, alone=True)
        assert not second.done()  # queued behind the first, never written before it
        store.gate.set()
        await asyncio.gather(first, second)

    asyncio.run(go())
    writer.stop()
    assert written(store) == [0, 1]
    assert set(store.threads) == {"writer-under-test"}


def test_a_failed_lone_write_fails_every_later_append() -> None:
    store = Store()
    store.fail_at = 1
    writer = JournalWriter(store.append, "writer-under-test")

    async def go() -> None:
        await writer.append({"seq": 0}, alone=True)
        with pytest.raises(OSError, match="No space"):
            await writer.append({"seq": 1}, alone=True)
        store.fail_at = None
        for seq, alone in ((2, False), (3, True)):
            with pytest.raises(OSError, match="No space"):
                await writer.append({"seq": seq}, alone=alone)

    asyncio.run(go())
    writer.stop()
    assert written(store) == [0]
    assert writer.failed_from == 1


def test_a_stopped_writer_refuses_lone_records_too() -> None:
    writer = JournalWriter(Store().append, "writer-under-test")
    writer.stop()

    async def go() -> None:
        with pytest.raises(RuntimeError, match="stopped"):
            writer.append({"seq": 0}, alone=True)

    asyncio.run(go())


@settings(max_examples=60, deadline=None)
@given(
    steps=st.lists(
        st.tuples(st.sampled_from(["append", "append-alone", "call"]), st.booleans()),
        min_size=1,
        max_size=30,
    )
)
def test_any_mix_of_paths_keeps_seq_order_and_call_positions(
    steps: list[tuple[str, bool]],
) -> None:
    """Records and calls issued in any mix (awaited at once or left in flight) reach the store
    exactly once, in the order they were issued."""
    store = Store()
    writer = JournalWriter(store.append, "writer-under-test")
    expected: list[tuple[str, Any]] = []

    async def go() -> None:
        in_flight: list[asyncio.Future[Any]] = []
        seq = 0
        for index, (kind, wait_now) in enumerate(steps):
            if kind == "call":
                tag = f"call-{index}"
                future = writer.call(lambda tag=tag: store.log.append(("call", tag)))
                expected.append(("call", tag))
            else:
                future = writer.append({"seq": seq}, alone=kind == "append-alone")
                expected.append(("record", seq))
                seq += 1
            if wait_now:
                await future
            else:
                in_flight.append(future)
        await asyncio.gather(*in_flight)

    asyncio.run(go())
    writer.stop()
    seen: list[tuple[str, Any]] = []
    for kind, value in store.log:
        if kind == "call":
            seen.append(("call", value))
        else:
            seen.extend(("record", seq) for seq in value)
    assert seen == expected
