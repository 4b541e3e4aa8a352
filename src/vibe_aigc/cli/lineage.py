"""The run-history commands: ``runs``, ``status``, ``fork``, ``export``, ``import``, and the
``execute --plan`` / ``resume --retry-failed`` branches.

:func:`add_parsers` adds the parsers (called by ``cli.parser``); :func:`handlers` returns the
commands' handlers. What they share with the rest of the command (the display, the planner,
running under signals) comes in a :class:`Kit`, so this module never imports the command's own
module.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vibe_aigc.cli.common import UsageError
from vibe_aigc.cli.output import check_output_dir, report
from vibe_aigc.display import Display
from vibe_aigc.errors import ConfigurationError
from vibe_aigc.executor import ExecutionResult
from vibe_aigc.models import WorkflowPlan
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.planner import MetaPlanner
from vibe_aigc.runs import archive
from vibe_aigc.runs.lineage import PlanChanges, parse_setting
from vibe_aigc.visualization import one_line

Outcome = tuple[ExecutionResult, WorkflowPlan | None]
Handler = Callable[[argparse.Namespace], int]


@dataclass
class Kit:
    """What the handlers borrow from the command (see the module docstring)."""

    display_for: Callable[[argparse.Namespace], Display]
    planner_for: Callable[
        [argparse.Namespace, Display, WorkflowPersistenceManager, int | None], MetaPlanner
    ]
    run_with: Callable[
        [Display, MetaPlanner, str | None, Coroutine[Any, Any, Outcome], bool], Outcome | int
    ]
    manager_from: Callable[[argparse.Namespace], WorkflowPersistenceManager]
    check_not_running: Callable[[WorkflowPersistenceManager, str], None]


def _store_flags(p: argparse.ArgumentParser) -> None:
    where = p.add_mutually_exclusive_group()
    where.add_argument("--checkpoint-dir", help="checkpoint folder (default: .vibe_checkpoints)")
    where.add_argument(
        "--store",
        metavar="URL",
        help="a folder, file:///path, sqlite:///runs.db or postgresql://...",
    )


def _json_flag(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document")


def _run_flags(p: argparse.ArgumentParser) -> None:
    _json_flag(p)
    p.add_argument("--visualize", action="store_true", help="draw the plan with statuses")
    p.add_argument("--plain", action="store_true", help="one plain line per event, no live view")
    p.add_argument("--quiet", "-q", action="store_true", help="print no deliverable text")
    p.add_argument("--output-dir", metavar="DIR", help="write every node's output here")
    p.add_argument(
        "--checkpoint-interval",
        type=int,
        default=None,
        metavar="N",
        help="write a full checkpoint every N completed nodes",
    )


def add_parsers(sub: Any) -> None:
    """Add the parsers of runs, status, fork, export and import to ``sub`` (subparsers)."""
    p_runs = sub.add_parser("runs", help="list runs (attempts at a plan), newest first")
    p_runs.add_argument("--plan", metavar="PLAN_ID", help="only this plan's runs")
    p_runs.add_argument("--state", help="only runs in this state (completed, failed, ...)")
    _json_flag(p_runs)
    _store_flags(p_runs)

    p_status = sub.add_parser("status", help="every node of a run (or a plan's latest run)")
    p_status.add_argument("target", metavar="RUN_OR_PLAN")
    _json_flag(p_status)
    _store_flags(p_status)

    p_fork = sub.add_parser("fork", help="a new plan from a checkpoint, re-running some nodes")
    p_fork.add_argument("checkpoint_id", help="the cp-... id to start from")
    p_fork.add_argument(
        "--from",
        dest="from_nodes",
        nargs="+",
        action="extend",
        default=[],
        metavar="NODE",
        help="re-run these nodes and everything downstream",
    )
    p_fork.add_argument(
        "--set",
        dest="settings",
        nargs="+",
        action="extend",
        default=[],
        metavar="NODE.PARAM=VALUE",
        help="change a parameter (VALUE: JSON or text)",
    )
    p_fork.add_argument("--plan-id", help="the new plan's id (default: <plan>-fork-<hex>)")
    _run_flags(p_fork)
    _store_flags(p_fork)

    p_exp = sub.add_parser("export", help="write a plan's runs to one archive")
    p_exp.add_argument("target", metavar="PLAN_OR_RUN")
    p_exp.add_argument("--output", "-o", required=True, metavar="FILE", help="e.g. run.tar.gz")
    _json_flag(p_exp)
    _store_flags(p_exp)

    p_imp = sub.add_parser("import", help="verify an archive, then add its runs to a store")
    p_imp.add_argument("archive", metavar="FILE")
    _json_flag(p_imp)
    _store_flags(p_imp)

    p_fork.set_defaults(planner=None, budget=None, node_timeout=None)
    for command in (p_runs, p_status, p_fork, p_exp, p_imp):
        command.set_defaults(command_parser=command)


def handlers(kit: Kit) -> dict[str, Handler]:
    """``{command: handler}`` for the commands :func:`add_parsers` adds."""
    return {
        "runs": lambda args: cmd_runs(args, kit),
        "status": lambda args: cmd_status(args, kit),
        "fork": lambda args: cmd_fork(args, kit),
        "export": lambda args: cmd_export(args, kit),
        "import": lambda args: cmd_import(args, kit),
    }


def _print_json(doc: Any) -> None:
    print(json.dumps(doc, ensure_ascii=False, indent=2, default=str))


def _planner(args: argparse.Namespace, kit: Kit) -> MetaPlanner:
    return MetaPlanner(persistence_manager=kit.manager_from(args))


# --------------------------------------------------------------------------- history


def cmd_runs(args: argparse.Namespace, kit: Kit) -> int:
    runs = _planner(args, kit).runs.list_runs(args.plan, args.state)
    if args.json:
        _print_json(runs)
        return 0
    if not runs:
        print("No runs found")
        return 0
    print(
        f"{'RUN':<13}{'PLAN':<24}{'STATE':<12}{'DONE':>9}{'COST':>9}  "
        f"{'STARTED':<21}{'UPDATED':<21}DESCRIPTION"
    )
    for run in runs:
        done = f"{run['done']}/{run['total']}"
        parent = f" (from {run['parent_run_id']})" if run["parent_run_id"] else ""
        print(
            f"{run['run_id']:<13}{one_line(run['plan_id'], 23):<24}{run['state']:<12}"
            f"{done:>9}{run['cost_usd']:>9.4f}  {run['started'][:19]:<21}"
            f"{run['updated'][:19]:<21}{one_line(run['description'], 40)}{parent}"
        )
    return 0


def cmd_status(args: argparse.Namespace, kit: Kit) -> int:
    status = _planner(args, kit).runs.status(args.target)
    if args.json:
        _print_json(status)
        return 0
    run = status["run"]
    print(
        f"Run {run['run_id']} of plan {run['plan_id']}: {run['state']}, "
        f"{run['done']}/{run['total']} nodes, cost ${run['cost_usd']:.4f}"
    )
    if run["parent_run_id"]:
        print(
            f"Continues run {run['parent_run_id']} (plan {run['parent_plan_id']}, "
            f"checkpoint {run['parent_checkpoint_id']})"
        )
    print(f"Latest checkpoint: {run['checkpoint_id']}\n")
    for node in status["nodes"]:
        took = f"{node['duration']:.2f}s" if node["duration"] is not None else "-"
        origin = node["produced_by"] or "-"
        if node["reused"]:
            origin += " (reused)"
        line = (
            f"  {node['node_id']:<24}{node['state']:<11}attempts {node['attempts']:<3}"
            f"{took:>9}  ${node['cost_usd']:.4f}  by {origin}"
        )
        print(line + (f"  error: {one_line(node['error'], 80)}" if node["error"] else ""))
    return 0


# --------------------------------------------------------------------------- running


def _run(
    args: argparse.Namespace,
    kit: Kit,
    plan_id: str | None,
    work: Callable[[MetaPlanner], Coroutine[Any, Any, ExecutionResult]],
) -> int:
    check_output_dir(args.output_dir)
    display = kit.display_for(args)
    manager = kit.manager_from(args)
    planner = kit.planner_for(args, display, manager, args.checkpoint_interval)
    if plan_id is not None:
        kit.check_not_running(planner.persistence_manager, plan_id)

    async def go() -> Outcome:
        result = await work(planner)
        return result, planner.get_plan(result.plan_id)

    outcome = kit.run_with(display, planner, plan_id, go(), args.json)
    return outcome if isinstance(outcome, int) else report(*outcome, args)


def cmd_fork(args: argparse.Namespace, kit: Kit) -> int:
    settings = [parse_setting(text) for text in args.settings]
    if not args.json:
        print(f"Forking from {args.checkpoint_id}")
    return _run(
        args,
        kit,
        args.plan_id,
        lambda planner: planner.runs.fork(
            args.checkpoint_id, from_nodes=args.from_nodes, settings=settings, plan_id=args.plan_id
        ),
    )


def load_plan_file(path: str) -> WorkflowPlan:
    """A plan from a JSON file: a plan itself, or what ``plan --format json`` writes."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ConfigurationError(f"{path} is not JSON ({exc})") from None
    if isinstance(doc, dict) and "root_nodes" not in doc and isinstance(doc.get("plan"), dict):
        doc = doc["plan"]
    try:
        return WorkflowPlan.model_validate(doc)
    except ValueError as exc:  # pydantic's ValidationError
        text = one_line(str(exc), 400)
        raise ConfigurationError(f"{path} is not a workflow plan: {text}") from None


