"""The file store on disk: layout, modes, corruption, fuzzing, migration, traversal, symlinks."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import stat
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store_records import sealed
from vibe_aigc.errors import (
    CheckpointCorruptError,
    CheckpointEncodeError,
    CheckpointError,
    CheckpointNotFoundError,
    CheckpointWriteError,
    InvalidIdError,
    UnsupportedSchemaError,
)
from vibe_aigc.persistence import (
    SCHEMA_VERSION,
    FileCheckpointStore,
    JsonCodec,
    WorkflowPersistenceManager,
    new_checkpoint_id,
)

GUIDE_KEYS = [
    "checkpoint_id",
    "plan_id",
    "created_at",
    "vibe",
    "workflow_plan",
    "completed_nodes",
    "node_results",
    "pending_nodes",
]


def record(
    plan_id: str = "plan-a", checkpoint_id: str | None = None, **extra: Any
) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "checkpoint_id": checkpoint_id or new_checkpoint_id(),
        "plan_id": plan_id,
        "created_at": "2026-02-05T10:30:00Z",
        "vibe": {"description": "rainy night", "style": None, "constraints": []},
        "workflow_plan": {"id": plan_id, "root_nodes": []},
        "completed_nodes": ["n1"],
        "node_results": {"n1": {"status": "completed", "output": "ü" * 40}},
        "pending_nodes": ["n2"],
        "state": "running",
        "total_nodes": 2,
        "run_id": "run-1",
        "journal_seq": 0,
    }
    rec.update(extra)
    return rec


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "cps"


@pytest.fixture
def store(root: Path) -> FileCheckpointStore:
    return FileCheckpointStore(root)


def tree(path: Path) -> set[str]:
    return {str(p.relative_to(path)) for p in path.rglob("*")} if path.exists() else set()


def canonical_sha(obj: dict[str, Any]) -> str:
    data = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + hashlib.sha256(data.encode("utf-8")).hexdigest()


# ---------------------------------------------------------------------- layout


def test_construction_creates_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    FileCheckpointStore(tmp_path / "cps")
    monkeypatch.chdir(tmp_path)
    manager = WorkflowPersistenceManager()
    assert manager.checkpoint_dir == tmp_path / ".vibe_checkpoints"
    manager.list_checkpoints()
    assert list(tmp_path.iterdir()) == []


def test_layout_modes_and_keys(store: FileCheckpointStore, root: Path) -> None:
    rec = record()
    store.write_checkpoint(rec)
    store.append_journal("plan-a", [{"seq": 0}])
    with store.lock("plan-a"):
        pass
    path = root / "plan-a" / f"{rec['checkpoint_id']}.json"
    assert sorted(p.name for p in (root / "plan-a").iterdir()) == sorted(
        [path.name, "journal-000000000000.jsonl", ".lock", ".vibe-plan"]
    )  # .vibe-plan marks a folder the store made: only such folders are plans
    assert stat.S_IMODE(root.stat().st_mode) == 0o700
    assert stat.S_IMODE((root / "plan-a").stat().st_mode) == 0o700
    for file in (root / "plan-a").iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    data = json.loads(path.read_bytes())
    assert list(data)[:8] == GUIDE_KEYS
    assert data["schema_version"] == SCHEMA_VERSION == 3
    assert list(data)[-2:] == ["checksum", "seal"]
    # independent checks of the documented rules: the checksum hashes the canonical JSON of
    # the rest, the seal every byte before it
    body = {k: v for k, v in data.items() if k not in ("checksum", "seal")}
    assert data["checksum"] == canonical_sha(body)
    raw = path.read_bytes()
    cut = raw.rindex(b'"seal": ')
    assert raw[cut:] == f'"seal": "{data["seal"]}"\n}}\n'.encode()
    assert data["seal"] == "sha256:" + hashlib.sha256(raw[:cut]).hexdigest()
    assert path.read_bytes().startswith(b'{\n  "checkpoint_id": ')


def test_no_temp_files_left(store: FileCheckpointStore, root: Path) -> None:
    for _ in range(5):
        store.write_checkpoint(record())
    assert not [p for p in (root / "plan-a").iterdir() if p.name.startswith(".tmp-")]


# ---------------------------------------------------------------------- corruption


def written(store: FileCheckpointStore, root: Path) -> tuple[dict[str, Any], Path]:
    rec = record()
    store.write_checkpoint(rec)
    return rec, root / "plan-a" / f"{rec['checkpoint_id']}.json"


def assert_corrupt(store: FileCheckpointStore, rec: dict[str, Any], path: Path, why: str) -> None:
    with pytest.raises(CheckpointCorruptError) as info:
        store.read_checkpoint(rec["checkpoint_id"])
    assert info.value.path == str(path)
    assert str(path) in str(info.value)
    assert why in info.value.reason
    [entry] = [e for e in store.list_checkpoints() if e["checkpoint_id"] == rec["checkpoint_id"]]
    assert entry["corrupt"] is True
    assert entry["plan_id"] == "plan-a"
    assert "path" not in entry  # the error names the file; summaries name no files
    assert why in entry["error"]


def test_truncated(store: FileCheckpointStore, root: Path) -> None:
    rec, path = written(store, root)
    path.write_bytes(path.read_bytes()[:100])
    assert_corrupt(store, rec, path, "not JSON")


def test_bit_flipped(store: FileCheckpointStore, root: Path) -> None:
    rec, path = written(store, root)
    data = bytearray(path.read_bytes())
    index = data.index("ü".encode()) + 1
    data[index] ^= 0x01  # "ü" becomes "ý": still valid UTF-8 and JSON
    path.write_bytes(bytes(data))
    assert_corrupt(store, rec, path, "checksum mismatch")


def test_garbage(store: FileCheckpointStore, root: Path) -> None:
    rec, path = written(store, root)
    path.write_bytes(b"\xff\xfe\x00garbage")
    assert_corrupt(store, rec, path, "not UTF-8")


def test_empty_file(store: FileCheckpointStore, root: Path) -> None:
    rec, path = written(store, root)
    path.write_bytes(b"")
    assert_corrupt(store, rec, path, "not JSON")


def test_tampered_value_keeps_old_checksum(store: FileCheckpointStore, root: Path) -> None:
    rec, path = written(store, root)
    data = json.loads(path.read_bytes())
    data["completed_nodes"] = ["n1", "n2"]
    path.write_text(json.dumps(data, indent=2))
    assert_corrupt(store, rec, path, "checksum mismatch")


def test_tampered_with_recomputed_checksum_but_bad_shape(
    store: FileCheckpointStore, root: Path
) -> None:
    rec, path = written(store, root)
    data = json.loads(path.read_bytes())
    data["completed_nodes"] = "n1"
    path.write_bytes(sealed(data))
    assert_corrupt(store, rec, path, "'completed_nodes' must be a list of strings")


def test_spliced_from_another_plan(store: FileCheckpointStore, root: Path) -> None:
    rec, path = written(store, root)
    store.write_checkpoint(record("plan-b"))
    spliced = root / "plan-b" / path.name
    shutil.copy(path, spliced)
    with pytest.raises(CheckpointCorruptError) as info:
        store.read_checkpoint(rec["checkpoint_id"], "plan-b")
    assert "spliced" in info.value.reason
    assert info.value.path == str(spliced)
    [entry] = [e for e in store.list_checkpoints("plan-b") if e["checkpoint_id"] == path.stem]
    assert entry["corrupt"] is True
    assert store.read_checkpoint(rec["checkpoint_id"], "plan-a") == rec


def test_renamed_file_is_spliced(store: FileCheckpointStore, root: Path) -> None:
    _rec, path = written(store, root)
    other = path.with_name("cp-renamed.json")
    path.rename(other)
    with pytest.raises(CheckpointCorruptError, match="spliced"):
        store.read_checkpoint("cp-renamed")


def test_foreign_files_are_ignored(store: FileCheckpointStore, root: Path) -> None:
    rec, _ = written(store, root)
    plan_dir = root / "plan-a"
    (plan_dir / "notes.txt").write_text("hello")
    (plan_dir / "cp-bad name.json").write_text("{}")
    (plan_dir / ".tmp-cp-x.json-123").write_text("half")
    (plan_dir / "cp-folder.json").mkdir()
    (root / "not a plan").mkdir()
    (root / "README").write_text("x")
    listed = store.list_checkpoints()
    assert [e["checkpoint_id"] for e in listed] == [rec["checkpoint_id"]]
    assert store.plan_ids() == ["plan-a"]
    removed = store.delete_plan("plan-a")
    assert str(plan_dir / ".tmp-cp-x.json-123") in removed
    assert (plan_dir / "notes.txt").exists()  # foreign files (and so their folder) stay
    assert str(plan_dir) not in removed


def test_newer_schema(store: FileCheckpointStore, root: Path) -> None:
    rec, path = written(store, root)
    data = json.loads(path.read_bytes())
    del data["checksum"], data["seal"]
    data["schema_version"] = SCHEMA_VERSION + 1
    data["checksum"] = canonical_sha(data)  # intact: a newer vibe-aigc's file
    path.write_text(json.dumps(data))
    with pytest.raises(UnsupportedSchemaError) as info:
        store.read_checkpoint(rec["checkpoint_id"])
    assert isinstance(info.value, CheckpointCorruptError)
    assert "newer vibe-aigc" in str(info.value) and "upgrade" in str(info.value)
    [entry] = store.list_checkpoints()
    assert entry["corrupt"] is True and "upgrade" in entry["error"]


def test_migration_from_v1(store: FileCheckpointStore, root: Path) -> None:
    plan_dir = root / "plan-old"
    plan_dir.mkdir(parents=True)
    v1: dict[str, Any] = {
        "checkpoint_id": "cp-abc123",
        "plan_id": "plan-old",
        "created_at": "2025-01-01T00:00:00Z",
        "vibe": {"description": "old", "style": None, "constraints": []},
        "workflow_plan": {"id": "plan-old", "root_nodes": []},
        "completed_nodes": ["a", "b"],
        "node_results": {"a": {"status": "completed", "output": 1}},
        "pending_nodes": ["c"],
        "schema_version": 1,
    }
    v1["checksum"] = canonical_sha(v1)
    (plan_dir / "cp-abc123.json").write_text(json.dumps(v1, indent=2))
    done = {**{k: v for k, v in v1.items() if k != "checksum"}, "checkpoint_id": "cp-done"}
    done["pending_nodes"] = []
    done["checksum"] = canonical_sha(done)
    (plan_dir / "cp-done.json").write_text(json.dumps(done))

    loaded = store.read_checkpoint("cp-abc123")
    expected = {k: v for k, v in v1.items() if k not in ("checksum", "schema_version")}
    expected.update(state="interrupted", total_nodes=3, run_id="legacy", journal_seq=0)
    assert loaded == expected
    assert store.read_checkpoint("cp-done")["state"] == "completed"
    assert store.read_checkpoint("cp-done")["total_nodes"] == 2
    listed = {e["checkpoint_id"]: e for e in store.list_checkpoints("plan-old")}
    assert listed["cp-abc123"]["completed_nodes"] == 2
    assert listed["cp-abc123"]["total_nodes"] == 3
    # re-saving writes the current version
    store.write_checkpoint(loaded)
    rewritten = json.loads((plan_dir / "cp-abc123.json").read_bytes())
    assert rewritten["schema_version"] == SCHEMA_VERSION
    assert store.read_checkpoint("cp-abc123") == loaded


def test_v2_files_still_read(store: FileCheckpointStore, root: Path) -> None:
    """Written by 0.8 (schema v2: a checksum over canonical JSON, no seal)."""
    rec, path = written(store, root)
    data = json.loads(path.read_bytes())
    del data["checksum"], data["seal"]
    data["schema_version"] = 2
    v2 = {"checksum": canonical_sha(data), **dict(reversed(list(data.items())))}
    path.write_text(json.dumps(v2))
    assert store.read_checkpoint(rec["checkpoint_id"]) == rec
    v2["node_results"] = {"n1": {"status": "completed", "output": "changed"}}
    path.write_text(json.dumps(v2))
    assert_corrupt(store, rec, path, "checksum mismatch")
    store.write_checkpoint(rec)  # written again: as v3
    assert json.loads(path.read_bytes())["schema_version"] == 3


@pytest.mark.parametrize(
    ("edit", "reads"),
    [
        (lambda raw: raw.replace(b'"state": "running"', b'"state": "stopped"'), False),
        (lambda raw: raw.replace(b'"seal": "sha256:', b'"seal": "sha256:0'), True),
        (lambda raw: raw.replace(b'"checkpoint_id": ', b'"checkpoint_id":  '), True),
        (lambda raw: raw + b"\n", True),
        (lambda raw: raw.replace(b"\n", b"\r\n"), True),
        (lambda raw: raw.replace(b'"seal": "sha256:', b'"seal": "SHA256:'), True),
    ],
    ids=["value", "seal-itself", "whitespace", "trailing-newline", "crlf", "seal-tag"],
)
def test_seal_covers_the_bytes_and_the_checksum_the_content(
    store: FileCheckpointStore, root: Path, edit: Any, reads: bool
) -> None:
    """Any byte changed breaks the seal; then the canonical checksum decides, so an edit of
    the layout alone still reads and an edit of the content is corrupt."""
    rec, path = written(store, root)
    raw = path.read_bytes()
    changed = edit(raw)
    assert changed != raw
    path.write_bytes(changed)
    if reads:
        assert store.read_checkpoint(rec["checkpoint_id"]) == rec
    else:
        assert_corrupt(store, rec, path, "checksum mismatch")


def test_a_valid_seal_vouches_for_the_bytes(store: FileCheckpointStore, root: Path) -> None:
    """The codec trusts a holding seal without re-encoding: a hand-written file sealed by the
    documented rule reads; with a stale checksum but a fresh seal too (the seal was made over
    those very bytes); a seal that is not the last entry is no seal."""
    rec, path = written(store, root)
    data = json.loads(path.read_bytes())
    path.write_bytes(sealed(data))
    assert store.read_checkpoint(rec["checkpoint_id"]) == rec
    moved = {"seal": data.pop("seal"), **data}
    moved["state"] = "done"
    path.write_text(json.dumps(moved, indent=2) + "\n")
    assert_corrupt(store, rec, path, "checksum mismatch")
    for bad in (5, None, "sha256:" + "0" * 64):
        data["seal"] = bad
        path.write_text(json.dumps(data, indent=2))
        assert store.read_checkpoint(rec["checkpoint_id"]) == rec  # the checksum decides


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("NaN", "not JSON"),
        ("-Infinity", "not JSON"),
        ("1e400", "not JSON"),
        ('"\\ud800"', "cannot be checksummed"),
        ('"a\\uDBFF"', "cannot be checksummed"),
    ],
)
def test_a_sealed_file_is_refused_what_the_checksum_refuses(
    store: FileCheckpointStore, root: Path, value: str, reason: str
) -> None:
    """A seal skips the canonical re-encoding, not the refusals it would make."""
    rec, path = written(store, root)
    text = sealed(json.loads(path.read_bytes())).decode()
    text = text.replace('"output": "', f'"bad": {value}, "output": "', 1)
    prefix = text[: text.rindex('"seal": ')].encode()
    digest = hashlib.sha256(prefix).hexdigest()
    path.write_bytes(prefix + b'"seal": "sha256:' + digest.encode() + b'"\n}\n')
    assert_corrupt(store, rec, path, reason)


def test_a_damaged_file_with_a_repeated_key_is_refused(
    store: FileCheckpointStore, root: Path
) -> None:
    """Only a sealed file skips the duplicate-key check; a changed one gets it."""
    rec, path = written(store, root)
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b'"state": "running"', b'"state": "done", "state": "running"'))
    assert_corrupt(store, rec, path, "duplicate key 'state'")


def test_v1_with_bad_shape_is_corrupt(store: FileCheckpointStore, root: Path) -> None:
    plan_dir = root / "plan-old"
    plan_dir.mkdir(parents=True)
    v1: dict[str, Any] = {"checkpoint_id": "cp-x", "plan_id": "plan-old", "schema_version": 1}
    v1["checksum"] = canonical_sha(v1)
    (plan_dir / "cp-x.json").write_text(json.dumps(v1))
    with pytest.raises(CheckpointCorruptError, match="missing required key"):
        store.read_checkpoint("cp-x")


# ---------------------------------------------------------------------- fuzzing

_CODEC = JsonCodec()
_REC = record(checkpoint_id="cp-fuzz")
_DATA = _CODEC.encode(_REC)


@settings(max_examples=300)
@given(st.integers(0, len(_DATA)))
def test_fuzz_truncation(cut: int) -> None:
    with contextlib.suppress(CheckpointCorruptError):
        assert _CODEC.decode(_DATA[:cut], "f") == _REC


@settings(max_examples=500)
@given(st.integers(0, len(_DATA) * 8 - 1))
def test_fuzz_bit_flip(bit: int) -> None:
    data = bytearray(_DATA)
    data[bit // 8] ^= 1 << (bit % 8)
    with contextlib.suppress(CheckpointCorruptError):
        assert _CODEC.decode(bytes(data), "f") == _REC


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_fuzz_random_bytes(data: bytes) -> None:
    with pytest.raises(CheckpointCorruptError):
        _CODEC.decode(data, "f")


@settings(max_examples=300)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
        lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    )
)
def test_fuzz_json_documents(value: Any) -> None:
    data = json.dumps(value).encode()
    with pytest.raises(CheckpointCorruptError):
        _CODEC.decode(data, "f")


@settings(
    max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None
)
@given(cut=st.integers(0, len(_DATA)), bit=st.integers(-1, len(_DATA) * 8 - 1))
def test_fuzz_through_the_store(tmp_path: Path, cut: int, bit: int) -> None:
    store = FileCheckpointStore(tmp_path / "fz")
    store.write_checkpoint(_REC)
    path = tmp_path / "fz" / "plan-a" / "cp-fuzz.json"
    data = bytearray(path.read_bytes()[:cut])
    if 0 <= bit < len(data) * 8:
        data[bit // 8] ^= 1 << (bit % 8)
    path.write_bytes(bytes(data))
    try:
        assert store.read_checkpoint("cp-fuzz") == _REC
    except CheckpointCorruptError as exc:
        assert exc.path == str(path)
    assert len(store.list_checkpoints()) == 1


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "not JSON"),
        (b'{"a": NaN}', "not JSON"),
        (b'{"a": 1, "a": 2}', "duplicate key"),
        (b"1" * 5000, "not JSON"),
        (b"[]", "expected a JSON object"),
        (b"{}", "missing 'schema_version'"),
        (b'{"schema_version": "2"}', "'schema_version' must be an integer"),
        (b'{"schema_version": true}', "'schema_version' must be an integer"),
        (b'{"schema_version": 0}', "unknown schema_version"),
        (b'{"schema_version": 2}', "missing checksum"),
        (b'{"schema_version": 2, "checksum": 5}', "is not a string"),
        (b'{"schema_version": 2, "checksum": "sha256:00"}', "checksum mismatch"),
        (b'{"schema_version": 2, "x": "\\ud800", "checksum": "x"}', "cannot be checksummed"),
    ],
)
def test_decode_reasons(data: bytes, why: str) -> None:
    with pytest.raises(CheckpointCorruptError) as info:
        _CODEC.decode(data, "src.json")
    assert why in info.value.reason
    assert info.value.path == "src.json"


# ---------------------------------------------------------------------- journal files


def segment(root: Path, start: int = 0) -> Path:
    return root / "plan-a" / f"journal-{start:012d}.jsonl"


def data_of(path: Path) -> bytes:
    """A segment's data: its bytes up to the first NUL (the zero room after it is not data)."""
    return path.read_bytes().split(b"\0", 1)[0]


