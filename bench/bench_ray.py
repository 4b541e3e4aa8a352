"""The Ray backend against local execution, side by side in one run.

Run by hand, never as a test (from the repository root, Ray installed)::

    .venv/bin/python bench/bench_ray.py            # rewrites its section of bench/RESULTS.md
    .venv/bin/python bench/bench_ray.py --quick    # fewer nodes, prints the report only

Workloads (each a durable run through ``MetaPlanner.execute_with_resume`` on a file store in a
temp folder, 400 independent nodes unless said otherwise):

* ``sleep``: each node ``asyncio.sleep(0.1)`` — waiting work (a provider call); must scale
  with slots, whatever the core count.
* ``cpu``: each node a fixed pure-Python loop (~25 ms of one core) — work that needs a core;
  on this 2-core machine it cannot scale past 2, and locally it runs on the event loop, so it
  is serial.
* ``noop-serial``: 200 nodes that return at once, ``max_concurrency=1``: the per-node round
  trip of a backend (submission, scheduling, result, journal) with nothing to hide it.

Topologies: ``local`` (this process), then one local Ray cluster (``tests/ray/cluster.py``:
separate ``ray start`` processes on 127.0.0.1) whose head has 0 CPUs (driver side only) and
1, 2, 3 worker nodes of 4 logical CPUs each (4 task slots per node). Every point runs in a
fresh driver process (``--worker``); a 20-node warm-up run first (worker processes start),
then the timed run: wall time of ``execute_with_resume``. ``max_concurrency=16`` everywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "ray"))
RESULTS = ROOT / "bench" / "RESULTS.md"
BEGIN, END = "<!-- bench_ray.py: begin -->", "<!-- bench_ray.py: end -->"
CPU_LOOP = 250_000  # ~25 ms of one core in CPython on this machine


def spin(n: int) -> int:
    total = 0
    for i in range(n):
        total += i * i % 7
    return total


# ---------------------------------------------------------------------------- one point


def build(kind: str, nodes: int, tag: str) -> Any:
    from vibe_aigc import Vibe, WorkflowPlan
    from vibe_aigc.models import WorkflowNode

    items = [
        WorkflowNode(id=f"n{i}", type="generate", description=f"node {i}", parameters={"k": kind})
        for i in range(nodes)
    ]
    return WorkflowPlan(
        id=f"bench-{tag}", source_vibe=Vibe(description="bench"), root_nodes=items
    )


def worker(job: dict[str, Any]) -> dict[str, Any]:
    from vibe_aigc import MetaPlanner, WorkflowExecutor

    class BenchExecutor(WorkflowExecutor):
        async def execute_node(self, node: Any, context: Any) -> Any:
            kind = node.parameters["k"]
            if kind == "sleep":
                await asyncio.sleep(0.1)
            elif kind == "cpu":
                return {"spin": spin(CPU_LOOP), "pid": os.getpid()}
            return {"pid": os.getpid()}

    concurrency = 1 if job["kind"] == "noop-serial" else 16
    with tempfile.TemporaryDirectory() as folder:
        planner = MetaPlanner(
            executor=BenchExecutor(max_concurrency=concurrency),
            checkpoint_dir=folder,
            llm_config=False,
            backend="ray" if job["address"] else "local",
            ray_address=job["address"],
        )
        warm = asyncio.run(planner.execute_with_resume(build(job["kind"], 20, "warm")))
        assert warm.status.value == "completed", warm.node_results
        plan = build(job["kind"], job["nodes"], "timed")
        started = time.perf_counter()
        result = asyncio.run(planner.execute_with_resume(plan))
        seconds = time.perf_counter() - started
    assert result.status.value == "completed"
    pids = {r.output["pid"] for r in result.node_results.values()}
    return {"seconds": seconds, "processes": len(pids)}


def measure(kind: str, nodes: int, address: str | None) -> dict[str, Any]:
    from cluster import ray_env

    job = {"kind": kind, "nodes": nodes, "address": address}
    done = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(job)],
        env=ray_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"{job}: {done.stderr[-3000:]}")
    return dict(json.loads(lines[-1].removeprefix("RESULT ")))


# ---------------------------------------------------------------------------- the run


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def machine() -> str:
    model = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    memory = int(Path("/proc/meminfo").read_text().split()[1]) // (1024 * 1024)
    return f"{model}; nproc = {os.cpu_count()}; RAM {memory} GiB; kernel {platform.release()}"


def commit() -> str:
    head = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True
    ).stdout.strip()
    return f"{head}{' (src modified)' if dirty else ', clean'}"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--worker", default=None)
    args = parser.parse_args()
    if args.worker is not None:
        print("RESULT " + json.dumps(worker(json.loads(args.worker))), flush=True)
        return 0

    from cluster import RayCluster

    import ray

    sizes = {"sleep": 400, "cpu": 400, "noop-serial": 200}
    if args.quick:
        sizes = {"sleep": 80, "cpu": 40, "noop-serial": 40}
    began = time.time()
    load_before = uptime()
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    rows["local"] = {kind: measure(kind, n, None) for kind, n in sizes.items()}
    print("local", rows["local"], flush=True)
    cluster = RayCluster()
    try:
        cluster.start([], head_cpus=0)
        for count in (1, 2, 3):
            cluster.add_worker(f"worker{count}", {}, num_cpus=4)
            name = f"ray, {count} worker node{'s' if count > 1 else ''}"
            rows[name] = {kind: measure(kind, n, cluster.address) for kind, n in sizes.items()}
            print(name, rows[name], flush=True)
    finally:
        cluster.stop()
    load_after = uptime()
    report = render(rows, sizes, args.quick, began, load_before, load_after, ray.__version__)
    print(report)
    if not args.quick:
        write_section(report)
    return 0


def render(
    rows: dict[str, dict[str, dict[str, Any]]],
    sizes: dict[str, int],
    quick: bool,
    began: float,
    load_before: str,
    load_after: str,
    ray_version: str,
) -> str:
    minutes = (time.time() - began) / 60
    local = rows["local"]
    out = [
        BEGIN,
        "## The Ray backend against local execution (`bench_ray.py`)",
        "",
        f"Command (from the repository root): `.venv/bin/python bench/bench_ray.py"
        f"{' --quick' if quick else ''}` — this run took {minutes:.1f} minutes.",
        "",
        f"- Started (UTC): {time.strftime('%Y-%m-%d %H:%M', time.gmtime(began))}",
        f"- Machine: {machine()}",
        f"- Python {platform.python_version()}, Ray {ray_version}; vibe-aigc commit {commit()}",
        f"- Load before: `{load_before}`",
        f"- Load after: `{load_after}`",
        "",
        "Every cell: wall time of one durable `execute_with_resume` (file store, journal fsync "
        "per group commit) in a fresh driver process after a 20-node warm-up; `procs` = "
        "distinct worker processes that ran nodes. Ray: head with 0 CPUs + N worker nodes of "
        "4 logical CPUs each, all on this machine; `max_concurrency=16`.",
        "",
        f"| topology | sleep 100 ms × {sizes['sleep']} | vs local | cpu ~25 ms × {sizes['cpu']}"
        f" | vs local | no-op × {sizes['noop-serial']}, serial | per node |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, cells in rows.items():
        sleep, cpu, noop = cells["sleep"], cells["cpu"], cells["noop-serial"]
        per_node = noop["seconds"] / sizes["noop-serial"] * 1000
        out.append(
            f"| {name} | {sleep['seconds']:.2f} s ({sleep['processes']} procs) "
            f"| {sleep['seconds'] / local['sleep']['seconds']:.2f}× "
            f"| {cpu['seconds']:.2f} s ({cpu['processes']} procs) "
            f"| {cpu['seconds'] / local['cpu']['seconds']:.2f}× "
            f"| {noop['seconds']:.2f} s | {per_node:.1f} ms |"
        )
    local_node = local["noop-serial"]["seconds"] / sizes["noop-serial"] * 1000
    ray_nodes = [
        cells["noop-serial"]["seconds"] / sizes["noop-serial"] * 1000
        for name, cells in rows.items()
        if name != "local"
    ]
    out += [
        "",
        f"Per-node overhead of the Ray backend over local (serial no-op nodes, durable both): "
        f"{min(ray_nodes) - local_node:.1f}–{max(ray_nodes) - local_node:.1f} ms per node "
        f"(local {local_node:.2f} ms per node).",
        END,
    ]
    return "\n".join(out)


def write_section(report: str) -> None:
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmarks\n"
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        tail = rest.split(END, 1)[1]
        text = head + report + tail
    else:
        text = text.rstrip("\n") + "\n\n" + report + "\n"
    RESULTS.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    sys.exit(main())
