"""The ``vibe-aigc`` command: a thin layer over the public API.

Exit codes: 0 success, 1 a failed run or an error, 2 usage errors, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vibe_aigc.cli import lineage, store_cmd, ui_cmd
from vibe_aigc.cli.checkpoints import cmd_checkpoints
from vibe_aigc.cli.common import (
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    UsageError,
    manager_from,
)
from vibe_aigc.cli.output import check_output_dir, json_dumps, report
from vibe_aigc.cli.parser import DEFAULT_NODE_TIMEOUT, build_parser, positive_float
from vibe_aigc.context import NodeContext
from vibe_aigc.display import Display, LiveView, PlainProgress, silence, wants_live
from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointNotFoundError,
    ConfigurationError,
    UnsupportedSchemaError,
    VibeError,
)
from vibe_aigc.executor import EventKind, ExecutionResult, ProgressEvent, WorkflowExecutor
from vibe_aigc.llm import plain_http_warning
from vibe_aigc.models import Vibe, WorkflowNode, WorkflowPlan, derive_plan_id
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.persistence.manager import describe_store
from vibe_aigc.planner import MetaPlanner
from vibe_aigc.planner.knowledge import DOMAINS, known_domain
from vibe_aigc.visualization import (
    WorkflowVisualizer,
    one_line,
    terminal_text,
)


def vibe_from(args: argparse.Namespace) -> Vibe:
    if args.description is None:
        hint = (
            " (-c/--constraints took every word after it: put the description first, or end "
            "the constraints with --)"
            if args.constraints
            else ""
        )
        raise UsageError(f"the description (what you want made) is required{hint}")
    vibe = Vibe(
        description=args.description,
        style=args.style,
        constraints=list(args.constraints),
        domain=args.domain,
    )
    if args.domain and not known_domain(args.domain):
        print(
            f"warning: domain {terminal_text(args.domain)!r} is not one the built-in planner "
            f"knows ({', '.join(DOMAINS)}); it plans from the description instead",
            file=sys.stderr,
        )
    return vibe


class SimulatedLatencyExecutor(WorkflowExecutor):
    """Adds ``VIBE_SIMULATE_LATENCY`` seconds to every node: demos of progress and resume."""

    def __init__(self, delay: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.delay = delay

    async def execute_node(self, node: WorkflowNode, context: NodeContext) -> Any:
        await asyncio.sleep(self.delay)
        return await super().execute_node(node, context)


def executor_from_env() -> WorkflowExecutor | None:
    raw = os.environ.get("VIBE_SIMULATE_LATENCY")
    if not raw:
        return None
    try:
        delay = float(raw)
    except ValueError:
        raise ConfigurationError(f"VIBE_SIMULATE_LATENCY must be seconds, got {raw!r}") from None
    return SimulatedLatencyExecutor(delay)


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
"""Ctrl-C, a polite kill, a closed terminal: each checkpoints the run as interrupted."""


def _late_signal(signum: int, frame: Any) -> None:
    """A stop signal after the run's handlers are gone (while the checkpoint is being told
    about): still a clean exit 130, never death by signal."""
    raise KeyboardInterrupt


async def run_cancellable(coro: Any) -> Any:
    """Run ``coro``; SIGINT / SIGTERM / SIGHUP cancel it so the run checkpoints before it
    stops (however many arrive: the run layer waits for its last write)."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(coro)
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    finally:
        for sig in STOP_SIGNALS:
            loop.remove_signal_handler(sig)
            signal.signal(sig, _late_signal)


