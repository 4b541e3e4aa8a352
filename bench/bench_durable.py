"""Durable-execution benchmark: what checkpointing costs per node, and how well resume works.

Run by hand, never as a test::

    .venv/bin/python bench/bench_durable.py            # full run, rewrites its section of
                                                       # bench/RESULTS.md
    .venv/bin/python bench/bench_durable.py --quick    # smoke run, prints the report only

Every measured point runs in a fresh subprocess (this script with ``--worker JOB``), so peak RSS
and /proc/self/io deltas belong to that point alone. The systems measured are the "runners" of
``runners.py``; to compare another engine, add a runner there.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib
from benchlib import fsync_cost, spread
from runners import RUNNERS, work

Sample = dict[str, Any]
Chain = dict[tuple[str, int, str], list[Sample]]  # (runner, N, mode) -> runs
Resume = dict[tuple[str, str], list[Sample]]  # (runner, variant) -> runs
TARGET_OVERHEAD_US = 300.0
TARGET_BYTES_PER_NODE = 5 * 1024
RESUME_N, RESUME_FAIL_INDEX = 500, 400
FULL = {
    "sizes": [100, 2000, 10_000],
    "reps": 5,
    "long_reps": 3,
    "every_max": 2000,
    "resume_reps": 5,
    "fsyncs": 500,
}
QUICK = {
    "sizes": [100, 1000],
    "reps": 2,
    "long_reps": 1,
    "every_max": 100,
    "resume_reps": 1,
    "fsyncs": 100,
}
MODES = {  # mode -> what it means (shown in the report)
    "plain": "(a) no checkpoints: MetaPlanner(executor=...).execute(plan)",
    "durable": "(b) execute_with_resume(plan), default interval: journal per node, "
    "snapshots at start and end",
    "every-node": "(c) checkpoint_interval=1: a full guide-shaped snapshot after every node "
    "(O(N^2) bytes by nature, so only for N <= 2,000, and 3 runs at 2,000)",
    "durable-nosync": "diagnostic, not a real configuration: (b) with os.fsync replaced by a "
    "no-op in the worker, so (b) minus this is the time spent waiting for the disk",
}


# ---------------------------------------------------------------------- orchestrating (parent)


def spawn(job: dict[str, Any], expect_rc: int = 0) -> dict[str, Any]:
    job = {**job, "spawned_at": time.time()}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=3600, check=False)
    if proc.returncode != expect_rc:
        raise RuntimeError(f"worker {job} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.splitlines()[-1]) if expect_rc == 0 else {}


def repetitions(cfg: dict[str, Any], n: int, mode: str) -> int:
    """Fewer runs for the long points: N = 10,000, and every-node from N = 1,000 (O(N^2))."""
    if mode == "every-node" and n > cfg["every_max"]:
        return 0
    long = n >= 10_000 or (mode == "every-node" and n >= 1000)
    return int(cfg["long_reps"] if long else cfg["reps"])


def chain_workload(root: Path, cfg: dict[str, Any]) -> Chain:
    samples: Chain = {}
    for rep in range(cfg["reps"]):
        for n in cfg["sizes"]:
            for name, runner in RUNNERS.items():
                for mode in runner.modes:
                    if rep >= repetitions(cfg, n, mode):
                        continue
                    folder = Path(tempfile.mkdtemp(prefix=f"{n}-{mode}-", dir=root))
                    job = {
                        "runner": name,
                        "n": n,
                        "mode": mode,
                        "folder": str(folder),
                    }
                    out = spawn(job)
                    shutil.rmtree(folder)
                    if out["status"] != "completed" or out["executed"] != n:
                        raise RuntimeError(f"bad run {job}: {out}")
                    samples.setdefault((name, n, mode), []).append(out)
                    per_node = out["secs"] * 1e6 / n
                    print(f"  {name} N={n} {mode} #{rep + 1}: {per_node:.0f} µs/node", flush=True)
    return samples


def resume_workload(root: Path, reps: int) -> Resume:
    """First process fails (or dies) at the failing node; a second one resumes."""
    samples: Resume = {}
    target = f"n{RESUME_FAIL_INDEX:05d}"
    for _ in range(reps):
        for name in RUNNERS:
            for variant in ("fail", "crash"):
                folder = Path(tempfile.mkdtemp(prefix=f"resume-{variant}-", dir=root))
                job = {"runner": name, "n": RESUME_N, "mode": "durable", "folder": str(folder)}
                logs = [root / f"calls-{variant}-{i}.log" for i in (1, 2)]
                first = spawn(
                    {**job, f"{variant}_at": target, "calls_log": str(logs[0])},
                    expect_rc=1 if variant == "crash" else 0,
                )
                second = spawn({**job, "calls_log": str(logs[1])})
                ran = [log.read_text().split() for log in logs]
                for log in logs:
                    log.unlink()
                shutil.rmtree(folder)
                second["first_status"] = first.get("status", "died (os._exit(1))")
                second["first_executed"] = len(ran[0])
                second["again"] = sorted(set(ran[0]) & set(ran[1]))
                samples.setdefault((name, variant), []).append(second)
                print(f"  {name} resume/{variant}: re-executed {second['again']}", flush=True)
    return samples


# ---------------------------------------------------------------------- reporting


def chain_table(samples: Chain) -> list[str]:
    rows = [
        "| runner | N | mode | runs | µs/node median [min–max] | overhead µs/node | "
        "wchar B/node | write_bytes B/node | on disk after | files | peak RSS MB |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for (name, n, mode), outs in samples.items():
        per_node = [o["secs"] * 1e6 / n for o in outs]
        plain = samples.get((name, n, "plain"))
        overhead = "—"
        if plain and mode != "plain":
            base = statistics.median(o["secs"] * 1e6 / n for o in plain)
            overhead = spread([v - base for v in per_node])

        keys = ("wchar", "write_bytes", "disk_bytes", "files", "rss_peak_kb", "rss_before_kb")
        med = {key: statistics.median(o[key] for o in outs) for key in keys}
        rows.append(
            f"| {name} | {n:,} | {mode} | {len(outs)} | {spread(per_node)} | {overhead} | "
            f"{med['wchar'] / n:,.0f} | {med['write_bytes'] / n:,.0f} | "
            f"{med['disk_bytes'] / 1024:,.0f} KB | {med['files']:.0f} | "
            f"{med['rss_peak_kb'] / 1024:.0f} (before run {med['rss_before_kb'] / 1024:.0f}) |"
        )
    return rows


def resume_table(samples: Resume) -> list[str]:
    rows = [
        "| runner | variant | runs | 1st process | nodes run on resume | re-executed "
        "(ran in both; ideal 1) | which | results taken from storage | process start → "
        "result ms | in-process resume ms | import ms | final status |",
        "|---|---|---:|---|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for (name, variant), outs in samples.items():
        which = sorted({node for o in outs for node in o["again"]})
        rows.append(
            f"| {name} | {variant} | {len(outs)} | {outs[0]['first_status']}, started "
            f"{spread([o['first_executed'] for o in outs])} nodes | "
            f"{spread([o['executed'] for o in outs])} | "
            f"{spread([len(o['again']) for o in outs])} | {', '.join(which[:5]) or '—'} | "
            f"{spread([o['resumed'] for o in outs])} | "
            f"{spread([o['spawn_to_result'] * 1e3 for o in outs])} | "
            f"{spread([o['secs'] * 1e3 for o in outs], '{:.1f}')} | "
            f"{spread([o['import_ms'] for o in outs])} | "
            f"{', '.join(sorted({o['status'] for o in outs}))} |"
        )
    return rows


def verdict(value: float, target: float) -> str:
    return "meets" if value <= target else "MISSES"


def findings(
    chain: Chain,
    resume: Resume,
    fsync_med: float,
) -> list[str]:
    lines = []
    trend: dict[str, list[str]] = {}  # runner -> "N: overhead (non-fsync part)" per N

    def med_us(name: str, n: int, mode: str) -> float | None:
        outs = chain.get((name, n, mode))
        return statistics.median(o["secs"] for o in outs) * 1e6 / n if outs else None

    for (name, n, mode), outs in chain.items():
        base, nosync = med_us(name, n, "plain"), med_us(name, n, "durable-nosync")
        if mode != "durable" or base is None:
            continue
        total = statistics.median(o["secs"] for o in outs) * 1e6 / n
        over = total - base
        split = "" if nosync is None else f"; fsync waits {total - nosync:.0f}, the rest "
        split += "" if nosync is None else f"{nosync - base:.0f}"
        rest = "" if nosync is None else f" (non-fsync {nosync - base:.0f})"
        trend.setdefault(name, []).append(f"N={n:,}: {over:.0f}{rest}")
        wchar = statistics.median(o["wchar"] for o in outs) / n
        wbytes = statistics.median(o["write_bytes"] for o in outs) / n
        lines.append(
            f"- {name}, N={n:,}: durable overhead {over:.0f} µs/node "
            f"({verdict(over, TARGET_OVERHEAD_US)} ≤ {TARGET_OVERHEAD_US:.0f}{split}; "
            f"{over / fsync_med:.1f}× the median raw fsync); {wchar:,.0f} B/node via write() "
            f"({verdict(wchar, TARGET_BYTES_PER_NODE)} ≤ {TARGET_BYTES_PER_NODE:,}), "
            f"{wbytes:,.0f} B/node to the block layer "
            f"({verdict(wbytes, TARGET_BYTES_PER_NODE)})."
        )
    for name, points in trend.items():
        lines.append(f"- {name}, overhead µs/node as N grows: {'; '.join(points)}.")
    for (name, variant), outs in resume.items():
        again = statistics.median(len(o["again"]) for o in outs)
        lines.append(
            f"- {name}, resume after {variant}: {again:.0f} node(s) re-executed "
            f"({'ideal' if again == 1 else 'NOT ideal'}; ideal = only the failed / in-flight "
            "node)."
        )
    return lines


def report(
    args: argparse.Namespace,
    machine: list[str],
    fsync_runs: list[list[float]],
    chain: Chain,
    resume: Resume,
) -> str:
    cmd = ".venv/bin/python bench/bench_durable.py" + (" --quick" if args.quick else "")
    fs_rows = benchlib.fsync_rows(
        list(zip(("before the workloads", "after the workloads"), fsync_runs, strict=True))
    )
    fsync_med = statistics.median(fsync_runs[0] + fsync_runs[1])
    nl, fail = "\n", f"n{RESUME_FAIL_INDEX:05d}"
    return f"""## vibe-aigc alone, in depth (`bench_durable.py`)