def print_changes(changes: PlanChanges, plan: WorkflowPlan, as_json: bool) -> None:
    if as_json:
        _print_json({"plan_id": plan.id, "dry_run": True, **changes.as_dict()})
        return
    print(f"Dry run of plan {plan.id} (nothing runs):")
    for label, nodes in (
        ("reused", changes.reused),
        ("re-run", changes.rerun),
        ("pending", changes.pending),
        ("new", changes.new),
        ("removed", changes.removed),
    ):
        print(f"  {label + ':':<9}{len(nodes):>4}  {', '.join(nodes) or '-'}")


def execute_plan(args: argparse.Namespace, kit: Kit) -> int:
    """``execute --plan FILE [--dry-run]``: run an (edited) plan, reusing unchanged outputs."""
    if args.plan_file is None or args.description is not None:
        raise UsageError("give a DESCRIPTION or --plan FILE, not both (--dry-run needs --plan)")
    plan = load_plan_file(args.plan_file)
    if args.dry_run:
        planner = _planner(args, kit)
        planner.check_plan(plan)
        print_changes(asyncio.run(planner.runs.preview(plan)), plan, args.json)
        return 0
    if not args.json:
        print(f"Executing plan {plan.id} from {args.plan_file}")
    return _run(
        args, kit, plan.id, lambda planner: planner.execute_with_resume(plan, fresh=args.fresh)
    )


