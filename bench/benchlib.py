"""Helpers shared by the orchestrating scripts (``bench_peers.py``, ``bench_durable.py``).

``RESULTS.md`` holds one generated section per script, between ``<!-- NAME: begin -->`` and
``<!-- NAME: end -->``; each script rewrites only its own section. Everything below
``KEEP_MARKER`` is hand-written and kept.
"""

from __future__ import annotations

import hashlib
import os
import platform
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
RESULTS = HERE / "RESULTS.md"
KEEP_MARKER = "<!-- Everything below this line is hand-written; the scripts keep it. -->"
OLD_KEEP_MARKER = "<!-- Everything below this line is hand-written; the script keeps it. -->"
TITLE = """# Benchmarks

Three scripts write this file, each its own section; run them from the repository root (see
`bench/README.md`):

- `.venv/bin/python bench/bench_peers.py`: vibe-aigc side by side with the systems users would
  pick instead (vibe-aigc 0.7.1 from PyPI, LangGraph + SqliteSaver, DBOS Transact), each in
  its own virtual environment;
- `.venv/bin/python bench/bench_durable.py`: vibe-aigc alone, in depth (what the fsync costs
  and what the library's own work costs);
- `.venv/bin/python bench/bench_scale.py`: 10k-100k-node plans, crash at 90 % and resume,
  peak memory (two source trees side by side with `--tree`);
- `bench/bench_sql.py`: the store contract's append on file, SQLite and PostgreSQL;
- `bench/bench_sql_peers.py`: the SQL stores side by side with LangGraph and DBOS on the same
  databases.
"""


def spread(values: list[float], fmt: str = "{:.0f}") -> str:
    """``median [min–max]`` (just the value for one sample)."""
    med = statistics.median(values)
    if len(values) == 1:
        return fmt.format(med)
    return f"{fmt.format(med)} [{fmt.format(min(values))}–{fmt.format(max(values))}]"


def fsync_cost(folder: Path, count: int) -> list[float]:
    """µs per write(200 bytes) + fsync on an append-only file in ``folder``."""
    path = folder / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    samples = []
    try:
        for _ in range(count):
            start = time.perf_counter()
            os.write(fd, b"x" * 199 + b"\n")
            os.fsync(fd)
            samples.append((time.perf_counter() - start) * 1e6)
    finally:
        os.close(fd)
        path.unlink()
    return samples


def fsync_rows(runs: list[tuple[str, list[float]]]) -> list[str]:
    rows = [
        "| when | samples | median µs | p10 µs | p90 µs | max µs |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for when, values in runs:
        dec = statistics.quantiles(values, n=10)
        rows.append(
            f"| {when} | {len(values)} | {statistics.median(values):.0f} | "
            f"{dec[0]:.0f} | {dec[-1]:.0f} | {max(values):.0f} |"
        )
    return rows


def _run(*cmd: str) -> str:
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    return proc.stdout.strip()


def source_state() -> str:
    """The commit, whether src/ tests/ pyproject.toml differ from it, and a hash of src/.

    Read-only git calls (``--no-optional-locks``: not even the index's stat cache is written).
    """
    git = ("git", "--no-optional-locks", "-C", str(REPO))
    commit = _run(*git, "rev-parse", "--short", "HEAD") or "?"
    dirty = _run(*git, "status", "--porcelain", "--", "src", "tests", "pyproject.toml")
    changed = len(dirty.splitlines())
    digest = hashlib.sha256()
    for path in sorted((REPO / "src").rglob("*.py")):
        digest.update(str(path.relative_to(REPO)).encode() + b"\0" + path.read_bytes())
    state = f"{changed} uncommitted file(s) in src/, tests/, pyproject.toml" if changed else "clean"
    return f"commit {commit}, {state}; sha256 of src/**/*.py: {digest.hexdigest()[:12]}"


def machine_info(root: Path) -> list[str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = next(
        (
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        ),
        0,
    )

    def df(path: Path) -> str:
        out = _run("df", "-T", str(path)).splitlines()
        return " ".join(out[-1].split()) if out else "?"

    return [
        f"- Started (UTC): {datetime.now(UTC):%Y-%m-%d %H:%M}",
        f"- CPU: {cpu}; nproc = {os.cpu_count()}; RAM {mem_kb / 2**20:.0f} GiB; kernel "
        f"{platform.release()}",
        f"- Python {platform.python_version()} ({sys.executable})",
        f"- vibe-aigc source measured: {source_state()}",
        f"- Temp folder {root.parent} (`df -T`): `{df(root)}`",
    ]


def write_section(name: str, text: str, out: Path = RESULTS) -> None:
    """Replace the section ``name`` of ``out`` (add it if missing), keeping everything else."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    block = f"{begin}\n{text.strip()}\n{end}\n"
    current = out.read_text() if out.exists() else ""
    if begin in current and end in current:
        head, rest = current.split(begin, 1)
        tail = rest.split(end, 1)[1].lstrip("\n")
        out.write_text(f"{head}{block}\n{tail}")
        return
    # first write in this layout: the title, the section, then what was hand-written
    kept = ""
    for marker in (KEEP_MARKER, OLD_KEEP_MARKER):
        if marker in current:
            kept = current.split(marker, 1)[1]
            current = current.split(marker, 1)[0]
            break
    sections = []
    for other in (
        "bench_peers.py",
        "bench_durable.py",
        "bench_scale.py",
        "bench_sql.py",
        "bench_sql_peers.py",
    ):
        ob, oe = f"<!-- {other}: begin -->", f"<!-- {other}: end -->"
        if other == name:
            sections.append(block)
        elif ob in current and oe in current:
            sections.append(ob + current.split(ob, 1)[1].split(oe, 1)[0] + oe + "\n")
    out.write_text(f"{TITLE}\n" + "\n".join(sections) + f"\n{KEEP_MARKER}{kept or chr(10)}")
