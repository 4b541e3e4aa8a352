"""``vibe-aigc checkpoints``: list, show, delete or clear checkpoints."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import PurePath
from typing import Any

from vibe_aigc.cli.common import EXIT_FAILED, EXIT_OK, UsageError, manager_from
from vibe_aigc.errors import CheckpointError, CheckpointNotFoundError, ConfigurationError
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.persistence.manager import describe_store
from vibe_aigc.visualization import terminal_text


def _print_list(manager: WorkflowPersistenceManager, args: argparse.Namespace) -> int:
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
            print(f"  CORRUPT: {terminal_text(str(cp.get('error')))}")
        else:
            print(f"  Created: {cp['created_at']}")
            print(f"  Progress: {cp['completed_nodes']}/{cp['total_nodes']} nodes")
            print(f"  Plan: {cp['plan_id']}")
            print(f"  State: {cp['state']}")
        print()
    return EXIT_OK


def _confirm_clear(args: argparse.Namespace, plans: list[str], where: str) -> bool:
    """Clearing every plan asks first on a terminal; off a terminal it needs --yes."""
    if args.plan is not None or args.yes or not plans:
        return True
    if not sys.stdin.isatty():
        raise UsageError(
            f"--clear would delete {len(plans)} plan(s) in {where}; add --yes to confirm "
            "(or --plan PLAN_ID for one plan)"
        )
    answer = input(f"Delete every checkpoint of {len(plans)} plan(s) in {where}? [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def _clear(manager: WorkflowPersistenceManager, args: argparse.Namespace) -> int:
    where = describe_store(manager)
    plans = [args.plan] if args.plan is not None else manager.plan_ids()
    if args.plan is not None and args.plan not in manager.plan_ids():
        raise CheckpointNotFoundError(
            args.plan, f"no plan {args.plan!r} in {where}; `vibe-aigc checkpoints --list`"
        )
    if not _confirm_clear(args, plans, where):
        print("Nothing deleted.")
        return EXIT_OK
    removed: dict[str, list[str]] = {}
    errors: dict[str, str] = {}
    for plan_id in plans:  # one plan that cannot be cleared never stops the others
        try:
            removed[plan_id] = manager.delete_plan(plan_id)
        except CheckpointError as exc:
            errors[plan_id] = str(exc)
    items = [item for plan_items in removed.values() for item in plan_items]
    folders = {plan_id for plan_id in removed}
    files = [i for i in items if PurePath(i).name not in folders | {"artifacts"}]
    cleared = [p for p, plan_items in removed.items() if plan_items]
    if args.json:
        doc: dict[str, Any] = {"cleared": cleared, "removed": items, "errors": errors}
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        for item in items:
            print(f"Removed {item}")
        for plan_id, error in errors.items():
            print(f"error: {plan_id}: {terminal_text(error)}", file=sys.stderr)
        print(f"Cleared {len(cleared)} plan(s) ({len(files)} file(s)) from {where}")
    return EXIT_FAILED if errors else EXIT_OK


def cmd_checkpoints(args: argparse.Namespace) -> int:
    manager = manager_from(args)
    if args.list:
        return _print_list(manager, args)
    if args.show is not None:  # an empty id must never fall through to --clear
        record = manager.load_checkpoint(args.show, args.plan)
        print(json.dumps(record, ensure_ascii=False, indent=2))
        return EXIT_OK
    if args.delete is not None:
        if not manager.delete_checkpoint(args.delete, args.plan):
            raise CheckpointNotFoundError(args.delete)
        if args.json:
            print(json.dumps({"deleted": args.delete}))
        else:
            print(f"Deleted checkpoint {args.delete}")
        return EXIT_OK
    if not args.clear:  # pragma: no cover - argparse requires exactly one action
        raise ConfigurationError("choose one of --list, --show, --delete, --clear")
    return _clear(manager, args)
