"""Helpers of the web-app tests: the real `vibe-aigc ui` server, CLI runs, stored records."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from vibe_aigc.models import Vibe, WorkflowNode, WorkflowPlan
from vibe_aigc.persistence import WorkflowPersistenceManager

ROOT = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-c", "import sys; from vibe_aigc.cli import main; sys.exit(main())"]
BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def env(**extra: str) -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "src"), *filter(None, [os.environ.get("PYTHONPATH")])]
    )
    for name in ("VIBE_UI_TOKEN", "VIBE_STORE_URL", "VIBE_CHECKPOINT_DIR"):
        out.pop(name, None)
    out.update(extra)
    return out


def command() -> list[str]:
    """The command's entry point (``vibe_aigc.cli:main``, as the console script runs it) under
    this Python and this worktree's sources."""
    return CLI


def cli(*args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*command(), *args], env=env(**extra), capture_output=True, text=True, timeout=90
    )


@contextmanager
def background(*args: str, **extra: str) -> Iterator[subprocess.Popen[str]]:
    """A `vibe-aigc` command running in its own process (stopped and reaped at the end)."""
    process = subprocess.Popen(
        [*command(), *args],
        env=env(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


@contextmanager
def ui_server(store: Path, **extra: str) -> Iterator[str]:
    """The real `vibe-aigc ui` on a free 127.0.0.1 port; yields its base URL."""
    process = subprocess.Popen(
        [*command(), "ui", "--checkpoint-dir", str(store), "--host", "127.0.0.1", "--port", "0"],
        env=env(**extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = None
        assert process.stdout is not None
        for _ in range(50):
            line = process.stdout.readline()
            if not line:
                break
            if line.startswith("READY "):
                url = line.split()[1]
                break
        assert url, f"the ui server did not start (exit {process.poll()})"
        yield url.rstrip("/")
    finally:
        process.terminate()
        try:
            process.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate(timeout=15)


def wait_for(predicate: Any, what: str, seconds: float = 30.0) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def until(page: Any, script: str, seconds: float = 30.0) -> Any:
    """Poll ``script`` (a JS function, evaluated by the driver: the page's CSP forbids the
    string eval that ``wait_for_function`` uses) until it returns a truthy value."""
    return wait_for(lambda: page.evaluate(script), script, seconds)


def latest_state(store: Path, plan_id: str) -> str | None:
    cps = [
        c for c in WorkflowPersistenceManager(store).list_checkpoints(plan_id) if not c["corrupt"]
    ]
    return str(cps[0]["state"]) if cps else None


def journal_count(store: Path, plan_id: str) -> int:
    if plan_id not in WorkflowPersistenceManager(store).plan_ids():
        return 0
    return len(WorkflowPersistenceManager(store).read_entries(plan_id, -1).entries)


def plan_of(nodes: list[WorkflowNode], plan_id: str, description: str) -> WorkflowPlan:
    return WorkflowPlan(id=plan_id, source_vibe=Vibe(description=description), root_nodes=nodes)


def save_run(
    store: Path,
    plan: WorkflowPlan,
    results: dict[str, dict[str, Any]],
    state: str,
    run_id: str = "run-test",
) -> str:
    """A checkpoint of ``plan`` with ``results`` (node id -> NodeResult dict), saved through
    the public persistence API; returns its id."""
    ids = [n for n in _ids(plan.root_nodes)]
    body = {
        "vibe": plan.source_vibe.model_dump(mode="json"),
        "workflow_plan": plan.model_dump(mode="json"),
        "completed_nodes": [n for n in ids if results.get(n, {}).get("status") == "completed"],
        "node_results": results,
        "pending_nodes": [n for n in ids if results.get(n, {}).get("status") != "completed"],
        "state": state,
        "total_nodes": len(ids),
        "run_id": run_id,
    }
    return WorkflowPersistenceManager(store).save_checkpoint(plan.id, body)


def _ids(nodes: list[WorkflowNode]) -> list[str]:
    out: list[str] = []
    for node in nodes:
        out.append(node.id)
        out.extend(_ids(node.children))
    return out


def completed(node_id: str, output: Any, **extra: Any) -> dict[str, Any]:
    return {
        "node_id": node_id,
        "status": "completed",
        "output": output,
        "attempts": 1,
        "started_at": "2026-01-01T00:00:00Z",
        "completed_at": "2026-01-01T00:00:01Z",
        "duration": 1.0,
        **extra,
    }
