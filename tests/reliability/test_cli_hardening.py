"""Issue 11 through the installed command: model text with terminal control sequences is
printed harmless (11.9), and command-line runs have a default node timeout (11.5)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from vibe_aigc.testing.stub_server import stub_process

BIN = Path(shutil.which("vibe-aigc") or Path(sys.executable).with_name("vibe-aigc"))
HOSTILE = (
    "Clean start \x1b]52;c;ZWNobyBwd25lZA==\x07 clipboard, \x1b]0;owned title\x07 title, "
    "\x1b[2J\x1b[H cleared, \x9b31m eight-bit, \u202e reversed; the end."
)
PLAN = {
    "id": "plan-hostile-text",
    "source_vibe": {"description": "Write a post"},
    "root_nodes": [
        {
            "id": "draft",
            "type": "generate",
            "description": "Write the post",
            "parameters": {"tool": "generate_text"},
            "dependencies": [],
            "children": [],
        }
    ],
}


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIBE_", "OPENAI_"))}
    env.pop("OLLAMA_HOST", None)
    env.update(extra)
    return env


def test_model_text_reaches_the_terminal_without_control_sequences(tmp_path: Path) -> None:
    """Failed before the fix: the OSC 52 clipboard write, the title and the cursor movement
    were printed as they came."""
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"chat": [{"content": json.dumps(PLAN)}, {"content": HOSTILE}]}))
    with stub_process("openai", "--script", str(script)) as base_url:
        env = clean_env(OPENAI_BASE_URL=base_url, VIBE_LLM_MODEL="stub-model")
        out = subprocess.run(
            [str(BIN), "execute", "Write a post", "--plain"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert out.returncode == 0, out.stderr
    printed = out.stdout + out.stderr
    assert "Clean start" in printed and "the end." in printed
    for bad in ("\x1b", "\x07", "\x9b", "\u202e"):
        assert bad not in printed, repr(bad)
    # what is stored is the model's answer as it came (only the terminal is protected)
    newest = max((tmp_path / ".vibe_checkpoints").rglob("cp-*.json"))
    stored = json.loads(newest.read_text())
    assert "\x1b]52" in stored["node_results"]["draft"]["output"]["text"]


def test_a_command_line_run_has_a_default_node_timeout(tmp_path: Path) -> None:
    """Failed before the fix: a hung node held a command-line run forever (no timeout)."""
    env = clean_env(VIBE_SIMULATE_LATENCY="5", VIBE_NODE_TIMEOUT="0.3")
    out = subprocess.run(
        [str(BIN), "execute", "Write a haiku about rain", "--plain", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    errors = [r.get("error") or "" for r in doc["node_results"].values()]
    assert any("timed out after 0.3s" in e for e in errors), errors


def test_a_rate_limited_retry_is_shown_with_the_host_and_the_wait(tmp_path: Path) -> None:
    """Issue 11.12: the wait used to be silent; now the plain lines (and the live view) say
    "rate limited by HOST, retrying in N s", and the absurd Retry-After is capped."""
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "chat": [
                    {"content": json.dumps(PLAN)},
                    {"status": 429, "headers": {"Retry-After": "1"}, "body": {"error": "slow"}},
                    {"content": "A fine post."},
                ]
            }
        )
    )
    with stub_process("openai", "--script", str(script)) as base_url:
        env = clean_env(OPENAI_BASE_URL=base_url, VIBE_LLM_MODEL="stub-model")
        out = subprocess.run(
            [str(BIN), "execute", "Write a post", "--plain"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert out.returncode == 0, out.stderr
    port = base_url.rsplit(":", 1)[1].split("/")[0]
    assert f"rate limited by 127.0.0.1:{port}, retrying in 1.0 s" in out.stdout
    assert "A fine post." in out.stdout
