"""Issue 11.8 (persistence side): secrets under names the redactor did not know, URL
credentials inside values, and the configured key echoed into a node's output never reach
disk. Failed before the fix: every one of them was written to every checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from vibe_aigc import (
    LLMConfig,
    MetaPlanner,
    NodeContext,
    Vibe,
    WorkflowExecutor,
    WorkflowNode,
    WorkflowNodeType,
    WorkflowPlan,
)

KEY = "sk-test-VALUE-0123456789abcdef"
SECRETS = {
    "passphrase": "correct horse battery staple",
    "ssh_key": "-----BEGIN OPENSSH PRIVATE KEY----- AAAAB3Nza",
    "dsn": "postgresql://app:pg-PASSWORD-42@db.internal/app",
    "headers": {"X-Auth": "xauth-TOKEN-777"},
    "openai.key": "sk-openai-dotted-KEY-999",
    "slack_webhook_url": "https://hooks.slack.example/services/T0/B0/WEBHOOK-SECRET",
    "endpoint": "https://api.example/v1/run?api_key=QUERY-SECRET-55&mode=fast",
}
LEAKS = [
    "correct horse battery staple",
    "AAAAB3Nza",
    "pg-PASSWORD-42",
    "xauth-TOKEN-777",
    "sk-openai-dotted-KEY-999",
    "WEBHOOK-SECRET",
    "QUERY-SECRET-55",
    KEY,
]


class Echo(WorkflowExecutor):
    """A provider that echoes the Authorization header into its answer."""

    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        return {"text": f"echo: Authorization: Bearer {KEY}", "usage": {"requests": 1}}


async def test_no_secret_reaches_any_file(tmp_path: Path) -> None:
    plan = WorkflowPlan(
        id="plan-secrets",
        source_vibe=Vibe(description="secret test", metadata=dict(SECRETS)),
        root_nodes=[
            WorkflowNode(
                id="a",
                type=WorkflowNodeType.GENERATE,
                description="call the provider",
                parameters=dict(SECRETS),
            )
        ],
    )
    config = LLMConfig(base_url="http://127.0.0.1:9/v1", api_key=SecretStr(KEY), model="m")
    planner = MetaPlanner(llm_config=config, executor=Echo(), checkpoint_dir=tmp_path)
    result = await planner.execute_with_resume(plan)
    assert result.status.value == "completed"
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.startswith("journal-") for p in files)
    for path in files:
        data = path.read_text(errors="replace")
        for leak in LEAKS:
            assert leak not in data, (path.name, leak)
    # what is not secret stays: the rest of the URL, the words around the key
    newest = max(p for p in files if p.name.startswith("cp-"))
    text = newest.read_text()
    assert "api.example/v1/run" in text and "mode=fast" in text and "echo: Authorization" in text
