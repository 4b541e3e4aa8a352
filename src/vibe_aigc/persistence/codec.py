"""Checkpoint records <-> bytes: JSON with a schema version, a checksum, and migrations.

A checkpoint file is JSON, one top-level key a line (one entry a line for ``node_results`` and
``memos``), every value in canonical form (see :func:`.jsontext.layout_pieces`): the guide's
keys first (``checkpoint_id``, ``plan_id``, ``created_at``, ``vibe``, ``workflow_plan``,
``completed_nodes``, ``node_results``, ``pending_nodes``), then the rest (``state``,
``total_nodes``, ``run_id``, ``journal_seq``, any extra keys), then ``format`` (``"json"``,
the codec tag; files written before it existed have none and read as JSON),
``schema_version``, ``checksum`` and, last, ``seal``. ``format``, ``schema_version``,
``checksum`` and ``seal`` belong to the codec: encode sets them, decode checks and removes
them, so ``decode(encode(r)) == r``. The record shapes themselves live in :mod:`.records`.
:meth:`JsonCodec.encode_chunks` gives the bytes in chunks of about a megabyte,
so a 100k-node checkpoint is never whole in memory.

Two hashes, both ``"sha256:<hex>"``. ``checksum`` hashes the canonical JSON (sorted keys,
``(",", ":")`` separators, UTF-8, no ASCII escaping) of the record without ``checksum`` and
``seal``, wherever it stands: a file re-indented, reordered or given CRLF line ends by hand
still reads. ``seal`` (schema v3) is the file's last entry and hashes every byte before it, as
written: the file ends ``,\n  "seal": "sha256:<hex>"\n}\n``. The reader checks the seal
first, over the bytes it read, and a file whose seal holds is not encoded again to check
``checksum`` (for 100k nodes that took a second), nor parsed with the duplicate-key check
(more than half of parsing it): a writer's encoder never repeats a key. NaN, Infinity and
numbers beyond a float are refused all the same, and a file that spells a lone surrogate
(``\\ud800``) is read as unsealed. A file changed after it was written fails its seal and is
parsed strictly and checked the canonical way, so only its content decides. (The seal is no
signature: someone who can write the folder can seal a file by hand; the content is checked
as any other.) ``decode(..., keep_text=)`` hands the named top-level values of a sealed file
over as the text it holds, unparsed (:mod:`.kept`: a resume's plan and results).

Schema versions: v1 is v2 without ``state``, ``total_nodes``, ``run_id`` and ``journal_seq``;
v2 is v3 without ``seal``; older ones load through :data:`MIGRATIONS`. A version newer than
:data:`SCHEMA_VERSION` (a journal line's ``"v"`` newer than :data:`JOURNAL_VERSION`) raises
:class:`~vibe_aigc.errors.UnsupportedSchemaError` when the file's seal or checksum holds; a
damaged one that names a newer version is damage (a bit flip can turn ``1`` into ``3``).

A journal line is compact JSON of the record plus ``"v"`` (journal format version) and ``"c"``
(the checksum, computed the same way over the line without ``"c"``), ending in ``\\n``. As
written, ``"c"`` comes last, in place of the final ``}``: the reader verifies the checksum over
the bytes before it (plus ``}``) without encoding the record again (see
:func:`_line_as_written`); a line in any other form is read the strict way. A node's result
entry read as written hands its result on with its text (:class:`TextedJson`).

Decoding raises :class:`~vibe_aigc.errors.CheckpointCorruptError` (with a precise reason) for
every bad input and never any other exception. There is no pickle anywhere: a checkpoint file
cannot run code.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import sys
from collections.abc import Callable, Collection, Iterable, Iterator
from typing import Any, Protocol

from vibe_aigc.errors import CheckpointCorruptError, CheckpointEncodeError, UnsupportedSchemaError
from vibe_aigc.jsondata import JsonText, TextedJson, check_json_data
from vibe_aigc.persistence.jsontext import (
    SEAL,
    SEAL_END,
    SEAL_SIZE,
    canonical,
    checksum_of,
    chunked,
    layout_pieces,
    sealed,
    streamed_checksum,
)
from vibe_aigc.persistence.kept import Cut, cut_out, kept_texts, spells_escapes
from vibe_aigc.persistence.records import (
    FORMAT,
    GUIDE_KEYS,
    JOURNAL_VERSION,
    RESERVED_KEYS,
    SCHEMA_VERSION,
    V2_KEYS,
    Record,
    entry_problem,
    result_entry,
    shape_problem,
    v1_to_v2,
    v2_to_v3,
)


class Codec(Protocol):
    """Turns records into bytes and back. Stores move bytes; they never look inside."""

    def encode(self, record: Record) -> bytes:
        """A checkpoint file's bytes. Raises CheckpointEncodeError for non-JSON data."""
        ...

    def decode(self, data: bytes, source: str, keep_text: Collection[str] = ()) -> Record:
        """The (migrated) record. Raises CheckpointCorruptError naming ``source``.
        ``keep_text``: top-level keys whose values a sealed file may hand over unparsed, as
        :class:`~.kept.StoredText` (see :mod:`.kept`)."""
        ...

    def encode_line(self, record: Record) -> bytes:
        """One journal line (ends with a newline); ``record`` has an int ``seq``."""
        ...

    def decode_line(self, line: bytes, source: str) -> Record:
        """The record of one journal line. Raises CheckpointCorruptError."""
        ...


