"""The installed command against the real llama.cpp server: the built-in plan written by the
model (``--planner offline``), usage and cost in the summary, and ``--budget`` stopping a run
before the paid step that could exceed it; a resume with a larger budget continues, and no
completed step's request is sent again (counted at the server)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.testing import HERMETIC_ENV
from vibe_aigc.testing.llama import LlamaServer

BIN = Path(shutil.which("vibe-aigc") or Path(sys.executable).with_name("vibe-aigc"))
VIBE = "Write a blog post about autumn in Kyoto"


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in HERMETIC_ENV}
    return subprocess.run(
        [str(BIN), *args],
        cwd=cwd,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_budget_stops_the_run_and_resume_continues(llama: LlamaServer, tmp_path: Path) -> None:
    prices = tmp_path / "prices.json"
    # dear on purpose: one short answer costs about a tenth of a dollar here
    prices.write_text(json.dumps({"smollm2": {"input": 300.0, "output": 300.0}}))
    env = {
        "OPENAI_BASE_URL": llama.base_url,
        "VIBE_LLM_MODEL": "smollm2",
        "VIBE_LLM_MAX_TOKENS": "16",
        "VIBE_PRICES": str(prices),
    }
    before = llama.requests()
    first = run(
        ["execute", VIBE, "--planner", "offline", "--budget", "0.25", "--json"], tmp_path, env
    )
    assert first.returncode == 1, first.stderr
    doc = json.loads(first.stdout)
    assert doc["status"] == "interrupted"
    assert any("budget reached" in w for w in doc["warnings"])
    done = [n for n, r in doc["node_results"].items() if r["status"] == "completed"]
    paid = [n for n in done if doc["node_results"][n]["output"].get("tool") == "generate_text"]
    assert paid, "some paid steps ran before the budget stopped the run"
    assert doc["summary"]["usage"]["cost_usd"] <= 0.25
    sent = llama.requests() - before
    assert sent == len(paid)  # the step that could exceed the budget was never sent

    second = run(
        ["resume", "--plan", doc["plan_id"], "--budget", "1000", "--planner", "offline"],
        tmp_path,
        env,
    )
    assert second.returncode == 0, second.stdout + second.stderr
    assert "Status: completed" in second.stdout and "cost usd" in second.stdout
    total_text_steps = 8
    assert llama.requests() - before == total_text_steps  # nothing completed was sent again


def test_kill_9_mid_generation_then_resume_sends_no_completed_step_again(
    llama: LlamaServer, tmp_path: Path
) -> None:
    env = {
        "OPENAI_BASE_URL": llama.base_url,
        "VIBE_LLM_MODEL": "smollm2",
        "VIBE_LLM_MAX_TOKENS": "24",
    }
    clean = {k: v for k, v in os.environ.items() if k not in HERMETIC_ENV}
    before = llama.requests()
    proc = subprocess.Popen(
        [str(BIN), "execute", VIBE, "--planner", "offline", "--plain"],
        cwd=tmp_path,
        env={**clean, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    manager = WorkflowPersistenceManager(tmp_path / ".vibe_checkpoints")

    def completed_text_steps() -> int:
        plans = manager.plan_ids()
        if not plans:
            return 0
        entries = manager.read_entries(plans[0]).entries
        return sum(
            1
            for e in entries
            if e.get("result", {}).get("status") == "completed"
            and e["result"].get("output", {}).get("tool") == "generate_text"
        )

    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and completed_text_steps() < 2:
        time.sleep(0.05)
    proc.kill()  # kill -9, in the middle of the next generation
    proc.wait(timeout=30)
    done = completed_text_steps()
    assert 2 <= done < 8
    sent_before = llama.requests() - before
    resumed = run(
        ["resume", "--plan", manager.plan_ids()[0], "--planner", "offline"], tmp_path, env
    )
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    sent_after = llama.requests() - before - sent_before
    assert sent_after == 8 - done  # every step not recorded, and none of those recorded


def test_planner_model_with_a_tiny_model_plans_or_prints_the_one_line_hint(
    llama: LlamaServer, tmp_path: Path
) -> None:
    env = {"OPENAI_BASE_URL": llama.base_url, "VIBE_LLM_MODEL": "smollm2"}
    out = run(["execute", VIBE, "--planner", "model", "--plain"], tmp_path, env)
    if out.returncode == 0:
        assert "Status: completed" in out.stdout
    else:
        assert out.returncode == 1 and "Traceback" not in out.stderr
        assert "--planner offline" in out.stderr.strip().splitlines()[-1]
