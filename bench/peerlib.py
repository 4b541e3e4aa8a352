"""What every peer driver shares: the workload shapes, the measuring, the job protocol.

Standard library only: each driver runs under its own system's interpreter (its own virtual
environment), imports this module from ``bench/`` and nothing else of ours. A driver is called as
``python driver_X.py '<job as JSON>'`` and prints one JSON line of measurements.

Shapes are generated from fixed seeds, so every system runs exactly the same nodes, dependencies,
sleeps and failures.
"""

from __future__ import annotations

import json
import os
import random
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

Spec = list[tuple[str, list[str], float]]  # (node id, dependency ids, seconds of work)

# ---------------------------------------------------------------------- shapes


def chain_ids(n: int) -> list[str]:
    return [f"n{i:05d}" for i in range(n)]


def chain(n: int) -> Spec:
    """``n`` trivial nodes, each depending on the one before."""
    ids = chain_ids(n)
    return [(ids[i], [ids[i - 1]] if i else [], 0.0) for i in range(n)]


def layered_dag(
    layers: int, width: int, seed: int, *, sleep: tuple[float, float] | None = (0.005, 0.05)
) -> Spec:
    """``layers`` x ``width`` nodes; a node depends on 1-3 random nodes of the layer before and,
    with probability 0.3, on one node of an earlier layer. Sleeps are uniform in ``sleep``
    seconds (0 when ``sleep`` is None)."""
    rng = random.Random(seed)
    grid = [[f"L{lay:03d}_{i:03d}" for i in range(width)] for lay in range(layers)]
    spec: Spec = []
    for lay, row in enumerate(grid):
        for node in row:
            deps: list[str] = []
            if lay:
                deps = rng.sample(grid[lay - 1], rng.randint(1, min(3, width)))
                if lay >= 2 and rng.random() < 0.3:
                    deps.append(rng.choice(grid[rng.randrange(lay - 1)]))
            spec.append((node, deps, rng.uniform(*sleep) if sleep else 0.0))
    return spec


def skewed_dag(seed: int) -> Spec:
    """200 nodes: three long chains of 40 beside eight short, wide fans (a root and nine
    leaves). A level-by-level scheduler waits at every level for the slowest of the three chain
    nodes of that level, so it runs sum(max) instead of max(sum)."""
    rng = random.Random(seed)
    spec: Spec = []
    for c in range(3):
        for i in range(40):
            deps = [f"c{c}_{i - 1:02d}"] if i else []
            spec.append((f"c{c}_{i:02d}", deps, rng.uniform(0.005, 0.05)))
    for f in range(8):
        spec.append((f"f{f}_root", [], rng.uniform(0.005, 0.05)))
        for j in range(9):
            spec.append((f"f{f}_{j}", [f"f{f}_root"], rng.uniform(0.005, 0.05)))
    return spec


def critical_path(spec: Spec) -> float:
    """Longest path, in seconds of planned work (``spec`` is in topological order)."""
    finish: dict[str, float] = {}
    for node, deps, secs in spec:
        finish[node] = secs + max((finish[d] for d in deps), default=0.0)
    return max(finish.values())


def levels(spec: Spec) -> list[list[str]]:
    """Nodes grouped by depth (what a level-by-level scheduler runs together)."""
    depth: dict[str, int] = {}
    for node, deps, _ in spec:
        depth[node] = 1 + max((depth[d] for d in deps), default=-1)
    out: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for node, _, _ in spec:
        out[depth[node]].append(node)
    return out


def failing_once(spec: Spec, fraction: float, seed: int) -> set[str]:
    """A fixed ``fraction`` of the nodes, chosen at random with ``seed``."""
    ids = [node for node, _, _ in spec]
    return set(random.Random(seed).sample(ids, round(len(ids) * fraction)))


def scale_dag(layers: int = 100, width: int = 100) -> Spec:
    """Workload 4: trivial nodes, ``layers`` x ``width`` (10,000 by default)."""
    return layered_dag(layers, width, seed=4, sleep=None)


