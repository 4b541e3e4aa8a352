"""A database that is away is unavailable, never corrupt: resume must not skip a snapshot it
cannot read during an outage and fall back to an older one (that would re-run recorded work).

The outage is injected into the real SQLite store by a subclass whose snapshot reads raise
what the stores raise when the database stays away past their retry budget
(``StoreUnavailableError``); the real PostgreSQL outage (a stopped server) is in
``test_sql_stores.py``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from vibe_aigc import (
    CheckpointCorruptError,
    ExecutionStatus,
    MetaPlanner,
    StoreUnavailableError,
    Vibe,
)
from vibe_aigc.errors import CheckpointError
from vibe_aigc.persistence.records import Record
from vibe_aigc.persistence.sqlite import SQLiteStore


class Outage(SQLiteStore):
    """The real SQLite store, with snapshot reads failing as in an outage while ``away``."""

    away = False

    def read_snapshot(self, checkpoint_id: str, plan_id: str | None = None) -> Record:
        # the contract's signature before ``keep_text`` (a store of one's own written then):
        # the manager asks it without, and every value comes parsed
        if self.away:
            raise StoreUnavailableError(
                self.url, f"read snapshot {checkpoint_id}", "the database stayed away"
            )
        return super().read_snapshot(checkpoint_id, plan_id)


def test_the_error_is_a_checkpoint_error_and_not_corruption() -> None:
    exc = StoreUnavailableError("postgresql://h/db", "read snapshot cp-1", "gone for 60 s")
    assert isinstance(exc, CheckpointError) and not isinstance(exc, CheckpointCorruptError)
    assert "postgresql://h/db" in str(exc) and "resume" in str(exc)
    assert (exc.url, exc.what) == ("postgresql://h/db", "read snapshot cp-1")
    assert exc.reason == "gone for 60 s"


async def test_resume_during_an_outage_propagates_instead_of_falling_back(tmp_path: Path) -> None:
    store = Outage(tmp_path / "runs.db")
    planner = MetaPlanner(store=store, checkpoint_interval=2)
    vibe = Vibe(description="Write a blog post about outages")
    first = await planner.execute_with_resume(vibe)
    assert first.status == ExecutionStatus.COMPLETED
    before = planner.list_checkpoints()
    assert len(before) >= 2

    store.away = True
    with pytest.raises(StoreUnavailableError):
        await planner.execute_with_resume(vibe)
    with pytest.raises(StoreUnavailableError):
        planner.list_checkpoints()  # never listed as corrupt
    store.away = False

    assert planner.list_checkpoints() == before  # nothing was set aside or rewritten
    again = await planner.execute_with_resume(vibe)
    assert again.status == ExecutionStatus.COMPLETED
    assert not [w for w in again.warnings if "corrupt" in w or "skipped" in w], again.warnings
    assert all(r.resumed for r in again.node_results.values())
    store.close()
