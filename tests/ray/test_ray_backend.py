"""The Ray backend on a real 3-node local cluster (tests/ray/conftest.py): work spreads over
nodes, resources place work, a lost node and a killed driver lose no recorded completion, an
unsatisfiable resource fails fast. Drivers are separate processes (tests/ray/ray_driver.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cluster import HERE, RayCluster, children_of, ray_env
from ray_driver import PLAN_ID, build_plan, expected_value

from vibe_aigc.persistence import WorkflowPersistenceManager

DRIVER = str(Path(HERE) / "ray_driver.py")


def driver(
    cluster: RayCluster, store: str, ledger: Path, *flags: str
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, DRIVER, cluster.address, store, str(ledger), *flags],
        env=ray_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=100)
    assert proc.returncode == 0, err[-3000:]
    return result_of(out)


def result_of(out: str) -> dict[str, Any]:
    """The driver's result line (Ray may stream worker logs after it)."""
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert lines, out[-2000:]
    return dict(json.loads(lines[-1].removeprefix("RESULT ")))


def ledger_of(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.endswith("}")]


def recorded(store: str) -> dict[str, Any]:
    """Completions the store holds now (newest snapshot + journal), read independently."""
    manager = WorkflowPersistenceManager(store=store)
    outputs: dict[str, Any] = {}
    for summary in manager.list_checkpoints(PLAN_ID)[:1]:
        record = manager.load_checkpoint(summary["checkpoint_id"], PLAN_ID)
        for node_id, result in record["node_results"].items():
            if result.get("status") == "completed":
                outputs[node_id] = result.get("output")
    entries, _ = manager.read_journal(PLAN_ID)
    for entry in entries:
        result = entry.get("result")
        if isinstance(result, dict) and result.get("status") == "completed":
            outputs[str(entry["node_id"])] = result.get("output")
    return outputs


def check_outputs(outputs: dict[str, Any], nodes: int) -> None:
    """Every output derives from the outputs of its own dependencies (nothing mixed up)."""
    plan = build_plan(nodes, 0, 0, False)
    for node in plan.iter_nodes():
        inputs = {d: outputs[d] for d in node.dependencies}
        assert outputs[node.id]["value"] == expected_value(node.id, inputs), node.id


def wait_for(ledger: Path, predicate: Any, proc: subprocess.Popen[str], what: str) -> None:
    limit = time.monotonic() + 60
    while not predicate(ledger_of(ledger)):
        assert proc.poll() is None, f"the driver ended before {what}: {proc.communicate()}"
        assert time.monotonic() < limit, f"never saw {what}"
        time.sleep(0.02)


