"""The one contract suite of the store contract (``vibe_aigc.persistence.store.Store``).

Every test runs against the file store, the SQLite store and the PostgreSQL store (a real
throwaway server, see ``pgcluster.py``) and uses only the contract: ``open_store(url)``, the
``Store`` and ``Lease`` protocols, ``JournalRead`` and the blob store. The one thing the
contract cannot do is damage its own data, so each backend supplies a ``tamper_*`` helper that
edits the stored bytes the way a person or a broken disk would.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store_records import entry, record
from strategies import json_values
from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointEncodeError,
    CheckpointLockedError,
    CheckpointNotFoundError,
    CheckpointWriteError,
    InvalidIdError,
)
from vibe_aigc.persistence import BlobStore, Lease, Store, new_checkpoint_id, open_store
from vibe_aigc.persistence.store import JournalRead

if TYPE_CHECKING:
    from store_backends import Backend, Edit

pytest_plugins = ("pgcluster", "store_backends")


def seqs(found: JournalRead) -> list[int]:
    return [e["seq"] for e in found.entries]


# ---------------------------------------------------------------------- protocol


def test_protocols_are_satisfied(store: Store) -> None:
    assert isinstance(store, Store)
    assert isinstance(store.blobs, BlobStore)
    assert isinstance(store.url, str) and store.url
    lease = store.lease("plan-a")
    assert isinstance(lease, Lease)
    assert lease.plan_id == "plan-a" and not lease.held
    with lease as entered:
        assert entered is lease and lease.held
    assert not lease.held


def test_nothing_stored_yet(store: Store) -> None:
    assert store.plan_ids() == []
    assert store.snapshot_ids("plan-a") == []
    found = store.read_entries("plan-a")
    assert found.entries == [] and found.damage is None
    assert store.blobs.digests("plan-a") == []


# ---------------------------------------------------------------------- snapshots


def test_snapshot_round_trip_exact(store: Store) -> None:
    rec = record(extra_key={"nested": [1, 2.5, -0.0, True, None, "ü", 2**60]})
    with store.lease("plan-a") as lease:
        store.write_snapshot(lease, rec)
    assert store.read_snapshot(rec["checkpoint_id"]) == rec
    assert store.read_snapshot(rec["checkpoint_id"], "plan-a") == rec
    assert store.snapshot_ids("plan-a") == [rec["checkpoint_id"]]
    assert store.plan_ids() == ["plan-a"]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(extra=st.dictionaries(st.text(max_size=8), json_values, max_size=4), output=json_values)
def test_snapshot_round_trip_json_values(store: Store, extra: dict, output: Any) -> None:
    # the codec's own keys (format, schema_version, checksum) are not a record's to set
    reserved = {"format", "schema_version", "checksum"}
    extra = {k: v for k, v in extra.items() if k not in record() and k not in reserved}
    rec = record(node_results={"n1": {"status": "completed", "output": output}}, **extra)
    with store.lease("plan-a") as lease:
        store.write_snapshot(lease, rec)
    assert store.read_snapshot(rec["checkpoint_id"], "plan-a") == rec


def test_overwrite_same_id(store: Store) -> None:
    rec = record()
    with store.lease("plan-a") as lease:
        store.write_snapshot(lease, rec)
        store.write_snapshot(lease, {**rec, "state": "completed", "pending_nodes": []})
    assert store.read_snapshot(rec["checkpoint_id"])["state"] == "completed"
    assert store.snapshot_ids("plan-a") == [rec["checkpoint_id"]]


def test_read_by_id_with_and_without_plan(store: Store) -> None:
    a, b = record("plan-a"), record("plan-b")
    with store.lease("plan-a") as la, store.lease("plan-b") as lb:
        store.write_snapshot(la, a)
        store.write_snapshot(lb, b)
    assert store.read_snapshot(b["checkpoint_id"]) == b
    assert store.read_snapshot(a["checkpoint_id"], "plan-a") == a
    with pytest.raises(CheckpointNotFoundError):
        store.read_snapshot(b["checkpoint_id"], "plan-a")
    assert store.plan_ids() == ["plan-a", "plan-b"]


def test_not_found(store: Store) -> None:
    with pytest.raises(CheckpointNotFoundError) as info:
        store.read_snapshot("cp-doesnotexist")
    assert "cp-doesnotexist" in str(info.value)
    with pytest.raises(CheckpointNotFoundError):
        store.read_snapshot("cp-doesnotexist", "plan-a")
    with store.lease("plan-a") as lease:
        assert store.delete_snapshot(lease, "cp-doesnotexist") is False


def test_snapshot_ids_newest_first(store: Store) -> None:
    ids = [new_checkpoint_id() for _ in range(5)]
    with store.lease("plan-a") as lease:
        for checkpoint_id in (ids[2], ids[0], ids[4], ids[1], ids[3]):
            store.write_snapshot(lease, record(checkpoint_id=checkpoint_id))
    assert store.snapshot_ids("plan-a") == ids[::-1]


def test_delete_snapshot(store: Store) -> None:
    first, second = record(), record()
    with store.lease("plan-a") as lease:
        store.write_snapshot(lease, first)
        store.write_snapshot(lease, second)
        assert store.delete_snapshot(lease, first["checkpoint_id"]) is True
        assert store.delete_snapshot(lease, first["checkpoint_id"]) is False
    assert store.snapshot_ids("plan-a") == [second["checkpoint_id"]]
    with pytest.raises(CheckpointNotFoundError):
        store.read_snapshot(first["checkpoint_id"])


def test_snapshot_of_another_plan_is_refused(store: Store) -> None:
    with store.lease("plan-a") as lease, pytest.raises(CheckpointWriteError):
        store.write_snapshot(lease, record("plan-b"))
    assert "plan-b" not in store.plan_ids()
    assert store.snapshot_ids("plan-a") == store.snapshot_ids("plan-b") == []


def test_non_json_snapshot_is_refused_and_nothing_written(store: Store) -> None:
    with store.lease("plan-a") as lease, pytest.raises(CheckpointEncodeError):
        store.write_snapshot(lease, record(extra={"bytes": b"\x00"}))
    assert store.snapshot_ids("plan-a") == []


@pytest.mark.parametrize(
    "edit",
    [
        lambda data: data.replace(b'"running"', b'"failed"'),  # hand-edited, still JSON
        lambda data: data[: len(data) // 2],  # torn
        lambda data: b"\x00\xff garbage",
    ],
    ids=["hand-edited", "torn", "garbage"],
)
def test_damaged_snapshot_is_corrupt_never_a_wrong_load(
    backend: Backend, store: Store, edit: Edit
) -> None:
    rec = record()
    with store.lease("plan-a") as lease:
        store.write_snapshot(lease, rec)
    backend.tamper_snapshot("plan-a", rec["checkpoint_id"], edit)
    with pytest.raises(CheckpointCorruptError):
        store.read_snapshot(rec["checkpoint_id"], "plan-a")
    assert store.snapshot_ids("plan-a") == [rec["checkpoint_id"]]  # listed, not decoded


# ---------------------------------------------------------------------- journal


def test_entries_append_and_read_after_seq(store: Store) -> None:
    with store.lease("plan-a") as lease:
        store.append_entries(lease, [entry(0), entry(1)])
        store.append_entries(lease, [entry(2)])
        store.append_entries(lease, [])
        store.append_entries(lease, [entry(5), entry(7), entry(8)])
    found = store.read_entries("plan-a")
    assert found.entries == [entry(s) for s in (0, 1, 2, 5, 7, 8)]
    assert found.damage is None and found.warnings == []
    assert seqs(store.read_entries("plan-a", 2)) == [5, 7, 8]
    assert seqs(store.read_entries("plan-a", 6)) == [7, 8]
    assert store.read_entries("plan-a", 8).entries == []
    assert store.read_entries("plan-b").entries == []
    assert store.plan_ids() == ["plan-a"]
    handed: list[Any] = []  # handed over one by one instead (a resume's replay)
    streamed = store.read_entries("plan-a", 1, handed.append)
    assert handed == [entry(s) for s in (2, 5, 7, 8)] and streamed.entries == []


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    outputs=st.lists(json_values, min_size=1, max_size=12),
    cut=st.integers(1, 12),
)
def test_entries_round_trip_json_values(store: Store, outputs: list[Any], cut: int) -> None:
    start = store.read_entries("plan-a").entries
    base = start[-1]["seq"] + 1 if start else 0
    batch = [
        {"seq": base + i, "run_id": "r", "plan_id": "plan-a", "node_id": "n", "result": out}
        for i, out in enumerate(outputs)
    ]
    with store.lease("plan-a") as lease:
        store.append_entries(lease, batch[:cut])  # two batches, each one transaction
        store.append_entries(lease, batch[cut:])
    assert store.read_entries("plan-a", base - 1).entries == batch


@pytest.mark.parametrize(
    "batch",
    [[3, 2], [1, 1], [-1], [True]],
    ids=["decreasing", "repeated", "negative", "bool"],
)
def test_bad_batches_are_refused_whole(store: Store, batch: list[Any]) -> None:
    with store.lease("plan-a") as lease:
        store.append_entries(lease, [entry(0)])
        with pytest.raises(CheckpointEncodeError):
            store.append_entries(lease, [{**entry(9), "seq": s} for s in batch])
    assert seqs(store.read_entries("plan-a")) == [0]


def test_seq_must_be_above_every_stored_seq(request: pytest.FixtureRequest, store: Store) -> None:
    with store.lease("plan-a") as lease:
        store.append_entries(lease, [entry(0), entry(1), entry(2)])
        for stale in (2, 1):
            with pytest.raises(CheckpointEncodeError):
                store.append_entries(lease, [entry(stale, node="other")])
        store.trim_entries(lease, 2)
        with pytest.raises(CheckpointEncodeError):
            store.append_entries(lease, [entry(1, node="other")])
    found = store.read_entries("plan-a")
    assert found.damage is None and found.entries[-1] == entry(2)
    assert all(e["node_id"] != "other" for e in found.entries)


def test_trim_keeps_the_highest_seq_known(store: Store) -> None:
    with store.lease("plan-a") as lease:
        store.append_entries(lease, [entry(s) for s in range(10)])
        store.trim_entries(lease, 4)
        assert seqs(store.read_entries("plan-a", 4)) == [5, 6, 7, 8, 9]
        store.trim_entries(lease, 9)
        everything = store.read_entries("plan-a")
        assert everything.damage is None and everything.entries[-1] == entry(9)
        assert store.read_entries("plan-a", 9).entries == []
        store.append_entries(lease, [entry(10)])
    assert store.read_entries("plan-a", 9).entries == [entry(10)]


def test_discard_entries_sets_a_tail_aside(store: Store) -> None:
    with store.lease("plan-a") as lease:
        store.append_entries(lease, [entry(s) for s in range(6)])
        set_aside = store.discard_entries(lease, 2)
        assert set_aside and all(isinstance(s, str) for s in set_aside)
        assert store.read_entries("plan-a").entries == [entry(0), entry(1), entry(2)]
        store.append_entries(lease, [entry(3, node="again")])
    found = store.read_entries("plan-a")
    assert found.damage is None
    assert found.entries == [entry(0), entry(1), entry(2), entry(3, node="again")]


@pytest.mark.parametrize(
    "edit",
    [lambda line: line.replace(b'"n2"', b'"n9"'), lambda line: b"{not json"],
    ids=["hand-edited", "garbage"],
)
def test_damaged_entry_stops_the_read(backend: Backend, store: Store, edit: Edit) -> None:
    with store.lease("plan-a") as lease:
        store.append_entries(lease, [entry(s) for s in range(5)])
    backend.tamper_entry("plan-a", 2, edit)
    found = store.read_entries("plan-a")
    assert found.damage is not None
    assert found.entries == [entry(0), entry(1)]
    handed: list[Any] = []
    streamed = store.read_entries("plan-a", -1, handed.append)
    assert handed == [entry(0), entry(1)] and streamed.damage == found.damage
    with store.lease("plan-a") as lease:
        assert store.discard_entries(lease, 1)
        store.append_entries(lease, [entry(2, node="redone")])
    healed = store.read_entries("plan-a")
    assert healed.damage is None
    assert healed.entries == [entry(0), entry(1), entry(2, node="redone")]


# ---------------------------------------------------------------------- ids

HOSTILE_PLAN_IDS = ["../x", "a/b", "", "..", "x\x00y", " plan", "plan\n", "a\\b", 7]
HOSTILE_CHECKPOINT_IDS = ["../cp-1", "cp-../x", "cp-a b", "cp-", "x", "cp-a/b", 5]


@pytest.mark.parametrize("bad", HOSTILE_PLAN_IDS, ids=repr)
def test_hostile_plan_ids_are_refused_before_anything(
    backend: Backend, store: Store, bad: Any
) -> None:
    with store.lease("plan-a"):  # (the file store makes the plan's folder for its lock)
        pass
    plans = store.plan_ids()
    before = sorted(os.listdir(backend.root))
    calls: list[Callable[[], object]] = [
        lambda: store.lease(bad),
        lambda: store.snapshot_ids(bad),
        lambda: store.read_entries(bad),
        lambda: store.read_snapshot("cp-1", bad),
        lambda: store.delete_plan(bad),
        lambda: store.blobs.put(bad, b"x"),
        lambda: store.blobs.digests(bad),
        lambda: store.blobs.remove(bad, set()),
    ]
    for call in calls:
        with pytest.raises(InvalidIdError):
            call()
    with store.lease("plan-a") as lease, pytest.raises(InvalidIdError):
        store.write_snapshot(lease, record(plan_id=bad))
    assert store.plan_ids() == plans
    assert sorted(os.listdir(backend.root)) == before


@pytest.mark.parametrize("bad", HOSTILE_CHECKPOINT_IDS, ids=repr)
def test_hostile_checkpoint_ids_are_refused(store: Store, bad: Any) -> None:
    with pytest.raises(InvalidIdError):
        store.read_snapshot(bad)
    with store.lease("plan-a") as lease:
        with pytest.raises(InvalidIdError):
            store.delete_snapshot(lease, bad)
        with pytest.raises(InvalidIdError):
            store.write_snapshot(lease, record(checkpoint_id=bad))
    assert store.snapshot_ids("plan-a") == []


# ---------------------------------------------------------------------- leases


def test_lease_contention_names_the_holder(
    backend: Backend, store: Store, other_process: subprocess.Popen[str]
) -> None:
    with pytest.raises(CheckpointLockedError) as info:
        store.lease("plan-a").__enter__()
    assert f"pid {other_process.pid}" in str(info.value)
    with pytest.raises(CheckpointLockedError):
        store.delete_plan("plan-a")
    with store.lease("plan-b") as other:  # other plans are free
        store.write_snapshot(other, record("plan-b"))


def test_holder_names_who_holds_the_lease_and_takes_nothing(
    store: Store, other_process: subprocess.Popen[str]
) -> None:
    held = store.holder("plan-a")
    assert held is not None and f"pid {other_process.pid}" in held
    assert store.holder("plan-b") is None  # never leased
    assert store.holder("plan-a") == held  # asking again changes nothing (no token taken)
    with store.lease("plan-b") as lease:
        mine = store.holder("plan-b")
        assert mine is not None and f"pid {os.getpid()}" in mine
        store.append_entries(lease, [entry(0)])  # asking did not get in the writer's way
    assert store.holder("plan-b") is None  # released
    assert "plan-c" not in store.plan_ids() and store.holder("plan-c") is None
    assert "plan-c" not in store.plan_ids()  # asking created nothing


def test_a_holder_killed_with_kill_9_is_nobody(
    backend: Backend, spawn_holder: Callable[[str], subprocess.Popen[str]]
) -> None:
    """The file store sees at once that the holder's process is gone; a database store once
    the lease it can no longer renew has expired (1 s here)."""
    url = backend.url
    if backend.kind != "file":
        url += ("&" if "?" in url else "?") + "lease_seconds=1"
    opened = open_store(url)
    try:
        with spawn_holder(url) as child:
            assert f"pid {child.pid}" in str(opened.holder("plan-a"))
            child.kill()
            child.wait(timeout=30)
        deadline = time.monotonic() + 10
        while opened.holder("plan-a") is not None and time.monotonic() < deadline:
            assert backend.kind != "file", "the file store sees a killed holder at once"
            time.sleep(0.1)
        assert opened.holder("plan-a") is None
        with opened.lease("plan-a") as lease:  # and the plan can be taken
            opened.append_entries(lease, [entry(0)])
    finally:
        opened.close()


def test_one_holder_per_plan_within_a_process(backend: Backend, store: Store) -> None:
    second_store = backend.open()
    try:
        with store.lease("plan-a"):
            for contender in (store, second_store):
                with pytest.raises(CheckpointLockedError) as info:
                    contender.lease("plan-a").__enter__()
                assert f"pid {os.getpid()}" in str(info.value)
        with second_store.lease("plan-a") as lease:  # released: free again
            second_store.append_entries(lease, [entry(0)])
    finally:
        second_store.close()
    assert seqs(store.read_entries("plan-a")) == [0]


def test_released_lease_cannot_write(store: Store) -> None:
    rec = record()
    lease = store.lease("plan-a")
    with lease:
        store.write_snapshot(lease, rec)
        store.append_entries(lease, [entry(0), entry(1)])
        first_token = lease.token
    writes: list[Callable[[], object]] = [
        lambda: store.write_snapshot(lease, record()),
        lambda: store.append_entries(lease, [entry(2)]),
        lambda: store.trim_entries(lease, 1),
        lambda: store.discard_entries(lease, 0),
        lambda: store.delete_snapshot(lease, rec["checkpoint_id"]),
    ]
    for write in writes:
        with pytest.raises(CheckpointLockedError):
            write()
    with store.lease("plan-a") as successor:
        assert successor.token != first_token
        store.append_entries(successor, [entry(2)])
    assert store.snapshot_ids("plan-a") == [rec["checkpoint_id"]]
    assert seqs(store.read_entries("plan-a")) == [0, 1, 2]


# ---------------------------------------------------------------------- plans


def test_delete_plan(store: Store) -> None:
    with store.lease("plan-a") as lease:
        store.write_snapshot(lease, record())
        store.append_entries(lease, [entry(0)])
    store.blobs.put("plan-a", b"\x89PNG\r\n\x1a\n...")
    with store.lease("plan-b") as lease:
        kept = record("plan-b")
        store.write_snapshot(lease, kept)
    removed = store.delete_plan("plan-a")
    assert removed and all(isinstance(r, str) for r in removed)
    assert store.plan_ids() == ["plan-b"]
    assert store.snapshot_ids("plan-a") == []
    assert store.read_entries("plan-a").entries == []
    assert store.blobs.digests("plan-a") == []
    assert store.read_snapshot(kept["checkpoint_id"]) == kept
    assert store.delete_plan("plan-a") == []
    with store.lease("plan-a") as lease:  # usable again, from scratch
        store.append_entries(lease, [entry(0)])


def test_delete_plan_while_this_process_holds_it(store: Store) -> None:
    with store.lease("plan-a") as lease:
        store.write_snapshot(lease, record())
        assert store.delete_plan("plan-a")
    assert store.plan_ids() == []


def test_plan_ids_sorted(store: Store) -> None:
    for plan_id in ("plan-c", "plan-a", "plan-b"):
        with store.lease(plan_id) as lease:
            if plan_id == "plan-b":
                store.append_entries(lease, [entry(0, plan_id)])
            else:
                store.write_snapshot(lease, record(plan_id))
    assert store.plan_ids() == ["plan-a", "plan-b", "plan-c"]


def test_close_and_use_again(backend: Backend, store: Store) -> None:
    with store.lease("plan-a") as lease:
        store.append_entries(lease, [entry(0)])
    store.close()
    with store.lease("plan-a") as lease:
        store.append_entries(lease, [entry(1)])
    reopened = backend.open()
    try:
        assert seqs(reopened.read_entries("plan-a")) == [0, 1]
    finally:
        reopened.close()


# ---------------------------------------------------------------------- blobs

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


def test_blobs_put_get_exists_digests_remove(store: Store) -> None:
    blobs = store.blobs
    ref = blobs.put("plan-a", PNG)
    assert ref["sha256"] == hashlib.sha256(PNG).hexdigest()
    assert ref["media_type"] == "image/png" and ref["bytes"] == len(PNG)
    assert blobs.put("plan-a", PNG)["sha256"] == ref["sha256"]  # stored once
    other = blobs.put("plan-a", b"plain bytes", "application/octet-stream")
    assert blobs.get("plan-a", ref) == PNG
    assert blobs.exists("plan-a", ref) and blobs.exists("plan-a", other)
    assert not blobs.exists("plan-b", ref)  # blobs belong to a plan
    assert not blobs.exists("plan-a", {"sha256": "0" * 64, "media_type": "image/png"})
    assert not blobs.exists("plan-a", "not a ref")
    assert blobs.digests("plan-a") == sorted([ref["sha256"], other["sha256"]])
    removed = blobs.remove("plan-a", keep={ref["sha256"]})
    assert len(removed) == 1 and other["sha256"] in removed[0]
    assert blobs.digests("plan-a") == [ref["sha256"]]
    assert blobs.remove("plan-a", keep=set(), min_age_seconds=3600) == []  # too young
    with pytest.raises(FileNotFoundError):
        blobs.get("plan-a", other)


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.binary(max_size=2048))
def test_blob_round_trip(store: Store, data: bytes) -> None:
    ref = store.blobs.put("plan-a", data)
    assert store.blobs.get("plan-a", ref) == data
    assert ref["sha256"] in store.blobs.digests("plan-a")
