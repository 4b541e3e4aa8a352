"""Runs and lineage through the installed command: ``runs``, ``status``, ``fork``,
``execute --plan`` (and ``--dry-run``), ``resume --retry-failed``, ``export`` / ``import``,
with real processes (kill -9) and every store kind."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from test_durability import finish, kill9, ledger_lines, run_script, wait_for_done
from vibe_aigc import (
    ExecutionStatus,
    MetaPlanner,
    NodeExecutionError,
    Vibe,
    WorkflowExecutor,
    WorkflowNode,
    WorkflowNodeType,
    WorkflowPlan,
)
from vibe_aigc.context import NodeContext
from vibe_aigc.models import iter_nodes, plan_graph

pytest_plugins = ("pgcluster",)

BIN = Path(sys.executable).with_name("vibe-aigc")


def cli(*args: str, cwd: Path | None = None, ok: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(BIN), *args], capture_output=True, text=True, timeout=90, cwd=cwd, env=os.environ
    )
    if ok:
        assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
    return proc


def cli_json(*args: str, cwd: Path | None = None) -> Any:
    return json.loads(cli(*args, "--json", cwd=cwd).stdout)


def file_bytes(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def short_lease(url: str) -> str:
    """A database store whose leases expire after 1 s: a killed run's lease goes quickly."""
    return url + ("&" if "?" in url else "?") + "lease_seconds=1"


def url_for(kind: str, tmp_path: Path, request: pytest.FixtureRequest, name: str) -> str:
    if kind == "file":
        return str(tmp_path / name)
    if kind == "sqlite":
        return short_lease(f"sqlite:///{tmp_path}/{name}.db")
    return short_lease(str(request.getfixturevalue("pg_url")))


