"""Preallocated journal segments: the data ends at the first NUL byte, whatever a crash leaves.

A segment of the file store is its data (journal lines) followed by zero room written ahead of
the writer; each batch is written in place into the room and made durable with fdatasync. A
crash (power loss) can leave the batch in flight torn: some of its pages on disk, others still
zeros, in any order (the disk persists 512-byte sectors at worst). Must hold:

* an acknowledged batch is never lost, and the reader never reports damage for what a torn
  append leaves in the newest segment (dropped with a warning); in an older segment the same
  bytes are damage, reported as such;
* the next process never appends after stale bytes: it cuts them first, and everything reads
  back (also after a rotation makes that segment an older one);
* a disk that fills up while room is made raises ``CheckpointWriteError`` before anything
  recorded is lost;
* a finished run's segments keep their data only (no room left behind);
* kill -9 of a real durable run, then resume: no recorded completion runs again, outputs
  equal an uninterrupted run's.

Segments are written through the store (``append_journal``) and damaged by hand, as a crash
would leave them; the "crashed" store is simply never used again, a fresh one reads.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from reliability_kit import (
    CHAOS_PLAN_ID,
    RUNNER,
    LedgerExecutor,
    build_chaos_plan,
    durable_record,
    python,
    read_ledger,
)

from vibe_aigc import ExecutionStatus, MetaPlanner
from vibe_aigc.errors import CheckpointCorruptError, CheckpointEncodeError, CheckpointWriteError
from vibe_aigc.persistence import FileCheckpointStore, JsonCodec, WorkflowPersistenceManager
from vibe_aigc.persistence.codec import Codec
from vibe_aigc.persistence.records import Record

PLAN = "plan-z"
SECTOR = 512
CODEC = JsonCodec()


def segment_path(root: Path, start: int = 0) -> Path:
    return root / PLAN / f"journal-{start:012d}.jsonl"


def data_of(path: Path) -> bytes:
    return path.read_bytes().split(b"\0", 1)[0]


def records(first: int, count: int, size: int = 40) -> list[Record]:
    return [{"seq": first + i, "node_id": f"n{first + i}", "x": "y" * size} for i in range(count)]


def seqs(found: list[Record]) -> list[int]:
    return [r["seq"] for r in found]


def crashed_store(root: Path, batches: list[list[Record]]) -> Path:
    """Append ``batches`` (acknowledged) through a store that then "crashes": it is left
    open and never used again. Returns the newest segment (without batches: the empty one
    a writer creates before its first append)."""
    store = FileCheckpointStore(root)
    for batch in batches:
        store.append_journal(PLAN, batch)
    if not batches:
        segment_path(root).parent.mkdir(parents=True)
        segment_path(root).write_bytes(b"")
    return max((root / PLAN).glob("journal-*.jsonl"))


def in_flight(path: Path, batch: list[Record]) -> tuple[bytearray, int]:
    """The segment's bytes with ``batch`` written at the end of its data, as the writer
    would (room extended when it does not fit), and where the batch starts."""
    raw = bytearray(path.read_bytes())
    end = raw.find(b"\0") if 0 in raw else len(raw)
    pending = b"".join(CODEC.encode_line(r) for r in batch)
    if end + len(pending) > len(raw):
        raw.extend(bytes(end + len(pending) + 8192 - len(raw)))
    raw[end : end + len(pending)] = pending
    return raw, end


def read_fresh(root: Path) -> tuple[list[Record], list[str]]:
    return FileCheckpointStore(root).read_journal(PLAN)


# ---------------------------------------------------------------------- the layout


def test_a_segment_has_zero_room_after_its_data_and_closing_cuts_it(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path)
    store.append_journal(PLAN, records(0, 3))
    store.append_journal(PLAN, records(3, 2))
    path = segment_path(tmp_path)
    raw = path.read_bytes()
    data = data_of(path)
    assert data.count(b"\n") == 5 and data.endswith(b"\n")
    assert len(raw) > len(data) and not raw[len(data) :].strip(b"\0")  # room: zeros
    assert seqs(read_fresh(tmp_path)[0]) == [0, 1, 2, 3, 4]
    store.close_journal(PLAN)
    assert path.read_bytes() == data  # the unused room is gone
    store.append_journal(PLAN, records(5, 1))  # reopened: room again, the data goes on
    assert len(path.read_bytes()) > len(data_of(path)) > len(data)
    assert read_fresh(tmp_path) == (records(0, 6), [])


def test_a_batch_larger_than_the_room_extends_it(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path)
    store.append_journal(PLAN, records(0, 1))
    path = segment_path(tmp_path)
    room = len(path.read_bytes())
    big = records(1, 4, size=room)  # about four times the room in one batch
    store.append_journal(PLAN, big)
    store.append_journal(PLAN, records(5, 2))
    assert len(data_of(path)) > 4 * room
    assert read_fresh(tmp_path) == (records(0, 1) + big + records(5, 2), [])


def dirtied_bytes() -> int:
    """Bytes this process sent (or will send) to the disk, counted as pages are dirtied."""
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("write_bytes"))


def test_an_append_in_place_dirties_about_one_page(tmp_path: Path) -> None:
    """Room made by large writes would sit in large page-cache folios, and each small append
    would dirty (and its fdatasync write) a whole folio: up to 1 MiB per record."""
    store = FileCheckpointStore(tmp_path)
    store.append_journal(PLAN, records(0, 1))
    count = 300
    before = dirtied_bytes()
    for seq in range(1, count + 1):
        store.append_journal(PLAN, records(seq, 1, size=300))  # ~390-byte lines
    per_append = (dirtied_bytes() - before) / count
    # one page per append (two when a line crosses a page), plus the room made meanwhile
    assert per_append < 3 * 4096, per_append
    assert read_fresh(tmp_path)[0] == records(0, 1) + [
        r for seq in range(1, count + 1) for r in records(seq, 1, size=300)
    ]


async def test_a_finished_run_leaves_no_room_behind(tmp_path: Path) -> None:
    """Trims rotate segments after each snapshot; each one done with, and the newest at the
    lease's release, keeps its data only."""
    plan = build_chaos_plan(5, total=30, plan_id=PLAN)
    planner = MetaPlanner(
        executor=LedgerExecutor(None, scale=0.0), checkpoint_dir=tmp_path, checkpoint_interval=4
    )
    result = await planner.execute_with_resume(plan)
    assert result.status == ExecutionStatus.COMPLETED
    segments = sorted((tmp_path / PLAN).glob("journal-*.jsonl"))
    assert segments
    for path in segments:
        raw = path.read_bytes()
        assert b"\0" not in raw and raw.endswith(b"\n"), (path.name, len(raw))