def shape(job: dict[str, Any]) -> Spec:
    """The nodes of a job: ``shape`` is chain (``n``), layered, skewed or scale
    (``layers`` x ``width``)."""
    kind = job["shape"]
    if kind == "chain":
        return chain(job["n"])
    if kind == "layered":
        return layered_dag(10, 20, seed=2)
    if kind == "skewed":
        return skewed_dag(seed=3)
    if kind == "scale":
        return scale_dag(job.get("layers", 100), job.get("width", 100))
    raise ValueError(f"unknown shape {kind!r}")


# ---------------------------------------------------------------------- measuring


def proc_io() -> dict[str, int]:
    """Counters of /proc/self/io (all threads of this process); zeros where unavailable."""
    try:
        lines = Path("/proc/self/io").read_text().splitlines()
    except OSError:
        return {"wchar": 0, "write_bytes": 0}
    return {k.strip(): int(v) for k, v in (line.split(":") for line in lines)}


def disk_usage(folder: Path) -> tuple[int, int]:
    """(apparent bytes, file count) of everything under ``folder``."""
    sizes = [p.lstat().st_size for p in folder.rglob("*") if p.is_file()]
    return sum(sizes), len(sizes)


def max_rss_kb() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


class Calls(list[str]):
    """The node ids a process started, in order. With a ``path`` each id is also written to
    that file at once, so a process that dies (``os._exit``) still leaves its list."""

    def __init__(self, path: str | None = None) -> None:
        super().__init__()
        self.fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600) if path else None

    def append(self, node_id: str) -> None:
        super().append(node_id)
        if self.fd is not None:
            os.write(self.fd, node_id.encode() + b"\n")


class Faults:
    """Decides, per call, whether a node fails (``fail_at``: a permanent error, once;
    ``failing``: a transient error on the first attempt) or kills the process (``crash_at``)."""

    def __init__(self, job: dict[str, Any], spec: Spec) -> None:
        self.fail_at: str | None = job.get("fail_at")
        self.crash_at: str | None = job.get("crash_at")
        fraction = job.get("fail_fraction", 0.0)
        self.failing = failing_once(spec, fraction, seed=44) if fraction else set()
        self.failed: set[str] = set()

    def check(self, node_id: str) -> str | None:
        """``"crash"`` (the caller must die now), ``"permanent"``, ``"transient"`` or None."""
        if node_id == self.crash_at:
            return "crash"
        if node_id == self.fail_at and node_id not in self.failed:
            self.failed.add(node_id)
            return "permanent"
        if node_id in self.failing and node_id not in self.failed:
            self.failed.add(node_id)
            return "transient"
        return None


def crash() -> None:
    os._exit(1)  # the process dies mid-node, as in a power cut


class Measure:
    """Wall time, /proc/self/io deltas and RSS around the timed call of one point."""

    def __enter__(self) -> Measure:
        self.rss_before = max_rss_kb()
        self.io0 = proc_io()
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.secs = time.perf_counter() - self.start
        self.done_at = time.time()
        io1 = proc_io()
        self.wchar = io1["wchar"] - self.io0["wchar"]
        self.write_bytes = io1["write_bytes"] - self.io0["write_bytes"]
        self.rss_peak = max_rss_kb()

    def fields(self, folder: Path | None = None) -> dict[str, Any]:
        disk, files = disk_usage(folder) if folder and folder.exists() else (0, 0)
        return {
            "secs": self.secs,
            "done_at": self.done_at,
            "wchar": self.wchar,
            "write_bytes": self.write_bytes,
            "rss_before_kb": self.rss_before,
            "rss_peak_kb": self.rss_peak,
            "disk_bytes": disk,
            "files": files,
        }


def main(run: Callable[[dict[str, Any]], dict[str, Any]]) -> None:
    """Driver entry point: ``run(job)`` returns the measurements; print them as one line."""
    job = json.loads(sys.argv[1])
    out = run(job)
    sys.stdout.flush()
    print("\n" + json.dumps(out), flush=True)
