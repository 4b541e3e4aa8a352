"""What the pages are built from: stored records merged with the journal, safe output views."""

from __future__ import annotations

from pathlib import Path

from ui_kit import completed, plan_of, save_run

from vibe_aigc.artifacts import ArtifactStore
from vibe_aigc.models import WorkflowNode, WorkflowNodeType
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.persistence.records import result_entry
from vibe_aigc.testing import tiny_png
from vibe_aigc.ui.backend import NotFound, UIBackend, parse_holder
from vibe_aigc.ui.render import markdown_html, output_view


def two_step(store: Path) -> str:
    plan = plan_of(
        [
            WorkflowNode(id="a", type=WorkflowNodeType.GENERATE, description="first"),
            WorkflowNode(
                id="b", type=WorkflowNodeType.GENERATE, description="second", dependencies=["a"]
            ),
        ],
        "plan-two",
        "two steps",
    )
    save_run(store, plan, {}, "running", run_id="r1")
    return plan.id


def test_the_plan_view_is_the_checkpoint_plus_the_later_journal(tmp_path: Path) -> None:
    store = tmp_path / "cps"
    plan_id = two_step(store)
    backend = UIBackend(WorkflowPersistenceManager(store))
    view = backend.plan_view(plan_id)
    assert {n["id"]: n["state"] for n in view["nodes"]} == {"a": "ready", "b": "pending"}
    usage = {"cost_usd": 0.25}
    entry = result_entry("r1", plan_id, "a", completed("a", "done", attempts=3, usage=usage))
    WorkflowPersistenceManager(store).append_journal(plan_id, [entry])
    view = backend.plan_view(plan_id)
    assert {n["id"]: n["state"] for n in view["nodes"]} == {"a": "completed", "b": "ready"}
    assert view["totals"]["cost_usd"] == 0.25 and view["totals"]["retries"] == 2
    assert view["last_seq"] == 0
    runs = backend.runs()
    assert [(r["run_id"], r["state"], r["done"], r["total"]) for r in runs] == [
        ("r1", "running", 1, 2)
    ]
    assert backend.runs(state="completed") == [] and backend.runs(text="nothing") == []
    entries, newest = backend.tail(plan_id, -1)
    assert [e["node_id"] for e in entries] == ["a"] and newest == view["checkpoint_id"]


def test_bad_ids_and_unknown_things_are_not_found(tmp_path: Path) -> None:
    store = tmp_path / "cps"
    plan_id = two_step(store)
    backend = UIBackend(WorkflowPersistenceManager(store))
    for call in (
        lambda: backend.plan_view("../etc"),
        lambda: backend.plan_view("plan-none"),
        lambda: backend.node_view(plan_id, "zzz"),
        lambda: backend.artifact(plan_id, "../x"),
        lambda: backend.diff(plan_id, "", ""),
        lambda: backend.holder("plan-none"),
    ):
        try:
            call()
        except NotFound:
            continue
        raise AssertionError("expected NotFound")
    assert WorkflowPersistenceManager(store).plan_ids() == [plan_id]  # nothing was created


def test_output_views_escape_html_and_hide_store_paths(tmp_path: Path) -> None:
    ref = ArtifactStore(WorkflowPersistenceManager(tmp_path)).save("plan-x", tiny_png("x"))
    view = output_view("plan-x", {"text": "<script>x</script> **b**", "image": ref})
    assert "<script>" not in view["html"] and "&lt;script&gt;" in view["html"]
    assert "<strong>b</strong>" in view["html"]
    assert view["images"][0]["url"] == f"/artifacts/plan-x/{ref['sha256']}"
    assert str(tmp_path) not in view["json"]
    assert 'href="javascript' not in markdown_html("[a](javascript:alert(1))")
    assert 'src="javascript' not in markdown_html("![a](javascript:alert(1))")


def test_lease_holders_are_read_from_the_store_description() -> None:
    holder = parse_holder("pid 4242 on box, started 2026-01-01T00:00:00Z, program vibe-aigc")
    assert (holder.pid, holder.hostname) == (4242, "box")
    assert parse_holder("holder unknown").pid is None
