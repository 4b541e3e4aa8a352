"""Hostile archives for ``import``: every one is refused with ArchiveError, and nothing is
written anywhere (an audit hook records every file the process touches; tree snapshots of the
sandbox before and after must be equal). Through the API and the installed command.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest
from audit import FileAccess
from reliability_kit import LedgerExecutor, build_chaos_plan, tree_state

from vibe_aigc import MetaPlanner
from vibe_aigc.errors import ArchiveError
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.runs.archive import export_archive, import_archive

BIN = Path(sys.executable).with_name("vibe-aigc")
Members = list[tuple[tarfile.TarInfo, bytes]]


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def good(tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The members of a real export of a finished run (with one blob)."""
    root = tmp_path_factory.mktemp("good")
    manager = WorkflowPersistenceManager(root / "store")
    planner = MetaPlanner(persistence_manager=manager, executor=LedgerExecutor(None))
    asyncio.run(planner.execute_with_resume(build_chaos_plan(3, total=12, plan_id="plan-x")))
    manager.blobs.put("plan-x", b"\x89PNG\r\n\x1a\n" + b"pixels", "image/png")
    export_archive(manager, "plan-x", root / "good.tar.gz")
    with tarfile.open(root / "good.tar.gz") as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
        }


def regular(name: str, data: bytes) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def special(name: str, kind: bytes, linkname: str = "") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info, b""


def build(
    good: dict[str, bytes],
    extra: Members = (),  # type: ignore[assignment]
    *,
    edit: Callable[[dict[str, bytes]], None] | None = None,
    manifest_edit: Callable[[dict[str, object]], None] | None = None,
    honest: bool = True,
) -> bytes:
    """An archive of ``good``'s members (edited), plus ``extra`` members; the manifest lists
    what is there (``honest``) unless ``manifest_edit`` makes it lie."""
    files = {k: v for k, v in good.items() if k != "manifest.json"}
    if edit is not None:
        edit(files)
    manifest = json.loads(good["manifest.json"])
    if honest:
        manifest["members"] = {n: {"sha256": sha(d), "size": len(d)} for n, d in files.items()}
        for info, data in extra:
            if info.isreg():
                manifest["members"][info.name] = {"sha256": sha(data), "size": len(data)}
    if manifest_edit is not None:
        manifest_edit(manifest)
    members: Members = [regular("manifest.json", json.dumps(manifest).encode())]
    members += [regular(n, d) for n, d in files.items()]
    members += list(extra)
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz", compresslevel=1) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def first(good: dict[str, bytes], prefix: str) -> str:
    return next(n for n in sorted(good) if n.startswith(prefix))


def _corrupt_checkpoint(files: dict[str, bytes]) -> None:
    name = first(files, "checkpoints/")
    record = json.loads(files[name])
    record["plan_id"] = "plan-other"
    files[name] = json.dumps(record).encode()


def _foreign_journal(files: dict[str, bytes]) -> None:
    lines = files["journal.jsonl"].splitlines()
    entry = json.loads(lines[0])
    entry["plan_id"] = "plan-other"
    files["journal.jsonl"] = b"\n".join([json.dumps(entry).encode(), *lines[1:]]) + b"\n"


def _flip(files: dict[str, bytes]) -> None:
    name = first(files, "checkpoints/")
    files[name] = files[name].replace(b'"completed"', b'"COMPLETED"', 1)  # same size


def _renamed_blob(files: dict[str, bytes]) -> None:
    name = first(files, "blobs/")
    files[name] = files[name] + b"x"  # honest manifest, but the name is not its hash


