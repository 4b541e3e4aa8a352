"""The ``vibe-aigc`` command: a thin layer over the public API.

Exit codes: 0 success, 1 a failed run or an error, 2 usage errors, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from vibe_aigc import __version__
from vibe_aigc.cli.output import report
from vibe_aigc.context import NodeContext
from vibe_aigc.display import Display, LiveView, PlainProgress, wants_live
from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointNotFoundError,
    ConfigurationError,
    VibeError,
)
from vibe_aigc.executor import EventKind, ExecutionResult, ProgressEvent, WorkflowExecutor
from vibe_aigc.models import Vibe, WorkflowNode, WorkflowPlan, derive_plan_id
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.persistence.manager import describe_store
from vibe_aigc.planner import MetaPlanner
from vibe_aigc.visualization import VisualizationFormat, WorkflowVisualizer, one_line

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, got {value}")
    return value


def non_empty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("the description must not be empty")
    return text


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vibe-aigc",
        description="Plan a creative intent (a vibe) into a workflow and run it durably.",
    )
    parser.add_argument("--version", action="version", version=f"vibe-aigc {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def vibe_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("description", type=non_empty, help="what you want made")
        p.add_argument("--style", "-s", help="aesthetic preferences")
        p.add_argument(
            "--constraints",
            "-c",
            nargs="+",
            action="extend",
            default=[],
            metavar="TEXT",
            help="boundaries, e.g. -c 'under 500 words' 'beginner-friendly'",
        )
        p.add_argument("--domain", "-d", help="content type, e.g. 'blog', 'video'")
        p.add_argument("--plan-id", help="use this plan id instead of the derived one")

    def dir_flag(p: argparse.ArgumentParser) -> None:
        where = p.add_mutually_exclusive_group()
        where.add_argument(
            "--checkpoint-dir",
            help="checkpoint folder (default: $VIBE_CHECKPOINT_DIR or .vibe_checkpoints)",
        )
        where.add_argument(
            "--store",
            metavar="URL",
            help="where runs are kept: a folder, file:///path, sqlite:///runs.db or "
            "postgresql://... (default: $VIBE_STORE_URL, else the checkpoint folder)",
        )

    def interval_flag(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--checkpoint-interval",
            type=positive_int,
            default=None,
            metavar="N",
            help="write a full checkpoint every N completed nodes (progress is journaled always)",
        )

    def run_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument("--visualize", action="store_true", help="draw the plan with statuses")
        p.add_argument("--json", action="store_true", help="print one JSON result document")
        p.add_argument(
            "--plain", action="store_true", help="one plain line per event, no live view"
        )
        p.add_argument("--quiet", "-q", action="store_true", help="print no deliverable text")
        p.add_argument(
            "--output-dir", metavar="DIR", help="write every node's output (and result.json) here"
        )
        dir_flag(p)

    def backend_flags(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--backend",
            choices=["local", "ray"],
            default="local",
            help="where node work runs: this process, or Ray tasks (pip install 'vibe-aigc[ray]')",
        )
        p.add_argument(
            "--ray-address",
            help="the Ray cluster (default $VIBE_RAY_ADDRESS, else a local Ray instance)",
        )

    p_plan = sub.add_parser("plan", help="plan a vibe and show the workflow")
    vibe_flags(p_plan)
    p_plan.add_argument(
        "--format", "-f", choices=[f.value for f in VisualizationFormat], default="ascii"
    )
    p_plan.add_argument("--output", "-o", help="write the diagram to this file")

    p_exec = sub.add_parser("execute", help="plan and run a vibe (checkpointed)")
    vibe_flags(p_exec)
    p_exec.add_argument(
        "--checkpoint",
        action="store_true",
        help="checkpoint the run (the default; kept for the guide's examples)",
    )
    p_exec.add_argument(
        "--no-checkpoint", action="store_true", help="run without writing any checkpoint"
    )
    interval_flag(p_exec)
    p_exec.add_argument("--fresh", action="store_true", help="ignore earlier checkpoints")
    p_exec.add_argument("--adapt", action="store_true", help="replan failed parts")
    run_flags(p_exec)
    backend_flags(p_exec)

    p_cps = sub.add_parser("checkpoints", help="list, show, delete or clear checkpoints")
    action = p_cps.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", action="store_true", help="list checkpoints, newest first")
    action.add_argument("--show", metavar="ID", help="print one checkpoint in full (JSON)")
    action.add_argument("--delete", metavar="ID", help="delete one checkpoint")
    action.add_argument("--clear", action="store_true", help="delete all (or --plan's)")
    p_cps.add_argument("--plan", metavar="PLAN_ID", help="only this plan")
    p_cps.add_argument("--json", action="store_true", help="machine-readable output")
    dir_flag(p_cps)

    p_res = sub.add_parser("resume", help="resume from a checkpoint (or a plan's latest)")
    p_res.add_argument("checkpoint_id", nargs="?", help="the cp-... id to resume from")
    p_res.add_argument("--plan", metavar="PLAN_ID", help="resume this plan from its latest")
    interval_flag(p_res)
    run_flags(p_res)
    backend_flags(p_res)
    for command in (p_plan, p_exec, p_cps, p_res):
        command.set_defaults(command_parser=command)
    return parser


def vibe_from(args: argparse.Namespace) -> Vibe:
    return Vibe(
        description=args.description,
        style=args.style,
        constraints=list(args.constraints),
        domain=args.domain,
    )


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


def manager_from(args: argparse.Namespace) -> WorkflowPersistenceManager:
    return WorkflowPersistenceManager(
        getattr(args, "checkpoint_dir", None), store=getattr(args, "store", None)
    )


async def run_cancellable(coro: Any) -> Any:
    """Run ``coro``; SIGINT / SIGTERM cancel it so the run checkpoints before stopping."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(coro)
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    try:
        return await task
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


