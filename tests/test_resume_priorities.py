"""A resumed run ranks only the nodes left: the same priorities as a walk of the whole plan.

The scheduler starts ready nodes longest-remaining-path first. On a resume at 90 % the
paths are walked over the tenth that is left (what follows a node left is left too), not
over the whole plan; the nodes left get the priorities a walk of the whole plan gives them.
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from vibe_aigc import Vibe, WorkflowNode, WorkflowPlan
from vibe_aigc.models import plan_graph


@st.composite
def plans_and_done(draw: st.DrawFn) -> tuple[WorkflowPlan, set[str]]:
    """A random DAG (each node may wait on earlier ones) and a dependency-closed set of
    completed nodes in it."""
    count = draw(st.integers(1, 25))
    deps = [
        sorted(draw(st.sets(st.integers(0, i - 1), max_size=3))) if i else [] for i in range(count)
    ]
    weights = [draw(st.none() | st.floats(0.5, 4.0)) for _ in range(count)]
    order = draw(st.permutations(list(range(count))))  # the plan lists nodes in any order
    nodes = [
        WorkflowNode(
            id=f"n{i}",
            type="transform",
            description="step",
            dependencies=[f"n{d}" for d in deps[i]],
            estimated_duration=weights[i],
        )
        for i in order
    ]
    done: set[str] = set()
    for i in range(count):  # in dependency order: a node is done only if its deps are
        if all(f"n{d}" in done for d in deps[i]) and draw(st.booleans()):
            done.add(f"n{i}")
    plan = WorkflowPlan(id="p", root_nodes=nodes, source_vibe=Vibe(description="d"))
    return plan, done


@given(plans_and_done())
def test_the_nodes_left_are_ordered_and_ranked_as_in_the_whole_plan(
    case: tuple[WorkflowPlan, set[str]],
) -> None:
    plan, done = case
    graph = plan_graph(plan)
    left = [n for n in graph.order if n not in done]
    order = graph.topological_order(done)
    assert sorted(order) == sorted(left)  # every node left, once
    seen: set[str] = set()
    for node_id in order:
        assert all(b in seen or b in done for b in graph.before[node_id])
        seen.add(node_id)

    position = {n: i for i, n in enumerate(graph.order)}
    whole = graph.remaining_path(position)
    ranked = graph.remaining_path(position, done)
    for node_id in left:
        assert ranked[position[node_id]] == whole[position[node_id]]
    for node_id in done:
        assert ranked[position[node_id]] == 0.0  # never run, never ranked


def test_a_completed_node_after_one_left_is_skipped_not_an_error() -> None:
    """``skip`` should hold every dependency of what it holds; a caller's mapping that does
    not (a hand-made ``completed``) leaves that node out of the order instead of failing."""
    nodes = [
        WorkflowNode(id="a", type="transform", description="s"),
        WorkflowNode(id="b", type="transform", description="s", dependencies=["a"]),
    ]
    graph = plan_graph(WorkflowPlan(id="p", root_nodes=nodes, source_vibe=Vibe(description="d")))
    assert graph.topological_order({"b"}) == ["a"]
