"""Top-level values of a sealed checkpoint kept as the text the file holds, not parsed.

A resume compares the caller's plan with the stored one. At 100k nodes the stored plan is
14 MB of JSON: parsing it into ~1M Python objects took longer than comparing it, and the
objects were the largest part of the resume's peak memory. A sealed file (its seal hashes
its bytes as written, :func:`.codec._seal_of`) lays every top-level value out on a line of its
own, and ``node_results`` an entry a line, in canonical form (:func:`.jsontext.layout_pieces`),
so a value can be cut out of the bytes and the rest parsed without it. The caller compares a
:class:`StoredText` with the canonical text of what it expects (equal text, equal value) and
parses it only when they differ (:func:`.codec.parse_kept`); it parses and builds a
:class:`StoredEntries` a batch at a time, keeping each entry's text.

Nothing is trusted for being cut out: a value laid out otherwise (an indented file), a file
that is not sealed, or one that spells an escape ``\\u`` is parsed whole as before
(:meth:`.codec.JsonCodec.decode` decides); of a key given twice the last counts, as in JSON;
and a cut text that turns out not to be exactly one JSON value is refused as damage when
parsed. Neither class is JSON data: an encoder given one refuses it, so a kept text can never
be written back unnoticed.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator

from vibe_aigc.errors import CheckpointCorruptError


class StoredText:
    """The text of one top-level value of a sealed checkpoint, as the file holds it (not
    parsed, so not yet known to be one JSON value). ``text == canonical_text(x)`` tells that
    the value is ``x``; :func:`.codec.parse_kept` gives the value otherwise."""

    __slots__ = ("key", "source", "text")

    def __init__(self, text: str, key: str, source: str) -> None:
        self.text, self.key, self.source = text, key, source

    def __repr__(self) -> str:
        return f"StoredText({self.key!r}, {len(self.text)} characters)"


class StoredEntries:
    """The entries of one top-level mapping of a sealed checkpoint laid out an entry a line
    (``node_results``), as the file holds them (one ``    "key": value`` a line, lines joined
    by ``",\\n"``): :meth:`batches` hands them over a batch at a time, so a 100k-entry mapping
    never exists as 100k parsed objects at once."""

    __slots__ = ("key", "source", "text")

    def __init__(self, text: str, key: str, source: str) -> None:
        self.text, self.key, self.source = text, key, source

    def __repr__(self) -> str:
        return f"StoredEntries({self.key!r}, {len(self.text)} characters)"

    def batches(self, count: int = 512) -> Iterator[tuple[str, list[str]]]:
        """The entries ``count`` at a time: the JSON text of an object holding them (parse
        it to check and read them) and their lines, in order (:func:`value_texts` finds each
        value's text in them: a snapshot copies it)."""
        text, find, position = self.text, self.text.find, 0
        while True:
            end = position - 1
            for _ in range(count):
                end = find("\n", end + 1)
                if end < 0:
                    break
            lines = text[position:] if end < 0 else text[position : end - 1]
            if end >= 0 and text[end - 1] != ",":  # entries are separated by ",\n"
                raise CheckpointCorruptError(
                    self.source, f"{self.key}: an entry does not end with a comma"
                )
            yield "{" + lines + "}", lines.split(",\n")
            if end < 0:
                return
            position = end + 1


def value_texts(lines: list[str], keys: list[str]) -> list[str | None]:
    """The text of each entry's value in ``lines`` (``    "key": value``, as a batch of
    :meth:`StoredEntries.batches` holds them) for the keys the parsed batch has, in order;
    None where a line is not exactly that (a key that needs escaping, repeated keys: the
    parsed value is then all there is)."""
    if len(lines) != len(keys):
        return [None] * len(keys)
    out: list[str | None] = []
    for line, key in zip(lines, keys, strict=True):
        cut = 5 + len(key)
        if (
            line.startswith('": ', cut)
            and line[5:cut] == key
            and line.startswith('    "')
            and '"' not in key  # else the line spells it escaped, longer: never equal
            and "\\" not in key
        ):
            out.append(line[cut + 3 :])
        else:
            out.append(None)
    return out


_NEXT = b',\n  "'  # what starts the next top-level key of the layout (entries indent by four)
_BLOCK_END = b"\n  }" + _NEXT
_ENTRY_START = b',\n    "'


Cut = tuple[int, int, bool]  # where a value's text starts and ends; True: a mapping's entries


def cut_out(data: bytes, keys: Collection[str]) -> tuple[bytes, dict[str, Cut]]:
    """``data`` (a sealed checkpoint's bytes) with the value of each of ``keys`` replaced by
    ``null`` when it stands alone on its line, or is a mapping laid out an entry a line; and
    where the values cut out stand in ``data``, by key. A value laid out otherwise is left in
    place (parsed with the rest). The caller cuts nothing from a file that spells an escape
    ``\\u`` (:func:`spells_escapes`): only with one could a key be spelled twice differently.

    A line starting ``\n  "key": `` is a top-level key (no value holds a newline; entries
    indent by four), and of a key spelled twice JSON keeps the last: so the last such line
    is the one that counts (``rfind``; ``find`` of a multi-byte needle is ~3x slower)."""
    cuts: list[tuple[int, int, str, Cut]] = []
    for key in keys:
        marker = b"\n  " + json.dumps(key, ensure_ascii=False).encode("utf-8") + b": "
        at = data.rfind(marker)
        if at < 0:
            continue
        start = at + len(marker)
        if data.startswith(b"{\n    \"", start):  # a mapping, an entry a line
            end = data.find(_BLOCK_END, start)
            # every line an entry: each newline inside is ``,\n    "`` (two counts, 30 ms
            # for 100k entries; an indented file's nested lines fail it)
            if end >= 0 and data.count(b"\n", start + 2, end) == data.count(
                _ENTRY_START, start + 2, end
            ):
                cuts.append((start, end + 4, key, (start + 2, end, True)))
            continue
        end = data.find(b"\n", start)  # the line's end: a comma, then the next key
        if end > start and data[end - 1] == 0x2C and data.startswith(b'  "', end + 1):
            cuts.append((start, end - 1, key, (start, end - 1, False)))
    if not cuts:
        return data, {}
    cuts.sort()
    pieces, where, position = [], {}, 0
    for start, end, key, cut in cuts:
        pieces += [data[position:start], b"null"]
        where[key] = cut
        position = end
    pieces.append(data[position:])
    return b"".join(pieces), where


def spells_escapes(data: bytes) -> bool:
    """True when ``data`` holds ``\\u`` (looked for only after a backslash turned up: a
    two-byte search of 40 MB takes 40 ms, a one-byte one a few)."""
    return b"\\" in data and b"\\u" in data


def kept_texts(
    data: bytes, where: dict[str, Cut], source: str
) -> dict[str, StoredText | StoredEntries]:
    """The values cut out of ``data`` as :class:`StoredText` / :class:`StoredEntries`
    (CheckpointCorruptError if not UTF-8)."""
    out: dict[str, StoredText | StoredEntries] = {}
    view = memoryview(data)
    for key, (start, end, entries) in where.items():
        try:
            text = str(view[start:end], "utf-8")
        except UnicodeDecodeError as exc:
            raise CheckpointCorruptError(
                source, f"{key} is not UTF-8 text (byte {exc.start})"
            ) from None
        out[key] = StoredEntries(text, key, source) if entries else StoredText(text, key, source)
    return out
