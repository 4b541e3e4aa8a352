"""A durable run of the chaos plan in its own process (driven by the reliability suites).

Usage::

    python chaos_runner.py STORE LEDGER SEED [--interval N] [--concurrency K]
                           [--scale F] [--barrier FILE] [--nodes N] [--wait-lease S]
                           [--backend ray --ray-address ADDRESS]

STORE is a checkpoint folder or a store URL (``sqlite://...``, ``postgresql://...``).

Runs :func:`reliability_kit.build_chaos_plan` through ``MetaPlanner.execute_with_resume`` with a
:class:`reliability_kit.LedgerExecutor`. With ``--barrier`` it first waits until FILE exists
(so several processes can start at the same moment). Prints one JSON line on success; exits 3
with ``locked: <message>`` on stderr when another process holds the plan (with
``--wait-lease S``: after retrying for S seconds, e.g. while a killed owner's lease expires).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reliability_kit import LedgerExecutor, build_chaos_plan

from vibe_aigc import CheckpointLockedError, MetaPlanner


async def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("checkpoint_dir")
    parser.add_argument("ledger")
    parser.add_argument("seed", type=int)
    parser.add_argument("--interval", type=int, default=None)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--barrier", default=None)
    parser.add_argument("--nodes", type=int, default=200)
    parser.add_argument("--wait-lease", type=float, default=0.0)
    parser.add_argument("--backend", default="local")
    parser.add_argument("--ray-address", default=None)
    args = parser.parse_args()
    where = (
        {"store": args.checkpoint_dir}
        if "://" in args.checkpoint_dir
        else {"checkpoint_dir": args.checkpoint_dir}
    )

    plan = build_chaos_plan(args.seed, total=args.nodes)
    planner = MetaPlanner(
        executor=LedgerExecutor(args.ledger, max_concurrency=args.concurrency, scale=args.scale),
        checkpoint_interval=args.interval,
        **where,
        backend=args.backend,
        ray_address=args.ray_address,
    )
    if args.barrier:
        barrier = Path(args.barrier)
        print("ready", flush=True)
        while not barrier.exists():
            time.sleep(0.001)
    started = time.monotonic()
    while True:
        try:
            result = await planner.execute_with_resume(plan)
            break
        except CheckpointLockedError as exc:
            elapsed = time.monotonic() - started
            if elapsed < args.wait_lease:
                await asyncio.sleep(0.05)
                continue
            print(f"locked after {elapsed:.3f}s: {exc}", file=sys.stderr)
            return 3
    print(
        json.dumps(
            {
                "status": result.status.value,
                "resumed_from": result.resumed_from,
                "warnings": result.warnings,
                "outputs": {k: v.output for k, v in result.node_results.items()},
                "statuses": {k: v.status.value for k, v in result.node_results.items()},
                "elapsed": time.monotonic() - started,
            }
        ),
        flush=True,
    )
    return 0 if result.status.value == "completed" else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