def retry_failed(args: argparse.Namespace, kit: Kit) -> int:
    """``resume --retry-failed``: re-run only the failed and skipped nodes."""
    manager = kit.manager_from(args)
    plan_id = args.plan
    if args.checkpoint_id and plan_id is None:
        plan_id = str(manager.load_checkpoint(args.checkpoint_id)["plan_id"])
    assert plan_id is not None  # main() checked that one of the two was given
    if not args.json:
        print(f"Retrying the failed nodes of plan {plan_id}")

    return _run(
        args,
        kit,
        plan_id,
        lambda planner: planner.runs.retry_failed(plan_id, args.checkpoint_id),
    )


# --------------------------------------------------------------------------- archives


def cmd_export(args: argparse.Namespace, kit: Kit) -> int:
    manager = kit.manager_from(args)
    summary = archive.export_archive(manager, args.target, args.output)
    if args.json:
        _print_json(summary)
    else:
        print(
            f"Exported plan {summary['plan_id']} ({summary['checkpoints']} checkpoint(s), "
            f"{summary['entries']} journal entries, {summary['blobs']} blob(s)) "
            f"to {args.output}"
        )
    return 0


def cmd_import(args: argparse.Namespace, kit: Kit) -> int:
    manager = kit.manager_from(args)
    summary = archive.import_archive(manager, args.archive)
    if args.json:
        _print_json(summary)
    else:
        print(
            f"Imported plan {summary['plan_id']} ({summary['checkpoints']} checkpoint(s), "
            f"{summary['entries']} journal entries, {summary['blobs']} blob(s)) "
            f"into {manager.url}",
            file=sys.stdout,
        )
    return 0
