"""Whole runs on the database stores, not just appends.

* PostgreSQL restarted (``pg_ctl restart -m immediate``) in the middle of a run through
  ``MetaPlanner(store=url)`` with slow nodes: the run rides the outage out (its writes retry
  with backoff), completes, and loses no completion: every node ran exactly once, the outputs
  equal the uninterrupted run's, and the database records every node.
* Two machines simulated as two processes with the same URL (SQLite and PostgreSQL): exactly
  one runs the plan; the other gets CheckpointLockedError naming the holder, and runs nothing.
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from reliability_kit import (
    CHAOS_PLAN_ID,
    LedgerExecutor,
    build_chaos_plan,
    durable_record_in,
    read_ledger,
)
from test_concurrency import reference, round_of

from vibe_aigc import EventKind, ExecutionStatus, MetaPlanner, ProgressEvent

if TYPE_CHECKING:
    from pgcluster import PgCluster

pytest_plugins = ("pgcluster",)


async def test_postgres_restart_in_the_middle_of_a_run(
    pg_own_cluster: PgCluster, tmp_path: Path
) -> None:
    pg_cluster = pg_own_cluster
    pg_url = pg_cluster.create_database()
    plan = build_chaos_plan(7, total=80)
    expected = {
        k: v.output
        for k, v in (await LedgerExecutor(None, scale=0.0).execute(plan)).node_results.items()
    }
    ledger = tmp_path / "ledger.txt"
    completed = 0
    halfway, restarted = threading.Event(), threading.Event()

    def count(event: ProgressEvent) -> None:
        nonlocal completed
        if event.kind == EventKind.NODE_COMPLETED:
            completed += 1
            if completed == 25:
                halfway.set()

    planner = MetaPlanner(
        executor=LedgerExecutor(str(ledger), max_concurrency=4, scale=4.0),  # slow nodes
        store=f"{pg_url}?retry_seconds=60",
        checkpoint_interval=10,
        progress_callback=count,
    )

    def restart_when_halfway() -> None:
        if halfway.wait(60):
            pg_cluster.restart_immediate()
        restarted.set()

    restarter = threading.Thread(target=restart_when_halfway)
    restarter.start()
    try:
        result = await planner.execute_with_resume(plan)
    finally:
        halfway.set()
        await asyncio.to_thread(restarter.join, 120)
    assert restarted.is_set()
    assert result.status == ExecutionStatus.COMPLETED, result.get_summary()
    assert completed > 25  # the restart landed in the middle of the run
    store: Any = planner.persistence_manager.store
    assert store.retries > 0  # the outage was seen, and ridden out
    assert {k: v.output for k, v in result.node_results.items()} == expected
    starts = Counter(e.node_id for e in read_ledger(ledger) if e.event == "start")
    assert max(starts.values()) == 1  # nothing ran twice
    assert durable_record_in(pg_url, plan.id).outputs == expected  # every completion recorded
    again = await MetaPlanner(
        executor=LedgerExecutor(str(ledger), scale=0.0), store=pg_url
    ).execute_with_resume(plan)
    assert all(r.resumed for r in again.node_results.values())
    assert len(read_ledger(ledger)) == sum(starts.values()) * 2  # start + done, nothing more


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
def test_two_machines_one_url_exactly_one_runs(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = (
        f"sqlite://{tmp_path / 'runs.db'}"
        if kind == "sqlite"
        else str(request.getfixturevalue("pg_url"))
    )
    ledger, barrier = tmp_path / "ledger.txt", tmp_path / "go"
    winner, result, losers = round_of(2, url, ledger, barrier)  # type: ignore[arg-type]
    assert len(losers) == 1
    assert "is being run by another process" in losers[0]
    assert f"pid {winner.pid}" in losers[0] and "lease token" in losers[0]  # names the holder
    assert result is not None and result["status"] == "completed"
    assert result["outputs"] == reference()
    starts = Counter(e.node_id for e in read_ledger(ledger) if e.event == "start")
    assert max(starts.values()) == 1
    assert {e.pid for e in read_ledger(ledger)} == {str(winner.pid)}
    assert durable_record_in(url, CHAOS_PLAN_ID).outputs  # recorded in the database
