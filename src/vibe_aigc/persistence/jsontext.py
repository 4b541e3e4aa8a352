"""Records as JSON text, in pieces: the canonical form (checksums, journal lines), the pretty
layout of checkpoint files, and the ``seal`` that ends one (see :mod:`.codec` for the formats).

Large records are encoded ``_BATCH`` entries at a time by the C encoder and handed on in chunks
of about :data:`CHUNK` bytes, so a 100k-node checkpoint's text never exists as one string.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from typing import Any

from vibe_aigc.jsondata import JsonText, KnownJson
from vibe_aigc.persistence.records import Record

# built once: ``json.dumps`` with options builds a new encoder on every call
_CANONICAL = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
)
_NAME = json.JSONEncoder(ensure_ascii=False)


def canonical(value: Any) -> bytes:
    """The canonical JSON of ``value`` as UTF-8 (a mapping's :class:`JsonText` values, such
    as a journal entry's result, copied as the text they are)."""
    if _has_texts(value):
        return _with_texts(value, _CANONICAL).encode("utf-8")
    return _CANONICAL.encode(value).encode("utf-8")


def canonical_text(value: Any) -> JsonText:
    """The canonical JSON of a mapping of checked JSON data, as :class:`JsonText` (its
    :class:`JsonText` values copied as the text they are)."""
    if _has_texts(value):
        return JsonText(_with_texts(value, _CANONICAL))
    return JsonText(_CANONICAL.encode(value))


def _value_text(value: Any, encoder: json.JSONEncoder) -> str:
    return value if type(value) is JsonText else encoder.encode(value)


def _with_texts(mapping: dict[str, Any], encoder: json.JSONEncoder) -> str:
    """``encoder.encode(mapping)`` where some values are :class:`JsonText` (written as they
    are; every other value is encoded). Only the canonical encoder meets them: a JsonText is
    canonical text, which is what the checksum hashes and what a file's layout may hold."""
    keys = sorted(mapping) if encoder.sort_keys else list(mapping)
    sep = encoder.key_separator
    return (
        "{"
        + encoder.item_separator.join(
            encoder.encode(k) + sep + _value_text(mapping[k], encoder) for k in keys
        )
        + "}"
    )


_BATCH = 512
"""Entries of a large list or mapping are encoded this many at a time (by the C encoder), so
a 100k-node checkpoint is never one string in memory: see :func:`_pieces`."""
_SPLIT_DEPTH = 3  # containers nested deeper are always encoded whole
CHUNK = 1 << 20  # bytes handed to the hash / the file at a time


def _big(value: Any) -> bool:
    kind = type(value)
    return (kind is list or kind is dict or kind is KnownJson) and len(value) > _BATCH


def _has_texts(value: Any) -> bool:
    """A mapping with :class:`JsonText` values (a snapshot's ``node_results``)."""
    return (type(value) is dict or type(value) is KnownJson) and any(
        type(v) is JsonText for v in value.values()
    )


def _holds_big(value: Any, depth: int) -> bool:
    """True when ``value`` is worth encoding piece by piece: a large list or mapping, or a small
    one that holds one (the record, its ``workflow_plan``)."""
    if depth >= _SPLIT_DEPTH:
        return False
    kind = type(value)
    if kind is list:
        children: Any = value
    elif kind is dict or kind is KnownJson:
        children = value.values()
    else:
        return False
    if len(value) > _BATCH or _has_texts(value):  # a JsonText is copied, not encoded
        return True
    return any(_holds_big(v, depth + 1) for v in children)


def _pieces(value: Any, encoder: json.JSONEncoder, depth: int = 0) -> Iterator[str]:
    """The text of ``encoder.encode(value)``, in pieces: exactly the same characters.

    A large list or mapping is written as its brackets around entries encoded ``_BATCH`` at
    a time (the C encoder's output for a slice, brackets stripped, is those entries joined by
    its item separator); an entry that is itself large is split the same way.
    """
    if type(value) is JsonText:
        yield value
        return
    if not _holds_big(value, depth):
        yield encoder.encode(value)
        return
    item_sep = encoder.item_separator
    large = depth > 0 and len(value) > _BATCH  # then entries are split only when large too
    is_list = type(value) is list
    # a mapping's keys, sorted for the canonical form (keys only: no list of 100k pairs)
    keys: Iterable[Any] = value if is_list or not encoder.sort_keys else sorted(value)
    yield "[" if is_list else "{"
    first = True
    batch: list[Any] = []

    def flush() -> Iterator[str]:
        nonlocal first
        if batch:
            part = batch if is_list else {k: value[k] for k in batch}
            if type(part) is dict and _has_texts(part):
                text = _with_texts(part, encoder)
            else:
                text = encoder.encode(part)
            yield (item_sep if not first else "") + text[1:-1]
            first = False
            batch.clear()

    for key in keys:
        inner = key if is_list else value[key]
        # a long text (a large plan's) is a piece of its own: batched, it was copied thrice
        split = (type(inner) is JsonText and len(inner) >= CHUNK) or (
            _big(inner) if large else _holds_big(inner, depth + 1)
        )
        if not split or depth + 1 >= _SPLIT_DEPTH:
            batch.append(key)
            if len(batch) >= _BATCH:
                yield from flush()
            continue
        yield from flush()
        if not first:
            yield item_sep
        first = False
        if not is_list:
            yield encoder.encode(key) + encoder.key_separator
        yield from _pieces(inner, encoder, depth + 1)
    yield from flush()
    yield "]" if is_list else "}"


def chunked(pieces: Iterable[str]) -> Iterator[bytes]:
    """``pieces`` as UTF-8 bytes, joined into chunks of about :data:`CHUNK` bytes. A piece
    of a chunk's size or more (a large plan's text) is encoded a chunk's worth at a time,
    never joined to the others: joining it, then encoding it, made two more copies of it
    (28 MB for a 100k-node plan) at the peak of a large snapshot. Slicing a ``str`` cuts
    between code points, so the slices encode to exactly the bytes the whole does."""
    pending: list[str] = []
    size = 0
    for piece in pieces:
        long = len(piece) >= CHUNK
        if not long:
            pending.append(piece)
            size += len(piece)
        if pending and (long or size >= CHUNK):
            yield "".join(pending).encode("utf-8")
            pending.clear()
            size = 0
        if long:
            for start in range(0, len(piece), CHUNK):
                yield piece[start : start + CHUNK].encode("utf-8")
    if pending:
        yield "".join(pending).encode("utf-8")


def layout_pieces(record: Record) -> Iterator[str]:
    """Readable and fast: one top-level key per line, and one entry per line for mappings of
    entries (``node_results``, ``memos``); every value in canonical form, so a value given as
    its text (:class:`JsonText`: a node's result as the journal wrote it, a run's plan) is
    copied, not encoded again, and the C encoder does the rest of the work
    (``indent=`` would force the pure-Python encoder, ~5x slower on large checkpoints). In
    pieces, so a large checkpoint's text never exists as one string. The text stops where the
    seal starts (after ``,\n  ``): :data:`SEAL` and the hash of these bytes follow."""
    yield "{\n"
    for index, (key, value) in enumerate(record.items()):
        name = _NAME.encode(key)
        yield "  " if index == 0 else ",\n  "
        if (
            isinstance(value, dict)
            and value
            and all(isinstance(v, dict) or type(v) is JsonText for v in value.values())
        ):
            yield f"{name}: {{\n"
            for position, (k, v) in enumerate(value.items()):
                if position:
                    yield ",\n"
                yield f"    {_NAME.encode(k)}: "
                yield from _pieces(v, _CANONICAL, 2)
            yield "\n  }"
        else:
            yield f"{name}: "
            yield from _pieces(value, _CANONICAL, 1)
    yield ",\n  "


SEAL = b'"seal": "sha256:'
SEAL_END = b'"\n}\n'
SEAL_SIZE = len(SEAL) + 64 + len(SEAL_END)


def sealed(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """``chunks``, then the seal: the sha256 of every byte before it."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
        yield chunk
    yield SEAL + digest.hexdigest().encode("ascii") + SEAL_END


def checksum_of(body: Record) -> str:
    """``"sha256:<hex>"`` of the canonical JSON of ``body``."""
    return "sha256:" + hashlib.sha256(canonical(body)).hexdigest()


def streamed_checksum(body: Record) -> str:
    """:func:`checksum_of`, hashing the canonical text piece by piece."""
    digest = hashlib.sha256()
    for chunk in chunked(_pieces(body, _CANONICAL)):
        digest.update(chunk)
    return "sha256:" + digest.hexdigest()
