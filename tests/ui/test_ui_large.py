"""A 2,000-node plan stays usable: the page draws it and shows the first live event.

The figures (navigation to DAG drawn; journal append to the event shown) are measured in the
browser and printed for bench/RESULTS.md; they are not asserted (no timed assertions).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ui_kit import completed, plan_of, save_run, ui_server, until

from vibe_aigc.models import WorkflowNode, WorkflowNodeType
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.persistence.records import result_entry

ROOTS, CHILDREN, CHAIN = 20, 99, 10


def big_plan() -> Any:
    roots = []
    for r in range(ROOTS):
        children = [
            WorkflowNode(
                id=f"s{r}-c{c}",
                type=WorkflowNodeType.GENERATE,
                description=f"step {c} of stage {r}",
                dependencies=[f"s{r}-c{c - CHAIN}"] if c >= CHAIN else [],
            )
            for c in range(CHILDREN)
        ]
        roots.append(
            WorkflowNode(
                id=f"s{r}",
                type=WorkflowNodeType.COMPOSITE,
                description=f"stage {r}",
                dependencies=[f"s{r - 1}"] if r else [],
                children=children,
            )
        )
    return plan_of(roots, "plan-big", "a campaign of two thousand steps")


def test_a_2000_node_plan_renders_and_shows_live_events(tmp_path: Path, page: Any) -> None:
    store = tmp_path / "cps"
    plan = big_plan()
    ids = [n for root in plan.root_nodes for n in [root.id, *(c.id for c in root.children)]]
    assert len(ids) == 2000
    done = {i: completed(i, {"text": f"output of {i}"}) for i in ids[:1000]}
    save_run(store, plan, done, "running")
    with ui_server(store) as url:
        page.goto(f"{url}/#/run/{plan.id}")
        page.wait_for_selector("svg .node", timeout=60_000)
        until(page, "() => window.__dagRenderedAt !== undefined")
        drawn = page.evaluate("window.__dagRenderedAt")
        assert page.eval_on_selector_all("svg .node", "n => n.length") == 2000
        target = ids[1500]
        before = page.evaluate("Date.now()")
        entry = result_entry("run-test", plan.id, target, completed(target, {"text": "late"}))
        WorkflowPersistenceManager(store).append_journal(plan.id, [entry])
        appended = time.time() * 1000
        until(
            page,
            f"() => document.querySelector('svg .node[data-id=\"{target}\"]')"
            ".dataset.state === 'completed'",
        )
        first = page.evaluate("window.__firstEventWall") - max(before, appended)
        assert page.inner_text("#done") == "1001/2000"
    print(
        f"\n2000-node plan: DAG drawn {drawn:.0f} ms after navigation; "
        f"first live event shown {first:.0f} ms after the journal append"
    )
    assert page.errors == []
