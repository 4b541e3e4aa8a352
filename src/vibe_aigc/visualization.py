"""Plan and result → ASCII tree, Mermaid flowchart or JSON. Pure functions, no I/O.

Statuses come from, in order: the ``node_status`` override (the live view uses it for "running"
nodes), ``execution_result.node_results[id].status``, else ``pending``.

Text from plans is untrusted: every description is made one-line (control characters and line
breaks become spaces) and cut at :data:`DESCRIPTION_LIMIT` characters before it is drawn. In
Mermaid, node ids become safe identifiers (:func:`mermaid_ids`) and labels that are not plain words
are quoted with every special character written as a Mermaid entity code (``#quot;``, ``#35;``...).

Mermaid and nodes with children: such a node is drawn as a ``subgraph`` holding its children, and
edges of its dependencies point at the subgraph. Edges to subgraphs need the ``flowchart``
renderer, so the header is ``flowchart TD`` when the plan has a subgraph and ``graph TD`` (as in the
guide) otherwise. A composite without children is drawn as a subroutine box ``[[...]]``.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from enum import StrEnum
from typing import Any

from vibe_aigc.errors import ConfigurationError
from vibe_aigc.models import WorkflowNode, WorkflowNodeType, WorkflowPlan
from vibe_aigc.results import ExecutionResult, ExecutionStatus

__all__ = [
    "DESCRIPTION_LIMIT",
    "STATUS_ICONS",
    "VisualizationFormat",
    "WorkflowVisualizer",
    "mermaid_ids",
    "one_line",
    "render_ascii",
    "render_json",
    "render_mermaid",
    "summary_text",
]

DESCRIPTION_LIMIT = 80
_ID_LIMIT = 128  # the longest valid id; longer (invalid) ids are cut too

STATUS_ICONS: dict[ExecutionStatus, str] = {
    ExecutionStatus.PENDING: "⏳",
    ExecutionStatus.RUNNING: "🔄",
    ExecutionStatus.COMPLETED: "✅",
    ExecutionStatus.FAILED: "❌",
    ExecutionStatus.SKIPPED: "⏭️",
    ExecutionStatus.INTERRUPTED: "⏸️",
}

MERMAID_CLASSDEFS = (
    "classDef completed fill:#d4edda,stroke:#28a745",
    "classDef failed fill:#f8d7da,stroke:#dc3545",
    "classDef running fill:#fff3cd,stroke:#ffc107",
    "classDef pending fill:#f8f9fa,stroke:#6c757d",
    "classDef skipped fill:#e2e3e5,stroke:#adb5bd,stroke-dasharray: 5 5",
)

# (open, close) of the Mermaid shape per node type
_SHAPES: dict[WorkflowNodeType, tuple[str, str]] = {
    WorkflowNodeType.ANALYZE: ("([", "])"),
    WorkflowNodeType.GENERATE: ("[", "]"),
    WorkflowNodeType.TRANSFORM: ("[/", "/]"),
    WorkflowNodeType.VALIDATE: ("{{", "}}"),
    WorkflowNodeType.COMPOSITE: ("[[", "]]"),
}

# Words the Mermaid flowchart lexer treats specially; never used as bare ids (compared lowercased).
_MERMAID_KEYWORDS = frozenset(
    {
        "end", "graph", "flowchart", "flowchart-elk", "subgraph", "style", "linkstyle",
        "classdef", "class", "click", "call", "href", "direction", "default", "interpolate",
        "tb", "td", "bt", "rl", "lr", "_self", "_blank", "_parent", "_top",
    }
)  # fmt: skip
_PLAIN_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_PLAIN_LABEL = re.compile(r"[A-Za-z0-9]+(?: [A-Za-z0-9]+)*")
_MERMAID_ENTITIES = {
    '"': "#quot;",
    "&": "#amp;",
    "<": "#lt;",
    ">": "#gt;",
    "#": "#35;",
    **{c: f"#{ord(c)};" for c in "%:;[](){}|`\\"},
}
# Characters that reorder or hide text on a terminal (bidi embeddings, overrides, isolates).
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class VisualizationFormat(StrEnum):
    """Output formats of :meth:`WorkflowVisualizer.generate_diagram` (a ``str`` enum)."""

    ASCII = "ascii"
    MERMAID = "mermaid"
    JSON = "json"


def _coerce_format(value: VisualizationFormat | str) -> VisualizationFormat:
    if isinstance(value, VisualizationFormat):
        return value
    try:
        return VisualizationFormat(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(f.value for f in VisualizationFormat)
        raise ConfigurationError(
            f"Unsupported format: {value!r} (unknown visualization format; use one of: {choices})"
        ) from None


# --------------------------------------------------------------------------- text helpers


def one_line(text: str, limit: int | None = DESCRIPTION_LIMIT) -> str:
    """``text`` made safe for one display line.

    Line breaks, tabs, control and bidi-override characters become spaces, runs of whitespace
    collapse to one space, and text longer than ``limit`` characters is cut and ends in "…".
    """
    cleaned = "".join(
        " " if ch in _BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch
        for ch in text
    )
    cleaned = " ".join(cleaned.split())
    if limit is not None and len(cleaned) > limit:
        cleaned = cleaned[: max(limit - 1, 0)].rstrip() + "…"
    return cleaned


_ESCAPES = re.compile(
    r"\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC ... BEL/ST (title, clipboard, links)
    r"|\x1b[P^_][^\x1b]*(?:\x1b\\)?"  # DCS / PM / APC strings
    r"|\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: cursor movement, colours, erase
    r"|\x1b[@-Z\\-_]"  # other two-byte escapes
    r"|\x9b[0-?]*[ -/]*[@-~]"  # 8-bit CSI
)


def terminal_text(text: str) -> str:
    """``text`` from outside (model answers, provider errors) made safe to print: escape
    sequences are removed and other control and bidi-override characters shown as U+FFFD;
    line breaks and tabs stay."""
    cleaned = _ESCAPES.sub("", text)
    return "".join(
        "\ufffd"
        if ch in _BIDI_CONTROLS
        or (unicodedata.category(ch) == "Cc" and ch not in "\n\t")
        else ch
        for ch in cleaned
    )


def _status_map(
    plan: WorkflowPlan,
    execution_result: ExecutionResult | None,
    node_status: Mapping[str, ExecutionStatus | str] | None,
) -> dict[str, ExecutionStatus]:
    out: dict[str, ExecutionStatus] = {}
    results = execution_result.node_results if execution_result is not None else {}
    for node in plan.iter_nodes():
        if node.id in out:
            continue
        if node_status is not None and node.id in node_status:
            out[node.id] = ExecutionStatus(node_status[node.id])
        elif node.id in results:
            out[node.id] = results[node.id].status
        else:
            out[node.id] = ExecutionStatus.PENDING
    return out


def _unique_count(plan: WorkflowPlan) -> int:
    return len({n.id for n in plan.iter_nodes()})


# --------------------------------------------------------------------------- summary


def summary_text(result: ExecutionResult, total_nodes: int | None = None) -> str:
    """The "Execution Summary" block (no leading blank line, no trailing newline).

    ``total_nodes`` defaults to the number of node results. Failed and skipped nodes that carry
    an error message are listed after the counts, one line each.
    """
    total = len(result.node_results) if total_nodes is None else total_nodes
    lines = [
        "Execution Summary:",
        "-" * 30,
        f"Status: {result.status.value}",
        f"Completed: {result.count(ExecutionStatus.COMPLETED)}/{total}",
    ]
    if result.started_at is not None and result.completed_at is not None:
        seconds = (result.completed_at - result.started_at).total_seconds()
        lines.append(f"Duration: {seconds:.2f}s")
    if result.resumed_from is not None:
        lines.append(f"Resumed from: {one_line(result.resumed_from, _ID_LIMIT)}")
    for label, status in (("Failed", ExecutionStatus.FAILED), ("Skipped", ExecutionStatus.SKIPPED)):
        for node_id, node_result in result.node_results.items():
            first = (node_result.error or "").strip().splitlines()[:1]
            if node_result.status == status and first:
                lines.append(f"{label}: {one_line(node_id, _ID_LIMIT)} — {one_line(first[0])}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- ASCII


def render_ascii(
    plan: WorkflowPlan,
    execution_result: ExecutionResult | None = None,
    *,
    node_status: Mapping[str, ExecutionStatus | str] | None = None,
) -> str:
    """The plan as a tree: one line per node, plus one "Depends on" line per node with deps."""
    status = _status_map(plan, execution_result, node_status)
    lines = [
        f"Workflow Plan: {one_line(plan.id, _ID_LIMIT)}",
        "=" * 50,
        f"Source Vibe: {one_line(plan.source_vibe.description, 200)}",
        "",
    ]
    if not plan.root_nodes:
        lines.append("(no nodes)")
    roots = plan.root_nodes
    stack: list[tuple[WorkflowNode, str, bool]] = [
        (node, "", i == len(roots) - 1) for i, node in reversed(list(enumerate(roots)))
    ]
    while stack:  # iterative: deep plans must not hit the recursion limit
        node, prefix, last = stack.pop()
        icon = STATUS_ICONS[status.get(node.id, ExecutionStatus.PENDING)]
        lines.append(
            f"{prefix}{'└── ' if last else '├── '}{icon} [{node.type.value}] "
            f"{one_line(node.description)} ({one_line(node.id, _ID_LIMIT)})"
        )
        inner = prefix + ("    " if last else "│   ")
        if node.dependencies:
            deps = ", ".join(one_line(d, _ID_LIMIT) for d in dict.fromkeys(node.dependencies))
            lines.append(f"{inner}{'├─ ' if node.children else '└─ '}Depends on: {deps}")
        kids = node.children
        stack.extend(
            (child, inner, i == len(kids) - 1) for i, child in reversed(list(enumerate(kids)))
        )
    if execution_result is not None:
        lines += ["", summary_text(execution_result, _unique_count(plan))]
    return "\n".join(lines)


# --------------------------------------------------------------------------- Mermaid


def mermaid_ids(node_ids: list[str]) -> dict[str, str]:
    """Map each node id to a unique, safe Mermaid identifier.

    Ids that already are ``[A-Za-z_][A-Za-z0-9_]*`` and no Mermaid keyword are kept; others
    become ``n_`` + the id with every other character replaced by ``_`` (plus ``_2``, ``_3``...
    when that is taken).
    """
    unique = list(dict.fromkeys(node_ids))
    out: dict[str, str] = {}
    used: set[str] = set()
    for node_id in unique:
        if _PLAIN_ID.fullmatch(node_id) and node_id.lower() not in _MERMAID_KEYWORDS:
            out[node_id] = node_id
            used.add(node_id)
    for node_id in unique:
        if node_id in out:
            continue
        base = "n_" + re.sub(r"[^A-Za-z0-9_]", "_", node_id)
        candidate, n = base, 1
        while candidate in used:
            n += 1
            candidate = f"{base}_{n}"
        out[node_id] = candidate
        used.add(candidate)
    return out


def _mermaid_label(text: str) -> str:
    """A label safe inside any Mermaid shape: plain words as is, everything else quoted."""
    if _PLAIN_LABEL.fullmatch(text) and not (set(text.lower().split()) & _MERMAID_KEYWORDS):
        return text
    return '"' + "".join(_MERMAID_ENTITIES.get(ch, ch) for ch in text) + '"'


def render_mermaid(
    plan: WorkflowPlan,
    execution_result: ExecutionResult | None = None,
    *,
    node_status: Mapping[str, ExecutionStatus | str] | None = None,
) -> str:
    """The plan as a Mermaid flowchart: one line per node, one edge per dependency."""
    status = _status_map(plan, execution_result, node_status)
    ids = mermaid_ids([n.id for n in plan.iter_nodes()])
    body: list[str] = []
    styled: list[str] = []
    seen: set[str] = set()
    uses_subgraph = False
    stack: list[tuple[WorkflowNode | None, int]] = [(n, 1) for n in reversed(plan.root_nodes)]
    while stack:
        node, depth = stack.pop()
        indent = "    " * depth
        if node is None:  # closes a subgraph
            body.append(indent + "end")
            continue
        first = node.id not in seen
        seen.add(node.id)
        label = _mermaid_label(one_line(node.description) or one_line(node.id) or "node")
        mid, state = ids[node.id], status[node.id].value
        if node.children and first:
            uses_subgraph = True
            body.append(f"{indent}subgraph {mid} [{label}]")
            styled.append(f"    class {mid} {state}")
            stack.append((None, depth))
            depth += 1
        elif first:
            opening, closing = _SHAPES[node.type]
            body.append(f"{indent}{mid}{opening}{label}{closing}:::{state}")
        # a repeated id (invalid plan) is drawn once; its children are still drawn
        stack.extend((child, depth) for child in reversed(node.children))
    edges: list[str] = []
    drawn: set[str] = set()
    for node in plan.iter_nodes():
        if node.id in drawn:
            continue
        drawn.add(node.id)
        for dep in dict.fromkeys(node.dependencies):
            if dep in ids:
                edges.append(f"    {ids[dep]} --> {ids[node.id]}")
    lines = ["flowchart TD" if uses_subgraph else "graph TD", *body, *styled]
    if edges:
        lines += ["    ", *edges]
    lines += ["    ", *(f"    {c}" for c in MERMAID_CLASSDEFS)]
    return "\n".join(lines)


# --------------------------------------------------------------------------- JSON


def render_json(
    plan: WorkflowPlan,
    execution_result: ExecutionResult | None = None,
    *,
    node_status: Mapping[str, ExecutionStatus | str] | None = None,
) -> str:
    """``{"plan": ..., "status": {node_id: status}, "summary": ... or null}``, indented."""
    status = _status_map(plan, execution_result, node_status)
    doc: dict[str, Any] = {
        "plan": plan.model_dump(mode="json"),
        "status": {node_id: state.value for node_id, state in status.items()},
        "summary": execution_result.get_summary() if execution_result is not None else None,
    }
    return json.dumps(doc, indent=2, ensure_ascii=False)


# --------------------------------------------------------------------------- facade

_RENDERERS = {
    VisualizationFormat.ASCII: render_ascii,
    VisualizationFormat.MERMAID: render_mermaid,
    VisualizationFormat.JSON: render_json,
}


class WorkflowVisualizer:
    """The guide's entry point; dispatches to :func:`render_ascii` and friends."""

    @staticmethod
    def generate_diagram(
        plan: WorkflowPlan,
        execution_result: ExecutionResult | None = None,
        format: VisualizationFormat | str = VisualizationFormat.ASCII,
        *,
        node_status: Mapping[str, ExecutionStatus | str] | None = None,
    ) -> str:
        """Draw ``plan`` (with statuses from ``execution_result`` / ``node_status``).

        ``format`` is a :class:`VisualizationFormat` or its value ("ascii", "mermaid",
        "json"); anything else raises :class:`~vibe_aigc.errors.ConfigurationError`.
        """
        renderer = _RENDERERS[_coerce_format(format)]
        return renderer(plan, execution_result, node_status=node_status)
