"""Probe: what else, done between two records, makes the next ``fdatasync`` slower? Run by hand,
never as a test::

    python bench/probe_sync_inode.py [--count 1500] [--rounds 2] [--dir FOLDER]

Each variant writes 400-byte records in place into preallocated zero room (as a journal
segment does, ``persistence/file/segment.py``) and times the ``fdatasync`` after each; before
every write it does one more thing:

* ``nothing``: the floor;
* ``fstat``: ``os.fstat`` of the file (what the segment's "did anyone else change the file"
  check did before every append until issue 15's third pass). With multigrain timestamps
  (Linux 6.13+) a stat marks the ctime as seen, so the next write stamps a fine-grained new
  mtime/ctime and dirties the inode, and the ``fdatasync`` writes the inode too;
* ``lseek``: the file's size from ``lseek(fd, 0, SEEK_END)`` instead (no timestamp seen);
* ``pread``: read one byte at the write position (the segment's other check): the access
  time moves after each mtime change (relatime), which dirties the inode the same way;
* ``pread-noatime``: the same through a descriptor with ``O_NOATIME``;
* ``stat-folder``: ``os.lstat`` of the folder (the journal's folder check): another inode.

The inode writes themselves are seen with the kernel's tracepoints (as root): under
``perf stat -e ext4:ext4_mark_inode_dirty,block:block_rq_issue -- python <this probe>`` the
``fstat`` variant dirties the inode at every write, and each sync issues one more block request
(3 per record against 2).
"""

from __future__ import annotations

import argparse
import fcntl
import os
import statistics
import tempfile
import time
from pathlib import Path

PAGE = 4096
RECORD = b"x" * 399 + b"\n"
VARIANTS = ["nothing", "fstat", "lseek", "pread", "pread-noatime", "stat-folder"]


def probe(folder: Path, variant: str, count: int) -> list[float]:
    path = folder / f"probe-{variant}"
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        if variant == "pread-noatime":
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NOATIME)
        for offset in range(0, len(RECORD) * count + PAGE, PAGE):
            os.pwrite(fd, bytes(PAGE), offset)
        os.fsync(fd)
        samples = []
        for i in range(count):
            offset = i * len(RECORD)
            if variant == "fstat":
                os.fstat(fd)
            elif variant == "lseek":
                os.lseek(fd, 0, os.SEEK_END)
            elif variant.startswith("pread"):
                os.pread(fd, 1, offset)
            elif variant == "stat-folder":
                os.lstat(folder)
            os.pwrite(fd, RECORD, offset)
            begin = time.perf_counter()
            os.fdatasync(fd)
            samples.append((time.perf_counter() - begin) * 1e6)
        return samples
    finally:
        os.close(fd)
        path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--count", type=int, default=1500)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--dir", default=None, help="folder on the disk to probe")
    args = parser.parse_args()
    results: dict[str, list[float]] = {v: [] for v in VARIANTS}
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        for _ in range(args.rounds):  # interleaved, so load changes hit every variant alike
            for variant in VARIANTS:
                results[variant] += probe(Path(tmp), variant, args.count)
    print(f"load: {os.getloadavg()}; {args.count} records of {len(RECORD)} bytes x {args.rounds}")
    print("| before each write | fdatasync median µs | mean µs | p90 µs |")
    print("|---|---:|---:|---:|")
    for variant in VARIANTS:
        values = sorted(results[variant])
        print(
            f"| {variant} | {statistics.median(values):.0f} | {statistics.fmean(values):.0f} "
            f"| {values[int(len(values) * 0.9)]:.0f} |"
        )


if __name__ == "__main__":
    main()
