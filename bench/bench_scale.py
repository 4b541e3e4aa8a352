"""Scale benchmark: durable plans of 10k-100k trivial nodes, crash at 90 % and resume, memory.

Run by hand, never as a test::

    .venv/bin/python bench/bench_scale.py                 # full run, rewrites its section of
                                                          # bench/RESULTS.md
    .venv/bin/python bench/bench_scale.py --quick         # smoke run, prints the report only
    .venv/bin/python bench/bench_scale.py --tree before=/tmp/base/src --tree after=src
                                                          # two source trees side by side

Every point runs in a fresh subprocess (this script with ``--worker JOB``) whose ``PYTHONPATH``
starts with its tree's ``src`` folder, so peak RSS belongs to that point alone. Trees are
interleaved point by point (A, B, then B, A for the next point ...) so a noisy minute on the
shared machine hits both alike; ratios in the report are between figures of the same run.

Points, for every size N and shape (``chain``: each node waits on the one before;
``wide``: 100 independent chains side by side, so 100 nodes are in flight and share
group commits):

- ``fresh``: ``execute_with_resume(plan)`` on an empty folder (default interval: journal per
  node, snapshots at start and end);
- ``crash``: the same, but the process calls ``os._exit(1)`` when node number 0.9 N starts;
- ``resume``: a new process calls ``execute_with_resume(plan)`` on the crashed folder;
- ``again``: a new process calls it once more on the completed folder (nothing left to do);
- chains also get ``fresh`` at N / 10 (the reference of the resume target), ``nosync`` (fresh
  with ``os.fsync``/``os.fdatasync`` made no-ops: the library's own work) and ``plain`` (no
  persistence) at the smallest N, and ``plain`` at every N of 50k or more (what the public API
  holds without persistence: the memory target's floor);
- the disk's floor: write(200 bytes) + fdatasync on an open append-only file, and on a
  preallocated file, before and after the workloads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib

HERE = Path(__file__).resolve().parent
WIDTH = 100
CRASH_FRACTION = 0.9
TARGET_N = 50_000
"""The smallest N the resume and memory targets are stated for (50k-100k)."""
FULL = {
    "sizes": [10_000, 50_000, 100_000],
    "reps": 1,
    "small_reps": 2,
    "probes": 500,
    "wide_max": 100_000,
}
QUICK = {"sizes": [2000, 10_000], "reps": 1, "small_reps": 1, "probes": 100, "wide_max": 10_000}
Sample = dict[str, Any]


# ---------------------------------------------------------------------- the worker


def node_ids(shape: str, n: int) -> list[tuple[str, list[str]]]:
    if shape == "chain":
        return [(f"n{i:06d}", [f"n{i - 1:06d}"] if i else []) for i in range(n)]
    layers = n // WIDTH
    return [
        (f"w{layer:04d}-{col:03d}", [f"w{layer - 1:04d}-{col:03d}"] if layer else [])
        for layer in range(layers)
        for col in range(WIDTH)
    ]


def work(job: dict[str, Any]) -> Sample:
    """One point, in this fresh process."""
    import resource

    started = time.perf_counter()
    from vibe_aigc import MetaPlanner, Vibe, WorkflowExecutor, WorkflowNode, WorkflowPlan

    import_ms = (time.perf_counter() - started) * 1e3
    if job["mode"] == "nosync":  # diagnostic: the library's own work without the disk
        os.fsync = os.fdatasync = lambda fd: None
    crash_after = int(job["n"] * CRASH_FRACTION) if job.get("crash") else None
    calls: list[str] = []

    class Trivial(WorkflowExecutor):
        async def execute_node(self, node: Any, context: Any) -> Any:
            calls.append(node.id)
            if crash_after is not None and len(calls) > crash_after:
                os._exit(1)  # the process dies mid-node, as in a power cut
            return {"node": node.id, "ok": True}

    plan_began = time.perf_counter()
    nodes = [
        WorkflowNode(id=i, type="transform", description="step", dependencies=deps)
        for i, deps in node_ids(job["shape"], job["n"])
    ]
    plan = WorkflowPlan(
        id=f"scale-{job['shape']}-{job['n']}",
        root_nodes=nodes,
        source_vibe=Vibe(description="scale benchmark"),
    )
    del nodes
    plan_ms = (time.perf_counter() - plan_began) * 1e3
    if job["mode"] == "parts":  # the resume target's floor, part by part, on a crashed folder
        from resume_parts import parts

        return {"parts": parts(job["folder"], plan), "plan_ms": plan_ms}
    planner = MetaPlanner(
        executor=Trivial(max_concurrency=None if job["shape"] == "wide" else 8),
        checkpoint_dir=job["folder"],
    )
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

    async def run() -> dict[str, Any]:
        # timed in here and summarised: asyncio.run repr()s the main task's result once it
        # is done (a CPython quirk that costs seconds for a 100k-node result)
        begin = time.perf_counter()
        if job["mode"] == "plain":
            result = await planner.execute(plan)
        else:
            result = await planner.execute_with_resume(plan)
        secs = time.perf_counter() - begin
        done_at = time.time()
        resumed = sum(1 for r in result.node_results.values() if r.resumed)
        return {"status": result.status.value, "resumed": resumed, "secs": secs, "at": done_at}

    summary = asyncio.run(run())
    return {
        "status": summary["status"],
        "resumed": summary["resumed"],
        "executed": len(calls),
        "secs": summary["secs"],
        "import_ms": import_ms,
        "plan_ms": plan_ms,
        "spawn_to_result": summary["at"] - job["spawned_at"],
        "rss_before_kb": rss_before,
        "rss_peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


# ---------------------------------------------------------------------- orchestrating


def spawn(tree: Path, job: dict[str, Any], expect_rc: int = 0) -> Sample:
    job = {**job, "spawned_at": time.time()}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tree), str(HERE)])}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False, env=env)
    if proc.returncode != expect_rc:
        raise RuntimeError(f"worker {job} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    if expect_rc != 0:
        return {"spawn_to_result": time.time() - job["spawned_at"]}
    return dict(json.loads(proc.stdout.splitlines()[-1]))


def floor_probe(folder: Path, count: int, prealloc: bool) -> list[float]:
    """µs per write(200 bytes) + fdatasync: appended to an open file, or written in place
    into a preallocated (zero-filled, already allocated) one."""
    path = folder / "floor-probe"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    samples = []
    try:
        if prealloc:
            # real zeros, page by page (one big write makes large page-cache folios, and an
            # in-place append then flushes the whole folio: persistence/file/segment.py)
            for offset in range(0, 200 * count + 4096, 4096):
                os.pwrite(fd, bytes(4096), offset)
            os.fsync(fd)
        for i in range(count):
            begin = time.perf_counter()
            os.pwrite(fd, b"x" * 199 + b"\n", 200 * i)
            os.fdatasync(fd)
            samples.append((time.perf_counter() - begin) * 1e6)
    finally:
        os.close(fd)
        path.unlink()
    return samples


def points(cfg: dict[str, Any]) -> list[tuple[str, int, str, int]]:
    """(shape, n, kind, reps); kind: fresh, crash+resume+again, nosync, plain. With
    ``cfg["only"]`` (``--only crash``): chains crashed and resumed at every size, nothing else
    (e.g. the nothing-left point at 100k without the fresh runs around it)."""
    out: list[tuple[str, int, str, int]] = []
    if cfg.get("only") == "crash":
        return [("chain", n, "crash", cfg["reps"]) for n in cfg["sizes"]]
    small = min(cfg["sizes"])
    for n in cfg["sizes"]:
        reps = cfg["small_reps"] if n == small else cfg["reps"]
        for shape in ("chain", "wide") if n <= cfg["wide_max"] else ("chain",):
            out.append((shape, n, "fresh", reps))
            out.append((shape, n, "crash", reps))
        if n // 10 not in cfg["sizes"]:
            out.append(("chain", n // 10, "fresh", cfg["small_reps"]))
        if n >= TARGET_N:  # the memory target's reference: the same plan, nothing persisted
            out.append(("chain", n, "plain", 1))
    out.append(("chain", small, "nosync", cfg["small_reps"]))
    out.append(("chain", small, "plain", cfg["small_reps"]))
    return out


def measure(root: Path, trees: dict[str, Path], cfg: dict[str, Any]) -> dict[tuple, list[Sample]]:
    samples: dict[tuple, list[Sample]] = {}
    flip = False
    for shape, n, kind, reps in points(cfg):
        for rep in range(reps):
            order = list(trees.items())
            if flip:
                order.reverse()
            flip = not flip
            for name, tree in order:
                folder = root / f"{name}-{shape}-{n}-{kind}-{rep}"
                base = {"shape": shape, "n": n, "folder": str(folder)}
                print(f"  {name}: {shape} {n:,} {kind} (rep {rep + 1})", flush=True)
                if kind == "crash":
                    spawn(tree, {**base, "mode": "durable", "crash": True}, expect_rc=1)
                    if shape == "chain" and n >= TARGET_N:
                        out = spawn(tree, {**base, "mode": "parts"})
                        samples.setdefault((name, shape, n, "parts"), []).append(out)
                    for step in ("resume", "again"):
                        out = spawn(tree, {**base, "mode": "durable"})
                        samples.setdefault((name, shape, n, step), []).append(out)
                else:
                    mode = "durable" if kind == "fresh" else kind
                    out = spawn(tree, {**base, "mode": mode})
                    samples.setdefault((name, shape, n, kind), []).append(out)
                shutil.rmtree(folder, ignore_errors=True)
    return samples


# ---------------------------------------------------------------------- the report


def med(samples: dict[tuple, list[Sample]], key: tuple, field: str) -> float | None:
    values = [s[field] for s in samples.get(key, [])]
    return statistics.median(values) if values else None


def tables(samples: dict[tuple, list[Sample]], trees: list[str], cfg: dict[str, Any]) -> list[str]:
    lines = [
        "| tree | shape | N | fresh µs/node | fresh peak RSS (B/node) | resume after 90 % "
        "(s, process start → result) | nodes re-run | resume peak RSS (B/node) | nothing left "
        "(s, in process / start → result) | nothing-left peak RSS (B/node) |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in cfg["sizes"]:
        for shape in ("chain", "wide"):
            for tree in trees:
                fresh = samples.get((tree, shape, n, "fresh"), [])
                resume = samples.get((tree, shape, n, "resume"), [])
                again = samples.get((tree, shape, n, "again"), [])
                if not fresh and not resume:
                    continue
                us = benchlib.spread([s["secs"] / n * 1e6 for s in fresh]) if fresh else "–"
                rss = (
                    benchlib.spread([s["rss_peak_kb"] * 1024 / n for s in fresh]) if fresh else "–"
                )
                res = benchlib.spread([s["spawn_to_result"] for s in resume], "{:.2f}")
                rerun = benchlib.spread(
                    [s["executed"] - (n - int(n * CRASH_FRACTION)) for s in resume]
                )
                res_rss = benchlib.spread([s["rss_peak_kb"] * 1024 / n for s in resume])
                ag = benchlib.spread([s["secs"] for s in again], "{:.2f}")
                ag2 = benchlib.spread([s["spawn_to_result"] for s in again], "{:.2f}")
                ag_rss = benchlib.spread([s["rss_peak_kb"] * 1024 / n for s in again])
                lines.append(
                    f"| {tree} | {shape} | {n:,} | {us} | {rss} | {res} | {rerun} | {res_rss} "
                    f"| {ag} / {ag2} | {ag_rss} |"
                )
    return lines


def targets(
    samples: dict[tuple, list[Sample]],
    trees: list[str],
    cfg: dict[str, Any],
    floor: dict[str, float],
) -> list[str]:
    small = min(cfg["sizes"])
    lines = [
        "| tree | target | measured | goal |",
        "|---|---|---:|---|",
    ]
    for tree in trees:
        chain = med(samples, (tree, "chain", small, "fresh"), "secs")
        nosync = med(samples, (tree, "chain", small, "nosync"), "secs")
        plain = med(samples, (tree, "chain", small, "plain"), "secs")
        if chain is not None:
            per = chain / small * 1e6
            lines.append(
                f"| {tree} | durable chain {small:,}: µs/node ÷ append+fdatasync floor "
                f"({floor['append']:.0f} µs) | {per:.0f} µs = {per / floor['append']:.2f}× | "
                "≤ 1.5× |"
            )
        if nosync is not None and plain is not None:
            lines.append(
                f"| {tree} | library work per node without the disk (nosync − plain, chain "
                f"{small:,}) | {(nosync - plain) / small * 1e6:.0f} µs (nosync "
                f"{nosync / small * 1e6:.0f}, plain {plain / small * 1e6:.0f}) | ≤ 50 µs |"
            )
        for n in cfg["sizes"]:
            resume = med(samples, (tree, "chain", n, "resume"), "spawn_to_result")
            ref = med(samples, (tree, "chain", n // 10, "fresh"), "spawn_to_result")
            if resume is not None and ref is not None and n >= TARGET_N:
                lines.append(
                    f"| {tree} | chain {n:,} resumed after a crash at 90 % ÷ fresh chain of "
                    f"{n // 10:,} (process start → result) | {resume:.2f} s ÷ {ref:.2f} s = "
                    f"{resume / ref:.2f}× | ≤ 1.5× |"
                )
                lines += resume_floor(samples, tree, n, resume, ref)
        big = max(cfg["sizes"])
        again = med(samples, (tree, "chain", big, "again"), "secs")
        if again is not None:
            lines.append(
                f"| {tree} | nothing-left resume, chain {big:,} (in process) | {again:.2f} s "
                "| ≤ 1 s |"
            )
        peaks = [
            s["rss_peak_kb"] * 1024 / n / 1000
            for (t, _, n, kind), outs in samples.items()
            if t == tree and n >= TARGET_N and kind in ("fresh", "resume", "again")
            for s in outs
        ]
        if peaks:
            lines.append(
                f"| {tree} | peak RSS per node, every point at 50k–100k (fresh, resume, "
                f"nothing left) | worst {max(peaks):.1f} KB | ≤ 2.5 KB |"
            )
        for n in cfg["sizes"]:
            plain_rss = med(samples, (tree, "chain", n, "plain"), "rss_peak_kb")
            if plain_rss is None or n < TARGET_N:
                continue
            held = [
                med(samples, (tree, "chain", n, kind), "rss_peak_kb")
                for kind in ("fresh", "resume", "again")
            ]
            shown = " / ".join("–" if kb is None else f"{kb * 1.024 / n:.2f}" for kb in held)
            lines.append(
                f"| {tree} | reference: peak RSS per node of chain {n:,} run by "
                f"`planner.execute` (nothing persisted) beside fresh / resume / nothing left "
                f"| {plain_rss * 1.024 / n:.2f} KB beside {shown} KB | the floor of the goal "
                "(≤ 2.5 KB) |"
            )
    return lines


def resume_floor(
    samples: dict[tuple, list[Sample]], tree: str, n: int, resume: float, ref: float
) -> list[str]:
    """The resume target's floor: the fresh run of N / 10 plus the caller's building of the
    larger plan, as if loading, checking and re-snapshotting the 0.9 N completed results
    were free; and what the library spends per completed result against what 1.5× leaves."""
    big_plan = med(samples, (tree, "chain", n, "resume"), "plan_ms")
    small_plan = med(samples, (tree, "chain", n // 10, "fresh"), "plan_ms")
    if big_plan is None or small_plan is None:
        return []
    floor = ref + (big_plan - small_plan) / 1e3
    done = n - n // 10
    rows = [
        f"| {tree} | reference: chain {n:,} resume floor (fresh {n // 10:,} + building the "
        f"larger plan, {big_plan / 1e3:.2f} s against {small_plan / 1e3:.2f} s) ÷ fresh "
        f"{n // 10:,}; library time per completed result, spent / left by 1.5× | "
        f"{floor / ref:.2f}×; {(resume - floor) / done * 1e6:.0f} µs / "
        f"{(1.5 * ref - floor) / done * 1e6:.0f} µs | the floor of the goal (≤ 1.5×) |"
    ]
    found = samples.get((tree, "chain", n, "parts"), [])
    if found:
        got = found[0]["parts"]
        each = ", ".join(
            f"{name} {got[name] / done * 1e6:.1f}"
            for name in ("graph", "plan_text", "checksums", "json", "results", "snapshot")
        )
        rows.append(
            f"| {tree} | reference: chain {n:,}, the cheapest form of each part a resume "
            f"cannot skip (`resume_parts.py`), µs per completed result | {each}: sum "
            f"{got['sum'] / done * 1e6:.1f} µs = {(floor + got['sum']) / ref:.2f}× with the "
            f"floor | the floor of the goal (≤ 1.5×) |"
        )
    return rows


def report(
    args: argparse.Namespace,
    machine: list[str],
    trees: dict[str, Path],
    samples: dict[tuple, list[Sample]],
    floors: list[tuple[str, list[float]]],
    loads: list[str],
) -> str:
    cfg = args.cfg
    cmd = "bench/bench_scale.py" + (" --quick" if args.quick else "")
    if args.sizes:
        cmd += f" --sizes {args.sizes}"
    if args.small_reps is not None:
        cmd += f" --small-reps {args.small_reps}"
    if args.wide_max is not None:
        cmd += f" --wide-max {args.wide_max}"
    if args.only:
        cmd += f" --only {args.only}"
    cmd += "".join(f" --tree {k}={v}" for k, v in trees.items())
    floor = {
        "append": statistics.median(
            [v for label, vs in floors if label.startswith("append") for v in vs]
        ),
        "prealloc": statistics.median(
            [v for label, vs in floors if label.startswith("prealloc") for v in vs]
        ),
    }
    nl = "\n"
    return f"""## Scale: 10k–100k nodes, crash at 90 % and resume, memory (`bench_scale.py`)

