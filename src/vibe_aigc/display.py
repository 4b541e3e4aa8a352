"""Progress displays for a running workflow: plain lines, or a live ``rich`` view.

* :class:`PlainProgress` — one line per event; for pipes, logs, ``NO_COLOR`` and ``--plain``.
* :class:`LiveView` — on a terminal: the plan's nodes as a tree with state icons (the icons of
  :data:`~vibe_aigc.visualization.STATUS_ICONS`), a progress bar with done/total, elapsed wall
  time, retries and the last checkpoint written, redrawn in place by ``rich.live.Live``.
* :func:`run_with_visualization` — the body of ``MetaPlanner.execute_with_visualization``.

Every display is a progress callback (``display(event)``) and a context manager (the live view
draws between ``__enter__`` and ``__exit__``); :meth:`Display.attach` gives it a way to find the
plan of a run it did not see planned (a resumed run's plan comes from its checkpoint).

Text from plans is untrusted: it goes through :func:`~vibe_aigc.visualization.one_line` and is
drawn as ``rich.text.Text`` (never parsed as markup or emoji codes).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from vibe_aigc.executor.events import EventKind, ProgressEvent
from vibe_aigc.models import Vibe, WorkflowNode, WorkflowPlan
from vibe_aigc.results import ExecutionResult, ExecutionStatus
from vibe_aigc.visualization import STATUS_ICONS, one_line, render_ascii

if TYPE_CHECKING:
    from vibe_aigc.planner.meta import MetaPlanner

__all__ = [
    "EVENT_ICONS",
    "Display",
    "LiveView",
    "PlainProgress",
    "event_line",
    "run_with_visualization",
    "wants_live",
]

PlanLookup = Callable[[str], WorkflowPlan | None]

EVENT_ICONS: dict[EventKind, str] = {
    EventKind.NODE_STARTED: "🚀",
    EventKind.NODE_COMPLETED: "✅",
    EventKind.NODE_FAILED: "❌",
    EventKind.NODE_RETRYING: "🔁",
    EventKind.NODE_SKIPPED: "⏭️",
    EventKind.CHECKPOINT_SAVED: "💾",
}
_ID_LIMIT = 128
_STATE_STYLE = {
    ExecutionStatus.PENDING: "dim",
    ExecutionStatus.RUNNING: "yellow",
    ExecutionStatus.COMPLETED: "green",
    ExecutionStatus.FAILED: "bold red",
    ExecutionStatus.SKIPPED: "dim",
    ExecutionStatus.INTERRUPTED: "yellow",
}
_STATE_WORD = {
    ExecutionStatus.PENDING: "pending",
    ExecutionStatus.RUNNING: "running",
    ExecutionStatus.COMPLETED: "done",
    ExecutionStatus.FAILED: "failed",
    ExecutionStatus.SKIPPED: "skipped",
    ExecutionStatus.INTERRUPTED: "stopped",
}
_OUTCOME_STYLE = {"completed": "bold green", "failed": "bold red"}


def wants_live(stream: IO[str] | Any, *, plain: bool = False, machine: bool = False) -> bool:
    """True when ``stream`` is a terminal that should get the live view.

    Not when ``plain`` (``--plain``) or ``machine`` (``--json``) is set, when ``NO_COLOR`` is
    set to anything, or when ``TERM`` is ``dumb``.
    """
    if plain or machine or os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except (OSError, ValueError):  # a closed or detached stream
        return False


def _node_duration(event: ProgressEvent) -> float | None:
    if event.state is None or event.node_id is None:
        return None
    result = event.state.node_results.get(event.node_id)
    return None if result is None else result.duration


def event_line(event: ProgressEvent) -> str | None:
    """The plain one-line form of an event, or None for events that get no line."""
    icon = EVENT_ICONS.get(event.kind)
    if icon is None:
        return None
    if event.kind == EventKind.CHECKPOINT_SAVED:
        checkpoint = one_line(event.checkpoint_id or "?", _ID_LIMIT)
        return (
            f"{icon} checkpoint {checkpoint} saved "
            f"({event.done}/{event.total} nodes, {one_line(event.message or '')})"
        )
    if event.kind == EventKind.NODE_STARTED:
        label = one_line(event.description or "")
    elif event.kind == EventKind.NODE_COMPLETED:
        seconds = _node_duration(event)
        label = "done" if seconds is None else f"done in {seconds:.2f}s"
    elif event.kind == EventKind.NODE_FAILED:
        label = f"failed: {one_line(event.error or 'unknown error', 300)}"
    elif event.kind == EventKind.NODE_RETRYING:
        label = f"{one_line(event.message or 'retrying')}: {one_line(event.error or '', 300)}"
    else:
        label = one_line(event.message or "skipped", 300)
    node = one_line(event.node_id or "?", _ID_LIMIT)
    return f"{icon} [{node}] {label}  ({event.done}/{event.total})"


def silence(stream: IO[str] | Any) -> None:
    """Point a stream whose reader went away at /dev/null, so later writes (and the
    interpreter's flush at exit) cannot raise BrokenPipeError again."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


class Display:
    """A display that shows nothing: the base of the others, and ``--json``'s display."""

    def attach(self, lookup: PlanLookup) -> None:
        """Give the display a way to find a plan by id (for runs it did not see planned)."""

    def __call__(self, event: ProgressEvent) -> None:
        """Take one progress event."""

    def __enter__(self) -> Display:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class PlainProgress(Display):
    """One line per event (see :func:`event_line`), flushed at once."""

    def __init__(self, stream: IO[str] | Any) -> None:
        self.stream = stream
        self.closed = False

    def __call__(self, event: ProgressEvent) -> None:
        line = event_line(event)
        if line is None or self.closed:
            return
        try:
            print(line, file=self.stream, flush=True)
        except BrokenPipeError:  # `... | head`: the reader left; the run goes on, quietly
            self.closed = True
            silence(self.stream)


def _tree_rows(plan: WorkflowPlan) -> list[tuple[str, WorkflowNode]]:
    """(tree prefix, node) per drawn node, in the order of the ASCII diagram."""
    rows: list[tuple[str, WorkflowNode]] = []
    roots = plan.root_nodes
    stack = [(node, "", i == len(roots) - 1) for i, node in reversed(list(enumerate(roots)))]
    while stack:
        node, prefix, last = stack.pop()
        rows.append((prefix + ("└─ " if last else "├─ "), node))
        inner = prefix + ("   " if last else "│  ")
        kids = node.children
        stack.extend((kid, inner, i == len(kids) - 1) for i, kid in reversed(list(enumerate(kids))))
    return rows


def _clock_text(seconds: float) -> str:
    minutes, secs = divmod(seconds, 60)
    hours, minutes = divmod(int(minutes), 60)
    return f"{hours}:{minutes:02d}:{int(secs):02d}" if hours else f"{minutes}:{secs:04.1f}"


class LiveView(Display):
    """The live terminal view of one run (see the module docstring).

    Use it as a progress callback inside ``with view:``; it redraws on every event and a few
    times a second (for the elapsed time). Failures and retries are also printed above the view
    so they stay in the scrollback. ``transient=True`` removes the view when it stops.
    """

    def __init__(
        self,
        console: Console | None = None,
        plan: WorkflowPlan | None = None,
        *,
        transient: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.console = console if console is not None else Console()
        self.plan = plan
        self.done = 0
        self.total = plan.total_nodes if plan is not None else 0
        self.retries = 0
        self.checkpoint: str | None = None
        self.checkpoint_done: int | None = None
        self.outcome: str | None = None
        self.status: dict[str, ExecutionStatus] = {}
        self.attempts: dict[str, int] = {}
        self.seconds: dict[str, float] = {}
        self.speed: dict[str, float] = {}  # tokens per second of a streaming node
        self.recorded = 0  # completions recorded durably (journaled before the event)
        self.cost = 0.0  # US dollars the finished nodes reported (usage "cost_usd")
        self.durable = False
        self._lookup: PlanLookup | None = None
        self._clock = clock
        self._started = clock()
        self._ended: float | None = None
        self._lock = threading.RLock()
        self._live = Live(
            console=self.console,
            get_renderable=self.render,
            transient=transient,
            refresh_per_second=8,
        )

    # ------------------------------------------------------------------ feeding

    def attach(self, lookup: PlanLookup) -> None:
        self._lookup = lookup

    def on_tokens(self, node_id: str, progress: Any) -> None:
        """Token progress of a streaming node (``context.services["on_tokens"]``)."""
        with self._lock:
            if getattr(progress, "done", False):
                self.speed.pop(node_id, None)
            else:
                self.speed[node_id] = float(getattr(progress, "tokens_per_second", 0.0) or 0.0)

    def __call__(self, event: ProgressEvent) -> None:
        with self._lock:
            self._take(event)
        if event.kind in (EventKind.NODE_FAILED, EventKind.NODE_RETRYING):
            line = event_line(event)
            if line is not None:
                self.console.print(Text(line, style=_STATE_STYLE[ExecutionStatus.FAILED]))
        if self._live.is_started:
            self._live.refresh()

    def _take(self, event: ProgressEvent) -> None:
        if (self.plan is None or self.plan.id != event.plan_id) and self._lookup is not None:
            found = self._lookup(event.plan_id)
            if found is not None:
                self.plan = found
        self.done, self.total = event.done, event.total
        if event.state is not None:
            for node_id, result in event.state.node_results.items():
                self.status[node_id] = result.status
                self.attempts[node_id] = result.attempts
                if result.duration is not None:
                    self.seconds[node_id] = result.duration
        if event.kind == EventKind.WORKFLOW_STARTED:  # again, after an adaptation
            self.outcome = self._ended = None
        elif event.kind == EventKind.NODE_RETRYING:
            self.retries += 1
        elif event.kind in (EventKind.NODE_COMPLETED, EventKind.NODE_FAILED):
            finished = event.state.node_results.get(event.node_id or "") if event.state else None
            if finished is not None and not finished.resumed:
                self.cost += float((finished.usage or {}).get("cost_usd", 0.0))
        elif event.kind == EventKind.CHECKPOINT_SAVED:
            self.checkpoint, self.checkpoint_done = event.checkpoint_id, event.done
            self.durable = True
        elif event.kind == EventKind.WORKFLOW_COMPLETED:
            self.outcome = event.status or event.message
            self._ended = self._clock()
        if self.durable and event.counts:
            # a durable run journals each completion before announcing it
            self.recorded = event.counts.get("completed", self.recorded)

    # ------------------------------------------------------------------ lifecycle

    def __enter__(self) -> LiveView:
        self._live.start(refresh=True)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            if exc_type is not None and self.outcome is None:
                stopped = issubclass(exc_type, KeyboardInterrupt | asyncio.CancelledError)
                self.outcome = "interrupted" if stopped else "error"
            if self._ended is None:
                self._ended = self._clock()
        self._live.stop()

    # ------------------------------------------------------------------ drawing

    @property
    def elapsed(self) -> float:
        end = self._ended if self._ended is not None else self._clock()
        return max(0.0, end - self._started)

    def render(self) -> RenderableType:
        with self._lock:
            parts: list[RenderableType] = [self._title()]
            if self.plan is None:
                parts.append(Text("Planning the workflow…", style="dim"))
            else:
                parts.append(self._table(self.plan))
            parts.append(self._footer())
            if self.outcome is not None:
                style = _OUTCOME_STYLE.get(self.outcome, "bold yellow")
                parts.append(Text(f"Status: {self.outcome}", style=style))
            return Group(*parts)

    def _title(self) -> Text:
        title = Text("vibe-aigc", style="bold", no_wrap=True, overflow="ellipsis")
        if self.plan is not None:
            title.append(f"  {one_line(self.plan.id, _ID_LIMIT)}", style="cyan")
            title.append(f"  {one_line(self.plan.source_vibe.description, 100)}")
        return title

    def _table(self, plan: WorkflowPlan) -> Table:
        rows = _tree_rows(plan)
        node_width = max(
            (len(pre) + 3 + len(one_line(n.id, _ID_LIMIT)) for pre, n in rows), default=4
        )
        table = Table(box=None, pad_edge=False, show_header=True, header_style="bold dim")
        table.add_column("node", no_wrap=True, overflow="ellipsis", min_width=min(node_width, 40))
        table.add_column("state", no_wrap=True, min_width=10)
        table.add_column("task", overflow="ellipsis", min_width=8)  # the column that gives way
        limit = max(3, self.console.height - 10)
        hidden = 0
        if len(rows) > limit:  # keep the unfinished nodes, then the latest finished ones
            finished = {ExecutionStatus.COMPLETED, ExecutionStatus.SKIPPED}

            def is_done(row: tuple[str, WorkflowNode]) -> bool:
                return self.status.get(row[1].id, ExecutionStatus.PENDING) in finished

            open_rows = [row for row in rows if not is_done(row)]
            room = max(0, limit - len(open_rows))
            recent = (
                {id(row[1]) for row in [r for r in rows if is_done(r)][-room:]} if room else set()
            )
            shown = [row for row in rows if not is_done(row) or id(row[1]) in recent][:limit]
            hidden, rows = len(rows) - len(shown), shown
        for prefix, node in rows:
            state = self.status.get(node.id, ExecutionStatus.PENDING)
            label = Text(prefix, style="dim")
            label.append(f"{STATUS_ICONS[state]} ")
            label.append(one_line(node.id, _ID_LIMIT), style="bold")
            task = Text(f"[{node.type.value}] ", style="dim", no_wrap=True, overflow="ellipsis")
            task.append(one_line(node.description))
            table.add_row(label, self._state_text(node.id, state), task)
        if hidden:
            table.add_row(Text(f"… {hidden} more node(s)", style="dim"), "", "")
        return table

    def _state_text(self, node_id: str, state: ExecutionStatus) -> Text:
        text = _STATE_WORD[state]
        if state in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED):
            seconds = self.seconds.get(node_id)
            text += "" if seconds is None else f" {seconds:.1f}s"
        attempts = self.attempts.get(node_id, 0)
        if attempts > 1:
            text += f" try {attempts}"
        speed = self.speed.get(node_id)
        if state == ExecutionStatus.RUNNING and speed:
            text += f" {speed:.0f} tok/s"
        return Text(text, style=_STATE_STYLE[state])

    def _footer(self) -> Group:
        failed = self.outcome not in (None, "completed")
        bar = ProgressBar(
            total=max(self.total, 1),
            completed=self.done if self.total else 0,
            width=max(10, min(30, self.console.width // 4)),
            complete_style="red" if failed else "bar.complete",
            finished_style="red" if failed else "bar.finished",
        )
        info = Text(no_wrap=True, overflow="ellipsis")
        info.append(f"{self.done}/{self.total} nodes", style="bold")
        info.append(f"  elapsed {_clock_text(self.elapsed)}")
        info.append(f"  retries {self.retries}", style="yellow" if self.retries else "")
        if self.cost:
            info.append(f"  cost ${self.cost:.4f}")
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True)
        grid.add_column(overflow="ellipsis")
        grid.add_row(bar, info)
        saved = Text("saved: ", style="dim", no_wrap=True, overflow="ellipsis")
        if self.checkpoint is None:
            saved.append("nothing yet")
        else:
            saved.append(f"{self.recorded}/{self.total} nodes recorded", style="bold")
            saved.append("  last checkpoint ")
            saved.append(one_line(self.checkpoint, _ID_LIMIT), style="cyan")
        return Group(grid, saved)


async def run_with_visualization(
    planner: MetaPlanner,
    vibe_or_plan: Vibe | WorkflowPlan,
    *,
    console: Console | None = None,
    live: bool | None = None,
) -> ExecutionResult:
    """Plan (unless given a plan), run with ``planner.execute`` and show the run.

    On a terminal (or ``live=True``) a transient :class:`LiveView` shows the nodes' states as
    they change; in every case the final ASCII diagram with its execution summary is printed
    at the end. The planner's own ``progress_callback`` still gets every event.
    """
    console = console if console is not None else Console()
    if isinstance(vibe_or_plan, WorkflowPlan):
        plan = vibe_or_plan
    elif isinstance(vibe_or_plan, Vibe):
        plan = await planner.plan(vibe_or_plan)
    else:
        raise TypeError(f"expected a Vibe or a WorkflowPlan, got {type(vibe_or_plan).__name__}")
    if live is None:
        live = (
            console.is_terminal and not console.is_dumb_terminal and not os.environ.get("NO_COLOR")
        )
    view = LiveView(console, plan, transient=True) if live else None
    with contextlib.ExitStack() as stack:
        if view is not None:
            stack.enter_context(planner.subscribed(view))
            stack.enter_context(view)
        result = await planner.execute(plan)
    console.print(Text(render_ascii(plan, result)), soft_wrap=True)
    return result
