"""Stored node results (a snapshot's ``node_results``, a journal entry's ``result``) back into
:class:`~vibe_aigc.results.NodeResult` objects, quickly for the shapes the library writes; and
the other way, a finished result's stored text (:func:`result_text`, :func:`resumed_text`).

A resume of a 100k-node plan builds 100k results; ``NodeResult.model_validate`` takes about
4 µs each (``model_construct`` as long). :func:`node_result_of` checks a stored result against
the exact shapes this library writes (``model_dump(mode="json", exclude_none=True)`` of a
finished result: known keys, exact JSON types, times as ``YYYY-MM-DDTHH:MM:SS[.ffffff]Z``) and
builds the object directly, about 1 µs. Anything else — a hand-edited file, an older writer,
a shape pydantic would coerce (``"attempts": 1.0``, ``"duration": 3``) or refuse — takes
``model_validate``, with its verdict and its error. So both ways give the same results: the
same values, types and set fields (``tests/test_resume_fast_paths.py`` holds them to it, with
hypothesis). If the installed pydantic builds objects differently (a check at import), every
result takes the full way.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from vibe_aigc.errors import CheckpointCorruptError
from vibe_aigc.jsondata import JsonText, TextedJson
from vibe_aigc.lean import lean_build, shared_fields_set
from vibe_aigc.persistence.jsontext import canonical_text
from vibe_aigc.results import ExecutionStatus, NodeResult, as_output, keep_snapshot_form

_FINISHED = {
    s.value: s for s in (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.SKIPPED)
}
_COMPLETED = ExecutionStatus.COMPLETED
_FIELDS = tuple(NodeResult.model_fields)
_KNOWN = frozenset(_FIELDS)
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?Z\Z")
_SETS: dict[tuple[str | bool, ...], set[str]] = {}  # a stored result's keys -> its fields set


def _short(exc: Exception) -> str:
    return str(exc).replace("\n", " ")[:300]


def node_result_of(node_id: str, data: Any, source: str, where: str) -> NodeResult:
    """A stored result, checked: only finished results of the named node are stored
    (CheckpointCorruptError naming ``source`` and ``where`` otherwise)."""
    if _DIRECT:
        quick = _direct(node_id, data)
        if quick is not None:
            return quick
    return _validated(node_id, data, source, where)


def direct_result(node_id: str, data: Any, resumed: bool = False) -> NodeResult | None:
    """The result built directly when ``data`` is exactly a shape the library writes (and
    the direct way is on), else None: :func:`node_result_of` then checks it the full way.
    ``resumed``: a completed one is built as :func:`mark_resumed` leaves it (when ``data``
    names ``resumed``, as the library writes it), so it need not be marked afterwards."""
    return _direct(node_id, data, resumed) if _DIRECT else None


def mark_resumed(result: NodeResult) -> NodeResult:
    """``result`` with ``resumed`` set to True (in place). A stored result names ``resumed``
    among its set fields already, so the value is put in place without pydantic's assignment
    path (a microsecond each, for 100k results)."""
    if "resumed" in result.model_fields_set:
        vars(result)["resumed"] = True
    else:
        result.resumed = True
    return result


def result_text(result: NodeResult) -> JsonText | None:
    """The canonical text of ``result.model_dump(mode="json", exclude_none=True)``, built
    from its fields directly (a third of the cost: one is made per finished node) when they
    are of the kinds the scheduler sets: times in UTC, an output that is JSON data already
    (the scheduler made it so). None otherwise (the caller dumps it)."""
    return _spelled(result) if _TEXT_OK else None


def _spelled(result: NodeResult) -> JsonText | None:
    values = vars(result)
    out: dict[str, Any] = {}
    for name in _FIELDS:
        value = values[name]
        if value is None:
            continue
        kind = type(value)
        if kind is datetime:
            if value.tzinfo is not UTC:
                return None
            value = value.isoformat().replace("+00:00", "Z")
        elif kind is ExecutionStatus:
            value = value.value
        out[name] = value
    try:
        return canonical_text(out)
    except (TypeError, ValueError):  # not JSON data after all: the dump says what
        return None


_NOT_RESUMED = '"resumed":false'
_RESUMED = '"resumed":true'


def resumed_text(stored: Any) -> JsonText | None:
    """The canonical text of a stored result (:class:`TextedJson`, as the journal wrote it)
    with ``resumed`` set to True, as a snapshot of the resumed run holds it; None when
    ``stored`` carries no text or does not name ``resumed`` False.

    The last ``"resumed":false`` of the text is the top-level one: in canonical order only
    ``started_at``, ``status`` (strings, which cannot hold an unescaped quote) and ``usage``
    (numbers) follow it."""
    if type(stored) is not TextedJson or stored.get("resumed") is not False:
        return None
    return resumed_text_of(stored, stored.text)


def keep_resumed_text(result: NodeResult, text: JsonText) -> None:
    """Keep ``text`` (a :func:`resumed_text`) as the snapshot form of a loaded ``result``
    when it is completed: the load marks completed results resumed, in place, so the text
    says what the result will hold. A failed or skipped one keeps none (it stays unmarked,
    and a run that takes it up runs it again)."""
    if result.status is ExecutionStatus.COMPLETED:
        keep_snapshot_form(result, text)


def resumed_text_of(data: dict[str, Any], text: str) -> JsonText | None:
    """:func:`resumed_text` of a stored result given as its data and the canonical text it
    was read from (a sealed snapshot's entry: :class:`~vibe_aigc.persistence.kept.StoredEntries`);
    the text itself when the result names ``resumed`` True already."""
    resumed = data.get("resumed")
    if resumed is True:
        return JsonText(text)
    if resumed is not False:
        return None
    usage = data.get("usage")
    if usage is not None and (
        type(usage) is not dict or not all(type(v) is float for v in usage.values())
    ):
        return None
    at = text.rfind(_NOT_RESUMED)
    if at < 0:
        return None
    return JsonText(text[:at] + _RESUMED + text[at + len(_NOT_RESUMED) :])


def _validated(node_id: Any, data: Any, source: str, where: str) -> NodeResult:
    if not isinstance(data, dict):
        raise CheckpointCorruptError(source, f"{where} is not an object")
    try:
        result = NodeResult.model_validate({"node_id": node_id, **data})
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        raise CheckpointCorruptError(
            source, f"{where} is not a node result ({_short(exc)})"
        ) from None
    if result.node_id != node_id or result.status.value not in _FINISHED:
        raise CheckpointCorruptError(
            source, f"{where} is not a finished result of node {node_id!r}"
        )
    return result


def _time(value: Any) -> datetime | bool | None:
    """The datetime of a stored time as the writer writes it, None for None; False when it is
    anything else (the full validation decides)."""
    if value is None:
        return None
    if type(value) is not str or _TIME.match(value) is None:
        return False
    try:
        return datetime.fromisoformat(value)
    except ValueError:  # "2026-13-02...": the full validation says why
        return False


def _direct(node_id: str, data: Any, mark: bool = False) -> NodeResult | None:
    """The result built directly, or None when ``data`` is not exactly a shape the library
    writes."""
    if (type(data) is not dict and type(data) is not TextedJson) or not _KNOWN.issuperset(data):
        return None
    get = data.get
    status = _FINISHED.get(get("status")) if type(get("status")) is str else None
    stored_id = get("node_id", node_id)
    error, attempts, duration = get("error"), get("attempts", 0), get("duration")
    usage, resumed = get("usage"), get("resumed", False)
    if (
        status is None
        or type(stored_id) is not str
        or stored_id != node_id
        or (error is not None and type(error) is not str)
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
    started, completed = _time(get("started_at")), _time(get("completed_at"))
    if started is False or completed is False:
        return None
    values = {
        "node_id": node_id,
        "status": status,
        "output": as_output(get("output")),
        "error": error,
        "attempts": attempts,
        "started_at": started,
        "completed_at": completed,
        "duration": duration,
        "usage": usage,
        "resumed": True if mark and status is _COMPLETED and "resumed" in data else resumed,
    }
    # NodeResult.__init__ drops ``error`` and ``duration`` given as None (0.7.1's positional
    # arguments), so they are not among the set fields then
    keys = (*data, error is None, duration is None)
    fields_set = _SETS.get(keys)
    if fields_set is None:
        names = {"node_id", *data}
        names -= {n for n in ("error", "duration") if get(n) is None}
        fields_set = _SETS.setdefault(keys, shared_fields_set(names))
    return lean_build(NodeResult, values, fields_set)


def _builds_as_pydantic() -> bool:
    """True when a directly built result is what pydantic builds (fields in the same order,
    the same set fields, dumps alike, assignment works): else the direct way stays off."""
    sample = {
        "node_id": "n",
        "status": "completed",
        "output": {"text": "t"},
        "attempts": 1,
        "started_at": "2026-01-02T03:04:05.123456Z",
        "completed_at": "2026-01-02T03:04:06Z",
        "duration": 0.5,
        "usage": {"cost": 0.25},
        "resumed": False,
    }
    try:
        if tuple(NodeResult.model_fields) != _FIELDS or len(_FIELDS) != 10:
            return False
        quick, full = _direct("n", sample), NodeResult.model_validate(sample)
        if quick is None or quick != full or quick.model_fields_set != full.model_fields_set:
            return False
        if quick.model_dump(mode="json") != full.model_dump(mode="json"):
            return False
        quick.resumed = True
        return quick.resumed is True and quick.model_copy().resumed is True
    except Exception:  # any surprise from another pydantic: the full way
        return False


_DIRECT = _builds_as_pydantic()


def _texts_as_pydantic() -> bool:
    """True when :func:`result_text` spells what pydantic's dump does (checked once)."""
    sample = _direct(
        "n",
        {
            "status": "completed",
            "output": {"text": "t", "n": [1, 2.5]},
            "attempts": 2,
            "started_at": "2026-01-02T03:04:05Z",
            "completed_at": "2026-01-02T03:04:06.000120Z",
            "duration": 0.5,
            "usage": {"cost": 0.25},
            "error": "e",
            "resumed": True,
        },
    )
    if sample is None:
        return False
    try:
        dumped = canonical_text(sample.model_dump(mode="json", exclude_none=True))
        return _spelled(sample) == dumped
    except Exception:  # any surprise from another pydantic: always the dump
        return False


_TEXT_OK = _texts_as_pydantic()
