"""Ids that may become file names: validation and checkpoint id generation.

An id reaches the file system only after it passed one of the validators here, so no id can
name a path outside the checkpoint folder (no ``/``, ``..``, NUL, or look-alike characters).

Checkpoint ids look like ``cp-0006123456789ab-1f2e``: 13 lowercase hex digits of microseconds
since the epoch, then 4 random hex digits. Within one process they are strictly increasing, so
sorting ids as strings sorts checkpoints by creation time.
"""

from __future__ import annotations

import re
import secrets
import threading
import time

from vibe_aigc.errors import InvalidIdError
from vibe_aigc.models import SAFE_ID_RULE, is_safe_id

CHECKPOINT_ID_RE = re.compile(r"cp-[A-Za-z0-9_-]{1,96}")
CHECKPOINT_ID_RULE = "use 'cp-' followed by 1-96 ASCII letters, digits, '-' or '_'"

_id_lock = threading.Lock()
_last_us = 0


def validate_plan_id(value: object) -> str:
    """Return ``value`` when it is a safe plan id, else raise :class:`InvalidIdError`."""
    if not is_safe_id(value):
        raise InvalidIdError("plan id", value, SAFE_ID_RULE)
    assert isinstance(value, str)
    return value


def is_checkpoint_id(value: object) -> bool:
    """True when ``value`` is a well-formed checkpoint id."""
    return isinstance(value, str) and CHECKPOINT_ID_RE.fullmatch(value) is not None


def validate_checkpoint_id(value: object) -> str:
    """Return ``value`` when it is a well-formed checkpoint id, else raise InvalidIdError.

    A well-formed id that names no checkpoint is a "not found" matter for the store, not an
    error here.
    """
    if not is_checkpoint_id(value):
        raise InvalidIdError("checkpoint id", value, CHECKPOINT_ID_RULE)
    assert isinstance(value, str)
    return value


def _now_us() -> int:
    """Microseconds since the epoch. Tests patch this for hermetic clocks."""
    return time.time_ns() // 1000


def new_checkpoint_id() -> str:
    """A new checkpoint id, strictly greater (as a string) than the previous one in-process."""
    global _last_us
    with _id_lock:
        micros = max(_now_us(), _last_us + 1)
        _last_us = micros
    return f"cp-{micros:013x}-{secrets.token_hex(2)}"
