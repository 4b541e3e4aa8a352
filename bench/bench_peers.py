"""vibe-aigc side by side with its peers, on the same workloads, in one run.

Run by hand from the repository root, never as a test::

    .venv/bin/python bench/bench_peers.py            # full run (16-20 min), rewrites its
                                                     # section of bench/RESULTS.md
    .venv/bin/python bench/bench_peers.py --quick    # smoke run (~2 min), prints the report

Peers, each installed by this script into its own virtual environment under ``bench/.venvs/``
(``--venvs``; never into the project's dependencies), at the pinned versions of ``ENVS``:
vibe-aigc 0.7.1 from PyPI (it declares Python >= 3.12 and runs on 3.11 with
``--ignore-requires-python``), LangGraph + langgraph-checkpoint-sqlite, DBOS Transact. Every
point runs in a fresh subprocess of its system's interpreter: ``driver_<system>.py '<job>'``
prints one JSON line of measurements (``peerlib.py`` holds the shapes and the measuring). Ours
runs from this interpreter (the project's ``.venv``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchlib
import peerlib
from benchlib import HERE, spread

ENVS: dict[str, dict[str, list[str]]] = {  # venv name -> pinned packages, extra pip options
    "vibe-aigc-0.7.1": {"packages": ["vibe-aigc==0.7.1"], "pip": ["--ignore-requires-python"]},
    "langgraph": {
        "packages": ["langgraph==1.2.24", "langgraph-checkpoint-sqlite==3.1.2"],
        "pip": [],
    },
    "dbos": {"packages": ["dbos==3.4.0"], "pip": []},
}
VERSIONS_OF = (  # packages whose versions the report lists, per environment
    "vibe-aigc", "langgraph", "langgraph-checkpoint", "langgraph-checkpoint-sqlite",
    "langchain-core", "dbos", "sqlalchemy", "pydantic", "pydantic-core",
)  # fmt: skip


@dataclass(frozen=True)
class System:
    key: str
    label: str
    env: str | None  # None: this interpreter (the project's .venv)
    driver: str
    extra: dict[str, Any] = field(default_factory=dict)


SYSTEMS = {
    s.key: s
    for s in [
        System("ours", "vibe-aigc (this tree)", None, "driver_vibe.py"),
        System("v071", "vibe-aigc 0.7.1", "vibe-aigc-0.7.1", "driver_v071.py"),
        System("lg", "LangGraph", "langgraph", "driver_langgraph.py", {"graph": "nodes"}),
        System(
            "lg-loop", "LangGraph, 1 looping node", "langgraph", "driver_langgraph.py",
            {"graph": "loop"},
        ),
        System("dbos", "DBOS", "dbos", "driver_dbos.py"),
    ]
}  # fmt: skip

FULL: dict[str, Any] = {
    "sizes": [100, 2000, 10_000],
    "reps": 5,  # per point; "long" points (below) get long_reps
    "long_reps": 3,
    "every_node_max": 2000,  # checkpoint_interval=1 is O(N^2) in both vibe-aigc versions
    "every_node_long_reps": 2,  # at 2,000 one run of each takes about 2 minutes
    "lg_nodes_max": 2000,  # LangGraph's checkpoints grow with the nodes run: O(N^2)
    "dag_reps": 5,
    "resume_reps": 3,
    "scale": {"layers": 100, "width": 100},
    "scale_reps": 3,
    "fsyncs": 500,
}
QUICK: dict[str, Any] = {
    "sizes": [100, 1000],
    "reps": 1,
    "long_reps": 1,
    "every_node_max": 100,
    "every_node_long_reps": 1,
    "lg_nodes_max": 1000,
    "dag_reps": 1,
    "resume_reps": 1,
    "scale": {"layers": 20, "width": 50},
    "scale_reps": 1,
    "fsyncs": 100,
}
RESUME_N, RESUME_AT = 500, "n00400"
TARGET_US, TARGET_BYTES, TARGET_MAKESPAN = 300.0, 5 * 1024, 1.05
MODES = {
    "plain": "no persistence (the engine alone)",
    "durable": "every node recorded durably before the next starts (ours: the fsync'd "
    "journal, default interval; LangGraph: SqliteSaver, durability='sync'; DBOS: a step per node)",
    "every-node": "checkpoint_interval=1: a full checkpoint file after every node",
}

# ---------------------------------------------------------------------- environments


def python_of(system: System, venvs: Path) -> Path:
    return Path(sys.executable) if system.env is None else venvs / system.env / "bin" / "python"


def ensure_env(name: str, venvs: Path, log: Path) -> None:
    """Create ``venvs/name`` with the pinned packages, unless it already has exactly them."""
    spec = ENVS[name]
    target = venvs / name
    stamp = target / "bench-requirements.json"
    wanted = json.dumps(spec, sort_keys=True)
    if stamp.exists() and stamp.read_text() == wanted and (target / "bin" / "python").exists():
        return
    print(f"  installing {name}: {' '.join(spec['packages'])} ...", flush=True)
    shutil.rmtree(target, ignore_errors=True)
    venvs.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        subprocess.run([sys.executable, "-m", "venv", str(target)], check=True, stdout=out)
        subprocess.run(
            [str(target / "bin" / "python"), "-m", "pip", "install", "--quiet",
             "--disable-pip-version-check", *spec["pip"], *spec["packages"]],
            check=True, stdout=out, stderr=out,
        )  # fmt: skip
    stamp.write_text(wanted)


def env_versions(python: Path) -> str:
    proc = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=json", "--disable-pip-version-check"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    try:
        listed = {p["name"].lower(): p["version"] for p in json.loads(proc.stdout)}
    except json.JSONDecodeError:
        return "?"
    return ", ".join(f"{n} {listed[n]}" for n in VERSIONS_OF if n in listed)


# ---------------------------------------------------------------------- running points


@dataclass
class Point:
    """One measured configuration; ``go`` runs it once and returns its sample."""

    workload: str
    key: tuple[Any, ...]
    reps: int
    go: Callable[[], dict[str, Any]]
    samples: list[dict[str, Any]] = field(default_factory=list)


class Runner:
    def __init__(self, root: Path, venvs: Path) -> None:
        self.root = root
        self.venvs = venvs
        self.count = 0

    def spawn(self, system: System, job: dict[str, Any], expect_rc: int = 0) -> dict[str, Any]:
        job = {**system.extra, **job}
        cmd = [str(python_of(system, self.venvs)), str(HERE / system.driver), json.dumps(job)]
        spawned_at = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, check=False)
        self.count += 1
        if proc.returncode != expect_rc:
            raise RuntimeError(
                f"{system.key} {job} exited {proc.returncode}:\n{proc.stderr[-3000:]}"
            )
        if expect_rc != 0:
            return {"spawned_at": spawned_at}
        out: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
        out["spawn_to_result"] = out["done_at"] - spawned_at
        return out

    def folder(self, prefix: str) -> Path:
        return Path(tempfile.mkdtemp(prefix=prefix, dir=self.root))

    def once(self, system: System, job: dict[str, Any]) -> dict[str, Any]:
        folder = self.folder(f"{system.key}-{job['shape']}-")
        try:
            return self.spawn(system, {**job, "folder": str(folder / "state")})
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def resume(self, system: System, mode: str, variant: str) -> dict[str, Any]:
        """First process fails (or dies) at RESUME_AT; a second one resumes."""
        folder = self.folder(f"{system.key}-resume-{variant}-")
        logs = [folder / "calls-1", folder / "calls-2"]
        job = {"shape": "chain", "n": RESUME_N, "mode": mode, "folder": str(folder / "state")}
        try:
            first = self.spawn(
                system,
                {**job, f"{variant}_at": RESUME_AT, "calls_log": str(logs[0])},
                expect_rc=1 if variant == "crash" else 0,
            )
            second = self.spawn(system, {**job, "calls_log": str(logs[1])})
            ran = [log.read_text().split() for log in logs]
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        second["first_status"] = first.get("status", "died (os._exit(1))")
        second["first_executed"] = len(ran[0])
        second["again"] = sorted(set(ran[0]) & set(ran[1]))
        return second


def plan_points(cfg: dict[str, Any], runner: Runner, workloads: set[str]) -> list[Point]:
    points: list[Point] = []
    sy = SYSTEMS

    def add(workload: str, key: tuple[Any, ...], reps: int, go: Callable[[], Any]) -> None:
        if workload in workloads and reps > 0:
            points.append(Point(workload, key, reps, go))

    chain_modes = {
        "ours": ("plain", "durable", "every-node"),
        "v071": ("plain", "every-node"),
        "lg": ("plain", "durable"),
        "lg-loop": ("durable",),
        "dbos": ("durable",),
    }
    for n in cfg["sizes"]:
        for key, modes in chain_modes.items():
            for mode in modes:
                reps = cfg["long_reps"] if n >= 10_000 else cfg["reps"]
                if mode == "every-node":
                    if n > cfg["every_node_max"]:
                        continue
                    reps = cfg["every_node_long_reps"] if n >= 1000 else reps
                if key == "lg" and mode == "durable" and n > cfg["lg_nodes_max"]:
                    continue
                job = {"shape": "chain", "n": n, "mode": mode}
                add("chain", (key, n, mode), reps, lambda s=sy[key], j=job: runner.once(s, j))
    for dag in ("layered", "skewed"):
        for key in ("ours", "v071", "lg"):
            job = {"shape": dag, "mode": "plain"}
            add("dag", (key, dag), cfg["dag_reps"], lambda s=sy[key], j=job: runner.once(s, j))
    resume_systems = [
        ("ours", "durable"),
        ("v071", "every-node"),
        ("v071", "plain"),
        ("lg", "durable"),
        ("lg-loop", "durable"),
        ("dbos", "durable"),
    ]
    for key, mode in resume_systems:
        for variant in ("fail", "crash"):
            add(
                "resume", (key, mode, variant), cfg["resume_reps"],
                lambda s=sy[key], m=mode, v=variant: runner.resume(s, m, v),
            )  # fmt: skip
    scale = {"shape": "scale", **cfg["scale"], "fail_fraction": 0.1}
    for key, mode in [("ours", "plain"), ("ours", "durable"), ("lg", "durable"),
                      ("dbos", "durable"), ("v071", "plain")]:  # fmt: skip
        job = {**scale, "mode": mode}
        add("scale", (key, mode), cfg["scale_reps"], lambda s=sy[key], j=job: runner.once(s, j))
    return points


def run_points(points: list[Point]) -> None:
    """Interleaved: repetition 1 of every point, then repetition 2, ... (a noisy machine)."""
    started = time.perf_counter()
    for rep in range(max(p.reps for p in points)):
        for point in points:
            if rep >= point.reps:
                continue
            t0 = time.perf_counter()
            point.samples.append(point.go())
            print(
                f"  [{(time.perf_counter() - started) / 60:5.1f} min] {point.workload} "
                f"{' '.join(map(str, point.key))} #{rep + 1}: {time.perf_counter() - t0:.1f} s",
                flush=True,
            )


# ---------------------------------------------------------------------- reporting


def med(samples: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(s[key] for s in samples))


def label(key: str) -> str:
    return SYSTEMS[key].label


def rss(samples: list[dict[str, Any]]) -> str:
    """Peak RSS MB (and RSS before the run) of the median run."""
    return f"{med(samples, 'rss_peak_kb') / 1024:.0f} ({med(samples, 'rss_before_kb') / 1024:.0f})"


def by_key(points: list[Point], workload: str) -> dict[tuple[Any, ...], list[dict[str, Any]]]:
    return {p.key: p.samples for p in points if p.workload == workload and p.samples}


def ratio_cell(ours: list[float], peer: list[float], fmt: str = "{:.2f}") -> str:
    """Peer ÷ ours, paired by repetition (runs of one repetition ran back to back)."""
    pairs = [p / o for o, p in zip(ours, peer, strict=False) if o > 0]
    return spread(pairs, fmt) + "×" if pairs else "—"


def chain_tables(points: list[Point], sizes: list[int]) -> list[str]:
    data = by_key(points, "chain")
    rows = [
        "| system | N | mode | runs | µs/node median [min–max] | wchar B/node | "
        "write_bytes B/node | on disk after | peak RSS MB (before run) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (key, n, mode), samples in data.items():
        us = [s["secs"] * 1e6 / n for s in samples]
        rows.append(
            f"| {label(key)} | {n:,} | {mode} | {len(samples)} | {spread(us)} | "
            f"{med(samples, 'wchar') / n:,.0f} | {med(samples, 'write_bytes') / n:,.0f} | "
            f"{med(samples, 'disk_bytes') / 1024:,.0f} KB | {rss(samples)} |"
        )
    # ratios: each peer row against our row of the same N and the mode named
    pairs = [("v071", "every-node", "durable"), ("v071", "every-node", "every-node"),
             ("lg", "durable", "durable"), ("lg-loop", "durable", "durable"),
             ("dbos", "durable", "durable"), ("v071", "plain", "plain"),
             ("lg", "plain", "plain")]  # fmt: skip
    ratio_rows = [
        "| N | peer (mode) vs ours (mode) | time: peer ÷ ours | wchar: peer ÷ ours | "
        "write_bytes: peer ÷ ours | on disk: peer ÷ ours | peak RSS: peer ÷ ours |",
        "|---:|---|---:|---:|---:|---:|---:|",
    ]
    for n in sizes:
        for key, mode, ours_mode in pairs:
            peer, base = data.get((key, n, mode)), data.get(("ours", n, ours_mode))
            if not peer or not base:
                continue
            ratio_rows.append(
                f"| {n:,} | {label(key)} ({mode}) vs ours ({ours_mode}) | "
                f"{ratio_cell([s['secs'] for s in base], [s['secs'] for s in peer])} | "
                + " | ".join(
                    f"{med(peer, k) / med(base, k):.2f}×" if med(base, k) else "—"
                    for k in ("wchar", "write_bytes", "disk_bytes", "rss_peak_kb")
                )
                + " |"
            )
    return [*rows, "", "Ratios (> 1: the peer costs more than we do; time ratios are paired by "
            "repetition, median [min–max]; the others are ratios of medians):", "",
            *ratio_rows]  # fmt: skip


def dag_table(points: list[Point]) -> list[str]:
    data = by_key(points, "dag")
    rows = [
        "| DAG | system | runs | critical path ms | level-by-level bound ms | makespan ms | "
        f"makespan ÷ critical path (target ≤ {TARGET_MAKESPAN}) | ratio vs ours |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for (key, dag), samples in data.items():
        spec = peerlib.shape({"shape": dag})
        cp = peerlib.critical_path(spec)
        secs = {node: t for node, _, t in spec}
        level_bound = sum(max(secs[x] for x in lv) for lv in peerlib.levels(spec))
        ratios = [s["secs"] / cp for s in samples]
        ours = data.get(("ours", dag))
        vs = ratio_cell([s["secs"] for s in ours], [s["secs"] for s in samples]) if ours else "—"
        verdict = "meets" if statistics.median(ratios) <= TARGET_MAKESPAN else "misses"
        rows.append(
            f"| {dag} | {label(key)} | {len(samples)} | {cp * 1e3:.0f} | {level_bound * 1e3:.0f} | "
            f"{spread([s['secs'] * 1e3 for s in samples])} | "
            f"{spread(ratios, '{:.3f}')} ({verdict}) | {vs if key != 'ours' else '—'} |"
        )
    return rows


def resume_table(points: list[Point]) -> list[str]:
    data = by_key(points, "resume")
    rows = [
        "| system (mode) | variant | runs | 1st process | re-executed (ideal 1) | which | "
        "taken from storage | process start → result ms | in-process resume ms | import ms "
        "| final status |",
        "|---|---|---:|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for (key, mode, variant), samples in data.items():
        which = sorted({node for s in samples for node in s["again"]})
        shown = ", ".join(which[:3]) + (f" … ({len(which)})" if len(which) > 3 else "")
        in_process = [s.get("resume_secs", s["secs"]) * 1e3 for s in samples]
        how = samples[0].get("how")
        rows.append(
            f"| {label(key)} ({mode}) | {variant} | {len(samples)} | "
            f"{samples[0]['first_status']}, "
            f"started {spread([s['first_executed'] for s in samples])} | "
            f"{spread([len(s['again']) for s in samples])} | {shown or '—'} | "
            f"{spread([s['resumed'] for s in samples])} | "
            f"{spread([s['spawn_to_result'] * 1e3 for s in samples])} | "
            f"{spread(in_process)}{f' ({how})' if how and how != 'fresh' else ''} | "
            f"{spread([s['import_ms'] for s in samples])} | "
            f"{', '.join(sorted({s['status'] for s in samples}))} |"
        )
    return rows


def scale_table(points: list[Point], nodes: int) -> list[str]:
    data = by_key(points, "scale")
    rows = [
        "| system (mode) | runs | status | node calls (retries) | total s | µs/node | "
        "wchar B/node | on disk after | peak RSS MB (before run) | time: peer ÷ ours "
        "(durable) |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ours = data.get(("ours", "durable"))
    for (key, mode), samples in data.items():
        secs = [s["secs"] for s in samples]
        vs = "—"
        if ours and key != "ours" and all(s["status"] == "completed" for s in samples):
            vs = ratio_cell([s["secs"] for s in ours], secs)
        rows.append(
            f"| {label(key)} ({mode}) | {len(samples)} | "
            f"{', '.join(sorted({s['status'] for s in samples}))} | "
            f"{med(samples, 'executed'):,.0f} ({med(samples, 'retried'):,.0f}) | "
            f"{spread(secs, '{:.2f}')} | {spread([x * 1e6 / nodes for x in secs])} | "
            f"{med(samples, 'wchar') / nodes:,.0f} | {med(samples, 'disk_bytes') / 1024:,.0f} KB | "
            f"{rss(samples)} | {vs} |"
        )
    return rows


def _fmt(metric: str, value: float, n: int) -> str:
    if metric == "secs":
        return f"{value * 1e6 / n:,.0f} µs/node"
    if metric == "rss_peak_kb":
        return f"{value / 1024:,.0f} MB"
    return f"{value / n:,.0f} B/node"


def losses(points: list[Point], sizes: list[int], scale_nodes: int) -> list[str]:
    """Every line where a peer's median beats ours (the reasons are hand-written below)."""
    out = []
    chain = by_key(points, "chain")
    metrics = [("secs", "time"), ("wchar", "bytes written (wchar)"),
               ("write_bytes", "bytes to the block layer"), ("disk_bytes", "bytes on disk"),
               ("rss_peak_kb", "peak RSS")]  # fmt: skip
    for n in sizes:
        for (key, pn, mode), peer in chain.items():
            if key == "ours" or pn != n:
                continue
            ours = chain.get(("ours", n, mode))
            if not ours:
                continue
            for metric, what in metrics:
                o, p = med(ours, metric), med(peer, metric)
                if p < o:
                    out.append(
                        f"- chain N={n:,}, {mode}: {label(key)} beats ours on {what}: "
                        f"{_fmt(metric, p, n)} vs {_fmt(metric, o, n)} ({p / o:.2f}×)."
                    )
    dag = by_key(points, "dag")
    for (key, shape), samples in dag.items():
        ours = dag.get(("ours", shape))
        if key != "ours" and ours and med(samples, "secs") < med(ours, "secs"):
            out.append(f"- DAG {shape}: {label(key)} has the shorter makespan.")
        ratio = med(samples, "secs") / peerlib.critical_path(peerlib.shape({"shape": shape}))
        if key == "ours" and ratio > TARGET_MAKESPAN:
            out.append(f"- DAG {shape}: ours misses the {TARGET_MAKESPAN} target ({ratio:.3f}).")
    resume = by_key(points, "resume")
    for (key, mode, variant), peer in resume.items():
        ours = resume.get(("ours", "durable", variant))
        if key == "ours" or not ours or mode == "plain":  # plain: a rerun, not a resume
            continue
        for metric, what in [("spawn_to_result", "process start → result"),
                             ("resume_secs", "in-process resume")]:  # fmt: skip
            p, o = (statistics.median(s.get(metric, s["secs"]) for s in x) for x in (peer, ours))
            if p < o:
                out.append(
                    f"- resume/{variant}: {label(key)} ({mode}) is faster on {what}: "
                    f"{p * 1e3:,.0f} ms vs {o * 1e3:,.0f} ms."
                )
        again = [statistics.median(len(s["again"]) for s in x) for x in (peer, ours)]
        if again[0] < again[1]:
            out.append(f"- resume/{variant}: {label(key)} ({mode}) re-executes fewer nodes.")
    scale = by_key(points, "scale")
    ours = scale.get(("ours", "durable"))
    for (key, mode), peer in scale.items():
        if key == "ours" or not ours or mode != "durable":
            continue
        for metric, what in metrics:
            o, p = med(ours, metric), med(peer, metric)
            if p < o:
                out.append(
                    f"- scale: {label(key)} beats ours on {what}: {_fmt(metric, p, scale_nodes)}"
                    f" vs {_fmt(metric, o, scale_nodes)} ({p / o:.2f}×)."
                )
    return out or ["- none: ours is ahead of every peer on every line."]


