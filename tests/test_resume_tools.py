"""A resumed run finishes with the tools configured now, and says so (issue 16): a run planned
offline and resumed with a model has its remaining text steps written by the model; a
model-written run resumed without a model finishes with the built-in tools."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from vibe_aigc import ExecutionStatus, LLMConfig, MetaPlanner, NodeContext, Vibe
from vibe_aigc.executor import WorkflowExecutor
from vibe_aigc.models import WorkflowNode
from vibe_aigc.testing import OpenAIStub
from vibe_aigc.tools import default_registry

VIBE = Vibe(description="Write a blog post about tools that change", style="plain")


class FailOnce(WorkflowExecutor):
    """The offline tools, but the draft step fails the first time (a crash stand-in)."""

    def __init__(self) -> None:
        super().__init__(tools=default_registry())
        self.failed = False

    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        if node.parameters.get("tool") == "draft" and not self.failed:
            self.failed = True
            raise ValueError("stopped here")
        return await super().execute_node(node, context)


async def test_planned_offline_resumed_with_a_model(tmp_path: Path) -> None:
    first = await MetaPlanner(
        llm_config=False, executor=FailOnce(), checkpoint_dir=tmp_path
    ).execute_with_resume(VIBE)
    assert first.status == ExecutionStatus.FAILED
    done = {n for n, r in first.node_results.items() if r.status == ExecutionStatus.COMPLETED}
    with OpenAIStub() as stub:
        config = LLMConfig.model_validate({"base_url": stub.base_url, "model": "writer-1"})
        planner = MetaPlanner(llm_config=config, checkpoint_dir=tmp_path)
        again = await planner.execute_with_resume(VIBE)
        sent = len(stub.chat_requests)
    assert again.status == ExecutionStatus.COMPLETED
    note = next(w for w in again.warnings if w.startswith("resumed with the tools configured"))
    assert "the model (generate_text)" in note
    written = [
        n
        for n, r in again.node_results.items()
        if not r.resumed and r.output.get("tool") == "generate_text"
    ]
    assert written and sent == len(written)
    for node_id in done:  # completed offline steps keep their outputs
        assert again.node_results[node_id].resumed
        assert again.node_results[node_id].output == first.node_results[node_id].output
