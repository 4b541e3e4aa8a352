"""Kill -9 chaos: a 200-node plan run in a subprocess that is SIGKILLed at random moments and
resumed, again and again, until it completes.

At every kill the checkpoint folder is read independently of the resume code
(:func:`reliability_kit.durable_record`), which tells which completions were durable at that
moment. Must hold, for every kill and at the end:

* every checkpoint file loads, and the journal reads (a torn last line is the only damage);
* no completion recorded on disk is ever run again, and what is recorded never shrinks;
* the nodes started in the killed process and not recorded (the nodes in flight) are at most
  ``max_concurrency``, and only they may run again;
* every recorded output equals the uninterrupted run's output for that node, and the final
  outputs of the resumed run equal the uninterrupted run's (outputs are derived from inputs,
  so a node fed a wrong dependency output would show);
* every node completes, and nothing is ever quarantined.

The quick version runs on every store: the file store (the folder is read file by file), and
SQLite and PostgreSQL (read through the store contract, :func:`reliability_kit.durable_record_in`).
A killed process cannot release its database lease, so the SQL stores run with a short lease
(``lease_seconds=1``) and the next process waits for it to expire (``--wait-lease``).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from reliability_kit import (
    CHAOS_PLAN_ID,
    RUNNER,
    DurableRecord,
    LedgerExecutor,
    build_chaos_plan,
    durable_record,
    durable_record_in,
    read_ledger,
    worked_nodes,
)

from vibe_aigc import ExecutionStatus, MetaPlanner
from vibe_aigc.persistence import WorkflowPersistenceManager

pytest_plugins = ("pgcluster",)


@dataclass
class ChaosConfig:
    seed: int
    kills: int  # kill this many times, then let the run finish
    max_events: int  # a kill waits for 1..max_events new ledger lines (then a random pause)
    concurrency: int = 4
    intervals: tuple[int | None, ...] = (None, 1, 5, 13)
    pause: float = 0.015  # after those lines, a random pause of up to this many seconds
    scale: float = 1.0  # node durations x scale
    runner_args: tuple[str, ...] = ()  # e.g. ("--backend", "ray", "--ray-address", ...)
    settle: bool = False  # after a kill, wait until the ledger is quiet (a dead driver's tasks)


@dataclass
class ChaosFigures:
    lives: int = 0
    kills: int = 0
    in_flight: list[int] = field(default_factory=list)
    reexecuted: list[int] = field(default_factory=list)
    executions: int = 0
    temp_files_left: int = 0
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0


def reference_outputs(seed: int) -> dict[str, Any]:
    """The same plan, uninterrupted, without any checkpointing."""
    plan = build_chaos_plan(seed)
    executor = LedgerExecutor(None, max_concurrency=4, scale=0.0)
    result = asyncio.run(executor.execute(plan))
    assert result.status == ExecutionStatus.COMPLETED
    return {k: v.output for k, v in result.node_results.items()}


def spawn(
    cpdir: Path | str, ledger: Path, cfg: ChaosConfig, interval: int | None
) -> subprocess.Popen[str]:
    args = [sys.executable, str(RUNNER), str(cpdir), str(ledger), str(cfg.seed)]
    args += ["--concurrency", str(cfg.concurrency), "--scale", str(cfg.scale)]
    if isinstance(cpdir, str):  # a database store: a killed owner's lease must expire first
        args += ["--wait-lease", "60"]
    if interval is not None:
        args += ["--interval", str(interval)]
    args += list(cfg.runner_args)
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def ledger_size(ledger: Path) -> int:
    try:
        with ledger.open("rb") as handle:
            return handle.read().count(b"\n")
    except FileNotFoundError:
        return 0


def wait_until_quiet(ledger: Path, quiet: float = 1.0, limit: float = 20.0) -> None:
    """Until the ledger has not grown for ``quiet`` seconds (bounded by ``limit``): tasks a
    killed Ray driver had submitted may still log before Ray cancels them."""
    deadline = time.monotonic() + limit
    size, since = ledger_size(ledger), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet:
        time.sleep(0.05)
        if ledger_size(ledger) != size:
            size, since = ledger_size(ledger), time.monotonic()


def kill_at_random_moment(
    proc: subprocess.Popen[str], ledger: Path, rng: random.Random, cfg: ChaosConfig
) -> bool:
    """SIGKILL ``proc`` at a random moment; False when it finished first."""
    if rng.random() < 0.15:  # anywhere in start-up, lock, load, first snapshot
        deadline = time.monotonic() + rng.uniform(0.0, 0.35)
        while time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.001)
    else:
        target = ledger_size(ledger) + rng.randint(1, cfg.max_events)
        limit = time.monotonic() + 60
        while ledger_size(ledger) < target and proc.poll() is None:
            assert time.monotonic() < limit, "the runner made no progress"
            time.sleep(0.0005)
        time.sleep(rng.uniform(0.0, cfg.pause))
    if proc.poll() is not None:
        return False
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    return True


def run_chaos(tmp_path: Path, cfg: ChaosConfig, url: str | None = None) -> ChaosFigures:
    """The chaos loop on the file store in ``tmp_path`` or, given ``url``, on that store."""
    started = time.monotonic()
    reference = reference_outputs(cfg.seed)
    plan = build_chaos_plan(cfg.seed)
    worked = worked_nodes(plan)
    ledger = tmp_path / "ledger.txt"
    cpdir: Path | str = tmp_path / "cps" if url is None else url
    manager = WorkflowPersistenceManager(store=str(cpdir))

    def on_disk() -> DurableRecord:
        if isinstance(cpdir, Path):
            return durable_record(cpdir, CHAOS_PLAN_ID)
        return durable_record_in(cpdir, CHAOS_PLAN_ID)
    rng = random.Random(cfg.seed * 7919)
    figures = ChaosFigures()
    durable_before: dict[str, Any] = {}
    in_flight_at: list[set[str]] = []  # per kill: nodes started and not durable
    final: dict[str, Any] | None = None

    while final is None:
        figures.lives += 1
        assert figures.lives < cfg.kills + 200, "the plan never completed"
        seen = len(read_ledger(ledger))
        proc = spawn(cpdir, ledger, cfg, rng.choice(cfg.intervals))
        if figures.kills < cfg.kills and kill_at_random_moment(proc, ledger, rng, cfg):
            figures.kills += 1
            if cfg.settle:
                wait_until_quiet(ledger)
        else:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err
            final = json.loads(out.strip().splitlines()[-1])
        life = read_ledger(ledger)[seen:]
        pids = {e.pid for e in life}
        assert pids <= {str(proc.pid)}, pids
        starts = [e.node_id for e in life if e.event == "start"]
        figures.executions += len(starts)
        assert len(starts) == len(set(starts)), "a node started twice in one process"
        # nothing recorded before this process started was run again
        rerun = set(starts) & set(durable_before)
        assert not rerun, f"life {figures.lives}: recorded completions ran again: {sorted(rerun)}"
        # what the disk records now (every checkpoint file must load)
        record = on_disk()
        manager.read_journal(CHAOS_PLAN_ID)  # must not raise
        assert not record.quarantined, record.quarantined
        forgotten = set(durable_before) - set(record.outputs)
        assert not forgotten, f"recorded completions were forgotten: {sorted(forgotten)}"
        for node_id, output in record.outputs.items():
            assert output == reference[node_id], f"{node_id}: recorded output differs"
        for cp in manager.list_checkpoints(CHAOS_PLAN_ID):
            assert not cp["corrupt"], cp
        if final is None:
            in_flight = set(starts) - set(record.outputs)
            assert len(in_flight) <= cfg.concurrency, (figures.lives, sorted(in_flight))
            figures.in_flight.append(len(in_flight))
            in_flight_at.append(in_flight)
        durable_before = dict(record.outputs)

    # re-executions: each later start of a node is charged to the last kill it was in flight at
    starts_by_life: list[set[str]] = []
    current: set[str] = set()
    last_pid = None
    for entry in read_ledger(ledger):
        if entry.pid != last_pid:
            current = set()
            starts_by_life.append(current)
            last_pid = entry.pid
        if entry.event == "start":
            current.add(entry.node_id)
    counts = Counter(e.node_id for e in read_ledger(ledger) if e.event == "start")
    figures.reexecuted = [0] * len(in_flight_at)
    for node_id, count in counts.items():
        if count > 1:
            killed = [k for k, nodes in enumerate(in_flight_at) if node_id in nodes]
            assert len(killed) >= count - 1, f"{node_id} ran {count} times: not in flight"
            for k in killed[-(count - 1) :]:
                figures.reexecuted[k] += 1
    assert all(r <= cfg.concurrency for r in figures.reexecuted)
    assert all(r <= f for r, f in zip(figures.reexecuted, figures.in_flight, strict=True))

    assert final["status"] == "completed"
    assert set(final["statuses"].values()) == {"completed"}
    assert final["outputs"] == reference
    assert set(counts) == worked, worked ^ set(counts)
    if figures.kills:
        assert final["resumed_from"] is not None
    figures.temp_files_left = len(on_disk().temp_files)
    if url is not None:
        assert on_disk().checkpoints and not (tmp_path / "cps").exists()  # all in the database
    figures.warnings = list(final["warnings"])
    # and one more resume runs nothing and changes no output
    lines = len(read_ledger(ledger))
    again = asyncio.run(
        MetaPlanner(
            executor=LedgerExecutor(str(ledger), scale=0.0), store=str(cpdir)
        ).execute_with_resume(plan)
    )
    assert {k: v.output for k, v in again.node_results.items()} == reference
    assert len(read_ledger(ledger)) == lines
    figures.seconds = time.monotonic() - started
    return figures


def report(cfg: ChaosConfig, figures: ChaosFigures) -> None:
    per_kill = figures.reexecuted or [0]
    print(
        f"\nchaos seed={cfg.seed} concurrency={cfg.concurrency}: {figures.kills} kills over "
        f"{figures.lives} processes, {figures.executions} executions of "
        f"{len(worked_nodes(build_chaos_plan(cfg.seed)))} nodes with work of their own "
        f"({sum(figures.reexecuted)} re-executions); "
        f"re-executions per kill: max {max(per_kill)}, mean {sum(per_kill) / len(per_kill):.2f}; "
        f"in flight at kill: max {max(figures.in_flight or [0])}; "
        f"temp files left: {figures.temp_files_left}; {figures.seconds:.1f}s"
    )


@pytest.fixture(params=["file", "sqlite", "postgres"])
def chaos_store(request: pytest.FixtureRequest, tmp_path: Path) -> str | None:
    """None for the file store (the folder is read file by file), else a store URL."""
    if request.param == "file":
        return None
    if request.param == "sqlite":
        return f"sqlite://{tmp_path / 'runs.db'}?lease_seconds=1"
    return str(request.getfixturevalue("pg_url")) + "?lease_seconds=1"


def test_chaos_quick(tmp_path: Path, chaos_store: str | None) -> None:
    cfg = ChaosConfig(seed=int(os.environ.get("VIBE_CHAOS_SEED", "11")), kills=10, max_events=30)
    figures = run_chaos(tmp_path, cfg, chaos_store)
    report(cfg, figures)
    assert figures.kills >= 10


@pytest.mark.long
@pytest.mark.timeout(1800)
@pytest.mark.parametrize(
    "cfg",
    [
        ChaosConfig(seed=101, kills=120, max_events=3, pause=0.004, scale=2.0),
        ChaosConfig(
            seed=202,
            kills=120,
            max_events=3,
            concurrency=8,
            intervals=(1, 2, None),
            pause=0.004,
            scale=3.0,
        ),
    ],
    ids=["seed101-c4", "seed202-c8"],
)
def test_chaos_long(tmp_path: Path, cfg: ChaosConfig) -> None:
    figures = run_chaos(tmp_path, cfg)
    report(cfg, figures)
    assert figures.kills >= 100


# ---------------------------------------------------------------------- cancellation, in-process


async def cancellation_chaos(
    tmp_path: Path, seed: int, cancels: int, max_events: int = 6, total: int = 120
) -> tuple[int, int]:
    """Cancel a durable run at random moments (what SIGINT / SIGTERM do in the CLI).

    After each cancellation returns, nothing may still be writing (the folder stays as it is)
    and the plan lock must be free; recorded completions never run again; the final outputs
    equal the uninterrupted run's.
    """
    from reliability_kit import tree_state

    plan = build_chaos_plan(seed, total=total)
    reference = await LedgerExecutor(None, scale=0.0).execute(plan)
    cpdir, ledger = tmp_path / "cps", tmp_path / "ledger.txt"
    rng = random.Random(seed)
    done = 0
    rerun_total = 0
    durable: dict[str, Any] = {}
    for _ in range(cancels + 100):
        executor = LedgerExecutor(str(ledger), max_concurrency=8, scale=0.2)
        planner = MetaPlanner(
            executor=executor,
            checkpoint_dir=cpdir,
            checkpoint_interval=rng.choice([None, 1, 2, 5]),
        )
        before = len(read_ledger(ledger))
        task = asyncio.create_task(planner.execute_with_resume(plan))
        if done < cancels:
            target = before + rng.randint(0, max_events)
            while len(read_ledger(ledger)) < target and not task.done():
                await asyncio.sleep(0.0005)
            await asyncio.sleep(rng.uniform(0.0, 0.004))
            task.cancel()
        try:
            result = await task
        except asyncio.CancelledError:
            done += 1
            state = tree_state(cpdir)
            await asyncio.sleep(0.03)
            assert tree_state(cpdir) == state, "a write outlived the cancelled run"
            with planner.persistence_manager.lock(plan.id):
                pass  # the lock was released
        else:
            assert result.status == ExecutionStatus.COMPLETED
            if done >= cancels:
                break
            raise AssertionError(f"the run completed after only {done} cancellations")
        life = read_ledger(ledger)[before:]
        starts = {e.node_id for e in life if e.event == "start"}
        assert not starts & set(durable), sorted(starts & set(durable))
        record = durable_record(cpdir, plan.id)
        rerun_total += len(starts - set(record.outputs))
        durable = dict(record.outputs)
        for node_id, output in durable.items():
            assert output == reference.node_results[node_id].output
    else:
        raise AssertionError("never completed")
    assert {k: v.output for k, v in result.node_results.items()} == {
        k: v.output for k, v in reference.node_results.items()
    }
    return done, rerun_total


@pytest.mark.parametrize("interval", [1, 2, 3])
async def test_interval_snapshots_with_parallel_completions(tmp_path: Path, interval: int) -> None:
    """Regression: a snapshot rotated the journal while a batch was being written, so the batch
    landed below the new segment's first seq and the run died with CheckpointEncodeError."""
    plan = build_chaos_plan(3, total=80)
    planner = MetaPlanner(
        executor=LedgerExecutor(None, max_concurrency=8, scale=0.05),
        checkpoint_dir=tmp_path,
        checkpoint_interval=interval,
    )
    result = await planner.execute_with_resume(plan)
    assert result.status == ExecutionStatus.COMPLETED
    again = await planner.execute_with_resume(plan)
    assert all(r.resumed for r in again.node_results.values())


