"""What counts as JSON data here, checked in one place.

:func:`json_data` is the one normalisation of values that leave a node's work (outputs, memos):
the scheduler applies it the moment a node completes, so dependents see the same value live as
after a resume. :func:`check_json_data` is the strict form the codec applies to records.
"""

from __future__ import annotations

import json
import math
from typing import Any

from vibe_aigc.errors import CheckpointEncodeError

__all__ = ["MAX_DEPTH", "JsonText", "KnownJson", "TextedJson", "check_json_data", "json_data"]

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


class JsonText(str):
    """A JSON object given as its canonical text (sorted keys, no spaces, UTF-8 as it is),
    made by this library from checked JSON data: a node result as the journal wrote it, so a
    snapshot holding it copies the text instead of encoding the result again. It stands for
    the object it spells: the codec writes it as it is, :func:`check_json_data` accepts it,
    and :func:`as_value` turns it back into the object for anything that needs the value."""

    __slots__ = ()


class TextedJson(KnownJson):
    """Known JSON data with its canonical text beside it (:attr:`text`): a journal entry's
    result as the codec read it from a line the writer wrote, so what snapshots it later need
    not encode it again. It is the mapping it is, for everything else."""

    __slots__ = ("text",)

    def __init__(self, value: dict[str, Any], text: JsonText) -> None:
        super().__init__(value)
        self.text = text

    def __reduce__(self) -> tuple[Any, ...]:  # copy, deepcopy and pickle keep the text
        return (TextedJson, (dict(self), self.text))


def as_value(value: Any) -> Any:
    """``value``, or the object a :class:`JsonText` spells."""
    if type(value) is JsonText:
        return json.loads(value)
    return value


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
    if kind is JsonText:
        return item if not tuples else as_value(item)
    if depth >= limit:
        raise CheckpointEncodeError(path, f"nested more than {limit} levels deep")
    if kind is list or (tuples and kind is tuple):
        if tuples:  # a copy: tuples become lists
            return [
                _json_copy(v, f"{path}[{i}]", depth + 1, tuples, limit) for i, v in enumerate(item)
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


# The fast walks below accept exactly what _json_copy accepts, without building a path string
# for every value (most of a walk's cost): on the first problem they give up, and _json_copy
# walks again to name it. Both visit values in the same order, so the error is the same.


class _NotJson(Exception):
    """A fast walk met something _json_copy refuses."""


def _text_ok(text: str) -> bool:
    if text.isascii():
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _valid(item: Any, depth: int, limit: int) -> bool:
    """``_json_copy(item, ..., tuples=False)`` would not raise (no copy is made)."""
    kind = type(item)
    if kind is str:
        return _text_ok(item)
    if item is None or kind is bool or kind is int:
        return True
    if kind is float:
        return math.isfinite(item)
    if kind is KnownJson or kind is JsonText:
        return True
    if depth >= limit:
        return False
    if kind is list:  # loops, not all(...): no extra frame per level of nesting
        for value in item:  # noqa: SIM110
            if not _valid(value, depth + 1, limit):
                return False
        return True
    if kind is dict or isinstance(item, dict):
        for key, value in item.items():
            if type(key) is not str or not _text_ok(key) or not _valid(value, depth + 1, limit):
                return False
        return True
    return False


def _copied(item: Any, depth: int) -> Any:
    """``_json_copy(item, ..., tuples=True)``, or _NotJson where it would raise."""
    kind = type(item)
    if kind is str:
        if not _text_ok(item):
            raise _NotJson
        return item
    if item is None or kind is bool or kind is int:
        return item
    if kind is float:
        if not math.isfinite(item):
            raise _NotJson
        return item
    if depth >= MAX_DEPTH:
        raise _NotJson
    if kind is list or kind is tuple:
        return [_copied(v, depth + 1) for v in item]
    if kind is dict or isinstance(item, dict):  # KnownJson and TextOutput too: a plain copy
        out = {}
        for key, value in item.items():
            if type(key) is not str or not _text_ok(key):
                raise _NotJson
            out[key] = _copied(value, depth + 1)
        return out
    raise _NotJson


def check_json_data(value: Any, where: str = "record") -> None:
    """Raise CheckpointEncodeError unless ``value`` round-trips through JSON exactly (and is
    nested at most :data:`RECORD_DEPTH` levels). Nothing is copied."""
    try:
        if _valid(value, 0, RECORD_DEPTH):
            return
    except RecursionError:
        pass
    _json_copy(value, where, 0, tuples=False, limit=RECORD_DEPTH)  # names the problem


def json_data(value: Any, where: str = "output") -> Any:
    """The one normalisation of values that leave a node (outputs, memos): a copy that is
    exact JSON data, with tuples turned into lists. Anything else that JSON would change or
    cannot hold (non-string keys, sets, bytes, objects, NaN, lone surrogates, deeper nesting
    than :data:`MAX_DEPTH`) raises CheckpointEncodeError naming its path. A dependent sees this
    copy, live or after a resume, so both see the same value."""
    try:
        return _copied(value, 0)
    except (_NotJson, RecursionError):
        return _json_copy(value, where, 0, tuples=True)  # names the problem
