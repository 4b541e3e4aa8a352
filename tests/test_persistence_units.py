"""Ids, codec encoding rules, redaction, and the manager facade."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vibe_aigc import results
from vibe_aigc.errors import (
    CheckpointEncodeError,
    CheckpointLockedError,
    CheckpointNotFoundError,
    ConfigurationError,
    InvalidIdError,
)
from vibe_aigc.persistence import (
    CheckpointStore,
    FileCheckpointStore,
    JsonCodec,
    WorkflowPersistenceManager,
    ids,
    new_checkpoint_id,
)
from vibe_aigc.persistence.codec import MIGRATIONS, SCHEMA_VERSION
from vibe_aigc.persistence.redaction import REDACTED, is_secret_key, redact

# ---------------------------------------------------------------------- ids


def test_checkpoint_id_format_and_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "_now_us", lambda: 1_770_287_400_000_000)
    made = [new_checkpoint_id() for _ in range(50)]
    for value in made:
        assert re.fullmatch(r"cp-[0-9a-f]{13}-[0-9a-f]{4}", value)
        assert ids.validate_checkpoint_id(value) == value
    assert made == sorted(made)
    assert len(set(made)) == 50
    assert int(made[0][3:16], 16) >= 1_770_287_400_000_000


def test_checkpoint_ids_follow_the_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([1_800_000_000_000_000, 1_800_000_000_000_000, 1_700_000_000_000_000])
    monkeypatch.setattr(ids, "_now_us", lambda: next(clock))
    a, b, c = (new_checkpoint_id() for _ in range(3))
    assert a < b < c  # same microsecond and a clock step back still increase
    assert int(b[3:16], 16) == int(a[3:16], 16) + 1


@pytest.mark.parametrize("value", ["plan-001", "a", "A.b_c-d", "x" * 128])
def test_valid_plan_ids(value: str) -> None:
    assert ids.validate_plan_id(value) == value


@pytest.mark.parametrize("value", ["cp-abc123", "cp-a", "cp-" + "z" * 96, "cp-A_b-9"])
def test_valid_checkpoint_ids(value: str) -> None:
    assert ids.validate_checkpoint_id(value) == value


def test_invalid_id_error_fields() -> None:
    with pytest.raises(InvalidIdError) as info:
        ids.validate_checkpoint_id("../x")
    assert info.value.kind == "checkpoint id"
    assert info.value.value == "../x"
    assert "cp-" in info.value.rule


# ---------------------------------------------------------------------- codec


def body(**extra: Any) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "checkpoint_id": "cp-1",
        "plan_id": "p",
        "created_at": "t",
        "vibe": {},
        "workflow_plan": {},
        "completed_nodes": [],
        "node_results": {},
        "pending_nodes": [],
        "state": "completed",
        "total_nodes": 0,
        "run_id": "r",
        "journal_seq": 0,
    }
    rec.update(extra)
    return rec


@pytest.mark.parametrize(
    ("value", "why"),
    [
        (b"bytes", "bytes is not JSON data"),
        ((1, 2), "tuple is not JSON data"),
        ({1: "a"}, "key 1 is not a string"),
        (math.nan, "not a finite number"),
        (math.inf, "not a finite number"),
        ("\ud800", "not valid Unicode"),
        ({1, 2}, "set is not JSON data"),
        (datetime.now(UTC), "datetime is not JSON data"),
    ],
)
def test_encode_rejects_non_json(value: Any, why: str) -> None:
    with pytest.raises(CheckpointEncodeError) as info:
        JsonCodec().encode(body(node_results={"n": {"output": value}}))
    assert why in info.value.reason
    assert "node_results.n.output" in info.value.where


def test_encode_rejects_bad_shape() -> None:
    rec = body()
    del rec["state"]
    with pytest.raises(CheckpointEncodeError, match="missing required key"):
        JsonCodec().encode(rec)
    with pytest.raises(CheckpointEncodeError, match="'journal_seq' must be an integer"):
        JsonCodec().encode(body(journal_seq=True))


def test_reserved_keys_are_owned_by_the_codec() -> None:
    codec = JsonCodec()
    rec = body(schema_version=99, checksum="bogus", format="pickle")
    assert codec.decode(codec.encode(rec), "x") == body()


def test_key_order_in_file() -> None:
    text = JsonCodec().encode(body(zeta=1, alpha=2)).decode()
    keys = list(json.loads(text))
    assert keys[:12] == list(body())
    assert keys[12:] == ["alpha", "zeta", "format", "schema_version", "checksum", "seal"]
    assert text.endswith("}\n")


def test_migrations_cover_every_old_version() -> None:
    assert set(MIGRATIONS) == set(range(1, SCHEMA_VERSION))


@given(st.dictionaries(st.text(max_size=5).filter(lambda k: k not in ("c", "v")), st.integers()))
def test_journal_line_round_trip(extra: dict[str, int]) -> None:
    codec = JsonCodec()
    record = {**extra, "seq": 3}
    line = codec.encode_line(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert codec.decode_line(line, "j") == record


@given(st.binary(max_size=200))
def test_journal_line_fuzz(data: bytes) -> None:
    from vibe_aigc.errors import CheckpointCorruptError

    with pytest.raises(CheckpointCorruptError):
        JsonCodec().decode_line(data, "j")


# ---------------------------------------------------------------------- redaction


@pytest.mark.parametrize(
    "key",
    [
        "api_key",
        "OPENAI_API_KEY",
        "apiKey",
        "X-Api-Key",
        "token",
        "access_token",
        "refresh_token",
        "client_secret",
        "password",
        "db_passwd",
        "Authorization",
        "auth_header",
        "bearer",
        "private_key",
        "aws_access_key_id",
        "credentials",
        "Cookie",
        "session_key",
    ],
)
def test_secret_keys(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key",
    ["model", "prompt", "max_tokens", "max_new_tokens", "prompt_tokens", "token_count", "seed"],
)
def test_harmless_keys(key: str) -> None:
    assert not is_secret_key(key)


def test_redact_is_a_deep_copy() -> None:
    value = {
        "model": "m",
        "headers": {"Authorization": "Bearer sk-1", "Accept": "json"},
        "list": [{"api_key": "sk-2"}, ("tuple", {"token": "t"})],
        "credentials": {"user": "u", "pw": "p"},
        "max_tokens": 100,
    }
    out = redact(value)
    assert out == {
        "model": "m",
        "headers": {"Authorization": REDACTED, "Accept": "json"},
        "list": [{"api_key": REDACTED}, ("tuple", {"token": REDACTED})],
        "credentials": REDACTED,
        "max_tokens": 100,
    }
    assert value["headers"]["Authorization"] == "Bearer sk-1"  # type: ignore[index]


# ---------------------------------------------------------------------- manager

SECRETS = ["sk-vibe-metadata", "sk-node-param", "sk-child-param", "sk-plan-vibe"]


def checkpoint_body() -> dict[str, Any]:
    return {
        "vibe": {"description": "d", "metadata": {"api_key": SECRETS[0], "mood": "calm"}},
        "workflow_plan": {
            "id": "plan-a",
            "source_vibe": {"description": "d", "metadata": {"openai_token": SECRETS[3]}},
            "root_nodes": [
                {
                    "id": "n1",
                    "parameters": {"headers": {"Authorization": SECRETS[1]}, "max_tokens": 9},
                    "children": [{"id": "n2", "parameters": {"password": SECRETS[2]}}],
                }
            ],
        },
        "completed_nodes": ["n2"],
        "node_results": {"n2": {"status": "completed", "output": {"token": "kept as data"}}},
        "pending_nodes": ["n1"],
    }


def test_manager_redacts_and_assigns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    moment = datetime(2026, 2, 5, 10, 30, tzinfo=UTC)
    monkeypatch.setattr(results, "utc_now", lambda: moment)
    manager = WorkflowPersistenceManager(tmp_path / "cps")
    source = checkpoint_body()
    checkpoint_id = manager.save_checkpoint("plan-a", source)
    assert source == checkpoint_body()  # the caller's data is not modified
    raw = (tmp_path / "cps" / "plan-a" / f"{checkpoint_id}.json").read_bytes()
    for secret in SECRETS:
        assert secret.encode() not in raw
    loaded = manager.load_checkpoint(checkpoint_id)
    assert loaded["checkpoint_id"] == checkpoint_id
    assert loaded["plan_id"] == "plan-a"
    assert loaded["created_at"] == "2026-02-05T10:30:00Z"
    assert loaded["vibe"]["metadata"] == {"api_key": REDACTED, "mood": "calm"}
    node = loaded["workflow_plan"]["root_nodes"][0]
    assert node["parameters"] == {"headers": {"Authorization": REDACTED}, "max_tokens": 9}
    assert node["children"][0]["parameters"] == {"password": REDACTED}
    assert loaded["node_results"] == source["node_results"]  # results are not touched
    assert loaded["state"] == "interrupted"
    assert loaded["total_nodes"] == 2
    assert loaded["journal_seq"] == -1


def test_manager_keeps_given_v2_keys(tmp_path: Path) -> None:
    manager = WorkflowPersistenceManager(tmp_path / "cps")
    given_keys = {"state": "running", "total_nodes": 7, "run_id": "run-9", "journal_seq": 12}
    checkpoint_id = manager.save_checkpoint("plan-a", {**checkpoint_body(), **given_keys})
    loaded = manager.load_checkpoint(checkpoint_id, "plan-a")
    assert {k: loaded[k] for k in given_keys} == given_keys


def test_manager_prunes_to_keep_last(tmp_path: Path) -> None:
    manager = WorkflowPersistenceManager(tmp_path / "cps", keep_last=3)
    made = [manager.save_checkpoint("plan-a", checkpoint_body()) for _ in range(6)]
    assert [e["checkpoint_id"] for e in manager.list_checkpoints()] == made[::-1][:3]
    keep_all = WorkflowPersistenceManager(tmp_path / "all", keep_last=None)
    for _ in range(25):
        keep_all.save_checkpoint("plan-a", checkpoint_body())
    assert len(keep_all.list_checkpoints("plan-a")) == 25
    assert len(keep_all.prune("plan-a", 5)) == 20


def test_manager_delete(tmp_path: Path) -> None:
    manager = WorkflowPersistenceManager(tmp_path / "cps")
    checkpoint_id = manager.save_checkpoint("plan-a", checkpoint_body())
    with pytest.raises(InvalidIdError):
        manager.delete_checkpoint("../x")
    assert manager.delete_checkpoint("cp-abc123") is False
    assert manager.delete_checkpoint(checkpoint_id) is True
    with pytest.raises(CheckpointNotFoundError):
        manager.load_checkpoint(checkpoint_id)
    manager.save_checkpoint("plan-a", checkpoint_body())
    assert manager.plan_ids() == ["plan-a"]
    assert manager.delete_plan("plan-a")
    assert manager.plan_ids() == []


def test_manager_folder_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("VIBE_CHECKPOINT_DIR", raising=False)
    assert WorkflowPersistenceManager().checkpoint_dir == tmp_path / ".vibe_checkpoints"
    monkeypatch.setenv("VIBE_CHECKPOINT_DIR", "from-env")
    manager = WorkflowPersistenceManager()
    assert manager.checkpoint_dir == tmp_path / "from-env"
    assert manager.checkpoint_dir.is_absolute()
    assert WorkflowPersistenceManager("explicit").checkpoint_dir == tmp_path / "explicit"
    store = FileCheckpointStore(tmp_path / "store-root")
    assert WorkflowPersistenceManager(store=store).checkpoint_dir == tmp_path / "store-root"
    assert isinstance(WorkflowPersistenceManager().store, CheckpointStore)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "3"])
def test_manager_rejects_bad_keep_last(tmp_path: Path, bad: Any) -> None:
    with pytest.raises(ConfigurationError):
        WorkflowPersistenceManager(tmp_path, keep_last=bad)


def test_manager_journal_and_lease_pass_through(tmp_path: Path) -> None:
    manager = WorkflowPersistenceManager(tmp_path / "cps")
    with manager.lease("plan-a") as lease:
        manager.append_entries(lease, [{"seq": 0}, {"seq": 1}])
        manager.trim_entries(lease, -1)  # the next batch starts a new segment
        manager.append_entries(lease, [{"seq": 2}])
        manager.trim_entries(lease, 1)  # entries 0..1 are covered: their segment goes
        assert manager.read_journal("plan-a") == ([{"seq": 2}], [])
        assert manager.read_entries("plan-a").entries == [{"seq": 2}]
    segments = sorted(p.name for p in (tmp_path / "cps" / "plan-a").glob("journal-*"))
    assert segments == ["journal-000000000002.jsonl"]
    with pytest.raises(CheckpointLockedError, match="no longer holds"):
        manager.append_entries(lease, [{"seq": 3}])  # fenced: the lease was released
