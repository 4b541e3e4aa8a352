"""Probe: where a durable chain's time per node goes, inside the run. Run by hand, never as a
test::

    PYTHONPATH=src:bench python bench/probe_chain_sync.py [--n 5000] [--modes durable,nosync,...]

Each mode runs ``bench_scale.py``'s chain worker in this process (one after the other, so run
it on a quiet machine) with timers around the journal's ``fdatasync`` and a few library steps,
and prints µs per node:

* ``durable``: as a user runs it; the in-run ``fdatasync`` is compared with the disk's floor
  (``bench_scale.floor_probe``: 200 bytes + fdatasync into preallocated room, measured
  before and after in the same process);
* ``nosync``: ``fsync`` / ``fdatasync`` are no-ops (the library's own work);
* ``spin``: each sync is replaced by a busy wait of ``--stand-in`` µs;
* ``sleep``: each sync is replaced by ``time.sleep`` of the same.

``spin`` and ``sleep`` separate the cost of the disk from the cost of *blocking*: the library's
steps (e.g. ``encode_line``) run at ``nosync`` speed after a busy wait but up to twice as slow
after the thread slept (caches and the core went to other work meanwhile), and a durable run
pays the same.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bench_scale

Timings = collections.defaultdict[str, list[float]]


def timed(owner: Any, name: str, key: str, timings: Timings) -> Callable[[], None]:
    """Wrap ``owner.name`` to record its durations; returns the undo."""
    real = getattr(owner, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        begin = time.perf_counter()
        try:
            return real(*args, **kwargs)
        finally:
            timings[key].append((time.perf_counter() - begin) * 1e6)

    setattr(owner, name, wrapper)
    return lambda: setattr(owner, name, real)


def run(mode: str, n: int, stand_in: float, folder: Path) -> tuple[float, Timings]:
    from vibe_aigc.persistence import codec
    from vibe_aigc.persistence.file import segment
    from vibe_aigc.results import NodeResult

    timings: Timings = collections.defaultdict(list)
    real_sync, real_fsync = os.fdatasync, os.fsync
    if mode == "nosync":
        os.fsync = os.fdatasync = lambda fd: None
    elif mode == "spin":

        def spin(fd: int) -> None:
            end = time.perf_counter() + stand_in / 1e6
            while time.perf_counter() < end:
                pass

        os.fsync = os.fdatasync = spin
    elif mode == "sleep":
        os.fsync = os.fdatasync = lambda fd: time.sleep(stand_in / 1e6)
    undo = [
        timed(os, "fdatasync", "fdatasync (or its stand-in)", timings),
        timed(codec.JsonCodec, "encode_line", "encode_line", timings),
        timed(NodeResult, "model_dump", "NodeResult.model_dump", timings),
        timed(segment.SegmentFile, "append", "SegmentFile.append", timings),
    ]
    try:
        job = {"shape": "chain", "n": n, "folder": str(folder), "mode": "durable"}
        out = bench_scale.work({**job, "spawned_at": time.time()})
    finally:
        for step in undo:
            step()
        os.fdatasync, os.fsync = real_sync, real_fsync
        shutil.rmtree(folder, ignore_errors=True)
    return out["secs"] / n * 1e6, timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--modes", default="durable,nosync,spin,sleep")
    parser.add_argument("--stand-in", type=float, default=120.0, help="µs a stand-in waits")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="vibe-chain-sync-"))
    try:
        floor = bench_scale.floor_probe(root, 500, prealloc=True)
        rows = []
        for mode in args.modes.split(","):
            per_node, timings = run(mode, args.n, args.stand_in, root / mode)
            rows.append((mode, per_node, timings))
        floor += bench_scale.floor_probe(root, 500, prealloc=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(
        f"load: {os.getloadavg()}; chain of {args.n:,}; floor (prealloc + fdatasync, median "
        f"of before and after): {statistics.median(floor):.0f} µs"
    )
    steps = sorted({key for _, _, timings in rows for key in timings})
    print("| mode | µs/node | " + " | ".join(f"{s}: mean µs" for s in steps) + " |")
    print("|---|---:|" + "---:|" * len(steps))
    for mode, per_node, timings in rows:
        cells = [f"{statistics.fmean(timings[s]):.1f}" if timings.get(s) else "–" for s in steps]
        print(f"| {mode} | {per_node:.0f} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