def interrupted(planner: MetaPlanner, plan_id: str | None, as_json: bool = False) -> int:
    latest = (
        [c for c in planner.list_checkpoints(plan_id) if not c.get("corrupt")]
        if plan_id is not None
        else []
    )
    saved = bool(latest) and latest[0].get("state") != "completed"
    command = (
        f"vibe-aigc resume {latest[0]['checkpoint_id']}{_dir_suffix(planner)}" if saved else None
    )
    if as_json:  # one document, whatever happened
        doc = {
            "plan_id": plan_id,
            "status": "interrupted",
            "checkpoint_id": latest[0]["checkpoint_id"] if saved else None,
            "resume_command": command,
            "error": None,
        }
        print(json_dumps(doc))
    print("\nInterrupted.", file=sys.stderr)
    if command is not None:
        print(f"Progress is saved. Resume with: {command}", file=sys.stderr)
    elif plan_id is not None:
        print("No progress was saved yet; run the same command again.", file=sys.stderr)
    return EXIT_INTERRUPTED


def _dir_suffix(planner: MetaPlanner) -> str:
    """The flag that names this run's store in a printed command (shell-quoted)."""
    manager = planner.persistence_manager
    if manager.url == WorkflowPersistenceManager().url:
        return ""
    if manager.checkpoint_dir is not None:
        return f" --checkpoint-dir {shlex.quote(str(manager.checkpoint_dir))}"
    return f" --store {shlex.quote(manager.url)}"


def cmd_plan(args: argparse.Namespace) -> int:
    vibe = vibe_from(args)
    planner = MetaPlanner()
    plan = asyncio.run(planner.plan(vibe, plan_id=args.plan_id))
    diagram = WorkflowVisualizer.generate_diagram(plan, format=args.format)
    if args.output:
        Path(args.output).write_text(diagram + "\n", encoding="utf-8")
        print(f"Plan {plan.id} written to {args.output}", file=sys.stderr)
        return EXIT_OK
    if args.format == "ascii":
        print(f"Planning workflow for: {one_line(vibe.description, 200)}\n")
    print(diagram)
    return EXIT_OK


def display_for(args: argparse.Namespace) -> Display:
    """The live view on a terminal; plain lines otherwise; nothing for --json."""
    if args.json:
        return Display()
    if wants_live(sys.stdout, plain=args.plain):
        return LiveView()
    return PlainProgress(sys.stdout)


def planner_for(
    args: argparse.Namespace,
    display: Display,
    manager: WorkflowPersistenceManager,
    interval: int | None,
) -> MetaPlanner:
    """The planner a run command uses: its display, store, planner choice, budget, timeout."""
    planner = MetaPlanner(
        progress_callback=display,
        executor=executor_from_env(),
        checkpoint_interval=interval,
        persistence_manager=manager,
        # commands without the run flags (fork) run with the defaults
        planner=getattr(args, "planner", None),
        budget=getattr(args, "budget", None),
        backend=getattr(args, "backend", None) or "local",
        ray_address=getattr(args, "ray_address", None),
    )
    if planner.executor.node_timeout is None:
        raw = os.environ.get("VIBE_NODE_TIMEOUT")
        given = getattr(args, "node_timeout", None)
        timeout = given or (positive_float(raw) if raw else DEFAULT_NODE_TIMEOUT)
        planner.executor.node_timeout = timeout
    on_tokens = getattr(display, "on_tokens", None)
    if on_tokens is not None:
        planner.executor.services.setdefault("on_tokens", on_tokens)
    if planner.llm_config is not None:
        warning = plain_http_warning(planner.llm_config)
        if warning:
            print(f"warning: {warning}", file=sys.stderr)
    return planner


def check_not_running(manager: WorkflowPersistenceManager, plan_id: str) -> None:
    """Fail fast (CheckpointLockedError naming the holder) when another process runs the plan.

    Taking the lock also proves the checkpoint folder is writable before any work is done.
    The run takes the lock again for real; this is only an early, clear answer.
    """
    with manager.lock(plan_id):
        pass