Command (from the repository root): `{cmd}`

{nl.join(machine)}

Each point runs in a fresh subprocess; times are in-process wall time of the `execute` /
`execute_with_resume` call (interpreter start, imports and plan construction excluded) divided by
N. Runs are interleaved (all points of one repetition, then the next) because the machine is
shared and noisy; the tables show median [min–max]. Bytes are medians of /proc/self/io deltas
over the call: `wchar` counts bytes handed to write(), `write_bytes` bytes sent to the block layer
(page granular: re-dirtying a 4 KiB page after each fsync counts the whole page; 0 on some file
systems). 'On disk after' is the apparent size of the checkpoint folder after the run.

### Raw fsync cost on this disk

write(200 bytes) + fsync on an O_APPEND file in the temp folder used by the runs.

{nl.join(fs_rows)}

### Workload 1: per-node overhead on a chain of trivial nodes

{nl.join(f"- `{mode}`: {text}" for mode, text in MODES.items())}

Overhead = median(mode) − median(plain) at the same N, per node; its [min–max] uses each run of
the mode against the plain median.

{nl.join(chain_table(chain))}

### Workload 2: resume of a {RESUME_N}-node chain failing at node {fail}

`fail`: the first process runs `execute_with_resume` and node {fail} raises (a permanent error),
so the run ends `failed`. `crash`: the first process calls `os._exit(1)` inside that node's
`execute_node`. Then a new process runs `execute_with_resume(plan)` on the same folder. Each
process logs the nodes it starts; "re-executed" counts nodes started by both. 'Process start →
result' runs from just before the parent spawns the resuming process until its result is back
(interpreter start and imports included).

{nl.join(resume_table(resume))}

### Findings (generated; targets: ≤ 300 µs/node overhead, ≤ 5 KB written/node, flat in N)

{nl.join(findings(chain, resume, fsync_med))}
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repetitions")
    parser.add_argument("--out", type=Path, help="report file (full run: bench/RESULTS.md)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(work(json.loads(args.worker))))
        return
    cfg = QUICK if args.quick else FULL
    out = args.out or (None if args.quick else benchlib.RESULTS)
    root = Path(tempfile.mkdtemp(prefix="vibe-bench-"))
    machine = benchlib.machine_info(root)
    try:
        print(f"temp folder {root}; fsync probe ...", flush=True)
        fsync_runs = [fsync_cost(root, cfg["fsyncs"])]
        print("workload 1: chains", flush=True)
        chain = chain_workload(root, cfg)
        print("workload 2: resume", flush=True)
        resume = resume_workload(root, cfg["resume_reps"])
        fsync_runs.append(fsync_cost(root, cfg["fsyncs"]))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    text = report(args, machine, fsync_runs, chain, resume)
    if out is None:
        print(text)
        return
    benchlib.write_section("bench_durable.py", text, out)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
