"""A large snapshot's text in pieces, and records built lean: the same bytes and values as
the plain way, in less memory.

- ``chunked`` encodes a piece of a chunk's size or more a slice at a time instead of joining
  it to the others (a large plan's text was copied twice more at the end snapshot's peak);
- ``_pieces`` makes a long ``JsonText`` a piece of its own instead of batching it with the
  other top-level values (copied thrice more);
- ``lean_build`` fills a record's ``__dict__`` as pairs in field order, so CPython keeps it a
  key-sharing dict (a hundred bytes less for every result of a 100k-node run).
"""

from __future__ import annotations

import copy
import json
import pickle
import tracemalloc
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vibe_aigc import NodeResult
from vibe_aigc.jsondata import JsonText
from vibe_aigc.persistence import jsontext
from vibe_aigc.persistence.codec import JsonCodec
from vibe_aigc.results import ExecutionStatus

TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)


@given(st.lists(TEXT, max_size=30), st.integers(1, 12))
def test_chunks_are_the_utf8_of_the_pieces_joined(pieces: list[str], chunk: int) -> None:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsontext, "CHUNK", chunk)  # long pieces (>= chunk) are sliced
        chunks = list(jsontext.chunked(pieces))
    assert b"".join(chunks) == "".join(pieces).encode("utf-8")
    # a chunk is never much more than a chunk's worth of pieces
    longest = max((len(p) for p in pieces), default=0)
    assert all(len(c.decode("utf-8")) < 2 * chunk + longest for c in chunks)


def _record(plan_text: str) -> dict[str, Any]:
    return {
        "checkpoint_id": "cp-1",
        "plan_id": "p",
        "created_at": "2026-01-01T00:00:00Z",
        "vibe": {"description": "d"},
        "workflow_plan": JsonText(plan_text),
        "completed_nodes": ["a"],
        "node_results": {"a": JsonText('{"node_id":"a","status":"completed"}')},
        "pending_nodes": [],
        "state": "running",
        "total_nodes": 1,
        "run_id": "r",
        "journal_seq": 0,
    }


@given(st.dictionaries(st.text(max_size=8), TEXT, max_size=20))
def test_a_long_text_value_is_written_as_the_plain_encoder_would(plan: dict[str, str]) -> None:
    text = json.dumps(
        {"id": "p", "root_nodes": [], "extra": plan},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    codec = JsonCodec()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jsontext, "CHUNK", 16)  # the plan's text is "long": a piece of its own
        small_chunks = b"".join(codec.encode_chunks(_record(text)))
    whole = b"".join(codec.encode_chunks(_record(text)))
    assert small_chunks == whole  # same bytes, seal and checksum included
    decoded = codec.decode(small_chunks, "test")  # its checksum and seal hold
    assert decoded["workflow_plan"] == json.loads(text)
    assert decoded["node_results"] == {"a": {"node_id": "a", "status": "completed"}}


def _lean(node_id: str) -> NodeResult:
    return NodeResult.trusted(
        {"node_id": node_id, "status": ExecutionStatus.COMPLETED, "attempts": 1, "output": 1}
    )


def test_a_lean_result_behaves_as_the_one_pydantic_constructs() -> None:
    lean = _lean("n")
    built = NodeResult.model_construct(
        node_id="n", status=ExecutionStatus.COMPLETED, attempts=1, output=1
    )
    assert lean == built and list(vars(lean)) == list(vars(built))
    assert lean.model_dump() == built.model_dump()
    assert pickle.loads(pickle.dumps(lean)) == lean
    assert copy.deepcopy(lean) == lean and lean.model_copy(update={"attempts": 2}).attempts == 2
    lean.error = "late"  # assignment still works, and only changes this record
    assert lean.error == "late" and _lean("m").error is None
    assert "error" in lean.model_fields_set and "error" not in _lean("m").model_fields_set


def test_lean_results_take_less_memory_than_dicts_of_their_own() -> None:
    def per_record(make: Any) -> float:
        tracemalloc.start()
        try:
            kept = [make(f"n{i:05d}") for i in range(2000)]
            size = tracemalloc.get_traced_memory()[0]
        finally:
            tracemalloc.stop()
        assert len(kept) == 2000
        return size / 2000

    def constructed(node_id: str) -> NodeResult:  # then given a dict of its own
        record = NodeResult.model_construct(
            node_id=node_id, status=ExecutionStatus.COMPLETED, attempts=1, output=1
        )
        object.__setattr__(record, "__dict__", dict(vars(record)))
        return record

    # ~100 bytes less a record (the node ids and the rest are in both)
    assert per_record(_lean) < per_record(constructed) - 60