def test_journal_torn_last_line_dropped(store: FileCheckpointStore, root: Path) -> None:
    store.append_journal("plan-a", [{"seq": 0}, {"seq": 1}, {"seq": 2}])
    path = segment(root)
    path.write_bytes(data_of(path)[:-10])
    records, warnings = store.read_journal("plan-a")
    assert [r["seq"] for r in records] == [0, 1]
    assert len(warnings) == 1 and "torn last line" in warnings[0] and str(path) in warnings[0]
    # the next append repairs the tail first
    store.append_journal("plan-a", [{"seq": 3}])
    records, warnings = store.read_journal("plan-a")
    assert [r["seq"] for r in records] == [0, 1, 3]
    assert warnings == []
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_journal_damaged_last_line_dropped(store: FileCheckpointStore, root: Path) -> None:
    store.append_journal("plan-a", [{"seq": 0}, {"seq": 1}])
    path = segment(root)
    path.write_bytes(path.read_bytes().replace(b'"seq":1', b'"seq":7'))
    records, warnings = store.read_journal("plan-a")
    assert [r["seq"] for r in records] == [0]
    assert "line 2" in warnings[0] and "checksum mismatch" in warnings[0]


def test_journal_corrupt_middle_line(store: FileCheckpointStore, root: Path) -> None:
    store.append_journal("plan-a", [{"seq": 0}, {"seq": 1}, {"seq": 2}])
    path = segment(root)
    lines = path.read_bytes().split(b"\n")
    lines[1] = lines[1][:-3] + b"xx}"
    path.write_bytes(b"\n".join(lines))
    with pytest.raises(CheckpointCorruptError) as info:
        store.read_journal("plan-a")
    assert info.value.path == str(path)
    assert info.value.reason.startswith("line 2: ")


