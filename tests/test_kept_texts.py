"""A sealed checkpoint's plan and results handed over as text (``read_snapshot(...,
keep_text=)``, ``persistence/kept.py``): on every store, what the text parses to is exactly
what the record reads as without it; a file that is not laid out as the codec writes it (not
sealed, re-indented, escaped, forged) is parsed whole as before or refused with a typed error,
never read differently."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from store_records import record, sealed
from strategies import json_values
from vibe_aigc.errors import CheckpointCorruptError
from vibe_aigc.persistence import Store
from vibe_aigc.persistence.codec import JsonCodec, parse_kept
from vibe_aigc.persistence.jsontext import SEAL, SEAL_END, SEAL_SIZE, canonical_text
from vibe_aigc.persistence.kept import StoredEntries, StoredText, value_texts
from vibe_aigc.runs.checked import KEEP_TEXT

if TYPE_CHECKING:
    from store_backends import Backend

pytest_plugins = ("pgcluster", "store_backends")


def materialized(rec: dict[str, Any]) -> dict[str, Any]:
    """``rec`` with every kept text parsed, checking each text on the way: a StoredText is the
    canonical text of its value, an entry's value text (where found) its value's."""
    out = dict(rec)
    for key, value in rec.items():
        if type(value) is StoredText:
            out[key] = parse_kept(value.text, value.source, key)
            assert value.text == canonical_text({"v": out[key]})[5:-1]
        elif type(value) is StoredEntries:
            entries: dict[str, Any] = {}
            for batch_text, lines in value.batches(count=3):
                batch = parse_kept(batch_text, value.source, key)
                keys = list(batch)
                for name, text in zip(keys, value_texts(lines, keys), strict=True):
                    if text is not None:
                        assert text == canonical_text({"v": batch[name]})[5:-1]
                entries.update(batch)
            out[key] = entries
    return out


def kinds(rec: dict[str, Any]) -> tuple[type, type]:
    return type(rec["workflow_plan"]), type(rec["node_results"])


# ---------------------------------------------------------------------- every store


def test_kept_texts_read_as_the_record(store: Store) -> None:
    results = {f"n{i}": {"status": "completed", "output": {"i": i, "t": "é" * i}} for i in range(8)}
    rec = record(node_results=results, completed_nodes=list(results))
    with store.lease("plan-a") as lease:
        store.write_snapshot(lease, rec)
    kept = store.read_snapshot(rec["checkpoint_id"], "plan-a", KEEP_TEXT)
    assert kinds(kept) == (StoredText, StoredEntries)
    assert materialized(kept) == rec == store.read_snapshot(rec["checkpoint_id"], "plan-a")


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    plan=st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    results=st.dictionaries(
        st.text(min_size=1, max_size=8),  # quotes, backslashes, control characters, ...
        st.fixed_dictionaries({"status": st.just("completed"), "output": json_values}),
        max_size=6,
    ),
)
def test_kept_texts_any_values(store: Store, plan: dict, results: dict) -> None:
    rec = record(workflow_plan=plan, node_results=results, completed_nodes=sorted(results))
    with store.lease("plan-a") as lease:
        store.write_snapshot(lease, rec)
    kept = store.read_snapshot(rec["checkpoint_id"], "plan-a", KEEP_TEXT)
    assert materialized(kept) == rec


def test_unsealed_file_is_parsed_whole(backend: Backend, store: Store) -> None:
    rec = record()
    with store.lease("plan-a") as lease:
        store.write_snapshot(lease, rec)
    # re-indented by hand: the checksum still holds, the seal does not
    backend.tamper_snapshot(
        "plan-a", rec["checkpoint_id"], lambda data: data.replace(b'": ', b'":    ')
    )
    kept = store.read_snapshot(rec["checkpoint_id"], "plan-a", KEEP_TEXT)
    assert kinds(kept) == (dict, dict) and kept == rec


# ---------------------------------------------------------------------- the codec, forged files


CODEC = JsonCodec()


def resealed(data: bytes) -> bytes:
    """``data`` with its seal made to hold again (as someone who can write the folder can)."""
    prefix = data[: len(data) - SEAL_SIZE]
    return prefix + SEAL + hashlib.sha256(prefix).hexdigest().encode() + SEAL_END


def encoded(rec: dict[str, Any]) -> bytes:
    return b"".join(CODEC.encode_chunks(rec))


def test_indented_sealed_file_is_parsed_whole() -> None:
    rec = record()
    kept = CODEC.decode(sealed({**rec, "format": "json", "schema_version": 3}), "f", KEEP_TEXT)
    assert kinds(kept) == (dict, dict) and kept == rec


def test_a_file_with_escapes_is_parsed_whole() -> None:
    rec = record(vibe={"description": "bell \x07", "style": None, "constraints": []})
    data = encoded(rec)
    assert b"\\u0007" in data
    kept = CODEC.decode(data, "f", KEEP_TEXT)
    assert kinds(kept) == (dict, dict) and kept == rec


def test_a_plan_line_holding_more_than_the_plan_is_refused_when_read() -> None:
    rec = record()
    data = encoded(rec)
    plan = json.dumps(rec["workflow_plan"], sort_keys=True, separators=(",", ":")).encode()
    forged = resealed(data.replace(plan + b",\n", plan + b',"evil":1,\n', 1))
    assert json.loads(forged)["evil"] == 1  # valid JSON, sealed
    kept = CODEC.decode(forged, "f", KEEP_TEXT)
    assert type(kept["workflow_plan"]) is StoredText
    with pytest.raises(CheckpointCorruptError, match="workflow_plan is not JSON"):
        parse_kept(kept["workflow_plan"].text, "f", "workflow_plan")


def test_a_key_given_twice_reads_as_json_reads_it() -> None:
    rec = record()
    data = encoded(rec)
    later = {"id": "plan-a", "root_nodes": []}
    line = b'\n  "workflow_plan": ' + json.dumps(later, separators=(",", ":")).encode() + b","
    at = data.index(b'\n  "completed_nodes"')
    forged = resealed(data[:at] + line + data[at:])
    expected = CODEC.decode(forged, "f")
    assert expected["workflow_plan"] == later  # JSON keeps the last
    assert materialized(CODEC.decode(forged, "f", KEEP_TEXT)) == expected


def test_a_broken_entry_line_is_corrupt() -> None:
    results = {f"n{i}": {"status": "completed", "output": i} for i in range(3)}
    data = encoded(record(node_results=results, completed_nodes=list(results)))
    forged = resealed(data.replace(b'    "n1": ', b'    "n1"  ', 1))
    with pytest.raises(CheckpointCorruptError):
        CODEC.decode(forged, "f")
    kept = CODEC.decode(forged, "f", KEEP_TEXT)
    with pytest.raises(CheckpointCorruptError):
        materialized(kept)
