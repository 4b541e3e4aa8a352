"""``vibe-aigc store copy`` and ``vibe-aigc store migrate``: moving runs between stores and
bringing a database's schema up to date.

``store copy FROM_URL TO_URL [--plan P ...] [--json]`` copies plans between any two stores
(file, SQLite, PostgreSQL), verifying every record's checksum on the way
(:func:`vibe_aigc.persistence.copy.copy_store`); exit 1 when a record could not be copied.

``store migrate [--store URL] [--json]`` applies the schema migrations the database lacks (the
SQL stores also do it when they are opened) and reports the version; a database written by a
newer vibe-aigc is refused with exit 1. The file store has no schema table: its records are
migrated when they are read, so there is nothing to apply.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from vibe_aigc.errors import UnsupportedSchemaError
from vibe_aigc.persistence import SCHEMA_VERSION, WorkflowPersistenceManager, open_store
from vibe_aigc.persistence.copy import copy_store
from vibe_aigc.persistence.sql.base import SqlStore
from vibe_aigc.persistence.sql.migrations import LATEST

EXIT_OK, EXIT_FAILED = 0, 1

Handler = Callable[[argparse.Namespace], int]


def add_commands(sub: Any) -> dict[str, Handler]:
    """Add ``store`` (with ``copy`` and ``migrate``) to the command's subparsers; the handlers
    by command name."""
    p_store = sub.add_parser("store", help="copy runs between stores, migrate a database")
    actions = p_store.add_subparsers(dest="store_command", required=True, metavar="ACTION")

    p_copy = actions.add_parser(
        "copy", help="copy plans from one store to another (checksums verified)"
    )
    p_copy.add_argument("from_url", metavar="FROM_URL", help="a folder, file://, sqlite://, ...")
    p_copy.add_argument("to_url", metavar="TO_URL", help="where the copies go")
    p_copy.add_argument(
        "--plan",
        dest="plans",
        metavar="PLAN_ID",
        action="append",
        default=None,
        help="copy only this plan (repeatable; default: every plan)",
    )
    p_copy.add_argument("--json", action="store_true", help="machine-readable output")

    p_migrate = actions.add_parser("migrate", help="apply a database's missing migrations")
    p_migrate.add_argument(
        "--store",
        metavar="URL",
        help="the store (default: $VIBE_STORE_URL, else the checkpoint folder)",
    )
    p_migrate.add_argument("--json", action="store_true", help="machine-readable output")
    for command in (p_store, p_copy, p_migrate):
        command.set_defaults(command_parser=command)
    return HANDLERS


def cmd_store(args: argparse.Namespace) -> int:
    action: str = args.store_command
    try:
        return cmd_copy(args) if action == "copy" else cmd_migrate(args)
    except UnsupportedSchemaError as exc:
        print(
            f"error: {exc.path} has schema version {exc.version}, newer than this vibe-aigc "
            f"understands ({exc.supported}); upgrade vibe-aigc to use it",
            file=sys.stderr,
        )
        return EXIT_FAILED


HANDLERS: dict[str, Handler] = {"store": cmd_store}
"""The commands this module adds, by name (the command's dispatch table takes them)."""


def cmd_copy(args: argparse.Namespace) -> int:
    src = open_store(args.from_url)
    dst = open_store(args.to_url)
    report = copy_store(src, dst, args.plans)
    if args.json:
        document = {
            "from": src.url,
            "to": dst.url,
            "plans": report.plans,
            "snapshots": report.snapshots,
            "entries": report.entries,
            "blobs": report.blobs,
            "problems": report.problems,
            "ok": report.ok,
        }
        print(json.dumps(document, ensure_ascii=False, indent=2))
    else:
        print(f"{src.url} -> {dst.url}: {report.summary()}")
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_migrate(args: argparse.Namespace) -> int:
    store = WorkflowPersistenceManager(store=args.store).store
    if isinstance(store, SqlStore):
        before = store.found_version  # opening applied what was missing
        store.migrate()  # and again, explicitly: a no-op when nothing is missing
        document: dict[str, Any] = {
            "store": store.url,
            "kind": store.dialect.name,
            "version_before": before,
            "version": LATEST,
            "applied": list(range(before + 1, LATEST + 1)),
        }
        if before == LATEST:
            line = f"{store.url}: schema version {LATEST}, up to date"
        else:
            line = f"{store.url}: schema migrated from version {before} to {LATEST}"
    else:
        document = {
            "store": store.url,
            "kind": "file",
            "version_before": SCHEMA_VERSION,
            "version": SCHEMA_VERSION,
            "applied": [],
        }
        line = (
            f"{store.url}: the file store has no schema to migrate (records are migrated "
            f"when read; record schema version {SCHEMA_VERSION})"
        )
    print(json.dumps(document, indent=2) if args.json else line)
    return EXIT_OK
