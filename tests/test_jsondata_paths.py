"""``json_data`` / ``check_json_data``: exact JSON data passes (copied, tuples made lists), and
one value that is not JSON data anywhere in a tree is refused with its path named, whichever
way the checks get there (they walk without paths first and name the problem on a second walk).
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vibe_aigc.errors import CheckpointEncodeError
from vibe_aigc.jsondata import MAX_DEPTH, RECORD_DEPTH, KnownJson, check_json_data, json_data
from vibe_aigc.results import TextOutput

keys = st.text(max_size=4).filter(lambda k: k.encode("utf-8", "surrogatepass") == k.encode())
atoms = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=6).filter(lambda t: t.encode("utf-8", "surrogatepass") == t.encode())
)
trees = st.recursive(
    atoms,
    lambda inner: st.lists(inner, max_size=4)
    | st.tuples(inner, inner)
    | st.dictionaries(keys, inner, max_size=4)
    | st.dictionaries(keys, inner, max_size=3).map(TextOutput),
    max_leaves=25,
)
BAD_VALUES = [float("nan"), float("inf"), b"bytes", {1, 2}, object(), "lone \ud800"]


def as_lists(value: Any) -> Any:
    if isinstance(value, list | tuple):
        return [as_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: as_lists(v) for k, v in value.items()}
    return value


def plant(tree: Any, bad: Any, choices: list[int], path: str) -> tuple[Any, str]:
    """``tree`` (lists only) with ``bad`` put in place of one value (the only problem in
    it), and the path it is at."""
    if isinstance(tree, list) and tree and choices:
        i = choices[0] % len(tree)
        tree[i], where = plant(tree[i], bad, choices[1:], f"{path}[{i}]")
        return tree, where
    if isinstance(tree, dict) and tree and choices:
        key = sorted(tree)[choices[0] % len(tree)]
        tree[key], where = plant(tree[key], bad, choices[1:], f"{path}.{key}")
        return tree, where
    return bad, path


@settings(max_examples=300, deadline=None)
@given(trees)
def test_json_data_copies_exact_json_data(tree: Any) -> None:
    copied = json_data(tree, "output")
    assert copied == as_lists(tree)
    assert json.loads(json.dumps(copied, allow_nan=False)) == copied
    check_json_data(as_lists(tree), "record")  # the copy passes the strict check


@settings(max_examples=300, deadline=None)
@given(trees, st.sampled_from(BAD_VALUES), st.lists(st.integers(0, 50), max_size=6))
def test_one_bad_value_is_named_by_its_path(tree: Any, bad: Any, choices: list[int]) -> None:
    planted, where = plant(as_lists(tree), bad, choices, "output")
    with pytest.raises(CheckpointEncodeError) as info:
        json_data(planted, "output")
    assert info.value.where == where
    record_where = "record" + where[len("output") :]
    with pytest.raises(CheckpointEncodeError) as info:
        check_json_data(planted, "record")
    assert info.value.where == record_where


def test_keys_must_be_strings_and_valid_text() -> None:
    with pytest.raises(CheckpointEncodeError) as info:
        json_data({"a": [{"ok": 1}, {2: "x"}]})
    assert info.value.where == "output.a[1]" and "not a string" in info.value.reason
    with pytest.raises(CheckpointEncodeError) as info:
        check_json_data({"a": {"\udc00": 1}})
    assert info.value.where == "record.a key"


def test_tuples_are_lists_for_json_data_and_refused_by_the_strict_check() -> None:
    assert json_data({"t": (1, (2, 3))}) == {"t": [1, [2, 3]]}
    with pytest.raises(CheckpointEncodeError) as info:
        check_json_data({"t": [0, (1,)]})
    assert info.value.where == "record.t[1]" and "tuple" in info.value.reason


@pytest.mark.parametrize("kind", ["list", "dict"])
def test_nesting_limits_hold(kind: str) -> None:
    def nested(depth: int) -> Any:
        value: Any = 1
        for _ in range(depth):
            value = [value] if kind == "list" else {"k": value}
        return value

    assert json_data(nested(MAX_DEPTH)) == nested(MAX_DEPTH)
    with pytest.raises(CheckpointEncodeError, match=f"more than {MAX_DEPTH} levels"):
        json_data(nested(MAX_DEPTH + 1))
    check_json_data(nested(RECORD_DEPTH))
    with pytest.raises(CheckpointEncodeError, match=f"more than {RECORD_DEPTH} levels"):
        check_json_data(nested(RECORD_DEPTH + 1))


def test_known_json_copies_are_plain_and_text_outputs_are_mappings() -> None:
    copied = json_data({"k": KnownJson({"x": (1,)}), "t": TextOutput({"text": "hi"})})
    assert copied == {"k": {"x": [1]}, "t": {"text": "hi"}}
    assert type(copied["k"]) is dict and type(copied["t"]) is dict
    with pytest.raises(CheckpointEncodeError, match="finite"):
        json_data([math.inf])
