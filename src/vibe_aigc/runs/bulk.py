"""Reading many stored records at once (a resume of a large plan): cheaper, never laxer.

* :func:`bulk_load` pauses Python's cyclic garbage collector while a resume decodes records.
  Decoding builds only acyclic data (JSON trees, node results), so a collection finds nothing
  to free; but with a few million objects alive each full collection walks all of them, and a
  100k-node resume triggered enough of them to cost a third of its time. Reference counting
  still frees everything as usual; the collector runs again when the outermost pause ends.
* :func:`quick_result` builds a stored node result in the one shape this library writes
  (``NodeResult.model_dump(mode="json", exclude_none=True)``) with exact type checks and
  ``model_construct``, instead of a full pydantic validation (which runs the model's
  compatibility ``__init__`` too). Anything else, including every value pydantic would have
  to convert, returns None: the caller validates it the full way, with its precise error.
"""

from __future__ import annotations

import contextlib
import gc
import re
import threading
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from vibe_aigc.results import ExecutionStatus, NodeResult, as_output


class _Pause:
    """Nested / concurrent pauses: the first one stops the collector, the last one restarts
    it (only when it was running before)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.depth = 0
        self.stopped = False


_PAUSE = _Pause()


@contextlib.contextmanager
def bulk_load() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block (see the module docstring)."""
    with _PAUSE.lock:
        if _PAUSE.depth == 0:
            _PAUSE.stopped = gc.isenabled()
            if _PAUSE.stopped:
                gc.disable()
        _PAUSE.depth += 1
    try:
        yield
    finally:
        with _PAUSE.lock:
            _PAUSE.depth -= 1
            if _PAUSE.depth == 0 and _PAUSE.stopped:
                _PAUSE.stopped = False
                gc.enable()


_STATUS = {
    s.value: s for s in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.SKIPPED)
}
_FIELDS = frozenset(NodeResult.model_fields)
# exactly what ``iso_z``-style UTC timestamps look like after pydantic's JSON dump
_MOMENT = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{6})?Z")


def _moment(value: Any) -> datetime | bool | None:
    """A stored timestamp as pydantic would read it, or False when it is not in the form
    this library writes (the caller then validates the full way)."""
    if value is None:
        return None
    if type(value) is not str or _MOMENT.fullmatch(value) is None:
        return False
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # e.g. month 13: pydantic's error message says it precisely
        return False


def quick_result(node_id: Any, data: dict[str, Any]) -> NodeResult | None:
    """The finished result ``data`` of node ``node_id`` when it is in the written shape, else
    None (see the module docstring). Never accepts what ``NodeResult.model_validate`` plus the
    caller's checks (finished, of this node) would refuse, and builds the same value."""
    if type(node_id) is not str or not data.keys() <= _FIELDS:
        return None
    if data.get("node_id", node_id) != node_id:
        return None
    status = data.get("status")
    if type(status) is not str or status not in _STATUS:
        return None
    error = data.get("error")
    attempts = data.get("attempts", 0)
    duration = data.get("duration")
    usage = data.get("usage")
    resumed = data.get("resumed", False)
    if (
        (error is not None and type(error) is not str)
        or type(attempts) is not int
        or (duration is not None and type(duration) is not float)
        or type(resumed) is not bool
    ):
        return None
    if usage is not None:
        if type(usage) is not dict or not all(
            type(k) is str and type(v) is float for k, v in usage.items()
        ):
            return None
        usage = dict(usage)
    started = _moment(data.get("started_at"))
    completed = _moment(data.get("completed_at"))
    if started is False or completed is False:
        return None
    values: dict[str, Any] = {"node_id": node_id, "status": _STATUS[status]}
    for key in data:
        if key == "output":
            values["output"] = as_output(data["output"])
        elif key == "error":
            values["error"] = error
        elif key == "attempts":
            values["attempts"] = attempts
        elif key == "started_at":
            values["started_at"] = started
        elif key == "completed_at":
            values["completed_at"] = completed
        elif key == "duration":
            values["duration"] = duration
        elif key == "usage":
            values["usage"] = usage
        elif key == "resumed":
            values["resumed"] = resumed
    # the fields set are those the record gave, as model_validate would count them
    fields_set = {"node_id", *data.keys()}
    return NodeResult.model_construct(fields_set, **values)