def run_with(
    display: Display,
    planner: MetaPlanner,
    plan_id: str | None,
    work: Any,
    as_json: bool = False,
) -> tuple[ExecutionResult, WorkflowPlan | None] | int:
    """Run ``work`` (a coroutine) under the display; an interrupt returns the exit code."""
    display.attach(planner.get_plan)
    try:
        with display:
            outcome: tuple[ExecutionResult, WorkflowPlan | None] = asyncio.run(
                run_cancellable(work)
            )
    except (asyncio.CancelledError, KeyboardInterrupt):
        return interrupted(planner, plan_id, as_json)
    return outcome


async def adapted(
    planner: MetaPlanner, vibe: Vibe, plan_id: str
) -> tuple[ExecutionResult, WorkflowPlan | None]:
    """Plan under ``plan_id``, then ``planner.execute_with_adaptation``."""
    plan = await planner.plan(vibe, plan_id=plan_id)
    result = await planner.execute_with_adaptation(plan)
    return result, planner.get_plan(result.plan_id) or plan


ADAPT_INTERVAL = 5


def interval_for(args: argparse.Namespace) -> int | None:
    """--checkpoint-interval; with --adapt a default too, as adaptive runs checkpoint only when
    the planner has an interval (plain runs snapshot at start and end and journal every node)."""
    given: int | None = args.checkpoint_interval
    return ADAPT_INTERVAL if given is None and args.adapt else given


def cmd_execute(args: argparse.Namespace) -> int:
    check_output_dir(args.output_dir)
    if args.plan_file is not None or args.dry_run:
        return lineage.execute_plan(args, KIT)
    vibe = vibe_from(args)
    durable = not args.no_checkpoint
    if args.no_checkpoint and (args.checkpoint or args.checkpoint_interval):
        raise UsageError("--no-checkpoint cannot be combined with --checkpoint(-interval)")
    display = display_for(args)
    manager = manager_from(args)
    planner = planner_for(args, display, manager, interval_for(args) if durable else None)
    if args.adapt and not hasattr(planner, "execute_with_adaptation"):
        raise ConfigurationError(
            "--adapt needs adaptive replanning (MetaPlanner.execute_with_adaptation), which is "
            "not available in this version of vibe-aigc; run without --adapt"
        )
    plan_id = args.plan_id if args.plan_id is not None else derive_plan_id(vibe)
    if durable:
        check_not_running(manager, plan_id)
    if not args.json:
        print(f"Executing workflow for: {one_line(vibe.description, 200)}")

    async def go() -> tuple[ExecutionResult, WorkflowPlan | None]:
        if args.adapt:
            return await adapted(planner, vibe, plan_id)
        if not durable:
            plan = await planner.plan(vibe, plan_id=plan_id)
            return await planner.execute(plan), plan

        # the runs layer decides: resume an unfinished run, return a finished one's stored
        # result, or start (fresh with --fresh)
        def resuming(event: ProgressEvent) -> None:
            if event.kind == EventKind.RUN_RESUMED and not args.json:
                print(f"Resuming {plan_id} from {event.checkpoint_id} (use --fresh to start over)")

        with planner.subscribed(resuming):
            result = await planner.execute_with_resume(vibe, plan_id=plan_id, fresh=args.fresh)
        return result, planner.get_plan(plan_id)

    outcome = run_with(display, planner, plan_id if durable else None, go(), args.json)
    return outcome if isinstance(outcome, int) else report(*outcome, args)


def cmd_resume(args: argparse.Namespace) -> int:
    check_output_dir(args.output_dir)
    if args.retry_failed:
        return lineage.retry_failed(args, KIT)
    display = display_for(args)
    manager = manager_from(args)
    planner = planner_for(args, display, manager, args.checkpoint_interval)
    plan_id = args.plan
    if args.checkpoint_id and plan_id is None:
        plan_id = str(planner.get_checkpoint(args.checkpoint_id)["plan_id"])
    assert plan_id is not None  # main() checked that one of the two was given
    if not manager.latest_checkpoint_ids(plan_id):
        raise CheckpointNotFoundError(
            plan_id,
            f"plan {plan_id!r} has no checkpoint in {describe_store(manager)}; "
            "`vibe-aigc checkpoints --list` shows the plans that have one",
        )
    check_not_running(manager, plan_id)
    if not args.json:
        print(f"Resuming plan {plan_id} from {args.checkpoint_id or 'its latest checkpoint'}")

    async def go() -> tuple[ExecutionResult, WorkflowPlan | None]:
        result = await planner.execute_with_resume(
            None, checkpoint_id=args.checkpoint_id, plan_id=plan_id
        )
        return result, planner.get_plan(result.plan_id)

    outcome = run_with(display, planner, plan_id, go(), args.json)
    return outcome if isinstance(outcome, int) else report(*outcome, args)


