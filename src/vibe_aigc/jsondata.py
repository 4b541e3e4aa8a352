"""What counts as JSON data here, checked in one place.

:func:`json_data` is the one normalisation of values that leave a node's work (outputs, memos):
the scheduler applies it the moment a node completes, so dependents see the same value live as
after a resume. :func:`check_json_data` is the strict form the codec applies to records.
"""

from __future__ import annotations

import math
from typing import Any

from vibe_aigc.errors import CheckpointEncodeError

__all__ = ["MAX_DEPTH", "KnownJson", "check_json_data", "json_data"]

MAX_DEPTH = 64
"""Deepest nesting of lists and objects accepted in a node's output or memo (a real output is a
few levels deep; pydantic and the JSON encoder have limits of their own near 100-250 levels)."""

RECORD_DEPTH = 400
"""Deepest nesting accepted in a whole record (a plan nested 120 levels is ~250 deep)."""


class KnownJson(dict[str, Any]):
    """A record this library built only from values already known to be exact JSON data
    (outputs and memos that went through :func:`json_data`, results in pydantic's JSON mode):
    :func:`check_json_data` does not walk it again. Records from anywhere else are plain
    dicts and are checked in full. The JSON encoder writes it as the dict it is."""

    __slots__ = ()


def _json_copy(item: Any, path: str, depth: int, tuples: bool, limit: int = MAX_DEPTH) -> Any:
    """``item`` as exact JSON data (tuples become lists when ``tuples``), or
    CheckpointEncodeError naming the path of the first value that is not JSON data."""
    kind = type(item)
    if item is None or kind is bool or kind is int:
        return item
    if kind is str:
        if not item.isascii():
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise CheckpointEncodeError(path, "string is not valid Unicode") from None
        return item
    if kind is float:
        if not math.isfinite(item):
            raise CheckpointEncodeError(path, f"{item} is not a finite number")
        return item
    if kind is KnownJson:
        if not tuples:  # checking, not copying: built from checked values (see KnownJson)
            return item
        kind = dict
    if depth >= limit:
        raise CheckpointEncodeError(path, f"nested more than {limit} levels deep")
    if kind is list or (tuples and kind is tuple):
        if tuples:  # a copy: tuples become lists
            return [
                _json_copy(v, f"{path}[{i}]", depth + 1, tuples, limit)
                for i, v in enumerate(item)
            ]
        for i, v in enumerate(item):  # checking only
            _json_copy(v, f"{path}[{i}]", depth + 1, tuples, limit)
        return item
    if kind is dict or isinstance(item, dict):  # a dict subclass (TextOutput) is a mapping
        out: dict[str, Any] | None = {} if tuples else None  # checking: no copy
        for key, value in item.items():
            if type(key) is not str:
                raise CheckpointEncodeError(
                    path, f"key {key!r} is not a string (JSON object keys are strings)"
                )
            _json_copy(key, f"{path} key", depth, tuples, limit)
            checked = _json_copy(value, f"{path}.{key}", depth + 1, tuples, limit)
            if out is not None:
                out[key] = checked
        return out if out is not None else item
    raise CheckpointEncodeError(path, f"{kind.__name__} is not JSON data")


def check_json_data(value: Any, where: str = "record") -> None:
    """Raise CheckpointEncodeError unless ``value`` round-trips through JSON exactly (and is
    nested at most :data:`RECORD_DEPTH` levels). Nothing is copied."""
    _json_copy(value, where, 0, tuples=False, limit=RECORD_DEPTH)


def json_data(value: Any, where: str = "output") -> Any:
    """The one normalisation of values that leave a node (outputs, memos): a copy that is
    exact JSON data, with tuples turned into lists. Anything else that JSON would change or
    cannot hold (non-string keys, sets, bytes, objects, NaN, lone surrogates, deeper nesting
    than :data:`MAX_DEPTH`) raises CheckpointEncodeError naming its path. A dependent sees this
    copy, live or after a resume, so both see the same value."""
    return _json_copy(value, where, 0, tuples=True)
