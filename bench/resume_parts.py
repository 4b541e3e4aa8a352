"""The resume target's floor, part by part (run by ``bench_scale.py`` in a worker process).

A resume of a chain of N crashed at 90 % must, whatever the library does, beyond the fresh run
of N / 10 it is compared with: check the caller's larger plan (its graph and its validation),
spell its stored text (to tell an unchanged plan from an edited one), read back the 0.9 N
journal lines (each one's checksum, the JSON, a ``NodeResult`` per line: the public API hands
every one back) and write them into one end snapshot. :func:`parts` times the cheapest form of
each in this process on the crashed folder's real journal (read only): the whole journal parsed
in one call of the standard library's C scanner, with no hook; results built by the library's
direct builder, or with nothing checked at all when that is cheaper; the snapshot as one join,
one checksum, one write and one fsync. The graph and the plan text are timed on the whole plan
and counted at 0.9 of it (the fresh N / 10 run pays the other tenth).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any


def parts(folder: str, plan: Any) -> dict[str, float]:
    """Seconds of each part (see the module docstring) and their ``sum``."""
    from vibe_aigc.bulk import bulk_load
    from vibe_aigc.models import checked_graph
    from vibe_aigc.persistence.file.segment import examine
    from vibe_aigc.runs.plantext import plan_text
    from vibe_aigc.runs.stored import direct_result

    bare = _bare_builder()
    lines: list[bytes] = []
    for path in sorted(Path(folder).glob("*/journal-*.jsonl")):
        raw = path.read_bytes()  # its complete lines, as the journal's reader finds them
        lines += raw[: examine(raw).valid_end].splitlines()
    out: dict[str, float] = {}
    with bulk_load():  # the collector paused, as in the library's own loads
        begin = time.perf_counter()
        problems, _graph = checked_graph(plan)
        out["graph"] = (time.perf_counter() - begin) * 0.9
        assert not problems, problems
        begin = time.perf_counter()
        assert plan_text(plan) is not None
        out["plan_text"] = (time.perf_counter() - begin) * 0.9
        begin = time.perf_counter()
        for line in lines:
            hashlib.sha256(line).digest()
        out["checksums"] = time.perf_counter() - begin
        begin = time.perf_counter()
        entries = json.loads(b"[" + b",".join(lines) + b"]")
        out["json"] = time.perf_counter() - begin
        begin = time.perf_counter()
        built = [direct_result(e["node_id"], e["result"], resumed=True) for e in entries]
        library = time.perf_counter() - begin
        assert all(r is not None for r in built), "a line the direct builder does not take"
        del built
        begin = time.perf_counter()
        unchecked = [bare(e["result"]) for e in entries]
        out["results"] = min(library, time.perf_counter() - begin)
        del unchecked
        begin = time.perf_counter()
        body = b",".join(lines)
        hashlib.sha256(body).digest()
        probe = Path(folder) / "parts-probe"
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, body)
            os.fsync(fd)
        finally:
            os.close(fd)
            probe.unlink()
        out["snapshot"] = time.perf_counter() - begin
    out["lines"] = len(lines)
    out["sum"] = sum(v for k, v in out.items() if k != "lines")
    return out


def _bare_builder() -> Callable[[dict[str, Any]], Any]:
    """A completed result from its stored dict with nothing checked: the least any resume
    does per line (timed beside the library's checked builder; the cheaper one counts)."""
    from vibe_aigc.lean import lean_build, shared_fields_set
    from vibe_aigc.results import ExecutionStatus, NodeResult

    fields = shared_fields_set(set(NodeResult.model_fields))
    done, when = ExecutionStatus.COMPLETED, datetime.fromisoformat

    def build(r: dict[str, Any]) -> Any:
        values = {
            "node_id": r["node_id"],
            "status": done,
            "output": r["output"],
            "error": None,
            "attempts": r["attempts"],
            "started_at": when(r["started_at"]),
            "completed_at": when(r["completed_at"]),
            "duration": r["duration"],
            "usage": None,
            "resumed": True,
        }
        return lean_build(NodeResult, values, fields)

    return build