def test_journal_torn_line_in_older_segment(store: FileCheckpointStore, root: Path) -> None:
    store.append_journal("plan-a", [{"seq": 0}, {"seq": 1}])
    store.rotate_journal("plan-a", 2)
    store.append_journal("plan-a", [{"seq": 2}])
    old = segment(root)
    old.write_bytes(data_of(old)[:-5])
    with pytest.raises(CheckpointCorruptError, match="line 2: incomplete line"):
        store.read_journal("plan-a")


def test_rotate_repairs_torn_tail(store: FileCheckpointStore, root: Path) -> None:
    store.append_journal("plan-a", [{"seq": 0}, {"seq": 1}])
    old = segment(root)
    old.write_bytes(data_of(old)[:-5])
    store.rotate_journal("plan-a", 2)
    store.append_journal("plan-a", [{"seq": 2}])
    assert store.read_journal("plan-a") == ([{"seq": 0}, {"seq": 2}], [])


@pytest.mark.parametrize(
    ("lines", "why"),
    [
        ([{"seq": 1}, {"seq": 1}, {"seq": 5}], "seq 1 does not follow seq 1"),
        ([{"seq": 3}, {"seq": 2}, {"seq": 5}], "seq 2 does not follow seq 3"),
    ],
)
def test_journal_seq_order_checked(
    store: FileCheckpointStore, root: Path, lines: list[dict[str, Any]], why: str
) -> None:
    codec = JsonCodec()
    path = segment(root)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"".join(codec.encode_line(r) for r in lines))
    with pytest.raises(CheckpointCorruptError, match=why):
        store.read_journal("plan-a")


