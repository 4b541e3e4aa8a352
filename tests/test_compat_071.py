"""Code written for the public 0.7.1 release runs unchanged (issue 12, compatibility)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from vibe_aigc import (
    CheckpointCorruptError,
    CheckpointNotFoundError,
    ExecutionResult,
    ExecutionStatus,
    MetaPlanner,
    NodeResult,
    ProgressEvent,
    Vibe,
    WorkflowExecutor,
)
from vibe_aigc.visualization import WorkflowVisualizer


def test_execute_plan_is_the_executors_run_method() -> None:
    plan = asyncio.run(MetaPlanner(llm_config=False).plan(Vibe(description="Write a haiku")))
    result = asyncio.run(WorkflowExecutor().execute_plan(plan))
    assert result.status == ExecutionStatus.COMPLETED


def test_an_executor_with_a_checkpoint_interval_runs_durably(tmp_path: Path) -> None:
    plan = asyncio.run(MetaPlanner(llm_config=False).plan(Vibe(description="Write a haiku")))
    events: list[ProgressEvent] = []
    executor = WorkflowExecutor(
        events.append, checkpoint_interval=2, checkpoint_dir=str(tmp_path / "cps")
    )
    result = asyncio.run(executor.execute_plan(plan))
    assert result.status == ExecutionStatus.COMPLETED
    assert executor.last_checkpoint_id is not None
    stored = sorted((tmp_path / "cps" / plan.id).glob("cp-*.json"))
    assert f"{executor.last_checkpoint_id}.json" in [p.name for p in stored]
    assert len(stored) >= 1 + plan.total_nodes // 2  # start, every 2 completions, end
    assert {e.event_type for e in events} >= {"node_started", "node_completed"}
    assert all(0.0 <= e.progress_percent <= 100.0 for e in events)
    resumed = asyncio.run(
        MetaPlanner(llm_config=False, checkpoint_dir=tmp_path / "cps").execute_with_resume(plan)
    )
    assert all(r.resumed for r in resumed.node_results.values())


def test_text_outputs_slice_and_print_as_their_text_also_after_a_resume(tmp_path: Path) -> None:
    """workflows.md, "Handling Results": ``node_result.output[:100]``."""
    vibe = Vibe(description="Write a blog post about slicing")
    planner = MetaPlanner(llm_config=False, checkpoint_dir=tmp_path)
    for result in (
        asyncio.run(planner.execute_with_resume(vibe)),  # live
        asyncio.run(planner.execute_with_resume(vibe)),  # from storage
    ):
        for node_result in result.node_results.values():
            output = node_result.output
            text = output["text"]
            assert output[:100] == text[:100] and f"{output}" == text and str(output) == text
            assert output["tool"] and isinstance(output, dict)
            print(f"  Output: {node_result.output[:100]}...")


def test_results_can_be_built_positionally() -> None:
    result = ExecutionResult("plan-1")
    node = NodeResult("n", ExecutionStatus.COMPLETED, result={"text": "hello"}, error=None)
    result.add_node_result(node)
    assert result.node_results["n"].result == {"text": "hello"}
    assert result.node_results["n"].output[:4] == "hell"
    assert result.get_summary()["completed"] == 1


def test_errors_are_also_the_builtin_kinds_0_7_1_raised() -> None:
    assert issubclass(CheckpointCorruptError, RuntimeError)
    assert issubclass(CheckpointNotFoundError, FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        MetaPlanner(llm_config=False).get_checkpoint("cp-0000000000000-0000")


def test_an_unsupported_format_says_so() -> None:
    plan = asyncio.run(MetaPlanner(llm_config=False).plan(Vibe(description="Write a haiku")))
    with pytest.raises(ValueError, match="Unsupported format"):
        WorkflowVisualizer.generate_diagram(plan, format="svg")