def report(
    args: argparse.Namespace,
    cfg: dict[str, Any],
    machine: list[str],
    versions: dict[str, str],
    fsyncs: list[tuple[str, list[float]]],
    points: list[Point],
    minutes: float,
    spawned: int,
) -> str:
    nl = "\n"
    cmd = ".venv/bin/python bench/bench_peers.py" + (" --quick" if args.quick else "")
    scale_nodes = cfg["scale"]["layers"] * cfg["scale"]["width"]
    sizes = cfg["sizes"]
    return f"""## Side by side with the peers (`bench_peers.py`)

Command (from the repository root): `{cmd}` — this run took {minutes:.1f} minutes
({spawned} processes).

{nl.join(machine)}

Versions (each peer in its own virtual environment under `bench/.venvs/`, created by the
script):

{nl.join(f"- {label(k)}: {v}" for k, v in versions.items())}

How to read: every point runs in a fresh process of its system's own interpreter. Times are
wall time of the run call inside that process (interpreter start, imports, graph/plan
construction and DBOS `launch()` excluded, except in the resume table's 'process start →
result'). Repetitions are interleaved (repetition 1 of every point, then repetition 2, ...);
cells show median [min–max]. Bytes are /proc/self/io deltas over the call (`wchar`: bytes
handed to write(); `write_bytes`: bytes sent to the block layer, page granular). 'On disk
after' is the apparent size of the state folder after the run; peak RSS is the process's
`ru_maxrss`. Nodes do nothing (chains, scale) or sleep (DAGs), so the numbers are the engines'
own costs. Drivers: `bench/driver_*.py` (each docstring says exactly how its system is used).

### Raw fsync cost of this disk

{nl.join(benchlib.fsync_rows(fsyncs))}

### Workload 1: a chain of N trivial nodes, every node durable

Modes: {"; ".join(f"`{m}`: {t}" for m, t in MODES.items())}. LangGraph runs the chain as a
graph of N nodes (durable only up to N = {cfg["lg_nodes_max"]:,}: its checkpoint grows with the
number of nodes run, see below) and, as `1 looping node`, as one node revisited N times.
`checkpoint_interval=1` is O(N²) in both vibe-aigc versions, so it runs up to
N = {cfg["every_node_max"]:,} only.

{nl.join(chain_tables(points, sizes))}

### Workload 2: makespan of 200-node DAGs, nodes sleeping 5–50 ms, unlimited concurrency

`layered`: 10 layers of 20, each node waiting on 1–3 nodes of the layer before (and, 30% of the
time, one of an earlier layer). `skewed`: three chains of 40 beside eight fans (a root and 9
leaves). No checkpoints. 'Level-by-level bound' is what a scheduler that runs the plan one depth
level at a time needs at best (the sum over levels of the slowest node). DBOS is left out: it
has no mode without durability.

{nl.join(dag_table(points))}

### Workload 3: resume of a {RESUME_N}-node chain whose node {RESUME_AT} fails once

`fail`: in the first process node {RESUME_AT} raises (a permanent error; the run ends
failed). `crash`: the first process calls `os._exit(1)` inside that node. A new process then
resumes the same state (each driver's docstring says how). Both processes log the nodes they
start; 're-executed' counts nodes started by both. vibe-aigc 0.7.1 can only resume with
`checkpoint_interval` set; the `plain` rows show its default, which saves nothing. 'In-process
resume' is the resuming call (for DBOS: `launch()` plus the call, as `launch()` is where it
recovers a pending workflow; it then waits with `get_result(polling_interval_sec=0.01)`).

{nl.join(resume_table(points))}

### Workload 4: {scale_nodes:,} trivial nodes ({cfg["scale"]["layers"]} layers of \
{cfg["scale"]["width"]}), 10% failing once with a transient error

Retried at once by each system's retry policy; durable modes as in workload 1. DBOS runs the
nodes one after the other inside one workflow; the others run each layer concurrently.

{nl.join(scale_table(points, scale_nodes))}

### Where a peer beats us (generated; the reasons are in the hand-written analysis)

{nl.join(losses(points, sizes, scale_nodes))}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    parser.add_argument("--out", type=Path, help="write the report section into this file")
    parser.add_argument("--venvs", type=Path, default=HERE / ".venvs", help="peer environments")
    parser.add_argument(
        "--workloads", default="chain,dag,resume,scale", help="comma-separated subset"
    )
    args = parser.parse_args()
    cfg = QUICK if args.quick else FULL
    out = args.out or (None if args.quick else benchlib.RESULTS)
    workloads = set(args.workloads.split(","))
    began = time.perf_counter()
    root = Path(tempfile.mkdtemp(prefix="vibe-peers-"))
    try:
        print("peer environments ...", flush=True)
        log = args.venvs / "pip.log"  # kept beside the environments it built
        args.venvs.mkdir(parents=True, exist_ok=True)
        for env in ENVS:
            ensure_env(env, args.venvs, log)
        versions = {"ours": env_versions(Path(sys.executable))}
        for key in ("v071", "lg", "dbos"):
            versions[key] = env_versions(python_of(SYSTEMS[key], args.venvs))
        machine = benchlib.machine_info(root)
        fsyncs = [("before the workloads", benchlib.fsync_cost(root, cfg["fsyncs"]))]
        runner = Runner(root, args.venvs)
        points = plan_points(cfg, runner, workloads)
        print(f"{len(points)} points, temp folder {root}", flush=True)
        run_points(points)
        fsyncs.append(("after the workloads", benchlib.fsync_cost(root, cfg["fsyncs"])))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    minutes = (time.perf_counter() - began) / 60
    now = benchlib.source_state()
    if now not in machine[3]:
        machine.append(f"- **src/ changed during the run**; at the end: {now}")
    text = report(args, cfg, machine, versions, fsyncs, points, minutes, runner.count)
    if out is None:
        print(text)
    else:
        benchlib.write_section("bench_peers.py", text, out)
        print(f"wrote {out} ({minutes:.1f} min)")
    if os.environ.get("BENCH_SAMPLES"):  # raw samples, for checking the tables by hand
        Path(os.environ["BENCH_SAMPLES"]).write_text(
            json.dumps([{"key": p.key, "samples": p.samples} for p in points], default=str)
        )


if __name__ == "__main__":
    main()