# ---------------------------------------------------------------------- helpers


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _reject_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # names interned: the parser shares a name within one line only, and each resumed output
    # held its own copies of the same few names; only a duplicate makes ``out`` shorter
    out = {sys.intern(key): value for key, value in pairs}
    if len(out) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"duplicate key {key!r}")
            seen.add(key)
    return out


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON data")


def _parse_object(data: bytes, source: str, strict: bool = True) -> Record:
    """The JSON object in ``data``. ``strict=False`` (a sealed file: see :func:`_seal_of`)
    skips the duplicate-key check, the costliest part of parsing a large file."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CheckpointCorruptError(source, f"not UTF-8 text (byte {exc.start})") from None
    try:
        value = (_STRICT if strict else _SEALED).decode(text)
    except RecursionError:
        raise CheckpointCorruptError(source, "not JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, duplicate keys, NaN, huge integers
        raise CheckpointCorruptError(source, f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise CheckpointCorruptError(
            source, f"expected a JSON object, found {type(value).__name__}"
        )
    return value


def _stored_checksum(obj: Record, key: str, source: str) -> str:
    stored = obj.get(key)
    if stored is None:
        raise CheckpointCorruptError(source, f"missing checksum {key!r}")
    if not isinstance(stored, str):
        raise CheckpointCorruptError(source, f"checksum {key!r} is not a string")
    return stored


def _mismatch(source: str, stored: str, actual: str) -> CheckpointCorruptError:
    return CheckpointCorruptError(
        source,
        f"checksum mismatch (stored {stored[:80]!r}, content hashes to {actual}); "
        "the file was changed or damaged after it was written",
    )


def _seal_of(data: bytes) -> str | None:
    """The seal ending ``data`` when it hashes the bytes before it as they are, else None
    (any other seal, or none, is not an error: the checksum decides then)."""
    cut = len(data) - SEAL_SIZE
    if cut < 4 or data[cut - 4 : cut] != b",\n  " or data[cut : cut + len(SEAL)] != SEAL:
        return None
    if not data.endswith(SEAL_END):
        return None
    actual = "sha256:" + hashlib.sha256(memoryview(data)[:cut]).hexdigest()
    if data[cut + len(b'"seal": "') : -len(SEAL_END)] != actual.encode("ascii"):
        return None
    return actual


def _verify_checksum(obj: Record, key: str, source: str) -> Record:
    """The record of a line or a schema v2 file: ``key`` hashes the canonical JSON of the
    rest."""
    stored = _stored_checksum(obj, key, source)
    body = {k: v for k, v in obj.items() if k != key}
    try:
        actual = checksum_of(body)
    except (ValueError, UnicodeEncodeError, RecursionError) as exc:
        raise CheckpointCorruptError(source, f"content cannot be checksummed ({exc})") from None
    if stored != actual:
        raise _mismatch(source, stored, actual)
    return body


def _version_of(obj: Record, key: str, latest: int, source: str) -> int:
    if key not in obj:
        raise CheckpointCorruptError(source, f"missing {key!r}")
    version = obj[key]
    if not _is_int(version):
        raise CheckpointCorruptError(
            source, f"{key!r} must be an integer, found {type(version).__name__}"
        )
    if version > latest:
        raise UnsupportedSchemaError(source, version, latest)
    if version < 1:
        raise CheckpointCorruptError(source, f"unknown {key} {version}")
    return int(version)


def _check_format(tag: Any, source: str) -> None:
    if tag != FORMAT:
        raise CheckpointCorruptError(
            source, f"format {str(tag)[:40]!r} is not {FORMAT!r} (the only codec this version has)"
        )


# ---------------------------------------------------------------------- migrations


MIGRATIONS: dict[int, Callable[[Record], Record]] = {1: v1_to_v2, 2: v2_to_v3}
"""``MIGRATIONS[n]`` turns a (shape-checked) version ``n`` record into version ``n + 1``."""


def migrate(record: Record, version: int, source: str) -> Record:
    """Bring a record of ``version`` up to :data:`SCHEMA_VERSION`."""
    while version < SCHEMA_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise CheckpointCorruptError(source, f"no migration from schema_version {version}")
        problem = shape_problem(record, version)
        if problem is not None:
            raise CheckpointCorruptError(source, f"{problem} (schema_version {version})")
        try:
            record = step(record)
        except (KeyError, TypeError, ValueError) as exc:
            raise CheckpointCorruptError(
                source, f"migration from schema_version {version} failed: {exc!r}"
            ) from None
        version += 1
    return record


# ---------------------------------------------------------------------- the codec


class JsonCodec:
    """The JSON codec (see the module docstring for the formats)."""

    def encode(self, record: Record) -> bytes:
        return b"".join(self.encode_chunks(record))

    def encode_chunks(self, record: Record) -> Iterator[bytes]:
        """The bytes of :meth:`encode`, as chunks of about a megabyte, for a large checkpoint
        to be written without its whole text in memory. Checked (CheckpointEncodeError) before
        the first chunk is returned, checksummed too; the seal is the last chunk (it hashes the
        others)."""
        body = {k: v for k, v in record.items() if k not in RESERVED_KEYS}
        check_json_data(body)
        problem = shape_problem(body)
        if problem is not None:
            raise CheckpointEncodeError("record", problem)
        body["format"] = FORMAT
        body["schema_version"] = SCHEMA_VERSION
        try:
            checksum = streamed_checksum(body)
        except (ValueError, RecursionError) as exc:
            raise CheckpointEncodeError("record", str(exc)) from None
        ordered: Record = {k: body[k] for k in (*GUIDE_KEYS, *V2_KEYS)}
        ordered.update((k, body[k]) for k in sorted(body) if k not in ordered)
        ordered["format"] = ordered.pop("format")
        ordered["schema_version"] = ordered.pop("schema_version")
        ordered["checksum"] = checksum
        return sealed(chunked(layout_pieces(ordered)))

    def decode(self, data: bytes, source: str, keep_text: Collection[str] = ()) -> Record:
        data = bytes(data)
        seal = _seal_of(data)
        escapes = seal is not None and spells_escapes(data)
        if escapes and _SURROGATE.search(data) is not None:
            seal = None  # it spells a lone surrogate (not text): the checksum refuses it
        cut: dict[str, Cut] = {}
        if seal is not None and keep_text and not escapes:
            rest, cut = cut_out(data, keep_text)
            obj = _parse_object(rest, source, strict=False)
        else:
            obj = _parse_object(data, source, strict=seal is None)
        stored_seal = obj.pop("seal", None)
        intact = seal is not None and stored_seal == seal
        if cut and not intact:  # cannot be: the seal was read off these very bytes
            obj = _parse_object(data, source)
            cut = {}
        # a value cut out stands where the rest holds its ``null``: a later spelling of the
        # same key (escaped) wins in JSON, as it does here
        kept = kept_texts(data, {k: v for k, v in cut.items() if obj.get(k) is None}, source)
        obj.update(kept)
        try:
            version = _version_of(obj, "schema_version", SCHEMA_VERSION, source)
        except UnsupportedSchemaError:
            if not intact:  # a damaged file is damaged, whatever version it names
                _verify_checksum(obj, "checksum", source)
            raise
        if intact:
            _stored_checksum(obj, "checksum", source)
            body = obj
            del body["checksum"]
        else:
            body = _verify_checksum(obj, "checksum", source)
        del body["schema_version"]
        _check_format(body.pop("format", FORMAT), source)
        body = migrate(body, version, source)
        problem = shape_problem(body)
        if problem is not None:
            raise CheckpointCorruptError(source, problem)
        return body

    def encode_line(self, record: Record) -> bytes:
        for key in ("v", "c"):
            if key in record:
                raise CheckpointEncodeError(f"journal record key {key!r}", "reserved")
        if not _is_int(record.get("seq")):
            raise CheckpointEncodeError("journal record", "needs an integer 'seq'")
        raw = _result_line(record)
        if raw is None:
            check_json_data(record, "journal record")
            try:
                raw = canonical({**record, "v": JOURNAL_VERSION})
            except (ValueError, RecursionError) as exc:
                raise CheckpointEncodeError("journal record", str(exc)) from None
        # The checksum covers the canonical bytes just made; "c" is appended after them (the
        # reader recomputes the canonical form without "c", so key order on disk is free).
        digest = hashlib.sha256(raw).hexdigest()
        return raw[:-1] + b',"c":"sha256:' + digest.encode("ascii") + b'"}\n'

    def decode_line(self, line: bytes, source: str) -> Record:
        data = bytes(line)
        if data.endswith(b"\n"):
            data = data[:-1]
        body = _line_as_written(data)
        if body is not None:
            return body
        # not byte for byte what encode_line writes: the strict path, with its precise errors
        obj = _parse_object(data, source)
        try:
            _version_of(obj, "v", JOURNAL_VERSION, source)
        except UnsupportedSchemaError:
            _verify_checksum(obj, "c", source)  # a damaged line is damage, whatever version
            raise
        body = _verify_checksum(obj, "c", source)
        del body["v"]
        problem = entry_problem(body)
        if problem is not None:
            raise CheckpointCorruptError(source, problem)
        return body


def encode_chunks(codec: Codec, record: Record) -> Iterable[bytes]:
    """A checkpoint's bytes from ``codec``: streamed in chunks by :class:`JsonCodec` (see
    :meth:`JsonCodec.encode_chunks`), whole from any other codec."""
    if isinstance(codec, JsonCodec):
        return codec.encode_chunks(record)
    return (codec.encode(record),)


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (math.inf, -math.inf):  # "1e400": not JSON data (canonical JSON refuses it)
        raise ValueError(f"number {text[:40]} is out of range")
    return value


_STRICT = json.JSONDecoder(object_pairs_hook=_reject_duplicates, parse_constant=_reject_constant)
# a sealed file's parser: NaN / Infinity and numbers too large for a float refused (what the
# checksum would refuse), repeated keys not looked for (a writer never repeats one)
_SEALED = json.JSONDecoder(parse_constant=_reject_constant, parse_float=_finite_float)
_SURROGATE = re.compile(rb"\\u[dD][89a-fA-F]")


def parse_kept(text: str, source: str, where: str) -> Any:
    """A value a sealed file handed over as its text (a :class:`~.kept.StoredText`'s, or an
    entry's of :class:`~.kept.StoredEntries`), parsed as the rest of that file was;
    CheckpointCorruptError naming ``where`` when the text is not exactly one JSON value."""
    try:
        try:  # the C scanner alone: what the layout writes (no space around the value)
            value, end = _SEALED.raw_decode(text)
        except ValueError:
            end = -1
        if end != len(text):  # anything else: the parser's own way, with its message
            value = _SEALED.decode(text)
        return value
    except RecursionError:
        raise CheckpointCorruptError(source, f"{where}: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError (extra data too), NaN, huge numbers
        raise CheckpointCorruptError(source, f"{where} is not JSON: {exc}") from None

# the fast path's parser: the C scanner, with the strict parser's refusals (duplicate keys,
# NaN / Infinity) and numbers too large for a float refused as canonical JSON would refuse them
_LINE_DECODER = json.JSONDecoder(
    object_pairs_hook=_reject_duplicates,
    parse_constant=_reject_constant,
    parse_float=_finite_float,
)
_CUT = b',"c":"sha256:'
_TAIL = len(_CUT) + 64 + len(b'"}')


def _line_as_written(data: bytes) -> Record | None:
    """The record of a journal line in the form :meth:`JsonCodec.encode_line` writes: the
    record's JSON (with ``"v"``), then ``,"c":"sha256:<hex>"}`` in place of its final ``}``,
    where ``<hex>`` hashes those bytes as written (``data[:cut] + b"}"``). None for anything
    else: the caller takes the strict path, with its precise errors.

    The checksum is verified over the bytes, so the record is not encoded again. What the
    strict path refuses is refused here too: invalid UTF-8 (decoding fails), duplicate keys
    and NaN / Infinity (the parser's hooks), numbers beyond a float's range, a ``"c"`` inside
    the body (the whole line would hold it twice), a bad shape (:func:`entry_problem`). A line
    with a ``\\u`` escape (the only way to spell a lone surrogate, which is not UTF-8 text)
    takes the strict path. For the lines the writer writes (canonical JSON) the bytes hashed
    are exactly the canonical form the strict path hashes, so both agree on every line the
    library wrote.
    """
    cut = len(data) - _TAIL
    if cut < 1 or data[cut : cut + len(_CUT)] != _CUT or not data.endswith(b'"}'):
        return None
    if b"\\u" in data:
        return None
    body = data[:cut] + b"}"
    if hashlib.sha256(body).hexdigest().encode("ascii") != data[cut + len(_CUT) : -2]:
        return None
    try:
        text = body.decode("utf-8")
        obj = _LINE_DECODER.decode(text)
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        return None
    if type(obj) is not dict or "c" in obj:
        return None
    version = obj.pop("v", None)
    if type(version) is not int or version != JOURNAL_VERSION:
        return None
    if entry_problem(obj) is not None:
        return None
    if obj.keys() == _RESULT_ENTRY:
        _keep_result_text(obj, text)
    return obj


_RESULT_ENTRY = frozenset(result_entry("r", "p", "n", {}))
_PLAIN = re.compile(r"[A-Za-z0-9._-]*")  # a string JSON spells as it is, between quotes


def _result_frame(entry: Record) -> tuple[str, str] | None:
    """What surrounds the result in the canonical line (with ``"v"``) of a node's result
    entry whose ids need no escaping (every entry the recorder writes): the writer spells the
    line as ``prefix + result text + suffix``, the reader finds the result's text between
    them. None for any other entry (the general encoding; the reader keeps no text)."""
    if entry.keys() != _RESULT_ENTRY:
        return None
    node, plan, run, seq = entry["node_id"], entry["plan_id"], entry["run_id"], entry["seq"]
    if type(seq) is not int:
        return None
    for name in (node, plan, run):
        if type(name) is not str or _PLAIN.fullmatch(name) is None:
            return None
    return (
        f'{{"node_id":"{node}","plan_id":"{plan}","result":',
        f',"run_id":"{run}","seq":{seq},"v":{JOURNAL_VERSION}}}',
    )


def _result_line(record: Record) -> bytes | None:
    """The canonical bytes of a node's result entry given as its text, spelled out around it
    (:func:`_result_frame`): what :func:`canonical` makes of it, at a third of the cost."""
    text = record.get("result")
    frame = _result_frame(record) if type(text) is JsonText else None
    if frame is None:
        return None
    return f"{frame[0]}{text}{frame[1]}".encode()


def _keep_result_text(entry: Record, text: str) -> None:
    """A node's result entry in exactly the form :func:`_result_line` writes: its result
    becomes :class:`TextedJson`, carrying the canonical text it was read from."""
    result = entry["result"]
    frame = _result_frame(entry) if type(result) is dict else None
    if frame is None or not (text.startswith(frame[0]) and text.endswith(frame[1])):
        return
    entry["result"] = TextedJson(result, JsonText(text[len(frame[0]) : -len(frame[1])]))
