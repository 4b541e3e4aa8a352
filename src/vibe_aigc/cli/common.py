"""What every command shares: exit codes, usage errors, the store the flags name."""

from __future__ import annotations

import argparse

from vibe_aigc.persistence import WorkflowPersistenceManager

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Flags that contradict each other: reported like argparse's own errors (exit 2)."""


def manager_from(args: argparse.Namespace) -> WorkflowPersistenceManager:
    """The store named by ``--store`` / ``--checkpoint-dir`` (else the environment's)."""
    return WorkflowPersistenceManager(
        getattr(args, "checkpoint_dir", None), store=getattr(args, "store", None)
    )
