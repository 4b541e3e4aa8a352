"""A journal segment's complete lines, found only as far as they are asked for (private to
:mod:`.journal`)."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Iterator

ALL = sys.maxsize  # every line of a segment is covered (see journal.SegmentJournal)


class Lines:
    """The complete lines of a segment's data, each without its newline, cut out of the
    segment's bytes one at a time when asked for (a 100k-line segment split at once was 100k
    objects held together), and ``tail``: what follows the last newline.

    Where each line ends (and how many there are) is found only when asked: a resume whose
    snapshot covers the whole segment reads its last line only (finding 100k newlines one by
    one was most of reading a covered journal, counting them a third)."""

    def __init__(self, raw: bytes, end: int) -> None:
        self.raw, self.end = raw, end
        self.last = raw.rfind(b"\n", 0, end)  # the last line's newline, -1 for none
        self.tail = raw[self.last + 1 : end]
        self._ends: list[int] | None = None
        self._count: int | None = None

    @property
    def count(self) -> int:
        if self._count is None:
            self._count = len(self._ends) if self._ends is not None else self.raw.count(
                b"\n", 0, self.end
            )
        return self._count

    def last_line(self) -> bytes | None:
        """The last complete line, None when there is none."""
        if self.last < 0:
            return None
        return self._last()

    def _last(self) -> bytes:
        return self.raw[self.raw.rfind(b"\n", 0, self.last) + 1 : self.last]

    @property
    def ends(self) -> list[int]:
        """The offset of each line's newline."""
        if self._ends is None:
            ends: list[int] = []
            find, pos = self.raw.find, 0
            while (newline := find(b"\n", pos, self.end)) >= 0:
                ends.append(newline)
                pos = newline + 1
            self._ends = ends
        return self._ends

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> bytes:
        """Line ``index`` (from 0; no negative indexes)."""
        if self._ends is None and index == self.count - 1:  # the last: no line ends needed
            return self._last()
        begin = self.ends[index - 1] + 1 if index > 0 else 0
        return self.raw[begin : self.ends[index]]

    def after(self, skip: int) -> Iterator[bytes]:
        """The lines from ``skip`` on (none for :data:`ALL`)."""
        if skip == ALL or skip >= self.count:
            return
        begin = self.ends[skip - 1] + 1 if skip > 0 else 0
        for newline in itertools.islice(self.ends, skip, None):
            yield self.raw[begin:newline]
            begin = newline + 1
