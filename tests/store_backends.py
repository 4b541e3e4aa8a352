"""The store kinds the contract suite (``test_store_contract.py``) runs against, as fixtures.

``backend`` is parametrized over the file store, the SQLite store and the PostgreSQL store (a
fresh database of the session's throwaway cluster, see ``pgcluster.py``); ``store`` is that
backend opened with ``open_store(url)``; ``other_process`` holds plan-a's lease from another
process. A :class:`Backend` can also damage its stored bytes (``tamper_*``), the one thing the
contract itself cannot do.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from vibe_aigc.persistence import Store, open_store

KINDS = ["file", "sqlite", "postgres"]
Edit = Callable[[bytes], bytes]


@dataclass
class Backend:
    """One store kind under test: how to open it and how to damage its data."""

    kind: str
    url: str
    root: Path

    def open(self) -> Store:
        return open_store(self.url)

    def tamper_snapshot(self, plan_id: str, checkpoint_id: str, edit: Edit) -> None:
        if self.kind == "file":
            path = self.root / "store" / plan_id / f"{checkpoint_id}.json"
            path.write_bytes(edit(path.read_bytes()))
            return
        self._tamper_row(
            "SELECT data FROM vibe_snapshots WHERE plan_id = ? AND checkpoint_id = ?",
            "UPDATE vibe_snapshots SET data = ? WHERE plan_id = ? AND checkpoint_id = ?",
            (plan_id, checkpoint_id),
            edit,
        )

    def tamper_entry(self, plan_id: str, seq: int, edit: Edit) -> None:
        if self.kind == "file":
            for segment in sorted((self.root / "store" / plan_id).glob("journal-*.jsonl")):
                # the data ends at the first NUL byte; the zero room after it stays as it is
                data, nul, room = segment.read_bytes().partition(b"\0")
                lines = data.split(b"\n")
                for number, line in enumerate(lines):
                    if line and json.loads(line)["seq"] == seq:
                        lines[number] = edit(line)
                        segment.write_bytes(b"\n".join(lines) + nul + room)
                        return
            raise AssertionError(f"no entry {seq}")
        self._tamper_row(
            "SELECT line FROM vibe_entries WHERE plan_id = ? AND seq = ?",
            "UPDATE vibe_entries SET line = ? WHERE plan_id = ? AND seq = ?",
            (plan_id, seq),
            edit,
        )

    def _tamper_row(self, select: str, update: str, key: tuple[Any, ...], edit: Edit) -> None:
        if self.kind == "sqlite":
            import sqlite3

            conn = sqlite3.connect(self.url.removeprefix("sqlite://"))
            with conn:
                (data,) = conn.execute(select, key).fetchone()
                conn.execute(update, (edit(bytes(data)), *key))
            conn.close()
            return
        import psycopg

        with psycopg.connect(self.url, autocommit=True) as conn:
            row = conn.execute(select.replace("?", "%s"), key).fetchone()
            assert row is not None
            conn.execute(update.replace("?", "%s"), (edit(bytes(row[0])), *key))


@pytest.fixture(params=KINDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    kind: str = request.param
    if kind == "file":
        url = str(tmp_path / "store")
    elif kind == "sqlite":
        url = f"sqlite://{tmp_path / 'runs.db'}"
    else:
        url = request.getfixturevalue("pg_url")
    return Backend(kind, url, tmp_path)


@pytest.fixture
def store(backend: Backend) -> Iterator[Store]:
    opened = backend.open()
    yield opened
    opened.close()


HOLDER = textwrap.dedent(
    """
    import sys
    from vibe_aigc.persistence import open_store
    store = open_store(sys.argv[1])
    with store.lease("plan-a"):
        print("held", flush=True)
        sys.stdin.read()
    store.close()
    """
)


def start_holder(url: str) -> subprocess.Popen[str]:
    """Another process, holding plan-a's lease of the store at ``url`` until its stdin closes
    (returned once it holds it)."""
    child = subprocess.Popen(
        [sys.executable, "-c", HOLDER, url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "held"
    return child


@pytest.fixture
def spawn_holder() -> Callable[[str], subprocess.Popen[str]]:
    """:func:`start_holder`, for tests that need a holder of a store URL of their own."""
    return start_holder


@pytest.fixture
def other_process(backend: Backend) -> Iterator[subprocess.Popen[str]]:
    """Another process holding plan-a's lease until its stdin closes."""
    with start_holder(backend.url) as child:
        assert child.stdin is not None
        yield child
        child.stdin.close()
        assert child.wait(timeout=30) == 0
