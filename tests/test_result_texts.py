"""A node's result is encoded once (issue 15): the journal line and every snapshot copy its
canonical text (``JsonText``), and a resume hands the journal's text on to the next snapshot.

What must hold, whatever the shortcut:

* a snapshot holding texts is the snapshot the plain encoder would write: its ``checksum``
  is the canonical one (a re-indented copy still reads) and it decodes to every result's
  dump, resumed ones marked ``resumed`` as before;
* the text of a resumed result (``resumed`` set to True in the journal's text) is exactly the
  canonical JSON of the result marked resumed, whatever its output holds (hypothesis);
* a line read the strict way carries no text, and a registered secret is scrubbed from a
  result given as text.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import pickle
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from test_fast_paths import chain
from vibe_aigc import MetaPlanner, WorkflowExecutor, WorkflowNode
from vibe_aigc.jsondata import JsonText, TextedJson
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.persistence.codec import JsonCodec
from vibe_aigc.persistence.jsontext import canonical_text, checksum_of
from vibe_aigc.persistence.records import result_entry
from vibe_aigc.persistence.redaction import _VALUES, add_secret_values, scrub_values
from vibe_aigc.results import ExecutionStatus, NodeResult, as_output
from vibe_aigc.runs.stored import result_text, resumed_text

CODEC = JsonCodec()
OUTPUT = {"nested": {"resumed": False, "usage": [1, 2.5]}, "text": 'é "q" \\ \u2028'}

SCRIPT = """
import asyncio, sys
from test_fast_paths import chain
from test_result_texts import Work
from vibe_aigc import MetaPlanner
interval = int(sys.argv[3]) if len(sys.argv) > 3 else None
planner = MetaPlanner(executor=Work(max_concurrency=1, crash_at=sys.argv[2]),
                      checkpoint_dir=sys.argv[1], checkpoint_interval=interval)
asyncio.run(planner.execute_with_resume(chain(12)))
"""


class Work(WorkflowExecutor):
    def __init__(self, *args: Any, crash_at: str | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.crash_at = crash_at

    async def execute_node(self, node: WorkflowNode, context: Any) -> Any:
        if node.id == self.crash_at:
            os._exit(3)  # a crash: no end snapshot, the journal holds what finished
        return {"node": node.id, **OUTPUT}


def crashed_at(folder: Path, node_id: str, interval: int | None = None) -> None:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    args = [str(folder), node_id] + ([str(interval)] if interval else [])
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, *args], env=env, timeout=60, check=False
    )
    assert done.returncode == 3


def test_the_snapshot_after_a_crash_holds_the_journal_texts_as_the_plain_encoder_would(
    tmp_path: Path,
) -> None:
    crashed_at(tmp_path, "n8")
    planner = MetaPlanner(executor=Work(max_concurrency=1), checkpoint_dir=tmp_path)
    result = asyncio.run(planner.execute_with_resume(chain(12)))
    assert result.status.value == "completed"
    assert [n for n, r in result.node_results.items() if r.resumed] == [f"n{i}" for i in range(8)]
    holds_the_dumps(tmp_path, result)


def test_texts_read_from_a_sealed_snapshot_are_what_the_plain_encoder_would_write(
    tmp_path: Path,
) -> None:
    # snapshots every 3 nodes: the resumes start from a snapshot's entries (their texts are
    # handed on), the second one from a snapshot a resumed run wrote (resumed: true already)
    crashed_at(tmp_path, "n8", interval=3)
    crashed_at(tmp_path, "n11", interval=3)
    planner = MetaPlanner(
        executor=Work(max_concurrency=1), checkpoint_dir=tmp_path, checkpoint_interval=3
    )
    result = asyncio.run(planner.execute_with_resume(chain(12)))
    assert result.status.value == "completed"
    assert [n for n, r in result.node_results.items() if not r.resumed] == ["n11"]
    holds_the_dumps(tmp_path, result)


def holds_the_dumps(tmp_path: Path, result: Any) -> None:
    """The newest snapshot decodes to every result's dump, with the canonical checksum and
    each result's canonical text a line; a re-indented copy reads the same."""
    manager = WorkflowPersistenceManager(tmp_path)
    newest = manager.latest_checkpoint_ids("fast-chain")[0]
    record = manager.load_checkpoint(newest, "fast-chain")
    assert record["node_results"] == {
        n: r.model_dump(mode="json", exclude_none=True) for n, r in result.node_results.items()
    }
    path = tmp_path / "fast-chain" / f"{newest}.json"
    raw = json.loads(path.read_bytes())
    body = {k: v for k, v in raw.items() if k not in ("checksum", "seal")}
    assert raw["checksum"] == checksum_of(body)  # the canonical checksum, texts and all
    for line in path.read_text().split("\n"):  # each result: its canonical text, one a line
        if line.startswith('    "n'):
            value = line.split(": ", 1)[1].rstrip(",")
            assert value == canonical_text(json.loads(value))
    path.write_text(json.dumps(raw, indent=3))  # the seal fails; the checksum decides
    assert manager.load_checkpoint(newest, "fast-chain") == record


