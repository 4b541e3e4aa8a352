"""The hot path's shortcuts (issue 15) accept exactly what the full checks accept.

* journal lines are read by the C decoder when they are byte for byte what the writer writes;
  anything else takes the strict path, with the same verdict and reason;
* records the library built from known JSON data (``KnownJson``) are not walked again, but
  everything else still is;
* a resumed run does not write a start snapshot that only repeats the store, and its state
  survives another interruption all the same.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from strategies import chain_plan
from vibe_aigc import MetaPlanner, WorkflowExecutor, WorkflowPlan
from vibe_aigc.errors import CheckpointCorruptError, CheckpointEncodeError
from vibe_aigc.jsondata import KnownJson, check_json_data, json_data
from vibe_aigc.persistence.codec import JsonCodec

CODEC = JsonCodec()


def canonical(value: Any) -> bytes:
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode()


def signed(text: bytes) -> bytes:
    """A line whose checksum covers the canonical form of what ``text`` parses to (the
    strict reader's rule), with ``"c"`` spliced in at the end."""
    body = canonical(json.loads(text))
    digest = hashlib.sha256(body).hexdigest()
    return text[:-1] + b',"c":"sha256:' + digest.encode() + b'"}'


def test_written_lines_read_back_exactly() -> None:
    records: list[dict[str, Any]] = [
        {"seq": 0, "node_id": "a", "result": {"output": {"x": [1, 2.5, "é", None, True]}}},
        {"seq": 7, "text": "line\nbreak \u2028 \"quoted\" \\", "n": -0.0, "big": 2**60},
        KnownJson({"seq": 3, "kind": "memo", "value": {"deep": [[[]]]}}),
    ]
    for record in records:
        line = CODEC.encode_line(record)
        assert CODEC.decode_line(line, "j") == dict(record)


def test_lines_read_back_share_their_names() -> None:
    """Each resumed output is kept for the run: its names are one string for every line,
    not a copy each, on the fast path and the strict one alike."""
    made = [
        {"seq": i, "node_id": f"n{i}", "result": {"output": {"caption": f"c{i}", "ok": True}}}
        for i in range(3)
    ]
    lines = [CODEC.encode_line(record) for record in made]
    lines.append(signed(b'{"seq":9,"result":{"output":{"ok":false,"caption":"x"}},"v":1}'))
    outputs = [CODEC.decode_line(line, "j")["result"]["output"] for line in lines]
    for output in outputs[1:]:
        assert {id(name) for name in output} == {id(name) for name in outputs[0]}
    assert [o["caption"] for o in outputs] == ["c0", "c1", "c2", "x"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (b'{"seq":1,"seq":1,"v":1}', "duplicate key"),
        (b'{"seq":1,"v":true}', "'v' must be an integer"),
        (b'{"seq":true,"v":1}', "seq"),
        (b'{"seq":1,"v":2}', "newer vibe-aigc"),  # a newer version: never a fast accept
    ],
)
def test_lines_the_strict_reader_refuses_are_refused(text: bytes, reason: str) -> None:
    line = signed(text)  # intact: a newer version is a newer vibe-aigc's only when it hashes right
    with pytest.raises(Exception) as info:
        CODEC.decode_line(line, "j")
    assert reason in str(info.value)


def test_a_line_not_as_written_takes_the_strict_path() -> None:
    # keys out of canonical order, checksum right: the strict reader accepts it; so do we
    line = signed(b'{"v":1,"seq":4,"node_id":"a"}')
    assert CODEC.decode_line(line, "j") == {"seq": 4, "node_id": "a"}
    tampered = CODEC.encode_line({"seq": 5, "x": 1}).replace(b'"x":1', b'"x":2')
    with pytest.raises(CheckpointCorruptError, match="checksum mismatch"):
        CODEC.decode_line(tampered, "j")


def test_known_json_is_trusted_plain_dicts_are_checked() -> None:
    check_json_data(KnownJson({"seq": 1, "x": (1, 2)}))  # trusted: built by the library
    with pytest.raises(CheckpointEncodeError, match="tuple"):
        CODEC.encode_line({"seq": 1, "x": (1, 2)})
    with pytest.raises(CheckpointEncodeError, match="not a string"):
        check_json_data({"outer": KnownJson({"ok": 1}), "bad": {1: 2}})
    copied = json_data(KnownJson({"a": (1,)}))  # normalising still copies it
    assert copied == {"a": [1]} and type(copied) is dict


class Flaky(WorkflowExecutor):
    def __init__(self, fail: set[str]) -> None:
        super().__init__()
        self.fail = fail
        self.ran: list[str] = []

    async def execute_node(self, node: Any, context: Any) -> Any:
        self.ran.append(node.id)
        if node.id in self.fail:
            self.fail.discard(node.id)
            raise RuntimeError("planned permanent failure")
        before = [context.dependency_outputs[d]["n"] for d in sorted(context.dependency_outputs)]
        return {"n": sum(before) + 1, "node": node.id}


def chain(n: int) -> WorkflowPlan:
    return chain_plan(n, "fast-chain")


def checkpoints(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((folder / "fast-chain").glob("cp-*.json"))]


def test_resume_writes_no_start_snapshot_and_survives_another_failure(tmp_path: Path) -> None:
    async def run(executor: WorkflowExecutor) -> Any:
        planner = MetaPlanner(executor=executor, checkpoint_dir=tmp_path)
        return await planner.execute_with_resume(chain(8))

    first = asyncio.run(run(Flaky({"n3"})))
    assert first.status.value == "failed"
    assert [c["state"] for c in checkpoints(tmp_path)] == ["running", "failed"]
    second = asyncio.run(run(Flaky({"n6"})))  # resumes at n3, fails again at n6
    assert second.status.value == "failed"
    # no "running" snapshot repeating the failed one: only the end of the resumed run
    assert [c["state"] for c in checkpoints(tmp_path)] == ["running", "failed", "failed"]
    third_executor = Flaky(set())
    third = asyncio.run(run(third_executor))
    assert third.status.value == "completed"
    assert third_executor.ran == ["n6", "n7"]
    assert [third.node_results[f"n{i}"].output["n"] for i in range(8)] == list(range(1, 9))
    assert [r.resumed for r in third.node_results.values()] == [True] * 6 + [False] * 2
