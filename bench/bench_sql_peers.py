"""Per-node durable overhead on a 2,000-node chain, on SQLite and on PostgreSQL, side by side
with the peers, in one run.

Run by hand from the repository root, never as a test::

    PYTHONPATH=src python bench/bench_sql_peers.py            # 5 repetitions; rewrites its
                                                             # section of bench/RESULTS.md
    PYTHONPATH=src python bench/bench_sql_peers.py --quick    # 1 repetition, prints only

On SQLite: ours (``MetaPlanner(store="sqlite:///...")``) vs LangGraph ``SqliteSaver`` (the
chain as N graph nodes, and as one looping node) vs DBOS on its SQLite system database. On
PostgreSQL, one throwaway server for everyone (``tests/pgcluster.py``, on 127.0.0.1, data in the
temp folder): ours (``postgresql://...``) vs DBOS with that server as its system database vs
LangGraph ``PostgresSaver``. Every point runs in a fresh process of its system's interpreter
(the peers in their own virtual environments under ``bench/.venvs/``, installed by
``bench_peers.py``'s machinery; ``langgraph-postgres`` is added here), every PostgreSQL point
in a fresh database. Drivers: ``bench/driver_*.py``.

Figures: µs per node of the whole durable run (wall time of the run call / N), and the durable
overhead (that minus the same system's run without persistence, where the system has one: ours
and LangGraph; DBOS always records its steps, so its whole time is counted). Target: ours ≤ 0.5×
the best peer on each database.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))
sys.path.insert(0, str(HERE))

import bench_peers  # noqa: E402
import benchlib  # noqa: E402
from bench_peers import Point, Runner, System, ensure_env, env_versions, python_of  # noqa: E402
from benchlib import spread  # noqa: E402

from pgcluster import PgCluster, find_bindir  # noqa: E402

SECTION = "bench_sql_peers.py"
N = 2000
bench_peers.ENVS["langgraph-postgres"] = {
    "packages": [
        "langgraph==1.2.24",
        "langgraph-checkpoint-sqlite==3.1.2",  # the driver imports SqliteSaver too
        "langgraph-checkpoint-postgres==3.2.0",
        "psycopg[binary]==3.3.9",
        "psycopg-pool==3.3.3",
    ],
    "pip": [],
}
bench_peers.VERSIONS_OF = (*bench_peers.VERSIONS_OF, "langgraph-checkpoint-postgres", "psycopg")

OURS = System("ours", "vibe-aigc (this tree)", None, "driver_vibe.py")
LG = System("lg", "LangGraph", "langgraph", "driver_langgraph.py", {"graph": "nodes"})
LG_LOOP = System("lg-loop", "LangGraph, 1 looping node", "langgraph", "driver_langgraph.py",
                 {"graph": "loop"})  # fmt: skip
LG_PG = System("lg-pg", "LangGraph", "langgraph-postgres", "driver_langgraph.py",
               {"graph": "nodes"})  # fmt: skip
LG_PG_LOOP = System("lg-pg-loop", "LangGraph, 1 looping node", "langgraph-postgres",
                    "driver_langgraph.py", {"graph": "loop"})  # fmt: skip
DBOS = System("dbos", "DBOS", "dbos", "driver_dbos.py")

# (database, system, mode, what it is)
ROWS: list[tuple[str, System, str, str]] = [
    ("—", OURS, "plain", "no persistence (the engine alone)"),
    ("—", LG, "plain", "compiled without a checkpointer"),
    ("—", LG_LOOP, "plain", "1 looping node, compiled without a checkpointer"),
    ("SQLite", OURS, "durable", "sqlite:// store: WAL, synchronous=FULL, a commit per node"),
    ("SQLite", LG, "durable", "SqliteSaver, durability='sync'"),
    ("SQLite", LG_LOOP, "durable", "SqliteSaver, durability='sync'"),
    ("SQLite", DBOS, "durable", "SQLite system database, a step per node"),
    ("PostgreSQL", OURS, "durable", "postgresql:// store: a synchronous commit per node"),
    ("PostgreSQL", LG_PG, "durable", "PostgresSaver, durability='sync'"),
    ("PostgreSQL", LG_PG_LOOP, "durable", "PostgresSaver, durability='sync'"),
    ("PostgreSQL", DBOS, "durable", "PostgreSQL system database, a step per node"),
]


def job_for(db: str, system: System, mode: str, folder: Path, cluster: PgCluster) -> dict[str, Any]:
    job: dict[str, Any] = {"shape": "chain", "n": N, "mode": mode, "folder": str(folder)}
    if db == "SQLite" and system is OURS:
        job["store"] = f"sqlite://{folder / 'runs.db'}"
    if db == "PostgreSQL":
        url = cluster.create_database()
        if system is OURS:
            job["store"] = url
        elif system is DBOS:
            job["system_database_url"] = url
        else:
            job["pg_url"] = url
    return job


def main() -> None:
    global N
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="1 repetition; print, do not write")
    parser.add_argument("--reps", type=int, default=None)
    parser.add_argument("--venvs", type=Path, default=HERE / ".venvs")
    parser.add_argument("--nodes", type=int, default=N, help="chain length (smoke runs)")
    args = parser.parse_args()
    N = args.nodes
    reps = args.reps or (1 if args.quick else 5)
    root = Path(tempfile.mkdtemp(prefix="vibe-bench-sql-peers-"))
    log = root / "pip.log"
    for env in ("langgraph", "langgraph-postgres", "dbos"):
        ensure_env(env, args.venvs, log)
    load_before = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    cluster = PgCluster(find_bindir())
    cluster.start()
    runner = Runner(root, args.venvs)
    began = time.monotonic()
    points: list[Point] = []
    try:
        for db, system, mode, _ in ROWS:

            def go(db: str = db, system: System = system, mode: str = mode) -> dict[str, Any]:
                folder = runner.folder(f"{system.key}-{db}-")
                try:
                    return runner.spawn(
                        system, job_for(db, system, mode, folder / "state", cluster)
                    )
                finally:
                    shutil.rmtree(folder, ignore_errors=True)

            points.append(Point("chain", (db, system.key, mode), reps, go))
        bench_peers.run_points(points)
        fsync = benchlib.fsync_cost(root, 200)
        server = subprocess.run(
            [str(cluster.bindir / "postgres"), "--version"], capture_output=True, text=True
        ).stdout.strip()
    finally:
        cluster.stop()
    took = time.monotonic() - began
    load_after = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    text = report(points, args, reps, took, root, fsync, server, load_before, load_after)
    print(text)
    if not args.quick:
        benchlib.write_section(SECTION, text)
    shutil.rmtree(root, ignore_errors=True)


def per_node(point: Point) -> list[float]:
    return [s["secs"] * 1e6 / N for s in point.samples]


def report(
    points: list[Point],
    args: argparse.Namespace,
    reps: int,
    took: float,
    root: Path,
    fsync: list[float],
    server: str,
    load_before: str,
    load_after: str,
) -> str:
    by_key = {p.key: p for p in points}
    plain = {
        key: statistics.median(per_node(by_key[("—", key, "plain")]))
        for key in ("ours", "lg", "lg-loop")
    }
    # each system's overhead is over its own run without persistence (the looping graph's
    # plain run is not the N-node graph's)
    base_of = {
        "ours": "ours", "lg": "lg", "lg-loop": "lg-loop", "lg-pg": "lg", "lg-pg-loop": "lg-loop"
    }
    command = " ".join(["PYTHONPATH=src python bench/bench_sql_peers.py", *sys.argv[1:]])
    lines = [
        "## SQL stores side by side with the peers (`bench_sql_peers.py`)",
        "",
        f"Command (from the repository root): `{command}` — a chain of {N:,} trivial nodes, "
        f"{reps} repetition(s) per point, interleaved; took {took / 60:.1f} minutes.",
        "",
        *benchlib.machine_info(root),
        f"- Load (`uptime`) before: `{load_before}`",
        f"- Load (`uptime`) after: `{load_after}`",
        f"- PostgreSQL: {server}, a throwaway cluster on 127.0.0.1 (tests/pgcluster.py), data "
        "in the temp folder (same disk); every point in a fresh database",
        f"- write(200 B) + fsync on this disk: {spread(fsync)} µs (median [min–max])",
        "",
        "Versions (each peer in its own virtual environment under `bench/.venvs/`):",
        "",
    ]
    for system in (OURS, LG, LG_PG, DBOS):
        versions = env_versions(python_of(system, args.venvs))
        lines.append(f"- {system.env or 'this tree'}: {versions}")
    lines += [
        "",
        "µs/node: wall time of the run call / N (process start, imports and DBOS `launch()` "
        "excluded), median [min–max] over repetitions. Overhead: that minus the same system's "
        "median without persistence (DBOS has no such mode: its whole time is counted, which "
        "flatters DBOS's overhead column against ours, never the other way).",
        "",
        "| database | system | mode | what | runs | µs/node | durable overhead µs/node |",
        "|---|---|---|---|---:|---:|---:|",
    ]
    for db, system, mode, what in ROWS:
        values = per_node(by_key[(db, system.key, mode)])
        base = base_of.get(system.key)
        overhead = (
            f"{statistics.median(values) - plain[base]:,.0f}"
            if mode == "durable" and base is not None
            else ("—" if mode == "plain" else f"{statistics.median(values):,.0f}")
        )
        lines.append(
            f"| {db} | {system.label} | {mode} | {what} | {len(values)} | {spread(values)} | "
            f"{overhead} |"
        )
    lines += ["", "Ours against the best peer on each database (target ≤ 0.5×):", ""]
    for db in ("SQLite", "PostgreSQL"):
        ours = statistics.median(per_node(by_key[(db, "ours", "durable")]))
        ours_over = ours - plain["ours"]
        peers = [(s, statistics.median(per_node(by_key[(d, s.key, m)])))
                 for d, s, m, _ in ROWS if d == db and s is not OURS]  # fmt: skip
        best, best_total = min(peers, key=lambda p: p[1])
        best_over = best_total - plain[base_of[best.key]] if best.key in base_of else best_total
        verdict_total = "met" if ours <= 0.5 * best_total else "MISSED"
        verdict_over = "met" if ours_over <= 0.5 * best_over else "MISSED"
        lines.append(
            f"- {db}: best peer {best.label} ({best_total:,.0f} µs/node, overhead "
            f"{best_over:,.0f}); ours {ours:,.0f} µs/node, overhead {ours_over:,.0f}: "
            f"{ours / best_total:.2f}× per node ({verdict_total}), "
            f"{ours_over / best_over:.2f}× overhead ({verdict_over})"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