def test_forty_nodes_spread_over_the_cluster_with_memos(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    store, ledger = f"sqlite:///{tmp_path}/runs.db", tmp_path / "ledger.jsonl"
    result = finish(driver(ray_cluster, store, ledger, "--nodes", "40", "--flaky", "n5"))
    assert result["status"] == "completed", result["errors"]
    check_outputs(result["outputs"], 40)
    entries = ledger_of(ledger)
    starts = [e for e in entries if e["event"] == "start"]
    assert sorted({e["node"] for e in starts}) == sorted(f"n{i}" for i in range(40))
    assert len({e["ray_node"] for e in starts}) > 1, "all work ran on one node"
    assert len({e["pid"] for e in starts}) > 1
    assert {e["driver"] for e in starts} == {result["driver"]}
    assert result["driver"] not in {e["pid"] for e in starts}  # work ran in Ray workers
    # n5 failed its first attempt after a memo; the driver journaled it, attempt 2 recalled it
    flaky = [e for e in starts if e["node"] == "n5"]
    assert [e["attempt"] for e in flaky] == [1, 2]
    assert result["outputs"]["n5"]["recalled"] == flaky[0]["ray_node"]
    entries_in_store, _ = WorkflowPersistenceManager(store=store).read_journal(PLAN_ID)
    memos = [e for e in entries_in_store if e.get("node_id") == "n5" and "result" not in e]
    assert memos, "the worker's memo was not journaled by the driver"
    assert all(e["attempt"] == 1 for e in starts if e["node"] != "n5")


def test_a_gpu_sim_node_runs_only_where_that_resource_is(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    store, ledger = f"sqlite:///{tmp_path}/runs.db", tmp_path / "ledger.jsonl"
    flags = ("--nodes", "16", "--gpu-every", "3", "--blob", "n4")
    result = finish(driver(ray_cluster, store, ledger, *flags))
    assert result["status"] == "completed", result["errors"]
    # n4's 1 MiB output went from its worker into the store's blobs; only the reference came
    ref = result["outputs"]["n4"]["artifact"]
    assert ref["bytes"] == 1 << 20
    data = WorkflowPersistenceManager(store=store).blobs.get(PLAN_ID, ref)
    assert data[:32] * 32768 == data and len(data) == 1 << 20
    assert len(result["gpu_nodes"]) == 1
    plan = build_plan(16, 0, 3, False)
    wants_gpu = {n.id for n in plan.iter_nodes() if "resources" in n.parameters}
    assert len(wants_gpu) == 5
    starts = [e for e in ledger_of(ledger) if e["event"] == "start"]
    assert {e["ray_node"] for e in starts if e["node"] in wants_gpu} == set(result["gpu_nodes"])


def test_an_unsatisfiable_resource_fails_fast_with_a_clear_error(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    store, ledger = f"sqlite:///{tmp_path}/runs.db", tmp_path / "ledger.jsonl"
    proc = driver(ray_cluster, store, ledger, "--nodes", "8", "--unsat")
    out, _ = proc.communicate(timeout=100)  # hanging here would be the bug
    result = result_of(out)
    assert result["status"] == "failed"
    assert result["statuses"]["n2"] == "failed"
    error = result["errors"]["n2"]
    assert "ClusterResourceError" in error and "tpu_sim=1" in error, error
    assert "ray start --resources" in error
    assert "n2" not in {e["node"] for e in ledger_of(ledger)}  # never submitted
    # independent branches still ran to the end
    assert result["statuses"]["n0"] == "completed"


def test_killing_a_worker_nodes_raylet_mid_run_loses_nothing_recorded(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    doomed = ray_cluster.add_worker("doomed", {})
    store, ledger = f"sqlite:///{tmp_path}/runs.db", tmp_path / "ledger.jsonl"
    proc = driver(ray_cluster, store, ledger, "--nodes", "32", "--ms", "400")

    doomed_pids: set[int] = set()

    def on_doomed(entries: list[dict[str, Any]]) -> bool:
        doomed_pids.update(children_of(doomed.proc.pid))
        return any(e["event"] == "start" and e["pid"] in doomed_pids for e in entries)

    wait_for(ledger, on_doomed, proc, "work on the doomed node")
    os.kill(doomed.raylet_pid(), signal.SIGKILL)
    seen = len(ledger_of(ledger))
    durable_at_kill = recorded(store)
    result = finish(proc)
    assert result["status"] == "completed", result["errors"]
    check_outputs(result["outputs"], 32)
    entries = ledger_of(ledger)
    later = entries[seen:]
    rerun = {e["node"] for e in later if e["event"] == "start"} & set(durable_at_kill)
    assert not rerun, f"recorded completions ran again: {sorted(rerun)}"
    # the work lost with the node ran again elsewhere (Ray's system retry)
    lost = {e["node"] for e in entries[:seen] if e["pid"] in doomed_pids} - set(durable_at_kill)
    assert lost, "nothing was in flight on the killed node"
    again = {e["node"] for e in later if e["event"] == "start" and e["pid"] not in doomed_pids}
    assert lost <= again
    assert recorded(store) == result["outputs"]


def test_killing_the_driver_mid_run_resumes_from_a_second_driver(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    store = f"sqlite:///{tmp_path}/runs.db?lease_seconds=3"
    ledger = tmp_path / "ledger.jsonl"
    flags = ("--nodes", "32", "--ms", "300", "--concurrency", "3")
    first = driver(ray_cluster, store, ledger, *flags)
    wait_for(
        ledger,
        lambda entries: sum(e["event"] == "done" for e in entries) >= 8,
        first,
        "8 completions",
    )
    first.send_signal(signal.SIGKILL)
    first.communicate(timeout=30)
    durable_at_kill = recorded(store)
    assert 0 < len(durable_at_kill) < 32
    started_first = {e["node"] for e in ledger_of(ledger) if e["driver"] == first.pid}
    in_flight = started_first - set(durable_at_kill)
    assert len(in_flight) <= 3

    second = driver(ray_cluster, store, ledger, *flags)
    result = finish(second)
    assert result["status"] == "completed", result["errors"]
    assert result["resumed_from"] is not None
    check_outputs(result["outputs"], 32)
    starts = [e for e in ledger_of(ledger) if e["event"] == "start"]
    second_starts = {e["node"] for e in starts if e["driver"] == second.pid}
    assert not second_starts & set(durable_at_kill), "recorded completions ran again"
    assert started_first & second_starts <= in_flight  # only in-flight nodes ran again
    final = recorded(store)
    assert final == result["outputs"]
    for node_id, output in final.items():
        # fencing: what the dead driver recorded was recorded before it died; everything else
        # was recorded by the second driver, never a late result of a dead driver's task
        expected = first.pid if node_id in durable_at_kill else second.pid
        assert output["driver"] == expected, node_id


def test_the_command_runs_on_the_cluster(ray_cluster: RayCluster, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path}/runs.db"
    command = ["vibe-aigc", "execute", "a short blog post about tea", "--store", store, "--json"]
    done = subprocess.run(
        [*command, "--backend", "ray", "--ray-address", ray_cluster.address],
        env=ray_env(),
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["status"] == "completed"  # stdout is the JSON alone


def test_sigterm_checkpoints_and_the_command_resumes_on_the_cluster(
    ray_cluster: RayCluster, tmp_path: Path
) -> None:
    env = ray_env() | {"VIBE_SIMULATE_LATENCY": "0.5", "VIBE_RAY_ADDRESS": ray_cluster.address}
    proc = subprocess.Popen(
        ["vibe-aigc", "execute", "Write a blog post about signals", "--plain", "--backend", "ray"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    cps = tmp_path / ".vibe_checkpoints"
    while time.monotonic() < deadline and not list(cps.glob("*/journal-*.jsonl")):
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGTERM)  # the command's handler, not Ray's sys.exit
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out[-2000:], err[-2000:])
    assert "Resume with: vibe-aigc resume cp-" in err
    command = err.split("Resume with: ", 1)[1].split()
    resumed = subprocess.run(
        [*command, "--backend", "ray"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "Status: completed" in resumed.stdout
    assert f"Resumed from: {command[2]}" in resumed.stdout
