"""Durability guarantees with real processes and real files: kill -9, locks, traversal, secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from vibe_aigc import (
    CheckpointLockedError,
    CheckpointNotFoundError,
    ExecutionStatus,
    InvalidIdError,
    MetaPlanner,
    PlanMismatchError,
    Vibe,
    WorkflowNode,
    WorkflowNodeType,
    WorkflowPlan,
)
from vibe_aigc.persistence import WorkflowPersistenceManager

SCRIPT = Path(__file__).with_name("runner_script.py")


def run_script(
    cpdir: Path, ledger: Path, n: int, delay: float, *extra: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(SCRIPT), str(cpdir), str(ledger), str(n), str(delay), *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def ledger_lines(ledger: Path) -> list[str]:
    return ledger.read_text().splitlines() if ledger.exists() else []


def wait_for_done(ledger: Path, count: int, proc: subprocess.Popen[str], limit: float = 30) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if sum(1 for line in ledger_lines(ledger) if line.startswith("done")) >= count:
            return
        if proc.poll() is not None:
            raise AssertionError(f"runner exited early: {proc.communicate()}")
        time.sleep(0.01)
    raise AssertionError("runner made no progress")


def kill9(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)  # reap it and close its pipes


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1])


def test_kill_9_then_resume_reruns_only_in_flight_nodes(tmp_path: Path) -> None:
    cpdir, ledger = tmp_path / "cps", tmp_path / "ledger.txt"
    n = 40
    reference = finish(run_script(tmp_path / "ref", tmp_path / "ref-ledger", n, 0.0))

    for kill_after in (5, 17, 30):
        proc = run_script(cpdir, ledger, n, 0.02)
        wait_for_done(ledger, kill_after, proc)
        kill9(proc)
    final = finish(run_script(cpdir, ledger, n, 0.0))
    assert final["status"] == "completed"
    assert final["resumed_from"] is not None
    assert final["outputs"] == reference["outputs"]  # dependents saw the same inputs

    lines = ledger_lines(ledger)
    starts = Counter(line.split()[1] for line in lines if line.startswith("start"))
    assert set(starts) == {f"n{i}" for i in range(n)}
    # each kill can only repeat work that was in flight (max_concurrency=4) at that moment
    repeated = sum(count - 1 for count in starts.values())
    assert repeated <= 3 * 4, starts
    # every checkpoint file still loads
    manager = WorkflowPersistenceManager(cpdir)
    for cp in manager.list_checkpoints():
        assert not cp.get("corrupt"), cp
        manager.load_checkpoint(cp["checkpoint_id"])


def test_completed_nodes_never_rerun_after_kill(tmp_path: Path) -> None:
    cpdir, ledger = tmp_path / "cps", tmp_path / "ledger.txt"
    proc = run_script(cpdir, ledger, 30, 0.02, "1000")  # interval so large only the journal helps
    wait_for_done(ledger, 12, proc)
    kill9(proc)
    before = ledger_lines(ledger)
    done_before = {line.split()[1] for line in before if line.startswith("done")}
    finish(run_script(cpdir, ledger, 30, 0.0))
    after = ledger_lines(ledger)[len(before) :]
    rerun = {line.split()[1] for line in after if line.startswith("start")}
    # a node whose "done" was logged may have been killed before its journal fsync: only those
    # in flight; everything journaled (all but at most max_concurrency) is never run again
    assert len(rerun & done_before) <= 4
    assert len(done_before - rerun) >= len(done_before) - 4


def test_second_process_on_same_plan_is_refused(tmp_path: Path) -> None:
    cpdir, ledger = tmp_path / "cps", tmp_path / "ledger.txt"
    first = run_script(cpdir, ledger, 30, 0.05)
    wait_for_done(ledger, 1, first)
    second = run_script(cpdir, tmp_path / "ledger2.txt", 30, 0.0)
    _, err = second.communicate(timeout=60)
    assert second.returncode != 0
    assert "CheckpointLockedError" in err and str(first.pid) in err
    assert not (tmp_path / "ledger2.txt").exists()  # the refused process ran nothing
    kill9(first)
    # a holder killed with SIGKILL leaves no stale lock
    assert finish(run_script(cpdir, ledger, 30, 0.0))["status"] == "completed"


async def test_lock_within_one_process(tmp_path: Path) -> None:
    manager = WorkflowPersistenceManager(tmp_path)
    planner = MetaPlanner(persistence_manager=manager)
    plan = await planner.plan(Vibe(description="A poster about locks"))
    with manager.lock(plan.id), pytest.raises(CheckpointLockedError):
        await planner.execute_with_resume(plan)


HOSTILE = [
    "../x",
    "../../etc/passwd",
    "/etc/passwd",
    "a/b",
    "..",
    ".",
    "cp-../x",
    "cp-a/b",
    "x\x00y",
    "cp-\x00",
    "ｐlan",
    "cp-" + "a" * 300,
    "",
    "C:\\x",
    "cp-abc\n",
]


@pytest.mark.parametrize("bad", HOSTILE)
async def test_hostile_ids_on_every_api(tmp_path: Path, bad: str) -> None:
    root = tmp_path / "cps"
    planner = MetaPlanner(checkpoint_dir=root)
    vibe = Vibe(description="A poster about safety")
    before = sorted(str(p) for p in tmp_path.parent.iterdir())
    calls = [
        lambda: planner.get_checkpoint(bad),
        lambda: planner.delete_checkpoint(bad),
        lambda: planner.list_checkpoints(bad),
        lambda: planner.create_checkpoint(plan_id=bad, execution_state={}),
    ]
    for call in calls:
        with pytest.raises((InvalidIdError, CheckpointNotFoundError)):
            call()
    with pytest.raises((InvalidIdError, CheckpointNotFoundError)):
        await planner.execute_with_resume(vibe, checkpoint_id=bad)
    with pytest.raises((InvalidIdError, CheckpointNotFoundError)):
        await planner.execute_with_resume(vibe, plan_id=bad)
    with pytest.raises(InvalidIdError):
        await planner.plan(vibe, plan_id=bad)
    assert not root.exists()
    assert sorted(str(p) for p in tmp_path.parent.iterdir()) == before


async def test_secrets_never_reach_disk(tmp_path: Path) -> None:
    secret = "sk-test-THIS-MUST-NOT-LEAK-1234567890"
    vibe = Vibe(
        description="A newsletter about secrets",
        metadata={"api_key": secret, "nested": {"Authorization": f"Bearer {secret}"}},
    )
    planner = MetaPlanner(checkpoint_dir=tmp_path, checkpoint_interval=1)
    plan = await planner.plan(vibe)
    first = plan.root_nodes[0]
    plan.root_nodes[0] = first.model_copy(
        update={"parameters": {**first.parameters, "token": secret, "password": secret}}
    )
    result = await planner.execute_with_resume(plan)
    assert result.status == ExecutionStatus.COMPLETED
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


async def test_retention_and_cleanup_on_success(tmp_path: Path) -> None:
    planner = MetaPlanner(checkpoint_dir=tmp_path, checkpoint_interval=1, keep_last=3)
    vibe = Vibe(description="Write a tutorial about retention")
    await planner.execute_with_resume(vibe)
    await planner.execute_with_resume(vibe)
    assert len(planner.list_checkpoints()) == 3
    tidy = MetaPlanner(checkpoint_dir=tmp_path / "tidy", cleanup_on_success=True)
    result = await tidy.execute_with_resume(vibe)
    assert result.status == ExecutionStatus.COMPLETED
    assert tidy.list_checkpoints() == []


async def test_resume_of_completed_plan_runs_nothing(tmp_path: Path) -> None:
    calls: list[str] = []

    from vibe_aigc import WorkflowExecutor

    class Counting(WorkflowExecutor):
        async def execute_node(self, node: WorkflowNode, context: Any) -> Any:
            calls.append(node.id)
            return await super().execute_node(node, context)

    planner = MetaPlanner(checkpoint_dir=tmp_path, executor=Counting())
    vibe = Vibe(description="Compose a jingle for a bakery", domain="music")
    first = await planner.execute_with_resume(vibe)
    ran = len(calls)
    again = await planner.execute_with_resume(vibe)
    assert again.status == ExecutionStatus.COMPLETED and len(calls) == ran
    assert all(r.resumed for r in again.node_results.values())
    assert {k: v.output for k, v in again.node_results.items()} == {
        k: v.output for k, v in first.node_results.items()
    }


async def test_resuming_with_a_changed_plan_reruns_the_changed_nodes(tmp_path: Path) -> None:
    # issue 14 replaced the PlanMismatchError refusal: unchanged outputs are reused
    planner = MetaPlanner(checkpoint_dir=tmp_path)
    nodes = [
        WorkflowNode(
            id="a", type=WorkflowNodeType.ANALYZE, description="a", parameters={"tool": "brief"}
        ),
        WorkflowNode(
            id="b",
            type=WorkflowNodeType.GENERATE,
            description="b",
            dependencies=["a"],
            parameters={"tool": "outline"},
        ),
    ]
    plan = WorkflowPlan(id="plan-same", source_vibe=Vibe(description="x"), root_nodes=nodes)
    await planner.execute_with_resume(plan)
    changed = plan.model_copy(deep=True)
    changed.root_nodes[1].description = "something else"
    result = await planner.execute_with_resume(changed)
    assert result.status == ExecutionStatus.COMPLETED
    assert {k: v.resumed for k, v in result.node_results.items()} == {"a": True, "b": False}
    # a vibe that differs from the one a given checkpoint was made for is still refused
    checkpoint_id = result.checkpoint_id
    assert checkpoint_id is not None
    with pytest.raises(PlanMismatchError):
        await planner.execute_with_resume(
            Vibe(description="y"), checkpoint_id=checkpoint_id, plan_id="plan-same"
        )


async def test_non_json_output_fails_the_node_clearly(tmp_path: Path) -> None:
    from vibe_aigc import WorkflowExecutor

    class Weird(WorkflowExecutor):
        async def execute_node(self, node: WorkflowNode, context: Any) -> Any:
            return object()

    planner = MetaPlanner(checkpoint_dir=tmp_path, executor=Weird())
    plan = WorkflowPlan(
        id="plan-weird",
        source_vibe=Vibe(description="x"),
        root_nodes=[WorkflowNode(id="a", type=WorkflowNodeType.GENERATE, description="a")],
    )
    result = await planner.execute_with_resume(plan)
    assert result.node_results["a"].status == ExecutionStatus.FAILED
    assert "not JSON data" in (result.node_results["a"].error or "")


async def test_create_checkpoint_from_inside_a_progress_callback(tmp_path: Path) -> None:
    from vibe_aigc import EventKind, ProgressEvent

    made: list[str] = []

    def on_event(event: ProgressEvent) -> None:
        if event.kind == EventKind.NODE_COMPLETED and event.state is not None and not made:
            made.append(
                planner.create_checkpoint(plan_id=event.plan_id, execution_state=event.state)
            )

    planner = MetaPlanner(checkpoint_dir=tmp_path, progress_callback=on_event)
    result = await planner.execute_with_resume(Vibe(description="Write a podcast intro"))
    assert result.status == ExecutionStatus.COMPLETED
    manual = planner.get_checkpoint(made[0])
    assert manual["state"] == "running"
    assert 1 <= len(manual["completed_nodes"]) < manual["total_nodes"]
    assert made[0] in [cp["checkpoint_id"] for cp in planner.list_checkpoints()]


async def test_journal_stays_bounded_over_many_runs(tmp_path: Path) -> None:
    planner = MetaPlanner(checkpoint_dir=tmp_path, checkpoint_interval=2, keep_last=5)
    vibe = Vibe(description="Write a newsletter about compaction")
    for _ in range(6):
        await planner.execute_with_resume(vibe, fresh=True)
    plan_dir = next(p for p in tmp_path.iterdir() if p.is_dir())
    segments = list(plan_dir.glob("journal-*.jsonl"))
    assert len(segments) <= 3, segments
    assert len(list(plan_dir.glob("cp-*.json"))) == 5
    # and the state still rebuilds exactly
    again = await planner.execute_with_resume(vibe)
    assert again.status == ExecutionStatus.COMPLETED
    assert all(r.resumed for r in again.node_results.values())


def test_memo_survives_kill_9(tmp_path: Path) -> None:
    """A node notes a provider job id durably; after kill -9 the resumed node recalls it."""
    script = tmp_path / "memo_runner.py"
    script.write_text(
        "import asyncio, sys\n"
        "from vibe_aigc import MetaPlanner, Vibe, WorkflowExecutor, WorkflowNode, WorkflowPlan\n"
        "class Jobs(WorkflowExecutor):\n"
        "    async def execute_node(self, node, context):\n"
        "        job = context.recall('job_id')\n"
        "        if job is None:\n"
        "            job = 'job-' + node.id\n"
        "            await context.remember('job_id', job)\n"
        "            open(sys.argv[2], 'a').write('submitted ' + job + '\\n')\n"
        "            if sys.argv[3] == 'die':\n"
        "                import os; os.kill(os.getpid(), 9)\n"
        "        return {'job': job, 'reattached': context.attempt >= 1}\n"
        "plan = WorkflowPlan(id='plan-memo', source_vibe=Vibe(description='x'), root_nodes=[\n"
        "    WorkflowNode(id='render', type='generate', description='render')])\n"
        "r = asyncio.run(MetaPlanner(executor=Jobs(), checkpoint_dir=sys.argv[1])"
        ".execute_with_resume(plan))\n"
        "print(r.node_results['render'].output['job'])\n"
    )
    cps, ledger = tmp_path / "cps", tmp_path / "submissions.txt"
    first = subprocess.run(
        [sys.executable, str(script), str(cps), str(ledger), "die"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert first.returncode == -signal.SIGKILL
    second = subprocess.run(
        [sys.executable, str(script), str(cps), str(ledger), "live"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == "job-render"
    assert ledger.read_text().splitlines() == ["submitted job-render"]  # submitted once


async def test_manual_checkpoint_of_another_plans_state_is_refused(tmp_path: Path) -> None:
    from vibe_aigc import ConfigurationError

    planner = MetaPlanner(checkpoint_dir=tmp_path)
    plan = await planner.plan(Vibe(description="A poster about ids"), plan_id="plan-a")
    with pytest.raises(ConfigurationError, match="plan-a"):
        planner.create_checkpoint(
            plan_id="plan-b", execution_state={"workflow_plan": plan.model_dump(mode="json")}
        )
    assert not (tmp_path / "plan-b").exists()


def test_a_hard_link_in_the_plan_folder_is_never_written_through(tmp_path: Path) -> None:
    from vibe_aigc import CheckpointWriteError

    manager = WorkflowPersistenceManager(tmp_path / "cps")
    manager.append_journal("plan-h", [{"seq": 0, "node_id": "a"}])
    segment = next((tmp_path / "cps" / "plan-h").glob("journal-*.jsonl"))
    outside = tmp_path / "outside.txt"
    outside.write_text("precious\n")
    manager.store.close()
    segment.unlink()
    os.link(outside, segment)
    with pytest.raises(CheckpointWriteError):
        manager.append_journal("plan-h", [{"seq": 1, "node_id": "b"}])
    assert outside.read_text() == "precious\n"