HEX = "a" * 64
CORPUS: dict[str, Callable[[dict[str, bytes]], bytes]] = {
    "dotdot": lambda g: build(g, [regular("../escape.txt", b"x")]),
    "dotdot-nested": lambda g: build(g, [regular("checkpoints/../../escape.json", b"{}")]),
    "absolute": lambda g: build(g, [regular("/tmp/vibe-abs-escape.json", b"{}")]),
    "backslash": lambda g: build(g, [regular("..\\escape.txt", b"x")]),
    "symlink": lambda g: build(g, [special("checkpoints/cp-link.json", tarfile.SYMTYPE, "/etc")]),
    "hardlink": lambda g: build(g, [special(f"blobs/{HEX}", tarfile.LNKTYPE, "/etc/passwd")]),
    "char-device": lambda g: build(g, [special("journal.jsonl", tarfile.CHRTYPE)]),
    "block-device": lambda g: build(g, [special("lineage.json", tarfile.BLKTYPE)]),
    "fifo": lambda g: build(g, [special("plan.json", tarfile.FIFOTYPE)]),
    "directory": lambda g: build(g, [special("checkpoints", tarfile.DIRTYPE)]),
    "unknown-member": lambda g: build(g, [regular("run.sh", b"rm -rf /")]),
    "duplicate-member": lambda g: build(g, [regular("plan.json", b"{}")]),
    "manifest-sha-lies": lambda g: build(g, edit=_flip, honest=False),
    "manifest-size-lies": lambda g: build(
        g,
        manifest_edit=lambda m: m["members"]["plan.json"].update(size=1),  # type: ignore[index]
    ),
    "manifest-misses-member": lambda g: build(g, [regular(f"blobs/{HEX}", b"x")], honest=False),
    "manifest-lists-absent": lambda g: build(
        g,
        manifest_edit=lambda m: m["members"].update(  # type: ignore[attr-defined]
            {f"blobs/{HEX}": {"sha256": HEX, "size": 1}}
        ),
    ),
    "manifest-unsafe-plan-id": lambda g: build(
        g, manifest_edit=lambda m: m.update(plan_id="../../outside")
    ),
    "manifest-missing": lambda g: _without_manifest(g),
    "blob-name-lies": lambda g: build(g, edit=_renamed_blob),
    "checkpoint-of-another-plan": lambda g: build(g, edit=_corrupt_checkpoint),
    "journal-of-another-plan": lambda g: build(g, edit=_foreign_journal),
    "not-gzip": lambda g: b"PK\x03\x04 this is not a tar.gz at all",
    "truncated": lambda g: build(g)[: len(build(g)) // 2],
    "gzip-of-garbage": lambda g: gzip.compress(b"\x00garbage" * 1000),
}


EXPECTED: dict[str, tuple[str, ...]] = {
    "dotdot": ("'..'",),
    "dotdot-nested": ("'..'",),
    "absolute": ("absolute",),
    "backslash": ("'..'",),
    "symlink": ("a link",),
    "hardlink": ("a link",),
    "char-device": ("device",),
    "block-device": ("device",),
    "fifo": ("pipe",),
    "directory": ("not a regular file",),
    "unknown-member": ("not a member an export writes",),
    "duplicate-member": ("twice",),
    "manifest-sha-lies": ("sha256 differs",),
    "manifest-size-lies": ("size differs",),
    "manifest-misses-member": ("does not list exactly",),
    "manifest-lists-absent": ("does not list exactly",),
    "manifest-unsafe-plan-id": ("not safe",),
    "manifest-missing": ("no manifest",),
    "blob-name-lies": ("sha256 it is named by",),
    "checkpoint-of-another-plan": ("belongs to plan",),
    "journal-of-another-plan": ("belongs to plan",),
    "not-gzip": ("not a readable",),
    "truncated": ("not a readable",),
    "gzip-of-garbage": ("not a readable",),
}


def _without_manifest(good: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, data in good.items():
            if name != "manifest.json":
                info, payload = regular(name, data)
                tar.addfile(info, io.BytesIO(payload))
    return out.getvalue()


def bomb(good: dict[str, bytes], size: int) -> bytes:
    """An honest archive with one blob of ``size`` zero bytes (tiny once compressed)."""
    zeros = bytes(size)
    return build(good, [regular(f"blobs/{sha(zeros)}", zeros)])


def refused_writing_nothing(sandbox: Path, archive: Path, **limits: int) -> ArchiveError:
    target = sandbox / "target"
    manager = WorkflowPersistenceManager(target)
    before = tree_state(sandbox)
    with FileAccess() as seen, pytest.raises(ArchiveError) as info:
        import_archive(manager, archive, **limits)
    assert seen.outside(str(sandbox)) == []
    assert tree_state(sandbox) == before
    assert not target.exists()
    return info.value


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_hostile_archive_is_refused_and_writes_nothing(
    case: str, good: dict[str, bytes], tmp_path: Path
) -> None:
    archive = tmp_path / "hostile.tar.gz"
    archive.write_bytes(CORPUS[case](good))
    error = refused_writing_nothing(tmp_path, archive)
    assert "nothing was written" in str(error) and error.reason
    assert any(word in error.reason for word in EXPECTED[case]), error.reason


def test_decompression_bombs_stop_at_the_limits(good: dict[str, bytes], tmp_path: Path) -> None:
    archive = tmp_path / "bomb.tar.gz"
    archive.write_bytes(bomb(good, 64 << 20))
    assert archive.stat().st_size < (1 << 20)  # 64 MiB of zeros, well under 1 MiB packed
    error = refused_writing_nothing(tmp_path, archive, max_bytes=8 << 20)
    assert "size limit" in error.reason
    many = tmp_path / "many.tar.gz"
    many.write_bytes(build(good))
    error = refused_writing_nothing(tmp_path, many, max_members=3)
    assert "members" in error.reason


def test_the_untouched_archive_imports(good: dict[str, bytes], tmp_path: Path) -> None:
    archive = tmp_path / "good.tar.gz"
    archive.write_bytes(build(good))
    manager = WorkflowPersistenceManager(tmp_path / "target")
    summary = import_archive(manager, archive)
    assert summary["plan_id"] == "plan-x" and summary["blobs"] == 1
    assert manager.list_checkpoints("plan-x")


@pytest.mark.parametrize(
    "case",
    [
        "dotdot",
        "absolute",
        "symlink",
        "hardlink",
        "char-device",
        "manifest-sha-lies",
        "blob-name-lies",
        "not-gzip",
    ],
)
def test_the_command_refuses_hostile_archives_and_writes_nothing(
    case: str, good: dict[str, bytes], tmp_path: Path
) -> None:
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    archive = sandbox / "hostile.tar.gz"
    archive.write_bytes(CORPUS[case](good))
    before = tree_state(tmp_path)
    proc = subprocess.run(
        [str(BIN), "import", str(archive), "--store", str(sandbox / "target")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=sandbox,
        env=os.environ,
    )
    assert proc.returncode == 1 and "refused archive" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert tree_state(tmp_path) == before