def interrupted(planner: MetaPlanner, plan_id: str | None) -> int:
    print("\nInterrupted.", file=sys.stderr)
    if plan_id is None:
        return EXIT_INTERRUPTED
    latest = [c for c in planner.list_checkpoints(plan_id) if not c.get("corrupt")]
    if latest and latest[0].get("state") != "completed":
        print(
            f"Progress is saved. Resume with: vibe-aigc resume {latest[0]['checkpoint_id']}"
            + _dir_suffix(planner),
            file=sys.stderr,
        )
    else:
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


def check_not_running(manager: WorkflowPersistenceManager, plan_id: str) -> None:
    """Fail fast (CheckpointLockedError naming the holder) when another process runs the plan.

    Taking the lock also proves the checkpoint folder is writable before any work is done.
    The run takes the lock again for real; this is only an early, clear answer.
    """
    with manager.lock(plan_id):
        pass


def run_with(
    display: Display, planner: MetaPlanner, plan_id: str | None, work: Any
) -> tuple[ExecutionResult, WorkflowPlan | None] | int:
    """Run ``work`` (a coroutine) under the display; an interrupt returns the exit code."""
    display.attach(planner.get_plan)
    try:
        with display:
            outcome: tuple[ExecutionResult, WorkflowPlan | None] = asyncio.run(
                run_cancellable(work)
            )
    except (asyncio.CancelledError, KeyboardInterrupt):
        return interrupted(planner, plan_id)
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
    vibe = vibe_from(args)
    durable = not args.no_checkpoint
    if args.no_checkpoint and (args.checkpoint or args.checkpoint_interval):
        raise UsageError("--no-checkpoint cannot be combined with --checkpoint(-interval)")
    display = display_for(args)
    manager = manager_from(args)
    planner = MetaPlanner(
        progress_callback=display,
        executor=executor_from_env(),
        checkpoint_interval=interval_for(args) if durable else None,
        persistence_manager=manager,
        backend=args.backend,
        ray_address=args.ray_address,
    )
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
                print(
                    f"Resuming {plan_id} from {event.checkpoint_id} (use --fresh to start over)"
                )

        with planner.subscribed(resuming):
            result = await planner.execute_with_resume(vibe, plan_id=plan_id, fresh=args.fresh)
        return result, planner.get_plan(plan_id)

    outcome = run_with(display, planner, plan_id if durable else None, go())
    return outcome if isinstance(outcome, int) else report(*outcome, args)


