"""The command's arguments: every command, flag and argument type."""

from __future__ import annotations

import argparse

from vibe_aigc import __version__
from vibe_aigc.cli import lineage, store_cmd, ui_cmd
from vibe_aigc.errors import InvalidIdError
from vibe_aigc.persistence.ids import validate_plan_id
from vibe_aigc.planner.knowledge import DOMAINS
from vibe_aigc.visualization import VisualizationFormat

DEFAULT_NODE_TIMEOUT = 1800.0
"""Seconds a node's attempt may take in a command-line run (a hung provider never hangs it)."""


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not 0 < value < 1e9:
        raise argparse.ArgumentTypeError(f"must be > 0, got {text}")
    return value


def non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected US dollars, got {text!r}") from None
    if not 0 <= value < 1e9:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def plan_id_arg(text: str) -> str:
    try:
        return validate_plan_id(text)
    except InvalidIdError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


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
        p.add_argument(
            "description", type=non_empty, nargs="?", default=None, help="what you want made"
        )
        p.add_argument("--style", "-s", help="aesthetic preferences")
        p.add_argument(
            "--constraints",
            "-c",
            nargs="+",
            action="extend",
            default=[],
            metavar="TEXT",
            help="boundaries, e.g. -c 'under 500 words' 'beginner-friendly' (after the "
            "description, or end the list with --)",
        )
        p.add_argument(
            "--domain",
            "-d",
            help="content type in your words, e.g. 'blog', 'mobile design', 'video' "
            f"(understood: {', '.join(DOMAINS)})",
        )
        p.add_argument(
            "--plan-id", type=plan_id_arg, help="use this plan id instead of the derived one"
        )

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
        p.add_argument("--json", action="store_true", help="print one JSON result document")
        p.add_argument(
            "--plain", action="store_true", help="one plain line per event, no live view"
        )
        p.add_argument("--quiet", "-q", action="store_true", help="print no deliverable text")
        p.add_argument(
            "--output-dir", metavar="DIR", help="write every node's output (and result.json) here"
        )
        p.add_argument(
            "--planner",
            choices=["auto", "offline", "model"],
            default=None,
            help="who plans: auto (the model when one is configured, default), offline (the "
            "built-in plan; a configured model writes every text step), model "
            "(default: $VIBE_PLANNER or auto)",
        )
        p.add_argument(
            "--budget",
            type=non_negative_float,
            metavar="USD",
            help="stop before a paid step that could take the run over this many US dollars "
            "(needs a price table: VIBE_PRICES); resume with a larger --budget to continue",
        )
        p.add_argument(
            "--node-timeout",
            type=positive_float,
            metavar="SECONDS",
            default=None,
            help=f"give up on a node's attempt after this long (default: $VIBE_NODE_TIMEOUT "
            f"or {DEFAULT_NODE_TIMEOUT:g})",
        )
        dir_flag(p)

    p_plan = sub.add_parser("plan", help="plan a vibe and show the workflow")
    vibe_flags(p_plan)
    p_plan.add_argument(
        "--format",
        "-f",
        choices=[f.value for f in VisualizationFormat],
        default="ascii",
        help="ascii (a diagram, default), mermaid (for docs), or json (a plan file that "
        "`execute --plan` accepts)",
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
    p_exec.add_argument("--plan", dest="plan_file", metavar="FILE", help="run this plan (JSON)")
    p_exec.add_argument("--dry-run", action="store_true", help="with --plan: show what would run")
    run_flags(p_exec)

    p_cps = sub.add_parser("checkpoints", help="list, show, delete or clear checkpoints")
    action = p_cps.add_mutually_exclusive_group(required=True)
    action.add_argument("--list", action="store_true", help="list checkpoints, newest first")
    action.add_argument("--show", metavar="ID", help="print one checkpoint in full (JSON)")
    action.add_argument("--delete", metavar="ID", help="delete one checkpoint")
    action.add_argument("--clear", action="store_true", help="delete all (or --plan's)")
    p_cps.add_argument("--plan", metavar="PLAN_ID", help="only this plan")
    p_cps.add_argument(
        "--yes", "-y", action="store_true", help="clear without asking (needed off a terminal)"
    )
    p_cps.add_argument("--json", action="store_true", help="machine-readable output")
    dir_flag(p_cps)

    p_res = sub.add_parser("resume", help="resume from a checkpoint (or a plan's latest)")
    p_res.add_argument("checkpoint_id", nargs="?", help="the cp-... id to resume from")
    p_res.add_argument("--plan", metavar="PLAN_ID", help="resume this plan from its latest")
    p_res.add_argument(
        "--retry-failed", action="store_true", help="re-run only the failed and skipped nodes"
    )
    interval_flag(p_res)
    run_flags(p_res)
    for command in (p_plan, p_exec, p_cps, p_res):
        command.set_defaults(command_parser=command)
    lineage.add_parsers(sub)  # runs, status, fork, export, import
    ui_cmd.add_commands(sub)  # `vibe-aigc ui`, the web app (handlers: ui_cmd.COMMANDS)
    store_cmd.add_commands(sub)  # `store copy`, `store migrate` (handlers: store_cmd.HANDLERS)
    return parser
