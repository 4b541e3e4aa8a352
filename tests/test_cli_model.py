"""The installed command against a real OpenAI-compatible server on 127.0.0.1 (a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from vibe_aigc.testing.stub_server import stub_process

BIN = Path(sys.executable).with_name("vibe-aigc")

PLAN = {
    "id": "whatever-the-model-says",
    "root_nodes": [
        {
            "id": "research",
            "type": "analyze",
            "description": "Research the topic",
            "parameters": {"tool": "generate_text"},
            "dependencies": [],
            "children": [],
        },
        {
            "id": "write",
            "type": "generate",
            "description": "Write the post",
            "parameters": {"tool": "generate_text"},
            "dependencies": ["research"],
            "children": [],
        },
    ],
}


def test_execute_with_a_configured_model_prints_real_text_and_usage(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(
        json.dumps(
            {
                "chat": [
                    {"content": json.dumps(PLAN)},
                    {"content": "Research notes from the model."},
                    {"content": "The finished post, written by the model."},
                ]
            }
        )
    )
    secret = "sk-cli-SECRET-0123456789"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIBE_", "OPENAI_"))}
    env.pop("OLLAMA_HOST", None)
    with stub_process("openai", "--script", str(script)) as base_url:
        env.update(
            {"OPENAI_API_KEY": secret, "OPENAI_BASE_URL": base_url, "VIBE_LLM_MODEL": "stub-model"}
        )
        out = subprocess.run(
            [str(BIN), "--debug", "execute", "Write a blog post about durable runs", "--plain"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert out.returncode == 0, out.stderr
    assert "The finished post, written by the model." in out.stdout
    assert "Usage: " in out.stdout and "total tokens" in out.stdout
    assert "offline" not in out.stdout.lower()
    for path in (tmp_path / ".vibe_checkpoints").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in out.stdout + out.stderr
