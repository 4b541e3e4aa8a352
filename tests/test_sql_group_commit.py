"""Group commit on the SQL stores: completions that finish together share one transaction.

The stores are the real SQLite and PostgreSQL stores, subclassed only to count: every
transaction (``_transact``, the one place a backend opens one) and the size of every journal
batch. The first append is held back until every node of the plan has finished, so all the
other completions are queued behind it: they must land in one batch, in one transaction
(12 completions, at most 2 transactions).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path
from typing import Any, TypeVar

import pytest

from vibe_aigc import ExecutionStatus, MetaPlanner, Vibe, WorkflowExecutor, WorkflowNode
from vibe_aigc.context import NodeContext
from vibe_aigc.models import WorkflowNodeType, WorkflowPlan
from vibe_aigc.persistence.records import Record
from vibe_aigc.persistence.sql.base import Op, SqlStore
from vibe_aigc.persistence.sqlite import SQLiteStore
from vibe_aigc.persistence.store import Lease

pytest_plugins = ("pgcluster",)

T = TypeVar("T")
NODES = 12


class Counting:
    """Mixed into a real store: counts transactions and journal batches; holds the first
    journal batch until ``gate`` opens."""

    def setup_counting(self) -> None:
        self.transactions: Counter[str] = Counter()
        self.batches: list[int] = []
        self.gate = threading.Event()

    def append_entries(self, lease: Lease, entries: list[Record]) -> None:
        if not self.batches:
            assert self.gate.wait(30), "the gate never opened"
        self.batches.append(len(entries))
        super().append_entries(lease, entries)  # type: ignore[misc]

    def _transact(self, op: Op[T], *, write: bool, what: str, **options: Any) -> T:
        if hasattr(self, "transactions"):
            self.transactions[what.split()[0] + (" entries" if "journal" in what else "")] += 1
        return super()._transact(op, write=write, what=what, **options)  # type: ignore[misc,no-any-return]


class CountingSQLite(Counting, SQLiteStore):
    pass


class Together(WorkflowExecutor):
    """Every node waits for all the others to start, then they all finish at once."""

    def __init__(self, count: int) -> None:
        super().__init__(max_concurrency=count)
        self.count = count
        self.started = 0
        self.all_started = asyncio.Event()
        self.finished = 0

    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        self.started += 1
        if self.started == self.count:
            self.all_started.set()
        await self.all_started.wait()
        self.finished += 1
        return {"node": node.id}


def wide_plan() -> WorkflowPlan:
    return WorkflowPlan(
        id="plan-together",
        source_vibe=Vibe(description="nodes that finish together"),
        root_nodes=[
            WorkflowNode(id=f"n{i:02d}", type=WorkflowNodeType.GENERATE, description=f"n{i}")
            for i in range(NODES)
        ],
    )


@pytest.mark.parametrize("kind", ["sqlite", "postgres"])
async def test_completions_that_finish_together_share_one_transaction(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    store: SqlStore
    if kind == "sqlite":
        store = CountingSQLite(tmp_path / "runs.db")
    else:
        url = str(request.getfixturevalue("pg_url"))  # fails under CI=true without a server
        from vibe_aigc.persistence.postgres import PostgresStore

        class CountingPostgres(Counting, PostgresStore):
            pass

        store = CountingPostgres(url)
    assert isinstance(store, Counting)
    store.setup_counting()
    executor = Together(NODES)
    planner = MetaPlanner(executor=executor, store=store)

    async def open_gate_when_all_finished() -> None:
        while executor.finished < NODES:
            await asyncio.sleep(0.005)
        await asyncio.sleep(0.2)  # let the hook queue every completion behind the held one
        store.gate.set()

    opener = asyncio.create_task(open_gate_when_all_finished())
    try:
        result = await planner.execute_with_resume(wide_plan())
    finally:
        store.gate.set()
        await opener
    assert result.status == ExecutionStatus.COMPLETED
    assert sum(store.batches) == NODES
    # the first batch (whatever had queued when the writer woke: one or all of them) is held;
    # every other completion queues behind it and lands in a single batch
    assert len(store.batches) <= 2, store.batches
    assert store.transactions["append entries"] == len(store.batches), store.transactions
    found = store.read_entries("plan-together")
    assert [e["seq"] for e in found.entries] == sorted(e["seq"] for e in found.entries)
    assert {e["node_id"] for e in found.entries} == {f"n{i:02d}" for i in range(NODES)}
    store.close()
