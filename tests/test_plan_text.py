"""A plan's stored text spelled from its nodes (``runs/plantext.py``) is, byte for byte, the
canonical JSON of the redacted dump a checkpoint holds; and a resume that compares plans by
that text tells an unchanged plan from an edited one."""

from __future__ import annotations

import asyncio
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import json_values, plans
from vibe_aigc import MetaPlanner, Vibe, WorkflowExecutor, WorkflowNode, WorkflowPlan
from vibe_aigc.errors import CheckpointEncodeError
from vibe_aigc.persistence.jsontext import canonical_text
from vibe_aigc.runs import plantext
from vibe_aigc.runs.plantext import dumped_plan_text, plan_text


def test_the_speller_is_on() -> None:
    assert plantext._SPELLED  # the check at import found it spells what pydantic dumps


@settings(max_examples=150, deadline=None)
@given(plan=plans())
def test_spelled_text_is_the_dump(plan: WorkflowPlan) -> None:
    assert plan_text(plan) == dumped_plan_text(plan)


@settings(max_examples=100, deadline=None)
@given(
    secret_key=st.sampled_from(["api_key", "token", "X-Auth", "password", "words"]),
    value=json_values,
    estimate=st.none() | st.floats(allow_nan=False, allow_infinity=False),
    text=st.text(max_size=12),
)
def test_secrets_and_numbers_are_spelled_as_stored(
    secret_key: str, value: Any, estimate: float | None, text: str
) -> None:
    nodes = [
        WorkflowNode(id="a", type="analyze", description=text or "x", estimated_duration=estimate),
        WorkflowNode(
            id="b",
            type="composite",
            description="b",
            dependencies=["a"],
            parameters={secret_key: value},
            children=[WorkflowNode(id="b.1", type="generate", description=text or "y")],
        ),
    ]
    vibe = Vibe(description="v", metadata={secret_key: value, "url": "https://u:pw@h/"})
    plan = WorkflowPlan(id="p", source_vibe=vibe, root_nodes=nodes)
    spelled = plantext._spelled(plan)
    assert spelled is not None and spelled == dumped_plan_text(plan)
    if secret_key != "words":
        assert '"[REDACTED]"' in spelled


def test_parameters_are_spelled_as_pydantic_dumps_them() -> None:
    params = {"x": math.nan, "when": datetime(2026, 1, 2, tzinfo=UTC), "t": ("a", 1)}
    node = WorkflowNode(id="a", type="analyze", description="x", parameters=params)
    plan = WorkflowPlan(id="p", source_vibe=Vibe(description="v"), root_nodes=[node])
    text = plan_text(plan)
    assert text is not None and text == dumped_plan_text(plan)
    assert '"x":null' in text and '"when":"2026-01-02T00:00:00Z"' in text


class Counting(WorkflowExecutor):
    def __init__(self) -> None:
        super().__init__(max_concurrency=2)
        self.ran: list[str] = []

    async def execute_node(self, node: Any, context: Any) -> Any:
        self.ran.append(node.id)
        return {"node": node.id, "words": node.description}


def chain(n: int, edited: str | None = None) -> WorkflowPlan:
    nodes = [
        WorkflowNode(
            id=f"n{i}",
            type="transform",
            description=edited if edited is not None and i == n // 2 else f"step {i}",
            dependencies=[f"n{i - 1}"] if i else [],
        )
        for i in range(n)
    ]
    return WorkflowPlan(id="chain", source_vibe=Vibe(description="c"), root_nodes=nodes)


def test_resume_tells_an_edited_plan_by_its_text(tmp_path: Path) -> None:
    def run(executor: Counting, plan: WorkflowPlan) -> Any:
        planner = MetaPlanner(executor=executor, checkpoint_dir=tmp_path)
        return asyncio.run(planner.execute_with_resume(plan))

    first = Counting()
    assert run(first, chain(10)).status.value == "completed" and len(first.ran) == 10
    same = Counting()
    again = run(same, chain(10))
    assert same.ran == [] and all(r.resumed for r in again.node_results.values())
    edited = Counting()
    result = run(edited, chain(10, "new"))
    assert edited.ran == [f"n{i}" for i in range(5, 10)]  # the edited node and what follows
    assert result.node_results["n5"].output == {"node": "n5", "words": "new"}


class Once(WorkflowExecutor):
    async def execute_node(self, node: Any, context: Any) -> Any:
        return {"ok": node.id}


def fresh_run(tmp_path: Path, node: WorkflowNode) -> Any:
    plan = WorkflowPlan(id="one", source_vibe=Vibe(description="v"), root_nodes=[node])
    planner = MetaPlanner(executor=Once(), checkpoint_dir=tmp_path)
    result = asyncio.run(planner.execute_with_resume(plan))
    return planner.get_checkpoint(result.checkpoint_id)["workflow_plan"], plan


def test_a_fresh_run_stores_the_spelled_text_redacted(tmp_path: Path) -> None:
    node = WorkflowNode(
        id="a", type="analyze", description="x", parameters={"api_key": "sk-1", "n": [[1]]}
    )
    stored, plan = fresh_run(tmp_path, node)
    assert stored["root_nodes"][0]["parameters"] == {"api_key": "[REDACTED]", "n": [[1]]}
    assert canonical_text(stored) == plan_text(plan)


def test_a_plan_that_is_no_text_is_refused_with_its_path(tmp_path: Path) -> None:
    node = WorkflowNode(id="a", type="analyze", description="bad \ud800")
    assert plantext.checked_plan_text(
        WorkflowPlan(id="one", source_vibe=Vibe(description="v"), root_nodes=[node])
    ) is None
    with pytest.raises(CheckpointEncodeError, match=r"root_nodes\[0\]\.description"):
        fresh_run(tmp_path, node)
