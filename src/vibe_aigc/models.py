"""Pure data: Vibe, WorkflowNode(Type), WorkflowPlan, and plan validation.

A plan is a forest of nodes. Two relations order the work:

* ``dependencies``: a node starts only after every node it names has completed.
* ``children``: a node's children are its sub-tasks. They inherit the dependencies of all their
  ancestors, and a parent completes only after all of its children.

:func:`plan_graph` turns both into one "must finish before" graph, which validation checks for
cycles and the scheduler runs. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Set
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field

from vibe_aigc.bulk import bulk_load
from vibe_aigc.errors import PlanProblem, PlanValidationError
from vibe_aigc.lean import LeanRecord

SAFE_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
SAFE_ID_RULE = "use 1-128 letters, digits, '-', '_' or '.', and not '.' or '..'"


def is_safe_id(value: object) -> bool:
    """True when ``value`` may be used as a node, plan or file-name id."""
    return (
        isinstance(value, str)
        and SAFE_ID_RE.fullmatch(value) is not None
        and value not in (".", "..")
    )


class WorkflowNodeType(str, Enum):
    """What kind of work a node does."""

    ANALYZE = "analyze"
    GENERATE = "generate"
    TRANSFORM = "transform"
    VALIDATE = "validate"
    COMPOSITE = "composite"


class Vibe(BaseModel):
    """A high-level creative intent."""

    model_config = ConfigDict(extra="forbid")

    description: str
    style: str | None = None
    constraints: list[str] = Field(default_factory=list)
    domain: str | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    def fingerprint(self) -> str:
        """A stable hash of what the vibe asks for (metadata excluded)."""
        canonical = json.dumps(
            {
                "description": self.description,
                "style": self.style,
                "constraints": self.constraints,
                "domain": self.domain,
            },
            sort_keys=True,
            ensure_ascii=False,
            separators=(",", ":"),
        )
        return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def derive_plan_id(vibe: Vibe) -> str:
    """The deterministic plan id of a vibe: same vibe, same id."""
    return "plan-" + vibe.fingerprint()[:12]


class WorkflowNode(LeanRecord):
    """One task of a plan; ``children`` are its sub-tasks."""

    model_config = ConfigDict(extra="forbid")

    id: str
    type: WorkflowNodeType
    description: str
    parameters: dict[str, Any] = Field(default_factory=dict)
    dependencies: list[str] = Field(default_factory=list)
    children: list[WorkflowNode] = Field(default_factory=list)
    estimated_duration: float | None = None


class WorkflowPlan(BaseModel):
    """An executable decomposition of a vibe: a forest of :class:`WorkflowNode`."""

    model_config = ConfigDict(extra="forbid")

    id: str
    source_vibe: Vibe
    root_nodes: list[WorkflowNode]
    estimated_total_duration: float | None = None
    created_at: datetime | None = None

    def iter_nodes(self) -> Iterator[WorkflowNode]:
        """Every node of the forest, depth first, parents before children."""
        return iter_nodes(self.root_nodes)

    def get_node(self, node_id: str) -> WorkflowNode | None:
        return next((n for n in self.iter_nodes() if n.id == node_id), None)

    @property
    def node_ids(self) -> list[str]:
        return [n.id for n in _all_nodes(self.root_nodes)]

    @property
    def total_nodes(self) -> int:
        return len(_all_nodes(self.root_nodes))

    def problems(self) -> list[PlanProblem]:
        """Every fault of the plan (empty when it may run)."""
        return validation_problems(self)

    def validate_plan(self) -> PlanGraph:
        """Raise :class:`PlanValidationError` listing every fault, else return the graph."""
        problems, graph = checked_graph(self)
        if problems:
            raise PlanValidationError(problems, plan_id=self.id)
        return graph  # the one graph validation built (a second is ~0.5 KB a node more)


def _all_nodes(roots: list[WorkflowNode]) -> list[WorkflowNode]:
    """:func:`iter_nodes` as a list, built without a generator step per node (a plan of 100k
    nodes without children is its roots)."""
    if not any(node.children for node in roots):
        return roots
    return list(iter_nodes(roots))


def iter_nodes(roots: list[WorkflowNode]) -> Iterator[WorkflowNode]:
    stack = list(reversed(roots))
    while stack:
        node = stack.pop()
        yield node
        stack.extend(reversed(node.children))


class NodeSet(tuple[str, ...]):
    """A small immutable set of node ids, as the graph keeps two per node (100k-node plans):
    a tuple (48 bytes for one id; a built-in set of even one id is 216) that compares,
    combines and prints like a set. Iterating it is a tuple's (the scheduler's hot loop);
    :func:`node_set` gives one for a few ids and a frozenset for many."""

    __slots__ = ()

    def __new__(cls, ids: Iterable[str] = ()) -> NodeSet:
        unique = tuple(ids)
        if len(unique) > 1:
            unique = tuple(dict.fromkeys(unique))
        return super().__new__(cls, unique)

    def _other(self, other: object) -> frozenset[Any] | None:
        return frozenset(other) if isinstance(other, Set) else None

    def __eq__(self, other: object) -> bool:  # never equal to a tuple: a set is not one
        theirs = self._other(other)
        return theirs is not None and frozenset(self) == theirs

    def __ne__(self, other: object) -> bool:
        return not self == other

    def __le__(self, other: Set[Any]) -> bool:  # type: ignore[override]
        theirs = self._other(other)
        return NotImplemented if theirs is None else frozenset(self) <= theirs

    def __lt__(self, other: Set[Any]) -> bool:  # type: ignore[override]
        theirs = self._other(other)
        return NotImplemented if theirs is None else frozenset(self) < theirs

    def __ge__(self, other: Set[Any]) -> bool:  # type: ignore[override]
        theirs = self._other(other)
        return NotImplemented if theirs is None else frozenset(self) >= theirs

    def __gt__(self, other: Set[Any]) -> bool:  # type: ignore[override]
        theirs = self._other(other)
        return NotImplemented if theirs is None else frozenset(self) > theirs

    def __and__(self, other: Iterable[Any]) -> frozenset[str]:
        return frozenset(self) & frozenset(other)

    def __or__(self, other: Iterable[Any]) -> frozenset[Any]:
        return frozenset(self) | frozenset(other)

    def __sub__(self, other: Iterable[Any]) -> frozenset[str]:
        return frozenset(self) - frozenset(other)

    def __xor__(self, other: Iterable[Any]) -> frozenset[Any]:
        return frozenset(self) ^ frozenset(other)

    __rand__ = __and__
    __ror__ = __or__
    __rxor__ = __xor__

    def __rsub__(self, other: Iterable[Any]) -> frozenset[Any]:
        return frozenset(other) - frozenset(self)

    def isdisjoint(self, other: Iterable[Any]) -> bool:
        return frozenset(self).isdisjoint(other)

    __hash__ = None  # type: ignore[assignment]  # a set is not hashable

    def __repr__(self) -> str:
        return repr(set(self)) if self else "set()"


Set.register(NodeSet)


def node_set(ids: list[str]) -> Set[str]:
    """The graph's edge set for ``ids``: shared when empty, a NodeSet for a few, a frozenset
    (constant-time membership) for many."""
    if not ids:
        return _NO_IDS
    if len(ids) > 1:
        ids = list(dict.fromkeys(ids))
        if len(ids) > 8:
            return frozenset(ids)
    # tuple's own constructor: no Python-level __new__ per edge set of a 100k-node plan
    return _TUPLE_NEW(NodeSet, ids)


# tuple's own constructor (no Python-level __new__ per edge set); a NodeSet is a Set (above)
_TUPLE_NEW = cast(Callable[[type[NodeSet], Iterable[str]], Set[str]], tuple.__new__)


_NO_IDS = cast(Set[str], NodeSet())


@dataclass
class PlanGraph:
    """The plan as one graph. ``before[n]``: ids that must complete before ``n`` completes.

    For a leaf or a parent's own step that is its dependencies, the dependencies of every
    ancestor, and (for a parent) its children.
    """

    nodes: dict[str, WorkflowNode]
    order: list[str]  # depth-first order of the tree (stable, used for display and ties)
    parent: dict[str, str]
    """The parent of each child node; a root node has no entry (a plan of 100k roots held a
    dict of 100k Nones: 4 MB)."""
    before: dict[str, Set[str]] = field(default_factory=dict)
    after: dict[str, Set[str]] = field(default_factory=dict)

    def dependency_ids(self, node_id: str) -> list[str]:
        """Dependencies in force for a node: its own, then inherited, without duplicates."""
        seen: dict[str, None] = {}
        current: str | None = node_id
        while current is not None:
            for dep in self.nodes[current].dependencies:
                seen.setdefault(dep, None)
            current = self.parent.get(current)
        return list(seen)

    def descendants_after(self, node_id: str) -> set[str]:
        """Every node that (transitively) waits on ``node_id``."""
        out: set[str] = set()
        stack = [node_id]
        while stack:
            for nxt in self.after.get(stack.pop(), ()):
                if nxt not in out:
                    out.add(nxt)
                    stack.append(nxt)
        return out

    def critical_path(self, duration: dict[str, float]) -> float:
        """Longest path through the graph with the given per-node durations."""
        finish: dict[str, float] = {}
        for node_id in self.topological_order():
            start = max((finish[b] for b in self.before[node_id]), default=0.0)
            finish[node_id] = start + duration.get(node_id, 0.0)
        return max(finish.values(), default=0.0)

    def remaining_path(self, position: dict[str, int], skip: Set[str] = frozenset()) -> list[float]:
        """Longest path from each node to the end, weighted by estimated duration (default 1),
        by ``position`` (in :attr:`order`); 0 for the nodes in ``skip`` (completed: they never
        run). Only the nodes left are walked: what follows a node left is left too, so their
        paths are whole without the others (on a resume at 90 %, a tenth of the plan)."""
        remaining = [0.0] * len(self.order)
        for n in reversed(self.topological_order(skip)):
            weight = float(self.nodes[n].estimated_duration or 1.0)
            remaining[position[n]] = weight + max(
                (remaining[position[m]] for m in self.after[n]), default=0.0
            )
        return remaining

    def topological_order(self, skip: Set[str] = frozenset()) -> list[str]:
        """Every node after its dependencies; without the nodes in ``skip`` when given, which
        must hold every dependency of the nodes it holds (what a resume has completed)."""
        if skip:
            before = self.before
            indeg = {
                n: sum(1 for b in before[n] if b not in skip) for n in self.order if n not in skip
            }
        else:
            indeg = {n: len(self.before[n]) for n in self.order}
        ready = [n for n, k in indeg.items() if k == 0]
        out: list[str] = []
        while ready:
            n = ready.pop()
            out.append(n)
            for m in self.after[n]:
                left = indeg.get(m)
                if left is None:  # in ``skip`` though it follows a node that is not
                    continue
                indeg[m] = left - 1
                if left == 1:
                    ready.append(m)
        return out


def plan_graph(plan: WorkflowPlan) -> PlanGraph:
    """Build the "must finish before" graph (first occurrence wins for duplicate ids)."""
    with bulk_load():  # only tuples, lists and dicts of ids: nothing for the collector
        return _build_graph(plan)


def _build_graph(plan: WorkflowPlan) -> PlanGraph:
    nodes: dict[str, WorkflowNode] = {}
    parent: dict[str, str] = {}
    order: list[str] = []
    stack: list[tuple[WorkflowNode, str | None]] = [(n, None) for n in reversed(plan.root_nodes)]
    while stack:
        node, par = stack.pop()
        node_id = node.id
        if node_id not in nodes:
            nodes[node_id] = node
            if par is not None:
                parent[node_id] = par
            order.append(node_id)
        if node.children:
            stack.extend((c, node_id) for c in reversed(node.children))
    graph = PlanGraph(nodes=nodes, order=order, parent=parent)
    before = graph.before
    after: dict[str, list[str]] = {}
    for node_id in order:
        node = nodes[node_id]
        deps = node.dependencies
        if node_id in parent:
            befores = [dep for dep in graph.dependency_ids(node_id) if dep in nodes]
        else:  # a root node: its own dependencies only (what dependency_ids gives, quicker)
            unique = dict.fromkeys(deps) if len(deps) > 1 else deps
            befores = [dep for dep in unique if dep in nodes]
        if node.children:
            befores += [c.id for c in node.children if c.id in nodes and c.id != node_id]
        if not befores:
            before[node_id] = _NO_IDS
            continue
        edges = _TUPLE_NEW(NodeSet, befores) if len(befores) == 1 else node_set(befores)
        before[node_id] = edges
        for b in edges:
            waiting = after.get(b)
            if waiting is None:
                after[b] = [node_id]
            else:
                waiting.append(node_id)
    graph.after = {
        n: _TUPLE_NEW(NodeSet, a) if len(a := after.get(n, ())) == 1 else node_set(list(a))
        for n in order
    }
    return graph


def validation_problems(plan: WorkflowPlan) -> list[PlanProblem]:
    """Every problem of a plan, all at once, in a stable order."""
    return checked_graph(plan)[0]


def checked_graph(
    plan: WorkflowPlan, graph: PlanGraph | None = None
) -> tuple[list[PlanProblem], PlanGraph]:
    """Every problem of a plan (as :func:`validation_problems`) and the graph built to find
    them, for a caller that runs the plan next (building it for 100k nodes takes a while).
    ``graph``: the plan's, when the caller built it already (:func:`plan_graph`)."""
    with bulk_load():
        return _checked_graph(plan, graph)


