"""What only the SQL stores (SQLite, PostgreSQL) promise, beyond the contract suite.

Migrations and the version table, a database newer than the code, rows edited by hand, lease
expiry and takeover with the fencing token, a paused owner (SIGSTOP) whose lease expired,
URL options, blobs in the database or an artifact folder, a PostgreSQL restart in the middle
of appends, a server that stays away, and copying plans between every pair of stores. Real
databases and real processes only (see ``pgcluster.py`` for the server).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointLockedError,
    ConfigurationError,
    StoreUnavailableError,
    UnsupportedSchemaError,
)
from vibe_aigc.persistence import (
    FileBlobStore,
    Store,
    WorkflowPersistenceManager,
    new_checkpoint_id,
    open_store,
)
from vibe_aigc.persistence.copy import copy_store
from vibe_aigc.persistence.sql.base import SqlStore
from vibe_aigc.persistence.sql.migrations import LATEST

if TYPE_CHECKING:
    from pgcluster import PgCluster

pytest_plugins = ("pgcluster",)

SQL_KINDS = ["sqlite", "postgres"]


class Db:
    """A SQL store's database, also reachable with a plain connection (to inspect or tamper)."""

    def __init__(self, kind: str, url: str) -> None:
        self.kind = kind
        self.url = url

    def open(self, **options: float | str) -> SqlStore:
        query = "&".join(f"{k}={v}" for k, v in options.items())
        store = open_store(f"{self.url}?{query}" if query else self.url)
        assert isinstance(store, SqlStore)
        return store

    def execute(self, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        if self.kind == "sqlite":
            conn = sqlite3.connect(self.url.removeprefix("sqlite://"))
            try:
                with conn:
                    return conn.execute(sql, params).fetchall()
            finally:
                conn.close()
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as pg:
            cur = pg.execute(sql.replace("?", "%s"), params)
            return cur.fetchall() if cur.description is not None else []


@pytest.fixture(params=SQL_KINDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Db:
    if request.param == "sqlite":
        return Db("sqlite", f"sqlite://{tmp_path / 'runs.db'}")
    return Db("postgres", request.getfixturevalue("pg_url"))


@pytest.fixture
def opened(db: Db) -> Iterator[Callable[..., SqlStore]]:
    """Open stores on ``db``; all closed at the end of the test."""
    stores: list[SqlStore] = []

    def open_one(**options: float | str) -> SqlStore:
        stores.append(db.open(**options))
        return stores[-1]

    yield open_one
    for store in stores:
        store.close()


def record(plan_id: str = "plan-a", **extra: Any) -> dict[str, Any]:
    return {
        "checkpoint_id": new_checkpoint_id(),
        "plan_id": plan_id,
        "created_at": "2026-02-05T10:30:00Z",
        "vibe": {"description": "a calm café"},
        "workflow_plan": {"id": plan_id, "root_nodes": []},
        "completed_nodes": ["n1"],
        "node_results": {"n1": {"status": "completed", "output": {"text": "héllo"}}},
        "pending_nodes": [],
        "state": "completed",
        "total_nodes": 1,
        "run_id": "run-1",
        "journal_seq": -1,
        **extra,
    }


def entry(seq: int, who: str = "a") -> dict[str, Any]:
    return {"seq": seq, "run_id": who, "plan_id": "plan-a", "node_id": f"n{seq}", "result": {}}


# ---------------------------------------------------------------------- schema


def test_schema_is_created_once_with_its_versions(db: Db, opened: Callable[..., SqlStore]) -> None:
    opened()
    opened()  # a second open applies nothing again
    rows = db.execute("SELECT version, library FROM vibe_schema ORDER BY version")
    assert rows == [(v, "vibe_aigc") for v in range(1, LATEST + 1)]


def test_database_newer_than_the_code_is_refused(db: Db, opened: Callable[..., SqlStore]) -> None:
    opened()
    db.execute(
        "INSERT INTO vibe_schema (version, applied_at, library) VALUES (?, 0, 'future')",
        (LATEST + 1,),
    )
    with pytest.raises(UnsupportedSchemaError) as info:
        db.open()
    assert info.value.version == LATEST + 1 and info.value.supported == LATEST
    assert "newer vibe-aigc" in str(info.value)


def test_not_a_database_file_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "runs.db"
    path.write_bytes(b"this is not an SQLite database, just text" * 100)
    with pytest.raises(CheckpointCorruptError):
        open_store(f"sqlite://{path}")


def test_hand_edited_and_spliced_rows_are_corrupt(db: Db, opened: Callable[..., SqlStore]) -> None:
    store = opened()
    first, second = record(), record()
    with store.lease("plan-a") as lease:
        store.write_snapshot(lease, first)
        store.write_snapshot(lease, second)
        store.append_entries(lease, [entry(0), entry(1), entry(2)])
    # a person "fixing" a value in place: still JSON, checksum no longer matches
    if db.kind == "sqlite":
        db.execute(
            "UPDATE vibe_snapshots SET data = replace(CAST(data AS TEXT), 'héllo', 'hello') "
            "WHERE checkpoint_id = ?",
            (first["checkpoint_id"],),
        )
    else:
        db.execute(
            "UPDATE vibe_snapshots SET data = convert_to(replace(convert_from(data, 'UTF8'), "
            "'héllo', 'hello'), 'UTF8') WHERE checkpoint_id = ?",
            (first["checkpoint_id"],),
        )
    with pytest.raises(CheckpointCorruptError) as info:
        store.read_snapshot(first["checkpoint_id"])
    assert "checksum mismatch" in str(info.value)
    # a row copied under another id: every byte intact, but not what the id names
    db.execute(
        "UPDATE vibe_snapshots SET data = (SELECT data FROM vibe_snapshots WHERE "
        "checkpoint_id = ?) WHERE checkpoint_id = ?",
        (second["checkpoint_id"], first["checkpoint_id"]),
    )
    with pytest.raises(CheckpointCorruptError) as info:
        store.read_snapshot(first["checkpoint_id"])
    assert "spliced" in str(info.value)
    db.execute(
        "UPDATE vibe_entries SET line = (SELECT line FROM vibe_entries WHERE seq = 2) WHERE seq = 1"
    )
    found = store.read_entries("plan-a")
    assert [e["seq"] for e in found.entries] == [0]
    assert found.damage is not None and "spliced" in found.damage


# ---------------------------------------------------------------------- leases

HOLD = textwrap.dedent(
    """
    import os, sys
    from vibe_aigc.persistence import open_store
    store = open_store(sys.argv[1])
    lease = store.lease("plan-a").__enter__()
    store.append_entries(lease, [{"seq": 0, "plan_id": "plan-a", "run_id": "a"}])
    print(lease.token, flush=True)
    for line in sys.stdin:          # "append <seq>" -> try one write, report; EOF -> exit
        seq = int(line.split()[1])
        try:
            store.append_entries(lease, [{"seq": seq, "plan_id": "plan-a", "run_id": "a"}])
            print("written", flush=True)
        except Exception as exc:
            print(type(exc).__name__ + ": " + str(exc).replace("\\n", " "), flush=True)
    """
)


class Holder:
    """Another process holding plan-a's lease (until killed or its stdin closes)."""

    def __init__(self, url: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", HOLD, url],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        self.stdout, self.stdin = self.proc.stdout, self.proc.stdin
        self.token = int(self.stdout.readline())

    def ask(self, line: str) -> str:
        self.stdin.write(line + "\n")
        self.stdin.flush()
        return self.stdout.readline().strip()

    def close(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
        self.proc.wait(timeout=30)
        self.stdin.close()
        self.stdout.close()


@pytest.fixture
def holders() -> Iterator[Callable[[str], Holder]]:
    started: list[Holder] = []

    def start(url: str) -> Holder:
        started.append(Holder(url))
        return started[-1]

    yield start
    for holder in started:
        holder.close()


def acquire_when_free(store: Store, seconds: float = 60.0) -> Any:
    """The plan's lease once the current holder's lease expired (bounded wait)."""
    deadline = time.monotonic() + seconds
    while True:
        lease = store.lease("plan-a")
        try:
            return lease.__enter__()
        except CheckpointLockedError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_crashed_owner_lease_expires_and_is_taken_over(
    db: Db, opened: Callable[..., SqlStore], holders: Callable[[str], Holder]
) -> None:
    holder = holders(f"{db.url}?lease_seconds=1")
    store = opened(lease_seconds=1)
    with pytest.raises(CheckpointLockedError) as info:
        store.lease("plan-a").__enter__()
    message = str(info.value)
    assert f"pid {holder.proc.pid} on" in message and "expires at" in message
    holder.proc.kill()  # kill -9: no release, the heartbeat stops
    holder.proc.wait(timeout=30)
    lease = acquire_when_free(store)
    try:
        assert lease.token == holder.token + 1
        store.append_entries(lease, [entry(1, "b")])
    finally:
        lease.release()
    assert [e["run_id"] for e in store.read_entries("plan-a").entries] == ["a", "b"]


def test_heartbeat_keeps_a_live_owner_s_lease(
    db: Db, opened: Callable[..., SqlStore], holders: Callable[[str], Holder]
) -> None:
    holder = holders(f"{db.url}?lease_seconds=0.5")
    store = opened(lease_seconds=0.5)
    time.sleep(2.0)  # four lease periods: only the heartbeat keeps it
    with pytest.raises(CheckpointLockedError):
        store.lease("plan-a").__enter__()
    assert holder.ask("append 1") == "written"


def test_paused_owner_whose_lease_expired_cannot_write(
    db: Db, opened: Callable[..., SqlStore], holders: Callable[[str], Holder]
) -> None:
    paused = holders(f"{db.url}?lease_seconds=1")
    store = opened(lease_seconds=1)
    os.kill(paused.proc.pid, signal.SIGSTOP)  # paused: no heartbeat, no writes
    lease = acquire_when_free(store)
    try:
        assert lease.token == paused.token + 1
        store.append_entries(lease, [entry(1, "new-owner")])
        os.kill(paused.proc.pid, signal.SIGCONT)
        answer = paused.ask("append 2")
        assert answer.startswith("CheckpointLockedError")
        assert f"pid {os.getpid()} on" in answer  # names the new holder
        store.append_entries(lease, [entry(2, "new-owner")])
    finally:
        lease.release()
    found = store.read_entries("plan-a")
    assert found.damage is None
    assert [(e["seq"], e["run_id"]) for e in found.entries] == [
        (0, "a"),
        (1, "new-owner"),
        (2, "new-owner"),
    ]


def test_lost_lease_is_seen_by_the_lease(db: Db, opened: Callable[..., SqlStore]) -> None:
    store = opened(lease_seconds=1)
    lease = store.lease("plan-a").__enter__()
    try:
        db.execute("UPDATE vibe_leases SET token = token + 1")  # another owner took over
        with pytest.raises(CheckpointLockedError):
            store.append_entries(lease, [entry(0)])
        assert not lease.held
    finally:
        lease.release()
    assert store.read_entries("plan-a").entries == []


# ---------------------------------------------------------------------- options, blobs


def test_url_options(db: Db, opened: Callable[..., SqlStore], tmp_path: Path) -> None:
    store = opened(lease_seconds=5, artifact_dir=str(tmp_path / "art"))
    assert store.lease_seconds == 5.0
    assert isinstance(store.blobs, FileBlobStore)
    for bad in ("lease_seconds=soon", "lease_seconds=0", "nonsense=1&nonsense=2"):
        if bad.startswith("nonsense") and db.kind == "postgres":
            continue  # other options are libpq's
        with pytest.raises(ConfigurationError):
            open_store(f"{db.url}?{bad}")


def test_blobs_in_the_database_or_the_artifact_folder(
    db: Db,
    opened: Callable[..., SqlStore],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("VIBE_ARTIFACT_DIR", raising=False)
    big = os.urandom((1 << 20) + 1)
    in_db = opened()
    small = in_db.blobs.put("plan-a", b"small")
    assert db.execute("SELECT sha256 FROM vibe_blobs") == [(small["sha256"],)]
    with pytest.raises(ConfigurationError) as info:
        in_db.blobs.put("plan-a", big)
    assert "VIBE_ARTIFACT_DIR" in str(info.value)
    monkeypatch.setenv("VIBE_ARTIFACT_DIR", str(tmp_path / "shared"))
    in_folder = opened()
    ref = in_folder.blobs.put("plan-a", big)
    assert Path(ref["path"]).is_file()
    assert Path(ref["path"]).is_relative_to(tmp_path / "shared")
    assert in_folder.blobs.get("plan-a", ref) == big
    assert in_folder.delete_plan("plan-a")
    assert not (tmp_path / "shared" / "plan-a").exists()


# ---------------------------------------------------------------------- PostgreSQL outages


def test_postgres_restart_mid_append_loses_nothing(pg_cluster: PgCluster, pg_url: str) -> None:
    store = open_store(f"{pg_url}?retry_seconds=60")
    assert isinstance(store, SqlStore)
    written: list[int] = []
    failure: list[BaseException] = []
    warmed_up, restarted = threading.Event(), threading.Event()

    def appender() -> None:
        try:
            with store.lease("plan-a") as lease:
                seq, after_restart = 0, 0
                while after_restart < 20:
                    store.append_entries(lease, [entry(seq)])
                    written.append(seq)
                    seq += 1
                    if seq == 50:
                        warmed_up.set()
                    if restarted.is_set():
                        after_restart += 1
        except BaseException as exc:  # reported below
            failure.append(exc)
            warmed_up.set()

    thread = threading.Thread(target=appender)
    thread.start()
    try:
        assert warmed_up.wait(60)
        pg_cluster.restart_immediate()
        restarted.set()
    finally:
        restarted.set()
        thread.join(120)
    try:
        assert not failure, failure
        assert getattr(store, "retries", 0) > 0  # the outage was seen, and ridden out
        found = store.read_entries("plan-a")
        assert found.damage is None
        assert [e["seq"] for e in found.entries] == written == list(range(len(written)))
    finally:
        store.close()


def test_postgres_that_stays_away_is_unavailable_not_corrupt(
    pg_cluster: PgCluster, pg_url: str
) -> None:
    with socket_port() as port:  # nothing listens there
        url = f"postgresql://vibe@127.0.0.1:{port}/postgres?retry_seconds=1&connect_timeout=2"
        with pytest.raises(StoreUnavailableError) as info:
            open_store(url)
    assert "unreachable for 1 s" in str(info.value)
    assert not isinstance(info.value, CheckpointCorruptError)
    # a store opened while the server was up, then the server goes away: reads and writes
    # say "unavailable", and listing never reports a snapshot as corrupt
    store = open_store(f"{pg_url}?retry_seconds=1&connect_timeout=2")
    manager = WorkflowPersistenceManager(store=store)
    checkpoint_id = manager.save_checkpoint("plan-a", record())
    pg_cluster.stop_server()
    try:
        with pytest.raises(StoreUnavailableError):
            store.read_snapshot(checkpoint_id, "plan-a")
        with pytest.raises(StoreUnavailableError):
            manager.list_checkpoints("plan-a")
        with pytest.raises(StoreUnavailableError):
            store.read_entries("plan-a")
        with pytest.raises(StoreUnavailableError):
            manager.save_checkpoint("plan-a", record())
    finally:
        pg_cluster.start_server()
        store.close()
    assert [c["checkpoint_id"] for c in manager.list_checkpoints("plan-a")] == [checkpoint_id]


@contextlib.contextmanager
def socket_port() -> Iterator[int]:
    """A free 127.0.0.1 port, kept bound (not listening) so nothing else takes it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


# ---------------------------------------------------------------------- copying


def test_copy_between_every_kind_of_store(tmp_path: Path, pg_url: str) -> None:
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(300)
    source = open_store(tmp_path / "files")
    ref = source.blobs.put("plan-a", png)
    kept = record(node_results={"n1": {"status": "completed", "output": {"image": ref}}})
    damaged = record()
    with source.lease("plan-a") as lease:
        source.write_snapshot(lease, kept)
        source.write_snapshot(lease, damaged)
        source.append_entries(lease, [entry(0), entry(1)])
    with source.lease("plan-b") as lease:
        source.write_snapshot(lease, record("plan-b"))
    path = tmp_path / "files" / "plan-a" / f"{damaged['checkpoint_id']}.json"
    path.write_bytes(path.read_bytes().replace(b"completed", b"complete!", 1))

    chain = [source, open_store(f"sqlite://{tmp_path / 'a.db'}"), open_store(pg_url)]
    chain.append(open_store(tmp_path / "back"))
    try:
        for src, dst in itertools.pairwise(chain):
            report = copy_store(src, dst)
            assert len(report.problems) == (1 if src is source else 0), report.summary()
            assert report.plans == ["plan-a", "plan-b"]
            assert report.snapshots == 2 and report.entries == 2 and report.blobs == 1
            assert copy_store(src, dst).entries == 0  # again: nothing twice
        assert len(copy_store(chain[0], chain[1], ["plan-a"]).problems) == 1  # the damaged one
        final = chain[-1]
        assert final.snapshot_ids("plan-a") == [kept["checkpoint_id"]]
        assert final.read_snapshot(kept["checkpoint_id"]) == kept
        assert final.read_entries("plan-a").entries == [entry(0), entry(1)]
        assert final.blobs.get("plan-a", ref) == png
    finally:
        for store in chain:
            store.close()