def test_journal_line_format(store: FileCheckpointStore, root: Path) -> None:
    store.append_journal("plan-a", [{"seq": 0, "node_id": "n1"}])
    raw = data_of(segment(root))
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    line = json.loads(raw)
    body = {k: v for k, v in line.items() if k != "c"}
    assert line["c"] == canonical_sha(body)
    assert body == {"seq": 0, "node_id": "n1", "v": 1}


# ---------------------------------------------------------------------- traversal

BAD_PLAN_IDS: list[Any] = [
    "../x",
    "/abs",
    "a/b",
    "..",
    ".",
    "x\x00",
    "ａ",
    "a" * 200,
    "",
    "a\\b",
    "x\n",
    None,
    5,
]
BAD_CHECKPOINT_IDS: list[Any] = [
    "../x",
    "/etc/passwd",
    "cp-a/b",
    "cp-..",
    "cp-x\x00",
    "cp-ａ",
    "cp-" + "a" * 97,
    "cp-",
    "abc123",
    "cp-x\n",
    None,
    5,
]


def calls_with_plan_id(store: FileCheckpointStore, bad: Any) -> list[Any]:
    good_cp = "cp-abc123"
    optional = [  # None means "every plan" for these
        lambda: store.read_checkpoint(good_cp, bad),
        lambda: store.list_checkpoints(bad),
        lambda: store.delete_checkpoint(good_cp, bad),
    ]
    return [
        *(optional if bad is not None else []),
        lambda: store.write_checkpoint({**record(), "plan_id": bad}),
        lambda: store.latest_checkpoint_ids(bad),
        lambda: store.prune(bad, 1),
        lambda: store.delete_plan(bad),
        lambda: store.append_journal(bad, [{"seq": 0}]),
        lambda: store.read_journal(bad),
        lambda: store.rotate_journal(bad, 0),
        lambda: store.compact_journal(bad, 0),
        lambda: store.lock(bad).__enter__(),
        lambda: store.artifacts_dir(bad),
        lambda: WorkflowPersistenceManager(store.root).save_checkpoint(bad, record()),
    ]