COMMANDS = {
    "plan": cmd_plan,
    "execute": cmd_execute,
    "resume": cmd_resume,
    "checkpoints": cmd_checkpoints,
    **ui_cmd.COMMANDS,
    **store_cmd.HANDLERS,
}
KIT = lineage.Kit(display_for, planner_for, run_with, manager_from, check_not_running)
COMMANDS.update(lineage.handlers(KIT))  # runs, status, fork, export, import


def hint_for(exc: VibeError, args: argparse.Namespace) -> str | None:
    """A second line for errors whose library message names a Python call, not a command."""
    if "vibe-aigc checkpoints" in str(exc):
        return None
    if isinstance(exc, UnsupportedSchemaError):
        return None  # the store itself is newer than this code: reopening it fails again
    if isinstance(exc, CheckpointNotFoundError | CheckpointCorruptError):
        where = describe_store(manager_from(args))
        return f"hint: `vibe-aigc checkpoints --list` shows the checkpoints in {where}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """The command. Run as the installed command (``argv`` None), it also makes sure a late
    stop signal (a second Ctrl-C while the run is checkpointed) cannot kill it afterwards:
    the exit code stays 130."""
    library = logging.getLogger("vibe_aigc")
    if not library.handlers:  # what the library logs reaches the user as warnings: once
        library.addHandler(logging.NullHandler())
    code = _main(argv)
    if argv is None:
        for sig in STOP_SIGNALS:
            signal.signal(sig, signal.SIG_IGN)
    return code


def _main(argv: Sequence[str] | None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command_parser: argparse.ArgumentParser = args.command_parser
    if args.command == "resume" and not (args.checkpoint_id or args.plan):
        command_parser.error(
            "resume needs a CHECKPOINT_ID or --plan PLAN_ID (see `checkpoints --list`)"
        )
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        command_parser.error(str(exc))
    except KeyboardInterrupt:
        print("\nInterrupted.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `vibe-aigc ... | head`: the reader left; say nothing more
        silence(sys.stdout)
        return EXIT_OK
    except Exception as exc:
        if args.debug:
            raise
        if getattr(args, "json", False):  # --json: one document, also on an error
            failure = {"status": "error", "error": describe(exc), "kind": type(exc).__name__}
            print(json_dumps(failure))
        print(f"error: {terminal_text(describe(exc))}", file=sys.stderr)
        hint = hint_for(exc, args) if isinstance(exc, VibeError) else None
        if hint is None and not isinstance(exc, VibeError | OSError):
            hint = "this is a bug in vibe-aigc; rerun with --debug and report the traceback"
        if hint:
            print(hint, file=sys.stderr)
        return EXIT_FAILED


_PYTHON_HINTS = (
    # library messages name the Python call; on the command line, name the command
    (
        "use list_checkpoints() (or `vibe-aigc checkpoints --list`) to see",
        "`vibe-aigc checkpoints --list` shows",
    ),
    (" (list_checkpoints())", ""),
    ("list_checkpoints()", "`vibe-aigc checkpoints --list`"),
)


def describe(exc: BaseException) -> str:
    if isinstance(exc, VibeError):
        text = str(exc)
        for python, command in _PYTHON_HINTS:
            text = text.replace(python, command)
        return text
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
