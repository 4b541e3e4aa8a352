"""Probe: how should a journal segment make room ahead? Run by hand, never as a test::

    python bench/probe_prealloc.py [--count 2000] [--chunk 1048576] [--rounds 3]

Times one 200-byte record written + made durable, for each way of making room:

* ``append``: write at the end of an ``O_APPEND`` file + fdatasync (the size grows each time,
  so every fdatasync also commits the inode's size and the new extent);
* ``fallocate``: ``posix_fallocate`` the chunk, then pwrite in place + fdatasync. On ext4 the
  extents are *unwritten*: the first write into each converts it, a metadata journal commit;
* ``zeros``: write the chunk's zeros for real, one page per write, + fsync once, then pwrite
  in place + fdatasync (nothing but the data block to flush);
* ``zeros-1write``: the same zeros in one write: the page cache then holds them in large
  folios, an append dirties its whole folio, and every fdatasync writes the folio (see the
  bytes written per record);
* ``fallocate+zeros``: both (zeros page by page).

Also reports the one-time cost of making a chunk (µs, and µs per record it holds) and the
bytes the process sent to the disk per record (``write_bytes`` of /proc/self/io).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

RECORD = b"x" * 199 + b"\n"


PAGE = 4096


def written() -> int:
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("write_bytes"))


def prepare(fd: int, how: str, chunk: int) -> float:
    begin = time.perf_counter()
    if how in ("fallocate", "fallocate+zeros"):
        os.posix_fallocate(fd, 0, chunk)
    if how in ("zeros", "fallocate+zeros"):
        for offset in range(0, chunk, PAGE):
            os.pwrite(fd, bytes(PAGE), offset)
    if how == "zeros-1write":
        os.pwrite(fd, bytes(chunk), 0)
    if how != "append":
        os.fsync(fd)
    return (time.perf_counter() - begin) * 1e6


def probe(folder: Path, how: str, count: int, chunk: int) -> tuple[list[float], float, float]:
    path = folder / f"probe-{how}"
    flags = os.O_RDWR | os.O_CREAT | os.O_TRUNC | (os.O_APPEND if how == "append" else 0)
    fd = os.open(path, flags, 0o600)
    try:
        setup = prepare(fd, how, chunk)
        before = written()
        samples = []
        for i in range(count):
            begin = time.perf_counter()
            if how == "append":
                os.write(fd, RECORD)
            else:
                os.pwrite(fd, RECORD, i * len(RECORD))
            os.fdatasync(fd)
            samples.append((time.perf_counter() - begin) * 1e6)
        return samples, setup, (written() - before) / count
    finally:
        os.close(fd)
        path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=1 << 20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--dir", default=None, help="folder on the disk to probe")
    args = parser.parse_args()
    count = min(args.count, args.chunk // len(RECORD))
    kinds = ["append", "fallocate", "zeros", "zeros-1write", "fallocate+zeros"]
    results: dict[str, list[float]] = {k: [] for k in kinds}
    firsts: dict[str, list[float]] = {k: [] for k in kinds}  # a record entering a new page
    setups: dict[str, list[float]] = {k: [] for k in kinds}
    bytes_out: dict[str, list[float]] = {k: [] for k in kinds}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for _ in range(args.rounds):  # interleaved, so load changes hit every kind alike
            for how in kinds:
                samples, setup, out = probe(Path(tmp), how, count, args.chunk)
                bytes_out[how].append(out)
                results[how] += samples
                firsts[how] += [
                    v
                    for i, v in enumerate(samples)
                    if (i * len(RECORD)) // 4096 != ((i + 1) * len(RECORD) - 1) // 4096
                    or (i * len(RECORD)) % 4096 == 0
                ]
                setups[how].append(setup)
    print(f"load: {os.getloadavg()}; {count} records of {len(RECORD)} bytes x {args.rounds}")
    print(
        "| room made by | median µs | mean µs | p90 µs | median µs, records entering a new page "
        "| bytes written per record | chunk setup µs (per record) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    per_chunk = args.chunk // len(RECORD)
    for how in kinds:
        values = sorted(results[how])
        setup = statistics.median(setups[how])
        print(
            f"| {how} | {statistics.median(values):.0f} | {statistics.fmean(values):.0f} "
            f"| {values[int(len(values) * 0.9)]:.0f} | {statistics.median(firsts[how]):.0f} "
            f"| {statistics.median(bytes_out[how]):,.0f} | {setup:.0f} ({setup / per_chunk:.2f}) |"
        )


if __name__ == "__main__":
    main()
