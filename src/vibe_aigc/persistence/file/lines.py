"""A journal segment's complete lines, found only as far as they are asked for (private to
:mod:`.journal`)."""

from __future__ import annotations

import errno
import os
import sys
from collections.abc import Iterator

ALL = sys.maxsize  # every line of a segment is covered (see journal.SegmentJournal)
BLOCK = 1 << 20
"""Bytes read at a time: a segment is never held whole (a resumed 100k-node run's is ~40 MB,
and it was held while every entry it replays was built: the resume's peak memory)."""


class Lines:
    """The complete lines of a segment's data ``[0, end)`` read through ``fd`` a block at a
    time, each without its newline, and ``tail``: what follows the last newline.

    ``end`` and ``last`` (the last newline before ``end``, -1 for none) come from the scan
    that found them (:class:`~.segment.Scan`), so a resume whose snapshot covers the whole
    segment reads its last line only. Appends write only after ``end`` (into the zeros there)
    and a reopening writer cuts only what follows ``last``, so the bytes before ``last`` stay
    as the scan saw them; one that reads short anyway (the file cut meanwhile) raises
    ``OSError``. How many lines there are is counted only when asked."""

    def __init__(self, fd: int, end: int, last: int, line_start: int, block: int = BLOCK) -> None:
        self.fd, self.last, self.block = fd, last, block
        self._line_start = line_start
        self.tail = self._read(last + 1, end - last - 1) if end > last + 1 else b""
        self._count: int | None = None

    def _read(self, offset: int, length: int) -> bytes:
        data = os.pread(self.fd, length, offset)
        if len(data) != length:
            raise OSError(errno.EIO, "the segment was cut while it was read")
        return data

    def _blocks(self, start: int = 0) -> Iterator[tuple[int, bytes]]:
        """(offset, bytes) of ``[start, last]`` (the complete lines), a block at a time."""
        stop = self.last + 1
        while start < stop:
            block = self._read(start, min(self.block, stop - start))
            yield start, block
            start += len(block)

    @property
    def count(self) -> int:
        if self._count is None:
            self._count = sum(block.count(b"\n") for _, block in self._blocks())
        return self._count

    def last_line(self) -> bytes | None:
        """The last complete line, None when there is none."""
        if self.last < 0:
            return None
        return self._read(self._line_start, self.last - self._line_start)

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> bytes:
        """Line ``index`` (from 0; no negative indexes; IndexError past the last)."""
        last = self.last_line() if index == self.count - 1 else None
        if last is not None:  # the last: found by the scan
            return last
        for line in self.after(index):
            return line
        raise IndexError(index)

    def after(self, skip: int) -> Iterator[bytes]:
        """The lines from ``skip`` on (none for :data:`ALL`), read a block at a time."""
        if skip == ALL:
            return
        carry = b""  # the start of a line the block before cut
        for _, block in self._blocks():
            begin = 0
            if skip:  # lines before ``skip`` are counted, not cut out
                newlines = block.count(b"\n")
                if newlines < skip:
                    skip -= newlines
                    carry = b""
                    continue
                while skip:
                    begin = block.index(b"\n", begin) + 1
                    skip -= 1
                carry = b""
            find = block.find
            while (newline := find(b"\n", begin)) >= 0:
                if carry:
                    yield carry + block[begin:newline]
                    carry = b""
                else:
                    yield block[begin:newline]
                begin = newline + 1
            carry += block[begin:]