Command (from the repository root): `.venv/bin/python {cmd}`

{nl.join(machine)}
- Load (`uptime`) before / after: {loads[0]} / {loads[-1]}
- Trees: {", ".join(f"`{k}` = `{v}`" for k, v in trees.items())} (interleaved point by point)

Each point is a fresh subprocess; `fresh` µs/node is the in-process time of
`execute_with_resume(plan)` ÷ N; resume times run from just before the parent spawns the
resuming process until its result is back (interpreter start, imports and building the N-node
plan included). Peak RSS is the process's `ru_maxrss` (plan construction included) ÷ N. `wide` =
{WIDTH} independent chains side by side (`max_concurrency=None`); `chain` runs with the
executor's default `max_concurrency=8`. Crash: `os._exit(1)` as node number 0.9 N starts.

### The disk's floor (write 200 bytes + fdatasync)

{nl.join(benchlib.fsync_rows(floors))}

### Targets (issue 15)

{nl.join(targets(samples, list(trees), cfg, floor))}

### All points

{nl.join(tables(samples, list(trees), cfg))}
"""


def run_all(
    trees: dict[str, Path], cfg: dict[str, Any]
) -> tuple[list[str], dict[tuple, list[Sample]], list[tuple[str, list[float]]], list[str]]:
    """Every point and the disk's floor before and after; kept in a file of the temp folder
    too (``--from-samples`` makes the report again from it)."""
    root = Path(tempfile.mkdtemp(prefix="vibe-scale-"))
    machine = benchlib.machine_info(root)
    loads = [subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()]
    try:
        floors = [
            ("append+fdatasync, before", floor_probe(root, cfg["probes"], prealloc=False)),
            ("prealloc+fdatasync, before", floor_probe(root, cfg["probes"], prealloc=True)),
        ]
        samples = measure(root, trees, cfg)
        floors += [
            ("append+fdatasync, after", floor_probe(root, cfg["probes"], prealloc=False)),
            ("prealloc+fdatasync, after", floor_probe(root, cfg["probes"], prealloc=True)),
        ]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    loads.append(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    kept = Path(tempfile.gettempdir()) / f"vibe-scale-samples-{os.getpid()}.json"
    body = {"machine": machine, "floors": floors, "loads": loads}
    body["samples"] = [[list(k), v] for k, v in samples.items()]
    kept.write_text(json.dumps(body))
    print(f"samples kept in {kept} (--from-samples makes the report again)", flush=True)
    return machine, samples, floors, loads


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument("--out", type=Path, help="report file (full run: bench/RESULTS.md)")
    parser.add_argument(
        "--tree",
        action="append",
        default=[],
        help="NAME=PATH of a src folder to measure (repeatable; default: this=src)",
    )
    parser.add_argument("--sizes", help="comma-separated N (default: 10000,50000,100000)")
    parser.add_argument("--small-reps", type=int, help="repetitions at the smallest size")
    parser.add_argument("--wide-max", type=int, help="largest N of the wide shape")
    parser.add_argument(
        "--only", choices=["crash"], help="crash: only crash / resume / nothing-left of chains"
    )
    parser.add_argument(
        "--from-samples",
        type=Path,
        help="report the samples a run kept (no measuring; give the same --tree names)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(work(json.loads(args.worker))))
        return
    trees = {
        name: Path(path).resolve()
        for name, path in (t.split("=", 1) for t in (args.tree or [f"this={HERE.parent / 'src'}"]))
    }
    cfg = dict(QUICK if args.quick else FULL)
    if args.sizes:
        cfg["sizes"] = [int(n) for n in args.sizes.split(",")]
    if args.small_reps is not None:
        cfg["small_reps"] = args.small_reps
    if args.wide_max is not None:
        cfg["wide_max"] = args.wide_max
    cfg["only"] = args.only
    args.cfg = cfg
    out = args.out or (None if args.quick else benchlib.RESULTS)
    if args.from_samples:
        kept = json.loads(args.from_samples.read_text())
        machine, floors, loads = kept["machine"], kept["floors"], kept["loads"]
        samples = {tuple(k): v for k, v in kept["samples"]}
    else:
        machine, samples, floors, loads = run_all(trees, cfg)
    text = report(args, machine, trees, samples, floors, loads)
    if out is None:
        print(text)
        return
    benchlib.write_section("bench_scale.py", text, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
