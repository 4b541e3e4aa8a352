"""A journal segment scanned a block at a time finds what the whole bytes say (its data's end,
the torn and stale parts, where a writer goes on, its last line), and opening a large segment
for appending no longer holds it in memory."""

from __future__ import annotations

import os
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vibe_aigc.persistence.file import segment
from vibe_aigc.persistence.file.segment import Extent, Scan, SegmentFile


def reference_extent(raw: bytes) -> Extent:
    """The definitions, over the whole bytes (the module docstring's layout)."""
    size = len(raw)
    data_end = raw.find(b"\0")
    if data_end < 0:
        data_end = size
    after = raw[data_end:]
    stale_at = -1 if not after.strip(b"\0") else size - len(after.lstrip(b"\0"))
    return Extent(size, data_end, raw.rfind(b"\n", 0, data_end) + 1, stale_at)


def reference_keep(raw: bytes) -> tuple[int, bool]:
    extent = reference_extent(raw)
    if extent.damaged:
        end = raw.rfind(b"\n") + 1
        return end, bool(raw[end:].strip(b"\0"))
    return extent.valid_end, extent.torn or extent.stale_at >= 0


def reference_last_line(raw: bytes) -> bytes | None:
    valid_end = reference_extent(raw).valid_end
    if not valid_end:
        return None
    return raw[raw.rfind(b"\n", 0, valid_end - 1) + 1 : valid_end - 1]


pieces = st.lists(
    st.one_of(
        st.binary(min_size=1, max_size=12).map(
            lambda b: b.replace(b"\0", b"x").replace(b"\n", b"y")
        ),
        st.just(b"\n"),
        st.integers(1, 700).map(bytes),  # zeros: room, or a torn append's gap
        st.just(b"\0"),
    ),
    max_size=30,
)


def scanned(raw: bytes, cuts: list[int]) -> Scan:
    found, begin = Scan(), 0
    for cut in [*sorted({c % (len(raw) + 1) for c in cuts}), len(raw)]:
        found.feed(raw[begin:cut])
        begin = cut
    return found


@given(pieces, st.lists(st.integers(0, 10_000), max_size=8))
def test_a_scan_in_blocks_finds_what_the_whole_bytes_say(
    parts: list[bytes], cuts: list[int]
) -> None:
    raw = b"".join(parts)
    found = scanned(raw, cuts)
    assert found.extent == reference_extent(raw) == segment.examine(raw)
    assert segment._keep(found) == reference_keep(raw)
    last = reference_last_line(raw)
    if last is not None:
        assert raw[found.line_start : found.extent.valid_end - 1] == last


@given(pieces)
def test_the_last_line_is_read_from_the_file_alone(
    tmp_path_factory: pytest.TempPathFactory, parts: list[bytes]
) -> None:
    folder = tmp_path_factory.mktemp("seg")
    path = Path(folder) / "journal-000000000000.jsonl"
    raw = b"".join(parts)
    path.write_bytes(raw)
    assert segment.last_line(path) == reference_last_line(raw)


def test_the_last_line_refuses_a_link(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_bytes(b'{"seq":1}\n')
    link = tmp_path / "journal-000000000000.jsonl"
    link.symlink_to(target)
    with pytest.raises(OSError):
        segment.last_line(link)


def test_opening_a_large_segment_does_not_hold_it(tmp_path: Path) -> None:
    """A resumed large run opens its ~40 MB segment to append: scanned a block at a time, not
    read whole (twice: its chunks and their join)."""
    path = tmp_path / "journal-000000000000.jsonl"
    line = b'{"seq":1,"pad":"' + b"p" * 380 + b'"}\n'
    with path.open("wb") as out:
        for _ in range(20_000):  # ~8 MB of lines, then room and a torn line
            out.write(line)
        out.write(b'{"torn')
        out.write(bytes(segment.ROOM_MIN))
    size = path.stat().st_size
    tracemalloc.start()
    try:
        handle = SegmentFile(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    try:
        assert handle.end == 20_000 * len(line)  # the torn line and the room were cut
        assert os.path.getsize(path) == handle.end
        assert peak < 3 * segment.ROOM_MAX < size // 2, peak
    finally:
        handle.close()


def test_the_last_line_does_not_wait_on_a_fifo(tmp_path: Path) -> None:
    fifo = tmp_path / "journal-000000000000.jsonl"
    os.mkfifo(fifo)
    with pytest.raises(OSError):
        segment.last_line(fifo)


def test_reading_a_large_journal_does_not_hold_it(tmp_path: Path) -> None:
    """A resume reads its journal a block at a time: a ~8 MB segment is never held whole
    (it was, while every entry it replays was built: a resumed 100k-node run's peak), whether
    the snapshot covers it all but its last lines or the reader takes each entry as it comes."""
    from vibe_aigc.persistence.codec import JsonCodec
    from vibe_aigc.persistence.file.store import FileCheckpointStore
    from vibe_aigc.persistence.records import result_entry

    codec = JsonCodec()
    plan = tmp_path / "big"
    plan.mkdir()
    result = {"node_id": "n", "output": {"pad": "p" * 300}, "status": "completed"}
    with (plan / "journal-000000000000.jsonl").open("wb") as out:
        for seq in range(20_000):
            out.write(codec.encode_line(result_entry("run", "big", "n", result) | {"seq": seq}))
        out.write(bytes(segment.ROOM_MIN))
    store = FileCheckpointStore(tmp_path)
    seen: list[int] = []
    tracemalloc.start()
    try:
        tail = store.read_entries("big", 19_996)
        _, covered_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        every = store.read_entries("big", -1, lambda entry: seen.append(entry["seq"]))
        _, streamed_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [e["seq"] for e in tail.entries] == [19_997, 19_998, 19_999] and tail.damage is None
    assert seen == list(range(20_000)) and every.damage is None and every.warnings == []
    size = (plan / "journal-000000000000.jsonl").stat().st_size
    assert covered_peak < 3 * segment.ROOM_MAX < size // 2, covered_peak
    assert streamed_peak - 20_000 * 100 < 3 * segment.ROOM_MAX, streamed_peak
