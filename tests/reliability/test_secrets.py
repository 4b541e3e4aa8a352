"""Secrets never reach a file: keys in the environment, in ``LLMConfig``, in vibe metadata and in
node parameters, through a full model-backed run with checkpoints, a failure, an interruption,
a resume, manual checkpoints and DEBUG logging to a file - then the installed CLI with
``--debug`` and the key in its environment. Every file written (the checkpoint folder, the
log, the CLI's output folder and captured output) is scanned for every key, whole and in part.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from vibe_aigc import (
    ExecutionStatus,
    LLMConfig,
    MetaPlanner,
    Vibe,
    WorkflowNode,
    WorkflowNodeType,
    WorkflowPlan,
)
from vibe_aigc.testing import OpenAIStub, Reply
from vibe_aigc.testing.stub_server import stub_process

KEYS = {
    "env": "sk-env-4b1d0c2e9f7a6b5c4d3e2f1a0b9c8d7e",
    "config": "sk-config-7e6d5c4b3a2f1e0d9c8b7a6f5e4d3c2b",
    "metadata": "sk-meta-0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d",
    "parameter": "sk-param-9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c",
    "header": "hdr-secret-5a4b3c2d1e0f9a8b7c6d5e4f3a2b1c0d",
}
BIN = Path(sys.executable).with_name("vibe-aigc")


def leaks(*roots: Path) -> list[str]:
    """Every (file, key) where a key - or a 16-character piece of it - appears."""
    found = []
    for root in roots:
        files = [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
        for path in files:
            data = path.read_bytes()
            for name, key in KEYS.items():
                pieces = {key, key[-16:], key[4:20]}
                if any(piece.encode() in data for piece in pieces):
                    found.append(f"{path}: {name} key")
    return found


def secret_plan() -> WorkflowPlan:
    vibe = Vibe(
        description="A newsletter about keeping secrets",
        metadata={
            "api_key": KEYS["metadata"],
            "nested": {"Authorization": f"Bearer {KEYS['metadata']}"},
            "note": "harmless",
        },
    )
    params = {
        "tool": "generate_text",
        "token": KEYS["parameter"],
        "password": KEYS["parameter"],
        "auth": {"bearer": KEYS["parameter"]},
        "headers": {"X-Api-Key": KEYS["header"], "Cookie": f"session={KEYS['header']}"},
        "max_tokens": 50,
    }

    def node(node_id: str, deps: list[str]) -> WorkflowNode:
        return WorkflowNode(
            id=node_id,
            type=WorkflowNodeType.GENERATE,
            description=f"Write part {node_id}",
            parameters=dict(params),
            dependencies=deps,
        )

    return WorkflowPlan(
        id="plan-secrets",
        source_vibe=vibe,
        root_nodes=[node("a", []), node("b", ["a"]), node("c", ["a"]), node("d", ["b", "c"])],
    )


@pytest.fixture
def debug_log(tmp_path: Path) -> Any:
    path = tmp_path / "debug.log"
    handler = logging.FileHandler(path)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s %(args)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield path
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
        handler.close()


async def test_a_full_model_run_writes_no_secret(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, debug_log: Path
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEYS["env"])
    cps = tmp_path / "cps"
    with OpenAIStub() as stub:
        config = LLMConfig(base_url=stub.base_url, api_key=KEYS["config"], model="m")
        plan = secret_plan()
        # run 1: node a answers; b's provider refuses the key and echoes it back (as some do)
        echo = {"error": {"message": f"Incorrect API key provided: {KEYS['config']}"}}
        stub.script("chat", Reply(content="part a"), Reply(status=401, body=echo))
        planner = MetaPlanner(llm_config=config, checkpoint_dir=cps, checkpoint_interval=1)
        failed = await planner.execute_with_resume(plan)
        assert failed.status == ExecutionStatus.FAILED
        assert planner.create_checkpoint(plan_id=plan.id, execution_state=failed)
        assert planner.create_checkpoint(
            plan_id=plan.id,
            execution_state={
                "workflow_plan": plan.model_dump(mode="json"),
                "completed_nodes": ["a"],
                "node_results": {"a": {"status": "completed", "output": {"text": "part a"}}},
            },
        )
        # run 2: interrupted while c is in flight
        stub.script("chat", Reply(content="slow", delay=5))
        task = asyncio.create_task(planner.execute_with_resume(plan))
        while not [r for r in stub.chat_requests if r.body and "c" in json.dumps(r.body)][-1:]:
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # run 3: the provider is fine again
        stub.scripts["chat"].clear()
        done = await planner.execute_with_resume(plan)
        assert done.status == ExecutionStatus.COMPLETED, done.node_results
        assert done.resumed_from is not None
        # resuming with the plan runs the caller's copy, secrets intact (the stored copy says
        # "[REDACTED]"; running that would have sent "[REDACTED]" as a credential)
        resumed = planner.get_plan(plan.id)
        assert (
            resumed is not None
            and resumed.root_nodes[1].parameters == plan.root_nodes[1].parameters
        )
        # the keys were really in use (so their absence from disk means something)
        assert {r.headers.get("authorization") for r in stub.chat_requests} == {
            f"Bearer {KEYS['config']}"
        }
    logging.getLogger("vibe_aigc.test").debug("config %r planner %r", config, planner.llm)
    for handler in logging.getLogger().handlers:
        handler.flush()
    assert debug_log.stat().st_size > 0
    assert not leaks(cps, debug_log), leaks(cps, debug_log)


def test_the_cli_with_debug_writes_no_secret(tmp_path: Path) -> None:
    """The installed command, key in its environment, a model endpoint that fails once and
    echoes the key, ``--debug`` (tracebacks), ``--output-dir``, DEBUG logging to a file."""
    out_dir, cps, log = tmp_path / "out", tmp_path / "cps", tmp_path / "cli-debug.log"
    script = tmp_path / "script.json"
    echo = {"error": {"message": f"Incorrect API key provided: {KEYS['env']}"}}
    answer = {
        "id": "x",
        "root_nodes": [
            {"id": "draft", "type": "generate", "description": "Write the haiku"},
            {
                "id": "review",
                "type": "validate",
                "description": "Check it",
                "dependencies": ["draft"],
            },
        ],
    }
    plan = {"content": json.dumps(answer)}
    # planning fails once (the key echoed back), then answers a plan each time it is asked
    script.write_text(json.dumps({"chat": [{"status": 401, "body": echo}, plan, plan, plan]}))
    with stub_process("openai", "--script", str(script)) as base_url:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VIBE_", "OPENAI_"))}
        env.update(OPENAI_API_KEY=KEYS["env"], OPENAI_BASE_URL=base_url)
        runs = []
        for args in (
            ["--debug", "execute", "A haiku about keys", "--plain", "--checkpoint-dir", str(cps)],
            [
                "--debug",
                "execute",
                "A haiku about keys",
                "--plain",
                "--checkpoint-interval",
                "1",
                "--output-dir",
                str(out_dir),
                "--checkpoint-dir",
                str(cps),
            ],
            ["--debug", "checkpoints", "--list", "--checkpoint-dir", str(cps)],
        ):
            runs.append(
                subprocess.run(
                    [str(BIN), *args], env=env, capture_output=True, text=True, timeout=120
                )
            )
        # and once more in-process with DEBUG logging of everything to a file
        code = (
            "import logging, sys; "
            f"logging.basicConfig(level=logging.DEBUG, filename={str(log)!r}); "
            "from vibe_aigc.cli import main; "
            f"sys.exit(main(['--debug', 'execute', 'A haiku about keys', '--plain', "
            f"'--fresh', '--checkpoint-dir', {str(cps)!r}]))"
        )
        runs.append(
            subprocess.run(
                [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
            )
        )
    captured = tmp_path / "captured"
    captured.mkdir()
    for index, run in enumerate(runs):
        (captured / f"{index}.out").write_text(run.stdout)
        (captured / f"{index}.err").write_text(run.stderr)
    assert runs[1].returncode == 0, runs[1].stderr  # the model answered the second time
    assert log.stat().st_size > 0 and out_dir.exists()
    found = leaks(cps, out_dir, log, captured)
    assert not found, found
