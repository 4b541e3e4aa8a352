"""Plan validation and JSON round trips."""

from __future__ import annotations

import pytest
from hypothesis import given, settings

from strategies import plans
from vibe_aigc import PlanValidationError, Vibe, WorkflowNode, WorkflowNodeType, WorkflowPlan
from vibe_aigc.errors import PlanError, VibeError
from vibe_aigc.models import derive_plan_id, is_safe_id


def node(node_id: str, deps: list[str] | None = None, **kw: object) -> WorkflowNode:
    return WorkflowNode(
        id=node_id,
        type=kw.pop("type", WorkflowNodeType.GENERATE),  # type: ignore[arg-type]
        description=kw.pop("description", f"do {node_id}"),  # type: ignore[arg-type]
        dependencies=deps or [],
        **kw,  # type: ignore[arg-type]
    )


def plan_of(*roots: WorkflowNode, plan_id: str = "plan-t") -> WorkflowPlan:
    return WorkflowPlan(id=plan_id, source_vibe=Vibe(description="test"), root_nodes=list(roots))


def test_valid_plan_passes() -> None:
    plan = plan_of(node("a"), node("b", ["a"]), node("c", ["a"]), node("d", ["b", "c"]))
    graph = plan.validate_plan()
    assert graph.before["d"] == {"b", "c"}
    assert plan.problems() == []


@pytest.mark.parametrize(
    ("plan", "kind"),
    [
        (plan_of(node("a"), node("a")), "duplicate_id"),
        (plan_of(node("a", children=[node("a")])), "duplicate_id"),
        (plan_of(node("a", ["ghost"])), "missing_dependency"),
        (plan_of(node("a", ["b"]), node("b", ["a"])), "cycle"),
        (plan_of(node("a", ["a"])), "cycle"),
        (plan_of(node("p", children=[node("c", ["p"])])), "cycle"),
        (plan_of(node("../x")), "invalid_id"),
        (plan_of(node("..")), "invalid_id"),
        (plan_of(node("a b")), "invalid_id"),
        (plan_of(node("x" * 129)), "invalid_id"),
        (plan_of(node("a", description="   ")), "empty_description"),
        (plan_of(node("a"), plan_id="../escape"), "invalid_id"),
        (plan_of(), "empty_plan"),
    ],
)
def test_each_problem_kind(plan: WorkflowPlan, kind: str) -> None:
    with pytest.raises(PlanValidationError) as info:
        plan.validate_plan()
    assert kind in info.value.kinds
    assert isinstance(info.value, PlanError) and isinstance(info.value, VibeError)


def test_inherited_dependency_cycle_detected() -> None:
    # parent p waits on d; d waits on p's child c -> c would wait on d (inherited) -> cycle
    plan = plan_of(node("d", ["c"]), node("p", ["d"], children=[node("c")]))
    with pytest.raises(PlanValidationError) as info:
        plan.validate_plan()
    assert "cycle" in info.value.kinds


def test_all_problems_reported_at_once() -> None:
    plan = plan_of(
        node("a", ["b"]),
        node("b", ["a"]),
        node("dup"),
        node("dup"),
        node("bad/id"),
        node("e", ["nowhere"], description=""),
    )
    with pytest.raises(PlanValidationError) as info:
        plan.validate_plan()
    assert info.value.kinds == {
        "cycle",
        "duplicate_id",
        "invalid_id",
        "missing_dependency",
        "empty_description",
    }
    message = str(info.value)
    assert "nowhere" in message
    assert "a -> b -> a" in message or "b -> a -> b" in message


def test_deep_chain_validates_without_recursion() -> None:
    nodes = [node("n0")] + [node(f"n{i}", [f"n{i - 1}"]) for i in range(1, 5000)]
    assert plan_of(*nodes).problems() == []


def test_deep_nesting_validates() -> None:
    inner = node("leaf")
    for depth in range(50):
        inner = node(f"level{depth}", type=WorkflowNodeType.COMPOSITE, children=[inner])
    plan = plan_of(inner)
    assert plan.total_nodes == 51
    assert plan.problems() == []


@given(plans())
@settings(max_examples=60, deadline=None)
def test_json_round_trip_is_lossless(plan: WorkflowPlan) -> None:
    assert plan.problems() == []
    again = WorkflowPlan.model_validate_json(plan.model_dump_json())
    assert again == plan
    assert again.model_dump_json() == plan.model_dump_json()


def test_plan_id_is_deterministic_and_safe() -> None:
    a = Vibe(description="A blog post", style="warm", constraints=["short"])
    b = Vibe(description="A blog post", style="warm", constraints=["short"], metadata={"x": 1})
    c = Vibe(description="A blog post", style="cold", constraints=["short"])
    assert derive_plan_id(a) == derive_plan_id(b) != derive_plan_id(c)
    assert is_safe_id(derive_plan_id(a))


@pytest.mark.parametrize("bad", ["", ".", "..", "a/b", "a\\b", "a\x00", "ａ", "x" * 129, None, 5])
def test_is_safe_id_rejects(bad: object) -> None:
    assert not is_safe_id(bad)
