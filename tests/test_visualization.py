"""Tests of vibe_aigc.visualization: the guide's exact outputs, hostile text, property tests."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from strategies import plans
from vibe_aigc.errors import ConfigurationError
from vibe_aigc.models import Vibe, WorkflowNode, WorkflowNodeType, WorkflowPlan
from vibe_aigc.results import ExecutionResult, ExecutionStatus, NodeResult
from vibe_aigc.visualization import (
    DESCRIPTION_LIMIT,
    VisualizationFormat,
    WorkflowVisualizer,
    mermaid_ids,
    one_line,
    render_ascii,
    render_json,
    render_mermaid,
    summary_text,
)

GUIDE_ASCII = """\
Workflow Plan: plan-001
==================================================
Source Vibe: Create a blog post about AI agents

├── ⏳ [analyze] Research AI agents (research)
├── ⏳ [generate] Create outline (outline)
│   └─ Depends on: research
└── ⏳ [generate] Write content (write)
    └─ Depends on: outline"""

GUIDE_ASCII_RESULT = """\
Workflow Plan: plan-001
==================================================
Source Vibe: Create a blog post about AI agents

├── ✅ [analyze] Research AI agents (research)
├── ✅ [generate] Create outline (outline)
│   └─ Depends on: research
└── ❌ [generate] Write content (write)
    └─ Depends on: outline