@pytest.fixture(params=["file", "sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return url_for(str(request.param), tmp_path, request, "store")


def resume_script(url: str, ledger: Path, n: int) -> dict[str, Any]:
    """Run the workload to the end, once the killed run's lease has expired (database stores)."""
    for _ in range(100):
        proc = run_script(url, ledger, n, 0.0)  # type: ignore[arg-type]
        out, err = proc.communicate(timeout=60)
        if proc.returncode == 0:
            return dict(json.loads(out.strip().splitlines()[-1]))
        assert "is being run by another process" in err, err
        time.sleep(0.1)
    raise AssertionError("the killed run's lease never expired")


def test_a_run_killed_with_kill_9_is_interrupted_not_running(
    store_url: str, tmp_path: Path
) -> None:
    """Failed before: a run killed with kill -9 (no end recorded) was listed as `running` by
    `runs`, `status` and the web page until someone resumed it. Now its state is what the
    store says about the plan's lease: held by a live process, running; else interrupted (at
    once for the file store, which sees the process is gone; once the 1 s lease expired for
    the database stores)."""
    ledger = tmp_path / "ledger"
    proc = run_script(store_url, ledger, 30, 0.3)  # type: ignore[arg-type]
    wait_for_done(ledger, 4, proc)
    (live,) = cli_json("runs", "--store", store_url)
    assert live["state"] == "running" and live["done"] < 30
    assert cli_json("status", "plan-crash", "--store", store_url)["run"]["state"] == "running"
    kill9(proc)
    deadline = time.monotonic() + 20
    while True:
        (run,) = cli_json("runs", "--store", store_url)
        if run["state"] != "running" or time.monotonic() > deadline:
            break
        assert not store_url.startswith("/"), "the file store sees a killed holder at once"
        time.sleep(0.2)
    assert run["state"] == "interrupted" and 0 < run["done"] < 30
    assert cli_json("runs", "--state", "interrupted", "--store", store_url) == [run]
    assert cli_json("status", "plan-crash", "--store", store_url)["run"]["state"] == "interrupted"
    final = resume_script(store_url, ledger, 30)  # and it resumes as before
    assert final["status"] == "completed"


def test_runs_and_status_after_kill_9_and_resume(store_url: str, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    proc = run_script(store_url, ledger, 30, 0.03)  # type: ignore[arg-type]
    wait_for_done(ledger, 6, proc)
    kill9(proc)
    final = resume_script(store_url, ledger, 30)
    assert final["status"] == "completed"

    runs = cli_json("runs", "--store", store_url)
    assert [r["plan_id"] for r in runs] == ["plan-crash", "plan-crash"]
    second, first = runs  # newest first
    assert first["parent_run_id"] is None and second["parent_run_id"] == first["run_id"]
    assert first["state"] == "interrupted" and second["state"] == "completed"
    assert second["done"] == second["total"] == 30 and 0 < first["done"] < 30
    assert second["description"] == "crash test"

    status = cli_json("status", "plan-crash", "--store", store_url)
    assert status["run"]["run_id"] == second["run_id"]
    assert all(n["state"] == "completed" for n in status["nodes"])
    by = Counter(n["produced_by"] for n in status["nodes"])
    assert set(by) == {first["run_id"], second["run_id"]}
    assert by[first["run_id"]] == first["done"]
    starts = Counter(line.split()[1] for line in ledger_lines(ledger) if line.startswith("start"))
    for node in status["nodes"]:  # what the first run produced did not run again
        if node["produced_by"] == first["run_id"]:
            assert node["reused"] and starts[node["node_id"]] == 1

    earlier = cli_json("status", first["run_id"], "--store", store_url)
    states = Counter(n["state"] for n in earlier["nodes"])
    assert states["completed"] == first["done"] and earlier["run"]["state"] == "interrupted"
    assert [
        r["run_id"] for r in cli_json("runs", "--state", "completed", "--store", store_url)
    ] == [second["run_id"]]
    assert cli_json("runs", "--plan", "plan-other", "--store", store_url) == []
    text = cli("runs", "--store", store_url).stdout
    assert f"(from {first['run_id']})" in text and "interrupted" in text
    assert "reused" in cli("status", "plan-crash", "--store", store_url).stdout


def offline_plan(tmp_path: Path) -> tuple[Path, WorkflowPlan]:
    path = tmp_path / "plan.json"
    cli("plan", "a short blog post about tea", "--format", "json", "--output", str(path))
    doc = json.loads(path.read_text())
    return path, WorkflowPlan.model_validate(doc["plan"])


def expected_from(plan: WorkflowPlan, node_id: str, subtree: bool) -> set[str]:
    graph = plan_graph(plan)
    start = {n.id for n in iter_nodes([graph.nodes[node_id]])} if subtree else {node_id}
    out = set(start)
    for member in start:
        out |= graph.descendants_after(member)
    return out


def reran(doc: dict[str, Any]) -> set[str]:
    return {n for n, r in doc["node_results"].items() if not r.get("resumed")}


def test_fork_reruns_the_node_and_downstream_and_leaves_the_source_alone(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    path, plan = offline_plan(tmp_path)
    first = cli_json("execute", "--plan", str(path), "--store", str(store))
    assert first["status"] == "completed" and reran(first) == set(plan.node_ids)
    source = file_bytes(store / plan.id)

    fork = cli_json(
        "fork",
        first["checkpoint_id"],
        "--from",
        "outline",
        "--plan-id",
        "tea-fork",
        "--store",
        str(store),
    )
    assert fork["plan_id"] == "tea-fork" and fork["status"] == "completed"
    assert reran(fork) == expected_from(plan, "outline", subtree=True)
    assert fork["resumed_from"] == first["checkpoint_id"]
    assert file_bytes(store / plan.id) == source

    edited = cli_json(
        "fork", first["checkpoint_id"], "--set", "review.strict=true", "--store", str(store)
    )
    assert reran(edited) == {"review"}
    assert edited["plan"]["id"].startswith(plan.id + "-fork-")
    review = WorkflowPlan.model_validate(edited["plan"]).get_node("review")
    assert review is not None and review.parameters["strict"] is True
    assert file_bytes(store / plan.id) == source

    status = cli_json("status", "tea-fork", "--store", str(store))
    assert status["run"]["parent_plan_id"] == plan.id
    assert status["run"]["parent_checkpoint_id"] == first["checkpoint_id"]
    bad = cli("fork", first["checkpoint_id"], "--from", "nope", "--store", str(store), ok=False)
    assert bad.returncode == 1 and "no node 'nope'" in bad.stderr
    taken = cli(
        "fork", first["checkpoint_id"], "--plan-id", "tea-fork", "--store", str(store), ok=False
    )
    assert taken.returncode == 1 and "already has runs" in taken.stderr
    assert file_bytes(store / plan.id) == source


def test_an_edited_plan_file_reruns_changed_nodes_and_dry_run_runs_nothing(
    tmp_path: Path,
) -> None:
    store = tmp_path / "store"
    path, plan = offline_plan(tmp_path)
    cli("execute", "--plan", str(path), "--store", str(store))
    edited_doc = json.loads(path.read_text())
    plan_doc = edited_doc["plan"]
    plan_doc["root_nodes"][3]["parameters"]["words"] = 321  # outline
    assert plan_doc["root_nodes"][3]["id"] == "outline"
    plan_doc["root_nodes"].append(
        {
            "id": "extra",
            "type": "analyze",
            "description": "one more look",
            "dependencies": ["brief"],
        }
    )
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(edited_doc))
    before = file_bytes(store)
    runs_before = cli_json("runs", "--store", str(store))

    dry = cli_json("execute", "--plan", str(edited), "--dry-run", "--store", str(store))
    expected = expected_from(plan, "outline", subtree=False)
    assert set(dry["rerun"]) == expected and dry["new"] == ["extra"] and dry["removed"] == []
    assert set(dry["reused"]) == set(plan.node_ids) - expected
    text = cli("execute", "--plan", str(edited), "--dry-run", "--store", str(store)).stdout
    assert "nothing runs" in text and "re-run:" in text
    assert file_bytes(store) == before
    assert cli_json("runs", "--store", str(store)) == runs_before

    result = cli_json("execute", "--plan", str(edited), "--store", str(store))
    assert result["status"] == "completed"
    assert reran(result) == expected | {"extra"}
    assert any("was edited" in w for w in result["warnings"])
    unusable = tmp_path / "bad.json"
    unusable.write_text('{"plan": {"id": "x"}}')
    bad = cli("execute", "--plan", str(unusable), "--store", str(store), ok=False)
    assert bad.returncode == 1 and "is not a workflow plan" in bad.stderr
    both = cli("execute", "tea", "--plan", str(edited), ok=False)
    assert both.returncode == 2


class FailOnce(WorkflowExecutor):
    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        if node.id == "b":
            raise NodeExecutionError("planned failure", node.id)
        return await super().execute_node(node, context)


def tool_plan() -> WorkflowPlan:
    def node(node_id: str, tool: str, deps: list[str]) -> WorkflowNode:
        return WorkflowNode(
            id=node_id,
            type=WorkflowNodeType.GENERATE,
            description=node_id,
            parameters={"tool": tool},
            dependencies=deps,
        )

    return WorkflowPlan(
        id="plan-retry",
        source_vibe=Vibe(description="retry me"),
        root_nodes=[
            node("a", "brief", []),
            node("b", "outline", ["a"]),
            node("c", "outline", ["b"]),
            node("d", "brief", []),
        ],
    )


def test_resume_retry_failed_reruns_only_failed_and_skipped(tmp_path: Path) -> None:
    store = tmp_path / "store"
    failed = asyncio.run(
        MetaPlanner(checkpoint_dir=store, executor=FailOnce()).execute_with_resume(tool_plan())
    )
    assert failed.status == ExecutionStatus.FAILED
    assert failed.node_results["c"].status == ExecutionStatus.SKIPPED
    doc = cli_json("resume", "--plan", "plan-retry", "--retry-failed", "--store", str(store))
    assert doc["status"] == "completed" and reran(doc) == {"b", "c"}
    again = cli("resume", "--plan", "plan-retry", "--retry-failed", "--store", str(store), ok=False)
    assert again.returncode == 1 and "no failed or skipped node" in again.stderr
    runs = cli_json("runs", "--plan", "plan-retry", "--store", str(store))
    assert [r["state"] for r in runs] == ["completed", "failed"]
    listed = cli("checkpoints", "--list", "--store", str(store)).stdout
    assert "Kept by retention: run" in listed


@pytest.mark.parametrize("target", ["file", "sqlite", "postgres"])
def test_export_delete_import_resume_reproduces_the_run(
    target: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    reference = finish(run_script(tmp_path / "ref", tmp_path / "ref-ledger", 30, 0.0))
    source, ledger = str(tmp_path / "store"), tmp_path / "ledger"
    proc = run_script(Path(source), ledger, 30, 0.03)
    wait_for_done(ledger, 8, proc)
    kill9(proc)
    before = cli_json("runs", "--store", source)
    archive = tmp_path / "run.tar.gz"
    summary = cli_json("export", "plan-crash", "-o", str(archive), "--store", source)
    assert summary["plan_id"] == "plan-crash" and summary["checkpoints"] >= 1
    by_run = cli_json(
        "export", before[0]["run_id"], "-o", str(tmp_path / "r2.tar.gz"), "--store", source
    )
    assert by_run["plan_id"] == "plan-crash"
    cli("checkpoints", "--clear", "--plan", "plan-crash", "--store", source)
    assert cli_json("runs", "--store", source) == []

    # back where it came from (file), or into a database store
    dest = source if target == "file" else url_for(target, tmp_path, request, "imported")
    imported = cli_json("import", str(archive), "--store", dest)
    assert imported["checkpoints"] == summary["checkpoints"]
    assert cli_json("runs", "--store", dest) == before  # the history came along
    done_before = {line.split()[1] for line in ledger_lines(ledger) if line.startswith("done")}
    final = resume_script(dest, ledger, 30)
    assert final["outputs"] == reference["outputs"] and final["resumed_from"]
    runs = cli_json("runs", "--store", dest)
    assert len(runs) == 2 and runs[0]["parent_run_id"] == runs[1]["run_id"]
    reran_after = Counter(
        line.split()[1] for line in ledger_lines(ledger) if line.startswith("start")
    )
    assert sum(1 for n in done_before if reran_after[n] > 1) <= 4  # only in-flight nodes
    again = cli("import", str(archive), "--store", dest, ok=False)
    assert again.returncode == 1 and "already exists" in again.stderr
