"""Per-node durable append overhead through the Store contract: file vs SQLite vs PostgreSQL.

Run by hand, never as a test (from the repository root)::

    .venv/bin/python bench/bench_sql.py                 # prints the report
    .venv/bin/python bench/bench_sql.py --write         # ... and rewrites its section of
                                                        # bench/RESULTS.md
    .venv/bin/python bench/bench_sql.py --pg-url postgresql://u@127.0.0.1:5432/db

What is measured: a 2,000-node chain recorded the way the runs layer records it, one completed
node at a time: ``store.append_entries(lease, [entry])`` (each call durable before it returns:
fsync for the file store, a ``synchronous=FULL`` WAL commit for SQLite, a synchronous commit for
PostgreSQL), under one lease, with a ~250-byte result per node. "Batched" rows record the same
chain in batches of 10 (what group commit gives when 10 nodes finish together). Repetitions are
interleaved across stores; cells are median [min–max] over repetitions of the mean µs per
append. Without ``--pg-url`` a throwaway PostgreSQL cluster is started on 127.0.0.1 (the
tests' ``tests/pgcluster.py``; Debian's ``postgresql`` package), its data in the temp folder,
so all three stores write to the same disk.

"PostgreSQL" appends a single entry with one statement in autocommit (the fence check, the
highest-seq check and the insert in one CTE: one round trip); the "before" row is the same
store doing it the way it did before (``single_statement_append = False``: BEGIN, the fence
``UPDATE ... RETURNING``, the INSERT, COMMIT: four round trips), measured in the same run.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import benchlib  # noqa: E402
from benchlib import fsync_cost, spread  # noqa: E402

from vibe_aigc.persistence import Store, open_store  # noqa: E402

SECTION = "bench_sql.py"
BEFORE = "PostgreSQL, before (BEGIN, fence, insert, COMMIT)"


def entry(seq: int) -> dict[str, Any]:
    return {
        "seq": seq,
        "run_id": "run-bench",
        "plan_id": "plan-bench",
        "node_id": f"node-{seq:05d}",
        "result": {
            "status": "completed",
            "output": {"text": "a calm café at dusk, lofi, rain on the window " * 3, "n": seq},
            "duration": 0.0123,
        },
    }


def run_chain(store: Store, nodes: int, batch: int) -> list[float]:
    """µs per append call."""
    samples = []
    with store.lease("plan-bench") as lease:
        for start in range(0, nodes, batch):
            entries = [entry(s) for s in range(start, min(start + batch, nodes))]
            began = time.perf_counter()
            store.append_entries(lease, entries)
            samples.append((time.perf_counter() - began) * 1e6)
    found = store.read_entries("plan-bench")
    assert len(found.entries) == nodes and found.damage is None
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--pg-url", help="an existing PostgreSQL database to use")
    parser.add_argument("--write", action="store_true", help="rewrite bench/RESULTS.md's section")
    args = parser.parse_args()

    root = Path(tempfile.mkdtemp(prefix="vibe-bench-sql-"))
    cluster = None
    if args.pg_url is None:
        from pgcluster import PgCluster, find_bindir

        cluster = PgCluster(find_bindir())
        cluster.start()
    counter = iter(range(1_000_000))

    def fresh(kind: str) -> Store:
        n = next(counter)
        if kind == "file":
            return open_store(root / f"files-{n}")
        if kind == "SQLite":
            return open_store(f"sqlite://{root / f'runs-{n}.db'}")
        if cluster is not None:
            store = open_store(cluster.create_database())
        else:
            store = open_store(args.pg_url)
        if kind == BEFORE:  # the same store, a single entry the way it was before
            store.single_statement_append = False  # type: ignore[attr-defined]
        for plan in store.plan_ids():
            if plan == "plan-bench":
                store.delete_plan(plan)
        return store

    kinds = ["file", "SQLite", "PostgreSQL", BEFORE]
    modes: list[tuple[str, int]] = [("one node per append", 1), ("batches of 10", 10)]
    results: dict[tuple[str, str], list[float]] = {}
    p99: dict[tuple[str, str], list[float]] = {}
    began = time.monotonic()
    try:
        for _ in range(args.reps):
            for mode, batch in modes:
                for kind in kinds:
                    store = fresh(kind)
                    try:
                        samples = run_chain(store, args.nodes, batch)
                    finally:
                        store.close()
                    per_node = sum(samples) / args.nodes
                    results.setdefault((kind, mode), []).append(per_node)
                    p99.setdefault((kind, mode), []).append(
                        statistics.quantiles(samples, n=100)[98] if len(samples) > 1 else 0.0
                    )
                    print(f"{kind:10s} {mode:20s} {per_node:8.0f} µs/node", file=sys.stderr)
        fsync = fsync_cost(root, 200)
    finally:
        if cluster is not None:
            cluster.stop()
    took = time.monotonic() - began

    lines = [
        "## SQL stores: per-node durable append overhead (`bench_sql.py`)",
        "",
        f"Command (from the repository root): `{Path(sys.executable).name} bench/bench_sql.py"
        f"{' --write' if args.write else ''}` — {args.nodes}-node chain, {args.reps} "
        f"repetitions, took {took:.0f} s.",
        "",
        *benchlib.machine_info(root),
        f"- PostgreSQL: {'throwaway cluster (tests/pgcluster.py), data in the temp folder' if cluster else args.pg_url}",  # noqa: E501
        f"- write(200 B) + fsync on this disk: {spread(fsync)} µs (median [min–max])",
        "",
        "µs per node (mean per append, median [min–max] over repetitions); p99 is of single "
        "append calls (µs per call):",
        "",
        "| store | mode | µs per node | p99 µs per call |",
        "|---|---|---|---|",
    ]
    for mode, _ in modes:
        for kind in kinds:
            lines.append(
                f"| {kind} | {mode} | {spread(results[(kind, mode)])} | "
                f"{spread(p99[(kind, mode)])} |"
            )
    text = "\n".join(lines)
    print(text)
    if args.write:
        benchlib.write_section(SECTION, text)
    shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