@pytest.mark.parametrize("interval", [1, 2, 3])
async def test_repeated_fresh_runs_keep_the_journal_numbering(
    tmp_path: Path, interval: int
) -> None:
    """Regression: when the last two snapshots covered the same seq, compaction removed every
    journal record; the next fresh run numbered from 0, below the current segment, and died
    with CheckpointEncodeError (``vibe-aigc execute ... --checkpoint-interval 1``, twice)."""
    for total in (1, 6, 7):
        plan = build_chaos_plan(9, total=total, plan_id=f"plan-fresh-{total}")
        for _ in range(3):
            planner = MetaPlanner(
                executor=LedgerExecutor(None, scale=0.0),
                checkpoint_dir=tmp_path,
                checkpoint_interval=interval,
            )
            result = await planner.execute_with_resume(plan, fresh=True)
            assert result.status == ExecutionStatus.COMPLETED and not result.warnings
            again = await planner.execute_with_resume(plan)
            assert all(r.resumed for r in again.node_results.values()) and not again.warnings
        assert not list((tmp_path / plan.id).glob("quarantined-*"))


async def test_cancellation_chaos_quick(tmp_path: Path) -> None:
    cancels, _ = await cancellation_chaos(tmp_path, seed=5, cancels=25)
    assert cancels == 25


