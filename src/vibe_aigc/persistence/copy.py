"""Copy plans between any two stores (file, SQLite, PostgreSQL): ``vibe-aigc store copy``.

:func:`copy_store` reads every snapshot, journal entry and blob of each plan from ``src``
through the store contract (so every record is decoded and its checksum verified), writes them
to ``dst`` under ``dst``'s lease of the plan, and reads each snapshot back from ``dst`` to
check it arrived equal. A record that fails its check in ``src`` is not copied; it is listed in
:attr:`CopyReport.problems` (and the rest of the plan is still copied). Copying again is safe:
snapshots are overwritten with the same content, entries already in ``dst`` (by seq) and blobs
(by hash) are skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from vibe_aigc.errors import CheckpointCorruptError, VibeError
from vibe_aigc.persistence.blobs import EXTENSIONS, is_artifact_ref
from vibe_aigc.persistence.records import Record
from vibe_aigc.persistence.store import Store


@dataclass
class CopyReport:
    """What :func:`copy_store` did."""

    plans: list[str] = field(default_factory=list)
    snapshots: int = 0
    entries: int = 0
    blobs: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        head = (
            f"copied {len(self.plans)} plan(s): {self.snapshots} snapshot(s), "
            f"{self.entries} journal entr{'y' if self.entries == 1 else 'ies'}, "
            f"{self.blobs} blob(s)"
        )
        if not self.problems:
            return head
        return (
            head
            + f"; {len(self.problems)} problem(s):\n"
            + "\n".join(f"  - {p}" for p in self.problems)
        )


def _refs(value: Any, found: dict[str, dict[str, Any]]) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if is_artifact_ref(item):
                found.setdefault(item["sha256"], item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def _blob_bytes(src: Store, plan_id: str, digest: str, known: dict[str, Any]) -> bytes | None:
    """The blob's bytes; its media type (which a file store needs) from a reference in the
    records, else tried from the known types."""
    candidates = [known[digest]] if digest in known else []
    candidates += [{"sha256": digest, "media_type": m} for m in EXTENSIONS]
    for ref in candidates:
        try:
            return src.blobs.get(plan_id, {"sha256": digest, "media_type": ref["media_type"]})
        except FileNotFoundError:
            continue
    return None


def copy_plan(src: Store, dst: Store, plan_id: str, report: CopyReport) -> None:
    """Copy one plan (see the module docstring)."""
    refs: dict[str, dict[str, Any]] = {}
    snapshots: list[Record] = []
    for checkpoint_id in reversed(src.snapshot_ids(plan_id)):  # oldest first
        try:
            snapshots.append(src.read_snapshot(checkpoint_id, plan_id))
        except CheckpointCorruptError as exc:
            report.problems.append(f"{plan_id}/{checkpoint_id}: not copied: {exc.reason}")
    found = src.read_entries(plan_id)
    if found.damage is not None:
        report.problems.append(
            f"{plan_id}: journal damaged, entries after the damage not copied: {found.damage}"
        )
    digests = src.blobs.digests(plan_id)
    nothing = not snapshots and not found.entries and not digests and found.damage is None
    if nothing and not src.snapshot_ids(plan_id):
        report.problems.append(f"{plan_id}: not in {src.url}; nothing copied")
        return
    for record in [*snapshots, *found.entries]:
        _refs(record, refs)
    with dst.lease(plan_id) as lease:
        for record in snapshots:
            dst.write_snapshot(lease, record)
            if dst.read_snapshot(record["checkpoint_id"], plan_id) != record:
                raise CheckpointCorruptError(
                    f"{dst.url}#{plan_id}/{record['checkpoint_id']}",
                    "the copy does not read back equal to the source",
                )
            report.snapshots += 1
        existing = dst.read_entries(plan_id)
        top = existing.entries[-1]["seq"] if existing.entries else -1
        fresh = [e for e in found.entries if e["seq"] > top]
        if fresh:
            dst.append_entries(lease, fresh)
            report.entries += len(fresh)
    have = set(dst.blobs.digests(plan_id))
    for digest in digests:
        if digest in have:
            continue
        try:
            data = _blob_bytes(src, plan_id, digest, refs)
        except (VibeError, OSError) as exc:  # e.g. bytes that do not match their hash
            report.problems.append(f"{plan_id}/blob {digest}: not copied: {exc}")
            continue
        if data is None:
            report.problems.append(f"{plan_id}/blob {digest}: could not be read; not copied")
            continue
        media_type = refs[digest]["media_type"] if digest in refs else None
        dst.blobs.put(plan_id, data, media_type)
        report.blobs += 1
    report.plans.append(plan_id)


def copy_store(src: Store, dst: Store, plan_ids: list[str] | None = None) -> CopyReport:
    """Copy ``plan_ids`` (default: every plan of ``src``) from ``src`` to ``dst``."""
    report = CopyReport()
    for plan_id in src.plan_ids() if plan_ids is None else plan_ids:
        copy_plan(src, dst, plan_id, report)
    return report