def nested(inner: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Lists and objects of ``inner`` (a named function: hypothesis reads its source to see
    that it recurses, which a lambda inside a larger expression does not always show)."""
    return st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["resumed", "status", "usage", "x"]), inner
    )


RESULTS = st.fixed_dictionaries(
    {
        "node_id": st.just("n1"),
        "status": st.sampled_from(["completed", "failed"]),
        "attempts": st.integers(0, 5),
        "resumed": st.just(False),
        "output": st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            nested,
            max_leaves=8,
        ),
    },
    optional={
        "usage": st.dictionaries(st.sampled_from(["resumed", "tokens"]), st.floats(0, 9)),
        "started_at": st.just("2026-01-02T03:04:05.5Z"),
        "error": st.text(max_size=12),
    },
)


@settings(max_examples=300, deadline=None)
@given(RESULTS)
def test_a_resumed_text_is_the_canonical_json_of_the_result_marked_resumed(
    result: dict[str, Any],
) -> None:
    line = CODEC.encode_line({**result_entry("r1", "p", "n1", canonical_text(result)), "seq": 4})
    plain = CODEC.encode_line({**result_entry("r1", "p", "n1", result), "seq": 4})
    assert line == plain  # the result's text spelled in: the canonical line, byte for byte
    entry = CODEC.decode_line(line, "j")
    stored = entry["result"]
    if b"\\u" in line:  # the strict path: read exactly, without a text
        assert type(stored) is dict and stored == result
        return
    assert type(stored) is TextedJson and stored == result
    assert stored.text == canonical_text(result)
    assert resumed_text(stored) == canonical_text({**result, "resumed": True})


def test_only_a_stored_result_with_a_text_and_resumed_false_gets_one() -> None:
    plain = {"node_id": "n", "status": "completed", "resumed": False}
    assert resumed_text(plain) is None
    already = {**plain, "resumed": True}
    assert resumed_text(TextedJson(already, canonical_text(already))) is None
    odd_usage = {**plain, "usage": {"resumed": False}}  # not a result's usage: left alone
    assert resumed_text(TextedJson(odd_usage, canonical_text(odd_usage))) is None


def test_a_registered_secret_is_scrubbed_from_a_result_given_as_text() -> None:
    text = canonical_text({"node_id": "n", "output": {"text": "key sk-live-123456 here"}})
    before = set(_VALUES)
    add_secret_values(["sk-live-123456"])
    try:
        scrubbed = scrub_values({"n": JsonText(text)})
    finally:
        _VALUES.clear()
        _VALUES.update(before)
    assert "sk-live-123456" not in json.dumps(scrubbed)
    assert scrubbed["n"]["node_id"] == "n"


TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)
NODE_RESULTS = st.builds(
    NodeResult.trusted,
    st.fixed_dictionaries(
        {
            "node_id": st.sampled_from(["n1", "é-node"]),
            "status": st.sampled_from(list(ExecutionStatus)),
        },
        optional={
            "output": RESULTS.map(lambda r: r["output"]) | st.text().map(as_output),
            "attempts": st.integers(0, 9),
            "started_at": TIMES,
            "completed_at": TIMES,
            "duration": st.floats(0, 1e6),
            "error": st.text(max_size=20),
            "usage": st.dictionaries(st.sampled_from(["cost", "tokens"]), st.floats(0, 9)),
            "resumed": st.booleans(),
        },
    ),
)


@settings(max_examples=300, deadline=None)
@given(NODE_RESULTS)
def test_a_result_spelled_from_its_fields_is_its_dump_in_canonical_form(result: NodeResult) -> None:
    text = result_text(result)
    assert text is not None
    assert text == canonical_text(result.model_dump(mode="json", exclude_none=True))


def test_a_result_of_another_kind_is_left_to_the_dump() -> None:
    odd = NodeResult.trusted({"node_id": "n", "started_at": datetime(2026, 1, 2)})  # naive
    assert result_text(odd) is None
    assert result_text(NodeResult.trusted({"node_id": "n", "output": {1, 2}})) is None


def test_a_result_read_with_its_text_copies_and_pickles_with_it() -> None:
    stored = TextedJson({"node_id": "n", "output": [1]}, canonical_text({"node_id": "n"}))
    for twin in (copy.copy(stored), copy.deepcopy(stored), pickle.loads(pickle.dumps(stored))):
        assert type(twin) is TextedJson and twin == stored and twin.text == stored.text
