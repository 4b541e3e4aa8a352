"""Hypothesis strategies for plans (shared by property tests), and a plain chain plan."""

from __future__ import annotations

from hypothesis import strategies as st

from vibe_aigc.models import Vibe, WorkflowNode, WorkflowNodeType, WorkflowPlan

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def dags(draw: st.DrawFn, max_nodes: int = 25) -> list[tuple[str, list[str]]]:
    """A random DAG as (id, dependencies) in topological order."""
    n = draw(st.integers(1, max_nodes))
    nodes: list[tuple[str, list[str]]] = []
    for i in range(n):
        deps = draw(st.sets(st.integers(0, i - 1), max_size=min(i, 4))) if i else set()
        nodes.append((f"n{i}", [f"n{d}" for d in sorted(deps)]))
    return nodes


@st.composite
def plans(draw: st.DrawFn) -> WorkflowPlan:
    """A random valid plan, possibly with hierarchy (children under composite/generate nodes)."""
    edges = draw(dags(max_nodes=12))
    roots: list[WorkflowNode] = []
    for node_id, deps in edges:
        children = []
        if draw(st.booleans()) and draw(st.integers(0, 3)) == 0:
            for k in range(draw(st.integers(1, 3))):
                children.append(
                    WorkflowNode(
                        id=f"{node_id}.c{k}",
                        type=WorkflowNodeType.GENERATE,
                        description=draw(st.text(min_size=1, max_size=30).filter(str.strip)),
                        parameters=draw(
                            st.dictionaries(st.text(max_size=6), json_values, max_size=2)
                        ),
                    )
                )
        roots.append(
            WorkflowNode(
                id=node_id,
                type=draw(st.sampled_from(list(WorkflowNodeType))),
                description=draw(st.text(min_size=1, max_size=40).filter(str.strip)),
                parameters=draw(st.dictionaries(st.text(max_size=6), json_values, max_size=3)),
                dependencies=deps,
                children=children,
                estimated_duration=draw(st.none() | st.floats(0, 1e6, allow_nan=False)),
            )
        )
    vibe = Vibe(
        description=draw(st.text(min_size=1, max_size=60).filter(str.strip)),
        style=draw(st.none() | st.text(max_size=20)),
        constraints=draw(st.lists(st.text(max_size=20), max_size=3)),
        domain=draw(st.none() | st.text(max_size=10)),
        metadata=draw(st.dictionaries(st.text(max_size=6), json_values, max_size=2)),
    )
    return WorkflowPlan(
        id=draw(st.from_regex(r"plan-[a-z0-9]{1,12}", fullmatch=True)),
        source_vibe=vibe,
        root_nodes=roots,
    )


def chain_plan(n: int, plan_id: str, prefix: str = "n") -> WorkflowPlan:
    """A chain of ``n`` transform nodes ``<prefix>0`` ... each waiting on the one before."""
    nodes = [
        WorkflowNode(
            id=f"{prefix}{i}",
            type="transform",
            description="step",
            dependencies=[f"{prefix}{i - 1}"] if i else [],
        )
        for i in range(n)
    ]
    return WorkflowPlan(id=plan_id, root_nodes=nodes, source_vibe=Vibe(description="x"))
