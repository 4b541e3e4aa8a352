"""A plan's canonical text as a checkpoint stores it, spelled from its nodes.

What a checkpoint holds for ``workflow_plan`` is the canonical JSON of
``redact_record({"workflow_plan": plan.model_dump(mode="json")})["workflow_plan"]``. A resume
compares the caller's plan with the stored one by that text (a sealed file hands it over
unparsed: :mod:`vibe_aigc.persistence.kept`), and for 100k nodes the dump and the sorted-key
encoding took 0.3 s. :func:`plan_text` spells each node's text from its fields instead (the
nodes of a large plan are alike: strings, a list of ids, no parameters) and leaves any node
with parameters (redacted as the checkpoint redacts them) or of another kind to the dump.

A check at import holds the spelled text equal to the dump's on a sample with every field
(nested children, parameters with a secret, durations, a creation time); if the installed
pydantic dumps differently, every plan takes the dump (``tests/test_plan_text.py`` holds the
two equal with hypothesis).
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from vibe_aigc.errors import CheckpointEncodeError
from vibe_aigc.jsondata import JsonText, check_json_data
from vibe_aigc.models import Vibe, WorkflowNode, WorkflowNodeType, WorkflowPlan
from vibe_aigc.persistence.jsontext import canonical_text
from vibe_aigc.persistence.redaction import redact_record

_TYPES = {t: encode_basestring(t.value) for t in WorkflowNodeType}


def dumped_plan_text(plan: WorkflowPlan) -> JsonText | None:
    """The stored text the slow way: the redacted dump, encoded (None if not JSON data)."""
    stored = redact_record({"workflow_plan": plan.model_dump(mode="json")})["workflow_plan"]
    try:
        return canonical_text(stored)
    except (TypeError, ValueError):  # NaN, a key that is no string: not canonical JSON
        return None


def plan_text(plan: WorkflowPlan) -> JsonText | None:
    """The canonical text of ``plan`` as a checkpoint stores it (see the module docstring);
    None when it is not JSON data."""
    text = checked_plan_text(plan)
    return text if text is not None else dumped_plan_text(plan)


def checked_plan_text(plan: WorkflowPlan) -> JsonText | None:
    """The spelled text when every part of it is JSON data as :func:`check_json_data` sees it
    (so a snapshot may hold it unchecked); None when a node is of another kind or a part
    fails the check: the dump decides then (and the check says what is wrong)."""
    return _spelled(plan) if _SPELLED else None


_DEEPEST = 8  # children below children: a plan nested deeper takes the dump (and its check)


def _spelled(plan: WorkflowPlan) -> JsonText | None:
    if type(plan) is not WorkflowPlan:
        return None
    head = plan.model_dump(mode="json", exclude={"root_nodes"})
    head = redact_record({"workflow_plan": head})["workflow_plan"]
    if _checked(head) is None:
        return None
    try:
        around = canonical_text({**head, "root_nodes": _NO_NODES})
    except (TypeError, ValueError):
        return None
    # the one large string is the text itself: the nodes are joined 512 at a time, and the
    # whole is one join (each large temporary copy raised the allocator's mmap threshold,
    # and the run's peak memory with it: +0.15 KB a node)
    cut = around.index(_NODES_KEY) + len(_NODES_KEY)  # the first: strings escape quotes
    pieces: list[str] = [around[:cut]]
    batch: list[str] = []
    for index, node in enumerate(plan.root_nodes, 1):
        text = _node_text(node, 0)
        if text is None:
            return None
        batch.append(text)
        if len(batch) == 512 or index == len(plan.root_nodes):
            joined = _joined(batch, len(pieces) > 1)
            if joined is None:
                return None
            pieces.append(joined)
    pieces.append(around[cut:])
    return JsonText("".join(pieces))


_NO_NODES = JsonText("[]")
_NODES_KEY = '"root_nodes":['


def _joined(batch: list[str], after: bool) -> str | None:
    """``batch`` joined (a comma first when ``after`` others), and emptied; None when the
    text is not UTF-8 (an id or a description with a lone surrogate is no text)."""
    text = ("," if after else "") + ",".join(batch)
    batch.clear()
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return None
    return text


def _checked(value: Any) -> Any:
    try:
        check_json_data(value, "workflow_plan")
    except CheckpointEncodeError:
        return None
    return value


def _node_text(node: Any, depth: int) -> str | None:
    if type(node) is not WorkflowNode or depth > _DEEPEST:
        return None
    values = vars(node)
    node_id, kind, description = values["id"], values["type"], values["description"]
    parameters, children = values["parameters"], values["children"]
    dependencies, estimate = values["dependencies"], values["estimated_duration"]
    if parameters or type(parameters) is not dict:
        return _dumped_node(node, depth)  # redacted as the checkpoint redacts them
    if type(kind) is not WorkflowNodeType or type(children) is not list:
        return None
    if type(dependencies) is not list:
        return None
    if estimate is None:
        estimate_text = "null"
    elif type(estimate) is float and math.isfinite(estimate):
        estimate_text = float.__repr__(estimate)
    else:
        return None
    kids = ""
    if children:
        texts = [_node_text(child, depth + 1) for child in children]
        if None in texts:
            return None
        kids = ",".join(texts)  # type: ignore[arg-type]  # no None among them
    try:  # encode_basestring: a string's JSON (the dump's, for a str subclass too), or TypeError
        waits = ",".join(map(encode_basestring, dependencies))
        return (
            f'{{"children":[{kids}],"dependencies":[{waits}]'
            f',"description":{encode_basestring(description)},"estimated_duration":{estimate_text}'
            f',"id":{encode_basestring(node_id)},"parameters":{{}},"type":{_TYPES[kind]}}}'
        )
    except TypeError:  # not a string where the plan has one: the dump says what it is
        return None


def _dumped_node(node: WorkflowNode, depth: int) -> str | None:
    plan = {"root_nodes": [node.model_dump(mode="json")]}
    stored = redact_record({"workflow_plan": plan})["workflow_plan"]["root_nodes"][0]
    if depth > _DEEPEST or _checked(stored) is None:
        return None
    try:
        return canonical_text(stored)
    except (TypeError, ValueError):
        return None


def _spells_as_dumped() -> bool:
    """True when :func:`plan_text` spells what the dump gives (checked once, at import)."""
    leaf = WorkflowNode(id="b", type="generate", description="ünï \"q\"\n", dependencies=["a"])
    sample = WorkflowPlan(
        id="p",
        source_vibe=Vibe(description="d", metadata={"api_key": "k", "n": 1}),
        root_nodes=[
            WorkflowNode(id="a", type="analyze", description="x", estimated_duration=1.5),
            WorkflowNode(
                id="c",
                type="composite",
                description="y",
                parameters={"token": "t", "words": 3},
                children=[leaf],
            ),
            WorkflowNode(id="d", type="validate", description="z", children=[leaf]),
        ],
        estimated_total_duration=2.0,
        created_at=datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC),
    )
    try:
        spelled = _spelled(sample)
        return spelled is not None and spelled == dumped_plan_text(sample)
    except Exception:  # any surprise from another pydantic: always the dump
        return False


_SPELLED = _spells_as_dumped()
