"""Optional smoke test against a real local model: runs only when ``OLLAMA_HOST`` points at a
running Ollama (read at import, before the hermetic fixture clears the variable)."""

from __future__ import annotations

import json
import os
import urllib.request
from pathlib import Path

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
from vibe_aigc.llm import LLMClient

OLLAMA_HOST = os.environ.get("OLLAMA_HOST", "").strip()
MODEL = os.environ.get("VIBE_LLM_MODEL", "").strip()


def ollama_models() -> tuple[list[str], str]:
    if not OLLAMA_HOST:
        return [], "OLLAMA_HOST is not set (optional: point it at a running Ollama)"
    base = OLLAMA_HOST if "://" in OLLAMA_HOST else f"http://{OLLAMA_HOST}"
    try:
        with urllib.request.urlopen(f"{base.rstrip('/')}/api/tags", timeout=2) as reply:
            tags = json.load(reply)
    except (OSError, ValueError) as exc:
        return [], f"no Ollama answering at {OLLAMA_HOST} ({exc})"
    names = [m.get("name", "") for m in tags.get("models", []) if m.get("name")]
    return names, "" if names else f"the Ollama at {OLLAMA_HOST} has no model pulled"


MODELS, REASON = ollama_models()


@pytest.mark.skipif(not MODELS, reason=REASON or "no Ollama")
async def test_a_real_local_model_generates_text(tmp_path: Path) -> None:
    config = LLMConfig.from_env({"OLLAMA_HOST": OLLAMA_HOST, "VIBE_LLM_MODEL": MODEL or MODELS[0]})
    assert config is not None
    answer = await LLMClient(config).chat([{"role": "user", "content": "Say hello in one word."}])
    assert answer.text.strip()
    plan = WorkflowPlan(
        id="plan-ollama",
        source_vibe=Vibe(description="A haiku about tide pools"),
        root_nodes=[
            WorkflowNode(
                id="haiku",
                type=WorkflowNodeType.GENERATE,
                description="Write the haiku",
                parameters={"tool": "generate_text", "max_tokens": 80},
            )
        ],
    )
    meta = MetaPlanner(llm_config=config, checkpoint_dir=tmp_path, checkpoint_interval=1)
    result = await meta.execute_with_resume(plan)
    assert result.status == ExecutionStatus.COMPLETED
    assert result.node_results["haiku"].output["text"].strip()
    assert result.get_summary()["usage"]["requests"] == 1