@pytest.mark.long
@pytest.mark.timeout(1800)
async def test_cancellation_chaos_long(tmp_path: Path) -> None:
    cancels, rerun = await cancellation_chaos(
        tmp_path, seed=6, cancels=300, max_events=3, total=200
    )
    print(f"\ncancellation chaos: {cancels} cancellations, {rerun} nodes in flight re-run")
    assert cancels == 300


def test_temp_files_left_by_killed_writers_are_swept(tmp_path: Path) -> None:
    """A kill during a snapshot leaves a ``.tmp-`` file; the next saves remove it once it is
    a minute old (younger ones may be a write in progress) and never touch anything else."""
    plan = build_chaos_plan(4, total=5, plan_id="plan-sweep")
    planner = MetaPlanner(executor=LedgerExecutor(None, scale=0.0), checkpoint_dir=tmp_path)
    asyncio.run(planner.execute_with_resume(plan))
    plan_dir = tmp_path / plan.id
    old, fresh = plan_dir / ".tmp-cp-0000000000001-aaaa.json-1", plan_dir / ".tmp-cp-x.json-2"
    old.write_text("half a checkpoint")
    fresh.write_text("a write in progress")
    os.utime(old, (time.time() - 120, time.time() - 120))
    (plan_dir / ".tmp-folder").mkdir()
    asyncio.run(planner.execute_with_resume(plan, fresh=True))
    assert not old.exists() and fresh.exists() and (plan_dir / ".tmp-folder").is_dir()