Execution Summary:
------------------------------
Status: failed
Completed: 2/3
Duration: 5.23s"""

GUIDE_MERMAID = "\n".join(  # the guide's blank lines hold four spaces
    [
        "graph TD",
        "    research([Research AI agents]):::pending",
        "    outline[Create outline]:::pending",
        "    write[Write content]:::pending",
        "    ",
        "    research --> outline",
        "    outline --> write",
        "    ",
        "    classDef completed fill:#d4edda,stroke:#28a745",
        "    classDef failed fill:#f8d7da,stroke:#dc3545",
        "    classDef running fill:#fff3cd,stroke:#ffc107",
        "    classDef pending fill:#f8f9fa,stroke:#6c757d",
    ]
)

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

# A Mermaid node definition line: id, label in one of the shapes, status class.
NODE_LINE = re.compile(
    r"^\s+(?P<id>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:\(\[(?P<stadium>.*)\]\)|\[\[(?P<sub>.*)\]\]|\[/(?P<para>.*)/\]"
    r"|\{\{(?P<hex>.*)\}\}|\[(?P<rect>.*)\]):::"
    r"(?P<state>pending|running|completed|failed|skipped)$"
)
SUBGRAPH_LINE = re.compile(r"^\s+subgraph (?P<id>[A-Za-z_][A-Za-z0-9_]*) \[(?P<label>.*)\]$")
PLAIN_LABEL = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")


def node(
    node_id: str,
    description: str,
    type_: str = "generate",
    deps: list[str] | None = None,
    children: list[WorkflowNode] | None = None,
) -> WorkflowNode:
    return WorkflowNode(
        id=node_id,
        type=WorkflowNodeType(type_),
        description=description,
        dependencies=deps or [],
        children=children or [],
    )


def make_plan(roots: list[WorkflowNode], vibe: str = "v", plan_id: str = "p") -> WorkflowPlan:
    return WorkflowPlan(id=plan_id, source_vibe=Vibe(description=vibe), root_nodes=roots)


def guide_plan() -> WorkflowPlan:
    return make_plan(
        [
            node("research", "Research AI agents", "analyze"),
            node("outline", "Create outline", deps=["research"]),
            node("write", "Write content", deps=["outline"]),
        ],
        vibe="Create a blog post about AI agents",
        plan_id="plan-001",
    )


def guide_result(**errors: str) -> ExecutionResult:
    statuses = {"research": "completed", "outline": "completed", "write": "failed"}
    return ExecutionResult(
        plan_id="plan-001",
        status=ExecutionStatus.FAILED,
        started_at=T0,
        completed_at=T0 + timedelta(seconds=5.23),
        node_results={
            k: NodeResult(node_id=k, status=ExecutionStatus(v), error=errors.get(k))
            for k, v in statuses.items()
        },
    )


def node_lines(mermaid: str) -> list[re.Match[str]]:
    return [m for line in mermaid.splitlines() if (m := NODE_LINE.match(line))]


def label_of(match: re.Match[str]) -> str:
    return next(v for k, v in match.groupdict().items() if k not in ("id", "state") and v)


def assert_label_safe(label: str) -> None:
    """A label is plain words, or quoted with every special character as an entity code."""
    if PLAIN_LABEL.fullmatch(label):
        return
    assert label.startswith('"') and label.endswith('"') and len(label) >= 2, label
    inner = re.sub(r"#\w+;", "", label[1:-1])
    assert not set(inner) & set('"#;:[](){}<>|%`\\&'), label
    assert "\n" not in inner and "\r" not in inner


# --------------------------------------------------------------------------- the guide


def test_guide_ascii_pending_exact() -> None:
    diagram = WorkflowVisualizer.generate_diagram(guide_plan(), format=VisualizationFormat.ASCII)
    assert diagram == GUIDE_ASCII


def test_guide_ascii_is_the_default_format() -> None:
    assert WorkflowVisualizer.generate_diagram(guide_plan()) == GUIDE_ASCII


def test_guide_ascii_with_result_exact() -> None:
    diagram = WorkflowVisualizer.generate_diagram(
        guide_plan(), execution_result=guide_result(), format=VisualizationFormat.ASCII
    )
    assert diagram == GUIDE_ASCII_RESULT


def test_guide_mermaid_exact_plus_skipped_classdef() -> None:
    diagram = WorkflowVisualizer.generate_diagram(guide_plan(), format=VisualizationFormat.MERMAID)
    lines = diagram.splitlines()
    assert lines[-1].startswith("    classDef skipped ")
    assert "\n".join(lines[:-1]) == GUIDE_MERMAID


def test_format_as_plain_string_and_enum_values() -> None:
    plan = guide_plan()
    assert WorkflowVisualizer.generate_diagram(plan, format="ascii") == GUIDE_ASCII
    assert WorkflowVisualizer.generate_diagram(plan, None, "mermaid") == render_mermaid(plan)
    assert WorkflowVisualizer.generate_diagram(plan, format=" JSON ") == render_json(plan)
    assert [f.value for f in VisualizationFormat] == ["ascii", "mermaid", "json"]
    assert VisualizationFormat.MERMAID == "mermaid"


def test_unknown_format_is_a_configuration_error() -> None:
    with pytest.raises(ConfigurationError, match="ascii, mermaid, json"):
        WorkflowVisualizer.generate_diagram(guide_plan(), format="svg")
    with pytest.raises(ValueError):
        WorkflowVisualizer.generate_diagram(guide_plan(), format="svg")


# --------------------------------------------------------------------------- statuses


def test_node_status_override_beats_result() -> None:
    result = guide_result()
    diagram = render_ascii(guide_plan(), result, node_status={"write": ExecutionStatus.RUNNING})
    assert "🔄 [generate] Write content (write)" in diagram
    assert "✅ [analyze] Research AI agents (research)" in diagram
    mermaid = render_mermaid(guide_plan(), node_status={"outline": ExecutionStatus.RUNNING})
    assert "    outline[Create outline]:::running" in mermaid.splitlines()
    assert "    research([Research AI agents]):::pending" in mermaid.splitlines()


def test_every_status_icon() -> None:
    plan = make_plan([node(s.value, s.value) for s in ExecutionStatus])
    diagram = render_ascii(plan, node_status={s.value: s for s in ExecutionStatus})
    for icon, status in [
        ("⏳", "pending"),
        ("🔄", "running"),
        ("✅", "completed"),
        ("❌", "failed"),
        ("⏭️", "skipped"),
    ]:
        assert f"{icon} [generate] {status} ({status})" in diagram


def test_failures_and_skips_are_listed_with_their_reason() -> None:
    result = guide_result(write="HTTP 500 from model\nTraceback ...")
    result.node_results["extra"] = NodeResult(
        node_id="extra", status=ExecutionStatus.SKIPPED, error="dependency write failed"
    )
    text = summary_text(result, total_nodes=4)
    assert text.splitlines()[3:] == [
        "Completed: 2/4",
        "Duration: 5.23s",
        "Failed: write — HTTP 500 from model",
        "Skipped: extra — dependency write failed",
    ]


def test_summary_without_times_and_with_resume() -> None:
    result = ExecutionResult(
        plan_id="p",
        status=ExecutionStatus.COMPLETED,
        resumed_from="cp-abc123",
        node_results={"a": NodeResult(node_id="a", status=ExecutionStatus.COMPLETED)},
    )
    assert summary_text(result) == (
        "Execution Summary:\n"
        "------------------------------\n"
        "Status: completed\n"
        "Completed: 1/1\n"
        "Resumed from: cp-abc123"
    )


def test_summary_total_counts_plan_nodes_not_results() -> None:
    result = ExecutionResult(
        plan_id="plan-001",
        node_results={"research": NodeResult(node_id="research", status="completed")},
    )
    assert "Completed: 1/3" in render_ascii(guide_plan(), result)


# --------------------------------------------------------------------------- ASCII shapes


def test_nested_children_and_their_depends_lines() -> None:
    plan = make_plan(
        [
            node("a", "First", "analyze"),
            node(
                "g",
                "Group",
                "composite",
                deps=["a"],
                children=[
                    node("c1", "Child one", "transform"),
                    node("c2", "Child two", "validate", deps=["c1"], children=[node("x", "X")]),
                ],
            ),
            node("last", "Last", "composite", deps=["g"], children=[node("y", "Y", deps=["a"])]),
        ]
    )
    assert render_ascii(plan).split("\n\n", 1)[1] == (
        "├── ⏳ [analyze] First (a)\n"
        "├── ⏳ [composite] Group (g)\n"
        "│   ├─ Depends on: a\n"
        "│   ├── ⏳ [transform] Child one (c1)\n"
        "│   └── ⏳ [validate] Child two (c2)\n"
        "│       ├─ Depends on: c1\n"
        "│       └── ⏳ [generate] X (x)\n"
        "└── ⏳ [composite] Last (last)\n"
        "    ├─ Depends on: g\n"
        "    └── ⏳ [generate] Y (y)\n"
        "        └─ Depends on: a"
    )


def test_multiple_dependencies_on_one_line() -> None:
    plan = make_plan([node("a", "A"), node("b", "B"), node("c", "C", deps=["a", "b", "a"])])
    assert render_ascii(plan).endswith("└── ⏳ [generate] C (c)\n    └─ Depends on: a, b")
    assert render_mermaid(plan).count(" --> c") == 2


def test_empty_plan_renders() -> None:
    plan = make_plan([])
    assert render_ascii(plan).endswith("\n\n(no nodes)")
    assert node_lines(render_mermaid(plan)) == []
    assert json.loads(render_json(plan))["status"] == {}


def test_very_deep_plan_does_not_recurse() -> None:
    leaf = node("n0", "leaf")
    for i in range(1, 1500):
        leaf = node(f"n{i}", f"level {i}", children=[leaf])
    plan = make_plan([leaf])
    assert len(render_ascii(plan).splitlines()) == 4 + 1500
    mermaid = render_mermaid(plan)
    assert mermaid.startswith("flowchart TD\n")
    assert len(node_lines(mermaid)) == 1


# --------------------------------------------------------------------------- hostile text

HOSTILE = [
    "line one\nline two\r\nthree\tfour\x00\x1b[31mred\x7f",
    "say \"hi\" and 'bye'",
    "close ] bracket [ open ) ( {x} |pipe|",
    "C# is #1; #quot; #35; &amp; <b>bold</b>",
    "a --> b; end; subgraph x",
    "end",
    "style x:#f00;",
    "%% comment %%{init: {}}%%",
    "`markdown` **bold**",
    "Ünïcödé ✨ 日本語 \u202eevil\u2028sep\u2029para\x85nel",
    "x" * 10_000,
    "   ",
    "",
]


def hostile_plan() -> WorkflowPlan:
    roots = [
        node(f"n{i}", text, list(WorkflowNodeType)[i % 4].value, deps=[f"n{i - 1}"] if i else [])
        for i, text in enumerate(HOSTILE)
    ]
    return make_plan(roots, vibe="evil\nvibe " + "y" * 5000)


def test_hostile_descriptions_stay_on_one_ascii_line() -> None:
    diagram = render_ascii(hostile_plan())
    lines = diagram.splitlines()
    assert len(lines) == 4 + len(HOSTILE) + (len(HOSTILE) - 1)
    assert diagram.split("\n") == lines  # no \r, \x85, \u2028... split lines differently
    assert lines[2].startswith("Source Vibe: evil vibe yyy")
    for i, line in enumerate([lines[4], *lines[5::2]]):
        assert line.endswith(f"(n{i})")
        assert len(line) < DESCRIPTION_LIMIT + 40
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f\u202e]", diagram)
    assert "x" * 79 + "…" in diagram and "x" * 80 not in diagram


def test_hostile_descriptions_give_safe_mermaid() -> None:
    mermaid = render_mermaid(hostile_plan())
    assert mermaid.split("\n") == mermaid.splitlines()
    found = node_lines(mermaid)
    assert [m["id"] for m in found] == [f"n{i}" for i in range(len(HOSTILE))]
    for match in found:
        assert_label_safe(label_of(match))
    assert len(mermaid.splitlines()) == 1 + len(HOSTILE) + 1 + (len(HOSTILE) - 1) + 1 + 5
    labels = {m["id"]: label_of(m) for m in found}
    assert labels["n1"] == "\"say #quot;hi#quot; and 'bye'\""
    assert labels["n5"] == '"end"'  # keywords are quoted even when plain
    assert (labels["n11"], labels["n12"]) == ("n11", "n12")  # blank → the node id


def test_one_line() -> None:
    assert one_line("a\n\tb\r\nc\x00d") == "a b c d"
    assert one_line("  spaced   out  ") == "spaced out"
    assert one_line("\u202eabc") == "abc"
    assert one_line("é" * 200) == "é" * 79 + "…"
    assert len(one_line("z" * 10_000)) == DESCRIPTION_LIMIT
    assert one_line("q" * 500, None) == "q" * 500
    assert one_line("👨‍👩‍👧 family") == "👨‍👩‍👧 family"  # zero-width joiners survive


# --------------------------------------------------------------------------- Mermaid ids


def test_mermaid_ids_are_safe_and_unique() -> None:
    raw = ["end", "End", "a.b", "a-b", "1x", "n_a_b", "graph", "ok_id", "日本", "", "class"]
    ids = mermaid_ids(raw)
    assert ids["ok_id"] == "ok_id"
    assert ids["n_a_b"] == "n_a_b"  # plain ids keep their name even when a mapped one wants it
    assert ids["end"] == "n_end" and ids["End"] == "n_End"
    assert ids["a.b"] not in ("a.b", "n_a_b")
    assert len(set(ids.values())) == len(raw)
    for value in ids.values():
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value)
        assert value.lower() not in {"end", "graph", "class", "subgraph", "style", "click"}


def test_unsafe_node_ids_in_mermaid_edges() -> None:
    plan = make_plan(
        [node("end", "Stop"), node("a.b", "Dot", deps=["end"]), node("1x", "D", deps=["a.b"])]
    )
    mermaid = render_mermaid(plan)
    assert "    n_end[Stop]:::pending" in mermaid.splitlines()
    assert "    n_end --> n_a_b" in mermaid.splitlines()
    assert "    n_a_b --> n_1x" in mermaid.splitlines()
    assert "(end)" in render_ascii(plan)


# --------------------------------------------------------------------------- Mermaid shapes


def test_mermaid_shapes_and_subgraphs() -> None:
    plan = make_plan(
        [
            node("a", "Analyze", "analyze"),
            node("t", "Transform", "transform", deps=["a"]),
            node("v", "Validate", "validate", deps=["t"]),
            node("solo", "Solo group", "composite"),
            node("grp", "Group (2)", "composite", deps=["v"], children=[node("k", "Kid")]),
            node("z", "After", deps=["grp"]),
        ]
    )
    lines = render_mermaid(plan, node_status={"grp": "running"}).splitlines()
    assert lines[0] == "flowchart TD"
    assert lines[1:9] == [
        "    a([Analyze]):::pending",
        "    t[/Transform/]:::pending",
        "    v{{Validate}}:::pending",
        "    solo[[Solo group]]:::pending",
        '    subgraph grp ["Group #40;2#41;"]',
        "        k[Kid]:::pending",
        "    end",
        "    z[After]:::pending",
    ]
    assert "    class grp running" in lines
    assert "    v --> grp" in lines and "    grp --> z" in lines


def test_duplicate_ids_are_drawn_once() -> None:
    plan = make_plan([node("a", "A"), node("a", "again", children=[node("b", "B")])])
    found = node_lines(render_mermaid(plan))
    assert [m["id"] for m in found] == ["a", "b"]


# --------------------------------------------------------------------------- JSON


def test_json_round_trips_plan_with_status_and_summary() -> None:
    plan = guide_plan()
    doc = json.loads(render_json(plan, guide_result(write="boom")))
    assert WorkflowPlan.model_validate(doc["plan"]) == plan
    assert doc["status"] == {"research": "completed", "outline": "completed", "write": "failed"}
    assert doc["summary"]["completed"] == 2 and doc["summary"]["total_duration"] == 5.23
    pending = WorkflowVisualizer.generate_diagram(plan, format=VisualizationFormat.JSON)
    assert json.loads(pending)["summary"] is None
    assert pending.startswith('{\n  "plan": {')


def test_json_keeps_unicode_readable() -> None:
    plan = make_plan([node("a", "日本語 ✨")])
    assert "日本語 ✨" in render_json(plan)


# --------------------------------------------------------------------------- properties

descriptions = st.text(max_size=300)
node_ids = st.from_regex(r"[A-Za-z0-9._-]{1,12}", fullmatch=True)


@settings(database=None, max_examples=150, deadline=None)
@given(
    texts=st.lists(descriptions, min_size=1, max_size=6),
    ids=st.lists(node_ids, min_size=6, max_size=6, unique=True),
    vibe=descriptions,
)
def test_property_one_line_per_node(texts: list[str], ids: list[str], vibe: str) -> None:
    roots = [
        node(ids[i], text, list(WorkflowNodeType)[i % 4].value, deps=ids[:i][-2:])
        for i, text in enumerate(texts)
    ]
    plan = make_plan(roots, vibe=vibe)
    ascii_lines = render_ascii(plan).split("\n")
    depends = sum(1 for r in roots if r.dependencies)
    assert len(ascii_lines) == 4 + len(roots) + depends
    assert sum(1 for line in ascii_lines if "Depends on: " in line) >= depends
    mermaid = render_mermaid(plan)
    found = node_lines(mermaid)
    assert len(found) == len(roots)
    edges = sum(len(r.dependencies) for r in roots)
    assert len(mermaid.split("\n")) == 1 + len(roots) + (1 + edges if edges else 0) + 1 + 5
    assert len({m["id"] for m in found}) == len(roots)
    for match in found:
        assert_label_safe(label_of(match))


@settings(database=None, max_examples=60, deadline=None)
@given(plan=plans())
def test_property_generated_plans_render(plan: WorkflowPlan) -> None:
    total = plan.total_nodes
    with_deps = sum(1 for n in plan.iter_nodes() if n.dependencies)
    assert len(render_ascii(plan).split("\n")) == 4 + total + with_deps
    mermaid = render_mermaid(plan).split("\n")
    subgraphs = [m for line in mermaid if (m := SUBGRAPH_LINE.match(line))]
    assert len(node_lines("\n".join(mermaid))) + len(subgraphs) == total
    assert sum(1 for line in mermaid if line.strip() == "end") == len(subgraphs)
    for match in subgraphs:
        assert_label_safe(match["label"])
    assert WorkflowPlan.model_validate(json.loads(render_json(plan))["plan"]) == plan