def test_a_codec_line_with_a_nul_byte_is_refused(tmp_path: Path) -> None:
    class NulCodec(JsonCodec):
        def encode_line(self, record: Record) -> bytes:
            return super().encode_line(record).replace(b'"seq"', b'"s\0eq"')

    codec: Codec = NulCodec()
    store = FileCheckpointStore(tmp_path, codec=codec)
    with pytest.raises(CheckpointEncodeError, match="NUL"):
        store.append_journal(PLAN, records(0, 1))
    assert store.read_journal(PLAN) == ([], [])


# ---------------------------------------------------------------------- torn appends


def test_zeros_in_the_middle_of_the_last_record(tmp_path: Path) -> None:
    path = crashed_store(tmp_path, [records(0, 3)])
    raw, start = in_flight(path, records(3, 1, size=1500))
    gap_to = (start + 100) // SECTOR * SECTOR + SECTOR  # a sector of its middle: not on disk
    assert gap_to < start + 1500
    raw[start + 100 : gap_to] = bytes(gap_to - start - 100)
    path.write_bytes(bytes(raw))
    found, warnings = read_fresh(tmp_path)
    assert found == records(0, 3)
    assert len(warnings) == 1 and str(path) in warnings[0]
    assert "torn last line" in warnings[0] and "only some pages" in warnings[0]