def cmd_resume(args: argparse.Namespace) -> int:
    display = display_for(args)
    manager = manager_from(args)
    planner = MetaPlanner(
        progress_callback=display,
        executor=executor_from_env(),
        checkpoint_interval=args.checkpoint_interval,
        persistence_manager=manager,
        backend=args.backend,
        ray_address=args.ray_address,
    )
    plan_id = args.plan
    if args.checkpoint_id and plan_id is None:
        plan_id = str(planner.get_checkpoint(args.checkpoint_id)["plan_id"])
    assert plan_id is not None  # main() checked that one of the two was given
    check_not_running(manager, plan_id)
    if not args.json:
        print(f"Resuming plan {plan_id} from {args.checkpoint_id or 'its latest checkpoint'}")

    async def go() -> tuple[ExecutionResult, WorkflowPlan | None]:
        result = await planner.execute_with_resume(
            None, checkpoint_id=args.checkpoint_id, plan_id=plan_id
        )
        return result, planner.get_plan(result.plan_id)

    outcome = run_with(display, planner, plan_id, go())
    return outcome if isinstance(outcome, int) else report(*outcome, args)


def cmd_checkpoints(args: argparse.Namespace) -> int:
    manager = manager_from(args)
    if args.list:
        entries = manager.list_checkpoints(args.plan)
        if args.json:
            print(json.dumps(entries, ensure_ascii=False, indent=2, default=str))
            return EXIT_OK
        if not entries:
            where = f" for plan {args.plan}" if args.plan else ""
            print(f"No checkpoints{where} in {describe_store(manager)}")
            return EXIT_OK
        print(f"Found {len(entries)} checkpoint(s):\n")
        for cp in entries:
            print(f"  ID: {cp['checkpoint_id']}")
            if cp.get("corrupt"):
                print(f"  CORRUPT: {cp.get('error')}")
            else:
                print(f"  Created: {cp['created_at']}")
                print(f"  Progress: {cp['completed_nodes']}/{cp['total_nodes']} nodes")
                print(f"  Plan: {cp['plan_id']}")
                print(f"  State: {cp['state']}")
            print()
        return EXIT_OK
    if args.show is not None:  # an empty id must never fall through to --clear
        record = manager.load_checkpoint(args.show, args.plan)
        print(json.dumps(record, ensure_ascii=False, indent=2))
        return EXIT_OK
    if args.delete is not None:
        if manager.delete_checkpoint(args.delete, args.plan):
            print(f"Deleted checkpoint {args.delete}")
            return EXIT_OK
        raise CheckpointNotFoundError(args.delete)
    if not args.clear:  # pragma: no cover - argparse requires exactly one action
        raise ConfigurationError("choose one of --list, --show, --delete, --clear")
    plans = [args.plan] if args.plan is not None else manager.plan_ids()
    removed: list[str] = []
    for plan_id in plans:
        removed.extend(manager.delete_plan(plan_id))
    for item in removed:
        print(f"Removed {item}")
    print(f"Cleared {len(plans)} plan(s) ({len(removed)} file(s)) from {describe_store(manager)}")
    return EXIT_OK


COMMANDS = {
    "plan": cmd_plan,
    "execute": cmd_execute,
    "resume": cmd_resume,
    "checkpoints": cmd_checkpoints,
}


class UsageError(Exception):
    """Flags that contradict each other: reported like argparse's own errors (exit 2)."""


def hint_for(exc: VibeError, args: argparse.Namespace) -> str | None:
    """A second line for errors whose library message names a Python call, not a command."""
    if "vibe-aigc checkpoints" in str(exc):
        return None
    if isinstance(exc, CheckpointNotFoundError | CheckpointCorruptError):
        where = describe_store(manager_from(args))
        return f"hint: `vibe-aigc checkpoints --list` shows the checkpoints in {where}"
    return None


def main(argv: Sequence[str] | None = None) -> int:
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
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except Exception as exc:
        if args.debug:
            raise
        print(f"error: {describe(exc)}", file=sys.stderr)
        hint = hint_for(exc, args) if isinstance(exc, VibeError) else None
        if hint is None and not isinstance(exc, VibeError | OSError):
            hint = "this is a bug in vibe-aigc; rerun with --debug and report the traceback"
        if hint:
            print(hint, file=sys.stderr)
        return EXIT_FAILED


def describe(exc: BaseException) -> str:
    if isinstance(exc, VibeError):
        return str(exc)
    if isinstance(exc, OSError) and exc.strerror:
        where = f": {exc.filename}" if exc.filename else ""
        return f"{exc.strerror}{where}"
    return f"{type(exc).__name__}: {exc}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
