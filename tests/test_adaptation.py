"""execute_with_adaptation: revise the failed part, reuse every completed output, bounded."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vibe_aigc import (
    ConfigurationError,
    ExecutionStatus,
    LLMConfig,
    MetaPlanner,
    NodeContext,
    NodeExecutionError,
    Vibe,
    WorkflowExecutor,
    WorkflowNode,
)
from vibe_aigc.testing import OpenAIStub, Reply

VIBE = Vibe(description="Write a blog post about tide pools", style="warm")


class FlakyExecutor(WorkflowExecutor):
    """Offline tools, but ``fail`` nodes fail their first ``times`` runs."""

    def __init__(self, fail: set[str], times: int = 1) -> None:
        super().__init__()
        self.fail = fail
        self.times = times
        self.calls: Counter[str] = Counter()

    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        self.calls[node.id] += 1
        if node.id in self.fail and self.calls[node.id] <= self.times:
            raise NodeExecutionError(f"{node.id} broke", node.id)
        return await super().execute_node(node, context)


async def test_offline_adaptation_reruns_only_the_failed_part() -> None:
    executor = FlakyExecutor({"body"})
    meta = MetaPlanner(llm_config=False, executor=executor)
    result = await meta.execute_with_adaptation(VIBE)
    assert result.status == ExecutionStatus.COMPLETED
    assert executor.calls["body"] == 2
    rerun = {"body", "draft", "review"}  # the failure, its parent, and what waited on it
    assert all(n == 1 for node_id, n in executor.calls.items() if node_id != "body")
    for node_id, node in result.node_results.items():
        assert node.resumed == (node_id not in rerun), node_id
    (entry,) = result.adaptations
    assert entry["failed"] == {"body": "NodeExecutionError: body broke"}
    assert entry["added"] == [] and entry["removed"] == [] and entry["status"] == "completed"
    assert "brief" in entry["kept"] and "body" not in entry["kept"]
    assert any(w.startswith("adaptation 1:") for w in result.warnings)


async def test_adaptation_is_bounded() -> None:
    executor = FlakyExecutor({"outline"}, times=99)
    meta = MetaPlanner(llm_config=False, executor=executor)
    result = await meta.execute_with_adaptation(VIBE, max_adaptations=2)
    assert result.status == ExecutionStatus.FAILED
    assert [e["attempt"] for e in result.adaptations] == [1, 2]
    assert executor.calls["outline"] == 3 and executor.calls["brief"] == 1
    never = MetaPlanner(llm_config=False, executor=FlakyExecutor({"outline"}))
    none = await never.execute_with_adaptation(VIBE, max_adaptations=0)
    assert none.status == ExecutionStatus.FAILED and none.adaptations == []
    with pytest.raises(ConfigurationError):
        await meta.execute_with_adaptation(VIBE, max_adaptations=-1)


# --------------------------------------------------------------------------- with a model


def node(id: str, type: str = "generate", deps: list[str] | None = None) -> dict[str, Any]:
    return {
        "id": id,
        "type": type,
        "description": f"Step {id}",
        "parameters": {"tool": "generate_text"},
        "dependencies": deps or [],
        "children": [],
    }


FIRST = {"root_nodes": [node("a"), node("b", deps=["a"]), node("c", "validate", ["b"])]}
REVISED = {"root_nodes": [node("a"), node("b2", deps=["a"]), node("c", "validate", ["b2"])]}


@pytest.fixture
def stub() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


def script_failure_then_revision(stub: OpenAIStub) -> None:
    stub.script(
        "chat",
        Reply(content=json.dumps(FIRST)),  # the plan
        Reply(content="A's text"),  # a
        Reply(status=400, body={"error": {"message": "content policy"}}),  # b fails for good
        Reply(content=json.dumps(REVISED)),  # the revision
        Reply(content="B2's text"),  # b2
        Reply(content="PASSED\n- all good"),  # c
    )


@pytest.mark.parametrize("durable", [False, True])
async def test_model_adaptation_replaces_the_failed_node_and_reuses_outputs(
    stub: OpenAIStub, tmp_path: Path, durable: bool
) -> None:
    script_failure_then_revision(stub)
    config = LLMConfig(base_url=stub.base_url, model="m")
    meta = MetaPlanner(
        llm_config=config, checkpoint_dir=tmp_path, checkpoint_interval=1 if durable else None
    )
    result = await meta.execute_with_adaptation(VIBE)
    assert result.status == ExecutionStatus.COMPLETED, result.node_results
    assert len(stub.chat_requests) == 6  # a was not asked again
    a = result.node_results["a"]
    assert a.resumed and a.output["text"] == "A's text"
    assert result.node_results["c"].output["passed"] is True
    assert "A's text" in stub.chat_requests[4].body["messages"][1]["content"]  # b2 saw a
    revise_prompt = stub.chat_requests[3].body["messages"][1]["content"]
    assert "content policy" in revise_prompt and "HTTP 400" in revise_prompt
    (entry,) = result.adaptations
    assert entry["kept"] == ["a"] and list(entry["failed"]) == ["b"]
    assert entry["added"] == ["b2"] and entry["removed"] == ["b"]
    assert entry["planner"] == "llm planner"
    assert result.get_summary()["usage"]["requests"] == 3  # a, b2, c
    if durable:
        again = await meta.execute_with_resume(VIBE)  # the revised plan is the stored one
        assert again.status == ExecutionStatus.COMPLETED and len(stub.chat_requests) == 6
        assert set(again.node_results) == {"a", "b2", "c"}


async def test_a_revision_the_model_cannot_make_is_recorded(stub: OpenAIStub) -> None:
    stub.script(
        "chat",
        Reply(content=json.dumps(FIRST)),
        Reply(content="A's text"),
        Reply(status=400),
        Reply(content="not json"),
        Reply(content='{"root_nodes": []}'),
    )
    meta = MetaPlanner(llm_config=LLMConfig(base_url=stub.base_url, model="m"))
    result = await meta.execute_with_adaptation(VIBE)
    assert result.status == ExecutionStatus.FAILED
    (entry,) = result.adaptations
    assert entry["status"] == "not revised" and "did not produce a valid plan" in entry["error"]