def test_stale_bytes_after_a_zero_gap(tmp_path: Path) -> None:
    """The batch's later pages reached the disk, an earlier one did not: whole lines after
    the gap are not records (they follow a hole)."""
    path = crashed_store(tmp_path, [records(0, 2)])
    raw, start = in_flight(path, records(2, 30, size=100))
    gap_from = start + 10
    gap_to = (gap_from // SECTOR + 2) * SECTOR  # up to a sector boundary
    raw[gap_from:gap_to] = bytes(gap_to - gap_from)
    path.write_bytes(bytes(raw))
    found, warnings = read_fresh(tmp_path)
    assert found == records(0, 2)
    assert len(warnings) == 1 and f"bytes from offset {gap_to}" in warnings[0]


def test_a_record_cut_at_every_offset(tmp_path: Path) -> None:
    """The in-flight batch persisted up to any byte, zeros after (or the file ends there):
    the acknowledged records and the whole lines before the cut, never damage."""
    acked = records(0, 2)
    batch = records(2, 3, size=20)
    path = crashed_store(tmp_path, [acked])
    raw, start = in_flight(path, batch)
    pending = b"".join(CODEC.encode_line(r) for r in batch)
    ends = [start + i + 1 for i, byte in enumerate(pending) if byte == 10]
    for cut in range(start, start + len(pending) + 1):
        for image in (raw[:cut] + bytes(len(raw) - cut), raw[:cut]):
            path.write_bytes(bytes(image))
            found, warnings = read_fresh(tmp_path)
            whole = sum(1 for e in ends if e <= cut)
            assert found == acked + batch[:whole], cut
            torn = cut not in (start, *ends)
            assert len(warnings) == (1 if torn else 0), (cut, warnings)


def test_a_zero_byte_inside_the_data_is_damage_not_a_torn_append(tmp_path: Path) -> None:
    """Zeros giving way to data off a sector boundary: no torn append leaves that."""
    path = crashed_store(tmp_path, [records(0, 4)])
    raw = bytearray(path.read_bytes())
    second = raw.index(b"\n") + 1
    spot = second + 7 if (second + 8) % SECTOR else second + 9
    raw[spot] = 0  # one byte gone bad in record 1
    path.write_bytes(bytes(raw))
    with pytest.raises(CheckpointCorruptError, match="line 2: a zero byte at offset"):
        read_fresh(tmp_path)
    found = FileCheckpointStore(tmp_path).read_entries(PLAN)
    assert found.entries == records(0, 1) and found.damage is not None


def test_zeros_then_data_in_an_older_segment_is_damage(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path)
    store.append_journal(PLAN, records(0, 2))
    store.rotate_journal(PLAN, 2)
    store.append_journal(PLAN, records(2, 1))
    old = segment_path(tmp_path)
    data = old.read_bytes()
    assert b"\0" not in data  # rotation cut it to its data
    # zero room left after the data is a clean end in an older segment too
    old.write_bytes(data + bytes(3 * SECTOR))
    assert read_fresh(tmp_path) == (records(0, 3), [])
    # ... but bytes after a zero gap are damage there
    stale = CODEC.encode_line(records(9, 1)[0])
    old.write_bytes(data + bytes(2 * SECTOR - len(data) % SECTOR) + stale)
    with pytest.raises(CheckpointCorruptError, match="line 3: bytes at offset"):
        read_fresh(tmp_path)
    # ... and so is a line cut by zeros
    old.write_bytes(data[:-5] + bytes(SECTOR))
    with pytest.raises(CheckpointCorruptError, match=r"line 2: incomplete line .*cut by zero"):
        read_fresh(tmp_path)


# ---------------------------------------------------------------------- the next process


def torn_segment(root: Path, line_cut: bool) -> tuple[Path, list[Record]]:
    """A crashed writer's newest segment: acknowledged records, then a torn append (a zero
    gap, cutting a line or right after the last acknowledged one, then stale bytes that
    reached the disk), then zeros."""
    acked = records(0, 3)
    path = crashed_store(root, [acked])
    raw, start = in_flight(path, records(3, 40, size=60))
    gap_from = start + 30 if line_cut else start
    gap_to = (start // SECTOR + 2) * SECTOR  # a sector boundary, inside the batch
    raw[gap_from:gap_to] = bytes(gap_to - gap_from)
    path.write_bytes(bytes(raw))
    assert read_fresh(root)[0] == acked
    return path, acked


@pytest.mark.parametrize("line_cut", [True, False])
def test_the_next_process_cuts_stale_bytes_before_it_appends(
    tmp_path: Path, line_cut: bool
) -> None:
    path, acked = torn_segment(tmp_path, line_cut)
    store = FileCheckpointStore(tmp_path)
    new = records(50, 2)
    store.append_journal(PLAN, new)
    assert read_fresh(tmp_path) == (acked + new, [])
    raw = path.read_bytes()
    data = data_of(path)
    assert not raw[len(data) :].strip(b"\0"), "stale bytes survived after the new data"
    # once a newer segment starts, the repaired one is an older one: still no damage
    store.rotate_journal(PLAN, 60)
    store.append_journal(PLAN, records(60, 1))
    assert read_fresh(tmp_path) == (acked + new + records(60, 1), [])


@pytest.mark.parametrize("line_cut", [True, False])
def test_a_rotation_after_a_torn_append_seals_the_segment(tmp_path: Path, line_cut: bool) -> None:
    path, acked = torn_segment(tmp_path, line_cut)
    store = FileCheckpointStore(tmp_path)
    store.rotate_journal(PLAN, 50)  # the torn segment becomes an older one
    assert path.read_bytes() == data_of(path) == b"".join(CODEC.encode_line(r) for r in acked)
    store.append_journal(PLAN, records(50, 1))
    assert read_fresh(tmp_path) == (acked + records(50, 1), [])


async def test_a_run_resumes_over_a_torn_segment(tmp_path: Path) -> None:
    """A real resume: the newest segment of an interrupted run holds a torn append."""
    plan = build_chaos_plan(9, total=24, plan_id=PLAN)
    reference = await LedgerExecutor(None, scale=0.0).execute(plan)
    ledger = tmp_path / "ledger.txt"
    cps = tmp_path / "cps"
    first = await MetaPlanner(
        executor=LedgerExecutor(str(ledger), scale=0.0), checkpoint_dir=cps
    ).execute_with_resume(plan)
    assert first.status == ExecutionStatus.COMPLETED
    manager = WorkflowPersistenceManager(cps)
    newest = max(manager.latest_checkpoint_ids(PLAN))
    (cps / PLAN / f"{newest}.json").unlink()  # "crashed" before the final snapshot
    path = max((cps / PLAN).glob("journal-*.jsonl"))
    raw = bytearray(path.read_bytes())
    lines = raw.count(b"\n")
    assert lines >= 4
    cut = [i for i, b in enumerate(raw) if b == 10][lines - 3] + 5  # into the 3rd last line
    tail = bytes(raw[cut:])
    gap = (cut // SECTOR + 1) * SECTOR
    image = bytes(raw[:cut]) + bytes(gap - cut) + tail[gap - cut :] + bytes(3 * SECTOR)
    path.write_bytes(image)
    recorded = {str(r["node_id"]) for r in manager.read_journal(PLAN)[0] if r.get("node_id")}
    before = len(read_ledger(ledger))
    again = await MetaPlanner(
        executor=LedgerExecutor(str(ledger), scale=0.0), checkpoint_dir=cps
    ).execute_with_resume(plan)
    assert again.status == ExecutionStatus.COMPLETED
    assert {k: v.output for k, v in again.node_results.items()} == {
        k: v.output for k, v in reference.node_results.items()
    }
    rerun = {e.node_id for e in read_ledger(ledger)[before:] if e.event == "start"}
    assert not rerun & recorded, sorted(rerun & recorded)
    found = manager.read_entries(PLAN)
    assert found.damage is None and found.warnings == []


# ---------------------------------------------------------------------- a full disk


def zeros_fail(real: Callable[..., int], code: int) -> Callable[..., int]:
    """``os.pwrite`` that refuses to write zero room (the data itself goes through)."""

    def fake(fd: int, data: Any, offset: int) -> int:
        if len(data) and bytes(data).count(0) == len(data):
            raise OSError(code, os.strerror(code))
        return int(real(fd, data, offset))

    return fake


def test_disk_full_while_making_a_new_segments_room(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = FileCheckpointStore(tmp_path)
    monkeypatch.setattr(os, "pwrite", zeros_fail(os.pwrite, errno.ENOSPC))
    with pytest.raises(CheckpointWriteError) as info:
        store.append_journal(PLAN, records(0, 2))
    monkeypatch.undo()
    assert isinstance(info.value.cause, OSError) and info.value.cause.errno == errno.ENOSPC
    assert info.value.path == str(tmp_path / PLAN)
    assert segment_path(tmp_path).read_bytes() == b""  # the half-made room is gone
    assert read_fresh(tmp_path) == ([], [])
    store.append_journal(PLAN, records(0, 2))  # space again
    assert read_fresh(tmp_path) == (records(0, 2), [])


@pytest.mark.parametrize("step", ["zeros", "fsync"])
def test_disk_full_at_the_extension_point(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    """A batch that does not fit the room extends it; the disk refuses: the error comes
    before anything recorded is lost, and the segment holds exactly the recorded data."""
    store = FileCheckpointStore(tmp_path)
    acked = records(0, 3)
    store.append_journal(PLAN, acked)
    path = segment_path(tmp_path)
    data = data_of(path)
    room = len(path.read_bytes()) - len(data)
    if step == "zeros":
        monkeypatch.setattr(os, "pwrite", zeros_fail(os.pwrite, errno.ENOSPC))
    else:
        real = os.fsync

        def fsync(fd: int) -> None:
            if os.fstat(fd).st_size > len(data) + room:  # the extended segment's sync
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            real(fd)

        monkeypatch.setattr(os, "fsync", fsync)
    with pytest.raises(CheckpointWriteError) as info:
        store.append_journal(PLAN, records(3, 2, size=room))
    monkeypatch.undo()
    assert isinstance(info.value.cause, OSError) and info.value.cause.errno == errno.ENOSPC
    assert path.read_bytes() == data
    assert read_fresh(tmp_path) == (acked, [])
    store.append_journal(PLAN, records(5, 1))  # space again: appends go on from the data
    assert read_fresh(tmp_path) == (acked + records(5, 1), [])


# ---------------------------------------------------------------------- any crash point


@st.composite
def crashes(draw: st.DrawFn) -> tuple[list[list[Record]], list[Record], Any, int | None]:
    """(acknowledged batches, the batch in flight, which of its sectors reached the disk,
    where the file ends (None: its size was kept))."""
    seq = 0
    batches: list[list[Record]] = []
    for _ in range(draw(st.integers(0, 5))):
        count = draw(st.integers(1, 6))
        size = draw(st.sampled_from([0, 30, 200, 900, 5000]))
        batches.append(records(seq, count, size))
        seq += count
    flight = records(seq, draw(st.integers(1, 12)), draw(st.sampled_from([0, 50, 700, 3000])))
    persisted = draw(st.lists(st.booleans(), min_size=1, max_size=200))
    ends = draw(st.none() | st.floats(0, 1))
    return batches, flight, persisted, None if ends is None else int(ends * 10**6)


@settings(
    max_examples=int(os.environ.get("VIBE_FUZZ_EXAMPLES", "60")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(crash=crashes())
def test_any_crash_point_reads_back_every_acknowledged_record(
    tmp_path_factory: pytest.TempPathFactory, crash: Any
) -> None:
    """For any sequence of batches and any crash during the next one (each of its sectors on
    disk or not, the file's size cut anywhere after the acknowledged data): the reader returns
    every acknowledged record, then a prefix of the batch in flight, never damage; and the
    next process appends after exactly that and reads it all back."""
    batches, flight, persisted, size_cut = crash
    root = tmp_path_factory.mktemp("crash")
    acked = [r for b in batches for r in b]
    path = crashed_store(root, batches)
    raw, start = in_flight(path, flight)
    end = start + sum(len(CODEC.encode_line(r)) for r in flight)
    first_sector = start // SECTOR
    for index in range(first_sector, -(-end // SECTOR)):
        if not persisted[(index - first_sector) % len(persisted)]:
            lo, hi = max(start, index * SECTOR), min(end, (index + 1) * SECTOR)
            raw[lo:hi] = bytes(hi - lo)
    if size_cut is not None:
        raw = raw[: start + size_cut % (len(raw) - start + 1)]
    path.write_bytes(bytes(raw))

    found, _ = read_fresh(root)  # never raises: a torn append is not damage
    assert found[: len(acked)] == acked
    assert found[len(acked) :] == flight[: len(found) - len(acked)]
    next_seq = flight[-1]["seq"] + 1
    FileCheckpointStore(root).append_journal(PLAN, records(next_seq, 2))
    assert read_fresh(root) == (found + records(next_seq, 2), [])


# ---------------------------------------------------------------------- kill -9


def spawn(cps: Path, ledger: Path, seed: int, nodes: int, interval: int | None) -> Any:
    args = [python(), str(RUNNER), str(cps), str(ledger), str(seed), "--nodes", str(nodes)]
    args += ["--scale", "0.2", "--concurrency", "3"]
    if interval is not None:
        args += ["--interval", str(interval)]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("interval", [None, 5])
def test_kill_9_mid_run_with_preallocated_segments_then_resume(
    tmp_path: Path, interval: int | None
) -> None:
    seed, nodes = 31, 80
    plan = build_chaos_plan(seed, total=nodes)
    reference = asyncio.run(LedgerExecutor(None, scale=0.0).execute(plan))
    expected = {k: v.output for k, v in reference.node_results.items()}
    cps, ledger = tmp_path / "cps", tmp_path / "ledger.txt"
    proc = spawn(cps, ledger, seed, nodes, interval)
    # while it runs, its newest segment has zero room after its data
    deadline = time.monotonic() + 60
    seen_room = False
    while not seen_room and proc.poll() is None:
        assert time.monotonic() < deadline, "the runner made no progress"
        for path in (cps / CHAOS_PLAN_ID).glob("journal-*.jsonl") if cps.exists() else []:
            raw = path.read_bytes()
            seen_room = seen_room or (b"\n" in raw and raw.endswith(b"\0"))
        time.sleep(0.002)
    while proc.poll() is None and sum(e.event == "done" for e in read_ledger(ledger)) < 25:
        assert time.monotonic() < deadline, "the runner made no progress"
        time.sleep(0.002)
    assert proc.poll() is None, "finished before the kill: make the plan slower"
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert seen_room

    record = durable_record(cps, CHAOS_PLAN_ID)
    assert record.outputs and not record.quarantined
    for node_id, output in record.outputs.items():
        assert output == expected[node_id], node_id
    WorkflowPersistenceManager(cps).read_journal(CHAOS_PLAN_ID)  # no damage

    before = len(read_ledger(ledger))
    again = spawn(cps, ledger, seed, nodes, interval)
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    final = json.loads(out.strip().splitlines()[-1])
    assert final["status"] == "completed" and final["resumed_from"] is not None
    assert final["outputs"] == expected
    rerun = {e.node_id for e in read_ledger(ledger)[before:] if e.event == "start"}
    assert not rerun & set(record.outputs), sorted(rerun & set(record.outputs))
    for path in (cps / CHAOS_PLAN_ID).glob("journal-*.jsonl"):
        assert b"\0" not in path.read_bytes(), f"{path.name} kept its room after the run"
