"""vibe_aigc.display: plain lines, the live view (rendered into a recording console) and
MetaPlanner.execute_with_visualization."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from vibe_aigc import MetaPlanner, Vibe, WorkflowNode, WorkflowNodeType, WorkflowPlan
from vibe_aigc.display import (
    Display,
    LiveView,
    PlainProgress,
    event_line,
    run_with_visualization,
    wants_live,
)
from vibe_aigc.executor import EventKind, ExecutionStatus, ProgressEvent
from vibe_aigc.results import ExecutionResult, NodeResult


def console(width: int = 110, height: int = 40, terminal: bool = True) -> Console:
    return Console(
        file=io.StringIO(),
        width=width,
        height=height,
        force_terminal=terminal,
        color_system=None,
        legacy_windows=False,
        _environ={},
    )


def written(con: Console) -> str:
    assert isinstance(con.file, io.StringIO)
    return con.file.getvalue()


def chain_plan(n: int, plan_id: str = "plan-chain") -> WorkflowPlan:
    nodes = [
        WorkflowNode(
            id=f"n{i}",
            type=WorkflowNodeType.GENERATE,
            description=f"Step {i}",
            dependencies=[f"n{i - 1}"] if i else [],
        )
        for i in range(n)
    ]
    return WorkflowPlan(id=plan_id, source_vibe=Vibe(description="chain"), root_nodes=nodes)


def event(kind: EventKind, **kw: object) -> ProgressEvent:
    defaults: dict[str, object] = {"plan_id": "plan-chain", "done": 0, "total": 3}
    return ProgressEvent(kind=kind, **{**defaults, **kw})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- plain lines


def test_event_lines() -> None:
    state = ExecutionResult(
        plan_id="plan-chain", node_results={"n0": NodeResult(node_id="n0", duration=0.25)}
    )
    assert event_line(event(EventKind.NODE_STARTED, node_id="n0", description="Step 0")) == (
        "🚀 [n0] Step 0  (0/3)"
    )
    done = event(EventKind.NODE_COMPLETED, node_id="n0", done=1, state=state)
    assert event_line(done) == "✅ [n0] done in 0.25s  (1/3)"
    failed = event(EventKind.NODE_FAILED, node_id="n1", done=2, error="Boom:\nsecond line")
    assert event_line(failed) == "❌ [n1] failed: Boom: second line  (2/3)"
    retry = event(
        EventKind.NODE_RETRYING, node_id="n1", message="attempt 1 failed", error="TransientError"
    )
    assert event_line(retry) == "🔁 [n1] attempt 1 failed: TransientError  (0/3)"
    skipped = event(EventKind.NODE_SKIPPED, node_id="n2", done=3, message="skipped: waits")
    assert event_line(skipped) == "⏭️ [n2] skipped: waits  (3/3)"
    saved = event(EventKind.CHECKPOINT_SAVED, checkpoint_id="cp-1", done=1, message="running")
    assert event_line(saved) == "💾 checkpoint cp-1 saved (1/3 nodes, running)"
    assert event_line(event(EventKind.WORKFLOW_STARTED)) is None
    hostile = event(EventKind.NODE_STARTED, node_id="x", description="a\x1b[31m\nb\u202ec")
    line = event_line(hostile)
    assert line is not None and "\x1b" not in line and "\n" not in line and "\u202e" not in line


def test_plain_progress_prints_one_line_per_event() -> None:
    out = io.StringIO()
    with PlainProgress(out) as display:
        display(event(EventKind.WORKFLOW_STARTED))
        display(event(EventKind.NODE_STARTED, node_id="n0", description="Step 0"))
    assert out.getvalue() == "🚀 [n0] Step 0  (0/3)\n"


def test_wants_live(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert wants_live(Tty()) and not wants_live(io.StringIO())
    assert not wants_live(Tty(), plain=True) and not wants_live(Tty(), machine=True)
    closed = io.StringIO()
    closed.close()  # isatty() raises ValueError
    assert not wants_live(closed) and not wants_live(object())
    monkeypatch.setenv("TERM", "dumb")
    assert not wants_live(Tty())
    monkeypatch.setenv("TERM", "xterm")
    monkeypatch.setenv("NO_COLOR", "1")
    assert not wants_live(Tty())


# --------------------------------------------------------------------------- live view


async def test_live_view_follows_a_real_run(tmp_path: Path) -> None:
    con = console()
    view = LiveView(con)
    planner = MetaPlanner(progress_callback=view, checkpoint_interval=1, checkpoint_dir=tmp_path)
    view.attach(planner.get_plan)
    with view:
        result = await planner.execute(Vibe(description="Write a blog post about views"))
    assert result.status == ExecutionStatus.COMPLETED
    text = written(con)
    total = len(result.node_results)
    for node_id in result.node_results:
        assert f"✅ {node_id}" in text
    assert f"{total}/{total} nodes" in text and "retries 0" in text and "elapsed 0:" in text
    assert f"{total}/{total} nodes recorded  last checkpoint {result.checkpoint_id}" in text
    assert "Status: completed" in text
    assert view.done == view.total == total and view.outcome == "completed"


def test_live_view_counts_retries_and_prints_failures_above() -> None:
    con = console()
    view = LiveView(con, chain_plan(3))
    with view:
        view(event(EventKind.NODE_RETRYING, node_id="n0", message="attempt 1 failed", error="E"))
        view(event(EventKind.NODE_FAILED, node_id="n0", done=1, error="Boom"))
    text = written(con)
    assert "🔁 [n0] attempt 1 failed: E" in text and "❌ [n0] failed: Boom" in text
    assert "retries 1" in text


def test_live_view_marks_an_interrupted_run() -> None:
    con = console()
    with pytest.raises(KeyboardInterrupt), LiveView(con, chain_plan(2)):
        raise KeyboardInterrupt
    assert "Status: interrupted" in written(con)


def test_live_view_before_the_plan_is_known_then_after() -> None:
    con = console()
    view = LiveView(con)
    con.print(view.render())
    assert "Planning the workflow" in written(con)
    view.attach({"plan-chain": chain_plan(3)}.get)
    view(event(EventKind.WORKFLOW_STARTED))
    con.print(view.render())
    assert "⏳ n2" in written(con)


def test_live_view_fits_a_big_plan_in_a_small_terminal() -> None:
    plan = chain_plan(40)
    con = console(height=15)
    view = LiveView(con, plan)
    state = ExecutionResult(
        plan_id=plan.id,
        node_results={
            f"n{i}": NodeResult(
                node_id=f"n{i}",
                status=ExecutionStatus.COMPLETED
                if i < 30
                else ExecutionStatus.RUNNING
                if i == 30
                else ExecutionStatus.PENDING,
            )
            for i in range(40)
        },
    )
    view(event(EventKind.NODE_STARTED, node_id="n30", done=30, total=40, state=state))
    con.print(view.render())
    text = written(con)
    assert "🔄 n30" in text and "more node(s)" in text and "30/40 nodes" in text
    assert "✅ n0 " not in text  # the oldest finished nodes give way first
    assert len(text.splitlines()) <= 15


def test_live_view_draws_untrusted_text_literally() -> None:
    plan = WorkflowPlan(
        id="plan-hostile",
        source_vibe=Vibe(description="[bold]vibe[/bold] :smile:"),
        root_nodes=[
            WorkflowNode(
                id="n0",
                type=WorkflowNodeType.GENERATE,
                description="[red]not markup[/red] :thumbs_up: \x1b[31mred\u202e",
            )
        ],
    )
    con = console(width=200)
    con.print(LiveView(con, plan).render())
    text = written(con)
    assert "[red]not markup[/red] :thumbs_up:" in text and "[bold]vibe[/bold] :smile:" in text
    assert "\x1b[31m" not in text and "\u202e" not in text


def test_the_base_display_shows_nothing() -> None:
    with Display() as display:
        display.attach(lambda plan_id: None)
        display(event(EventKind.NODE_STARTED, node_id="n0"))


# --------------------------------------------------------------------------- the library


async def test_execute_with_visualization_prints_the_final_diagram(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    planner = MetaPlanner(checkpoint_dir=tmp_path)
    result = await planner.execute_with_visualization(
        Vibe(description="Create a blog post about AI agents")
    )
    out = capsys.readouterr().out
    assert result.status == ExecutionStatus.COMPLETED
    assert out.startswith(f"Workflow Plan: {result.plan_id}\n")
    assert "Execution Summary:" in out and "Status: completed" in out and "Duration: " in out
    assert out.count("✅ [") == len(result.node_results)


async def test_execute_with_visualization_live_keeps_the_users_callback(tmp_path: Path) -> None:
    seen: list[EventKind] = []

    async def mine(e: ProgressEvent) -> None:
        seen.append(e.kind)

    planner = MetaPlanner(progress_callback=mine, checkpoint_dir=tmp_path)
    con = console()
    plan = chain_plan(3)
    result = await planner.execute_with_visualization(plan, console=con, live=True)
    assert result.status == ExecutionStatus.COMPLETED
    assert planner.progress_callback is mine
    assert seen.count(EventKind.NODE_COMPLETED) == 3 and seen[-1] == EventKind.WORKFLOW_COMPLETED
    text = written(con)
    assert "3/3 nodes" in text  # the live view was drawn (then cleared: transient)
    assert "Workflow Plan: plan-chain" in text and "Execution Summary:" in text


async def test_execute_with_visualization_rejects_other_input(tmp_path: Path) -> None:
    planner = MetaPlanner(checkpoint_dir=tmp_path)
    with pytest.raises(TypeError, match="Vibe or a WorkflowPlan"):
        await run_with_visualization(planner, "a string", console=console())  # type: ignore[arg-type]
    assert planner.progress_callback is None