def calls_with_checkpoint_id(store: FileCheckpointStore, bad: Any) -> list[Any]:
    manager = WorkflowPersistenceManager(store.root)
    return [
        lambda: store.write_checkpoint({**record(), "checkpoint_id": bad}),
        lambda: store.read_checkpoint(bad),
        lambda: store.read_checkpoint(bad, "plan-a"),
        lambda: store.delete_checkpoint(bad),
        lambda: manager.load_checkpoint(bad),
        lambda: manager.delete_checkpoint(bad),
    ]


def test_traversal_ids_rejected_and_nothing_created(tmp_path: Path) -> None:
    store = FileCheckpointStore(tmp_path / "cps")
    before = (tmp_path.parent.iterdir(), tree(tmp_path))
    before_parent = sorted(p.name for p in before[0])
    count = 0
    for bad in BAD_PLAN_IDS:
        for call in calls_with_plan_id(store, bad):
            with pytest.raises(InvalidIdError):
                call()
            count += 1
    for bad in BAD_CHECKPOINT_IDS:
        for call in calls_with_checkpoint_id(store, bad):
            with pytest.raises(InvalidIdError):
                call()
            count += 1
    assert count == len(BAD_PLAN_IDS) * 14 - 3 + len(BAD_CHECKPOINT_IDS) * 6
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == before_parent
    assert tree(tmp_path) == before[1] == set()
    assert not os.path.exists("/abs")