def _checked_graph(
    plan: WorkflowPlan, built: PlanGraph | None
) -> tuple[list[PlanProblem], PlanGraph]:
    problems: list[PlanProblem] = []
    if not is_safe_id(plan.id):
        problems.append(PlanProblem("invalid_id", None, f"plan id {plan.id!r}: {SAFE_ID_RULE}"))
    if not plan.source_vibe.description.strip():
        problems.append(PlanProblem("empty_description", None, "the vibe's description is empty"))
    if not plan.root_nodes:
        problems.append(PlanProblem("empty_plan", None, "the plan has no nodes"))
    seen: set[str] = set()
    duplicates: list[str] = []
    for node in plan.iter_nodes():
        if node.id in seen and node.id not in duplicates:
            duplicates.append(node.id)
        seen.add(node.id)
        if not is_safe_id(node.id):
            problems.append(PlanProblem("invalid_id", node.id, f"node id: {SAFE_ID_RULE}"))
        if not node.description.strip():
            problems.append(PlanProblem("empty_description", node.id, "description is empty"))
    for dup in duplicates:
        problems.append(PlanProblem("duplicate_id", dup, "the id is used by more than one node"))
    for node in plan.iter_nodes():
        for dep in node.dependencies:
            if dep not in seen:
                problems.append(
                    PlanProblem("missing_dependency", node.id, f"depends on unknown node {dep!r}")
                )
    del seen, duplicates
    graph = built if built is not None else plan_graph(plan)
    for cycle in find_cycles(graph):
        path = " -> ".join([*cycle, cycle[0]])
        problems.append(PlanProblem("cycle", cycle[0], f"cycle through {path}"))
    return problems, graph


def find_cycles(graph: PlanGraph) -> list[list[str]]:
    """One representative cycle per strongly tangled region (Kahn leftovers, walked back)."""
    indeg = {n: len(graph.before[n]) for n in graph.order}
    ready = [n for n in graph.order if indeg[n] == 0]
    while ready:
        n = ready.pop()
        for m in graph.after[n]:
            indeg[m] -= 1
            if indeg[m] == 0:
                ready.append(m)
    left = [n for n in graph.order if indeg[n] > 0]
    left_set = set(left)
    covered: set[str] = set()
    cycles: list[list[str]] = []
    for start in left:
        if start in covered:
            continue
        path: list[str] = []
        index: dict[str, int] = {}
        current = start
        while current not in index and current not in covered:
            index[current] = len(path)
            path.append(current)
            preds = [b for b in graph.before[current] if b in left_set]
            fresh = [b for b in preds if b not in covered]
            current = min(fresh or preds)
        covered.update(path)
        if current in index:
            # walked backwards along "before" edges; reverse to read in execution order
            cycle = list(reversed(path[index[current] :]))
            cycles.append(cycle)
    return cycles
