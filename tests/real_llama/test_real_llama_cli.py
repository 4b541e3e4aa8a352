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
from pathlib import Path

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