def test_invalid_id_is_a_value_error() -> None:
    store = FileCheckpointStore("/nonexistent/never")
    with pytest.raises(ValueError, match="invalid checkpoint id"):
        store.read_checkpoint("../../etc/passwd")


# ---------------------------------------------------------------------- symlinks


def test_symlinked_plan_folder_refused(
    store: FileCheckpointStore, root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    rec = record("plan-x", "cp-abc123")
    (outside / "cp-abc123.json").write_bytes(JsonCodec().encode(rec))
    root.mkdir()
    (root / "plan-x").symlink_to(outside, target_is_directory=True)
    before = tree(outside)

    with pytest.raises(CheckpointCorruptError, match="symbolic link"):
        store.read_checkpoint("cp-abc123", "plan-x")
    with pytest.raises(CheckpointNotFoundError):  # not a plan when searching
        store.read_checkpoint("cp-abc123")
    assert store.plan_ids() == []
    assert store.list_checkpoints() == []
    with pytest.raises(CheckpointError):
        store.list_checkpoints("plan-x")
    with pytest.raises(CheckpointWriteError):
        store.write_checkpoint(record("plan-x"))
    with pytest.raises(CheckpointWriteError):
        store.append_journal("plan-x", [{"seq": 0}])
    with pytest.raises(CheckpointWriteError):
        store.rotate_journal("plan-x", 0)
    with pytest.raises(CheckpointWriteError), store.lock("plan-x"):
        pass  # pragma: no cover
    with pytest.raises(CheckpointError):
        store.delete_plan("plan-x")
    with pytest.raises(CheckpointError):
        store.read_journal("plan-x")
    assert tree(outside) == before


def test_symlinked_checkpoint_file_refused(
    store: FileCheckpointStore, root: Path, tmp_path: Path
) -> None:
    store.write_checkpoint(record("plan-a"))
    secret = tmp_path / "secret.json"
    rec = record("plan-a", "cp-link")
    secret.write_bytes(JsonCodec().encode(rec))
    link = root / "plan-a" / "cp-link.json"
    link.symlink_to(secret)
    with pytest.raises(CheckpointCorruptError, match="symbolic link") as info:
        store.read_checkpoint("cp-link")
    assert info.value.path == str(link)
    [entry] = [e for e in store.list_checkpoints() if e["checkpoint_id"] == "cp-link"]
    assert entry["corrupt"] is True
    original = secret.read_bytes()
    store.write_checkpoint(record("plan-a", "cp-link", state="new"))  # replaces the link
    assert secret.read_bytes() == original
    assert not link.is_symlink()
    assert store.read_checkpoint("cp-link")["state"] == "new"
    assert store.delete_checkpoint("cp-link")
    assert secret.exists()


def test_symlinked_journal_segment_refused(
    store: FileCheckpointStore, root: Path, tmp_path: Path
) -> None:
    store.write_checkpoint(record("plan-a"))
    target = tmp_path / "target.jsonl"
    target.write_bytes(b"")
    segment(root).symlink_to(target)
    with pytest.raises(CheckpointWriteError):
        store.append_journal("plan-a", [{"seq": 0}])
    with pytest.raises(CheckpointCorruptError, match="symbolic link"):
        store.read_journal("plan-a")
    assert target.read_bytes() == b""


def test_symlinked_root_is_fine(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "link").symlink_to(real, target_is_directory=True)
    store = FileCheckpointStore(tmp_path / "link")
    rec = record()
    store.write_checkpoint(rec)
    assert store.read_checkpoint(rec["checkpoint_id"]) == rec
    assert (real / "plan-a" / f"{rec['checkpoint_id']}.json").exists()


def test_fifo_is_not_read(store: FileCheckpointStore, root: Path) -> None:
    store.write_checkpoint(record())
    os.mkfifo(root / "plan-a" / "cp-fifo.json")
    with pytest.raises(CheckpointCorruptError, match="not a regular file"):
        store.read_checkpoint("cp-fifo")


def test_an_append_must_be_above_the_newest_line_that_decodes(root: Path) -> None:
    """A store that did not write the journal itself (a new process) learns the highest seq
    from the newest line that decodes: lower seqs are refused, a torn last line counts for
    nothing, a line from a newer vibe-aigc stops all appends."""
    FileCheckpointStore(root).append_journal("plan-a", [{"seq": i} for i in range(5)])
    with pytest.raises(CheckpointEncodeError, match="3 is not above 4"):
        FileCheckpointStore(root).append_journal("plan-a", [{"seq": 3}])
    path = root / "plan-a" / "journal-000000000000.jsonl"
    raw = path.read_bytes()
    data = raw[: raw.find(b"\0")] if b"\0" in raw else raw
    line = JsonCodec().encode_line({"seq": 5})
    for torn in (line[:-9], line[:-1]):
        # torn by a crash: inside the record, or just before its newline (the whole record
        # but not a line: a read drops it too)
        path.write_bytes(data + torn)
        with pytest.raises(CheckpointEncodeError, match="4 is not above 4"):
            FileCheckpointStore(root).append_journal("plan-a", [{"seq": 4}])
    FileCheckpointStore(root).append_journal("plan-a", [{"seq": 5, "again": True}])
    entries, _ = FileCheckpointStore(root).read_journal("plan-a")
    assert [e["seq"] for e in entries] == [0, 1, 2, 3, 4, 5] and entries[-1]["again"] is True
    newer_body = {"seq": 9, "v": 99}  # a newer vibe-aigc's line, intact
    newer = json.dumps({**newer_body, "c": canonical_sha(newer_body)}).encode() + b"\n"
    raw = path.read_bytes()
    data = raw[: raw.find(b"\0")] if b"\0" in raw else raw
    path.write_bytes(data + newer)
    with pytest.raises(UnsupportedSchemaError):
        FileCheckpointStore(root).append_journal("plan-a", [{"seq": 10}])


def test_a_damaged_file_naming_a_newer_version_is_damage(
    store: FileCheckpointStore, root: Path
) -> None:
    """A bit flip can turn a version into a higher one: with the file's seal and checksum
    broken too, that is damage, not a newer vibe-aigc's file (which says "upgrade")."""
    rec, path = written(store, root)
    raw = path.read_bytes()
    path.write_bytes(raw.replace(b'"schema_version": 3', b'"schema_version": 7'))
    assert_corrupt(store, rec, path, "checksum mismatch")
    store.append_journal("plan-a", [{"seq": 0}])
    segment = root / "plan-a" / "journal-000000000000.jsonl"
    line = segment.read_bytes().split(b"\n")[0]
    with pytest.raises(CheckpointCorruptError, match="checksum mismatch") as info:
        JsonCodec().decode_line(line.replace(b'"v":1', b'"v":3'), "j")
    assert not isinstance(info.value, UnsupportedSchemaError)
