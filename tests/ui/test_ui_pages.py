"""The web app in a real browser: runs list, live run page, resume, cancel, images, escaping,
checkpoints, diff and delete. The server is the real `vibe-aigc ui` subprocess; runs are made
by separate `vibe-aigc` processes or saved through the public persistence API."""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

from ui_kit import (
    background,
    cli,
    completed,
    journal_count,
    latest_state,
    plan_of,
    save_run,
    ui_server,
    until,
    wait_for,
)

from vibe_aigc.artifacts import ArtifactStore
from vibe_aigc.models import WorkflowNode, WorkflowNodeType
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.testing import tiny_png

FINISHED_PLAN = "plan-finished"
LIVE_PLAN = "plan-live"


def finished_run(store: Path) -> None:
    out = cli(
        "execute",
        "a short poem about rain",
        "--plan-id",
        FINISHED_PLAN,
        "--checkpoint-dir",
        str(store),
        "--json",
        "--quiet",
    )
    assert out.returncode == 0, out.stderr


def confirm(page: Any) -> None:
    page.click("#confirm-yes")


def test_runs_list_shows_a_finished_and_a_running_run(tmp_path: Path, page: Any) -> None:
    store = tmp_path / "cps"
    finished_run(store)
    with (
        background(
            "execute",
            "a blog post about tea",
            "--plan-id",
            LIVE_PLAN,
            "--checkpoint-dir",
            str(store),
            "--plain",
            VIBE_SIMULATE_LATENCY="1.0",
        ),
        ui_server(store) as url,
    ):
        wait_for(lambda: latest_state(store, LIVE_PLAN) == "running", "the live run to start")
        page.goto(url + "/")
        page.wait_for_selector(f"tr.run[data-plan={FINISHED_PLAN}][data-state=completed]")
        page.wait_for_selector(f"tr.run[data-plan={LIVE_PLAN}][data-state=running]")
        page.select_option("#f-state", "running")
        until(page, "() => document.querySelectorAll('tr.run').length === 1")
        assert page.get_attribute("tr.run", "data-plan") == LIVE_PLAN
        page.fill("#f-text", "poem")
        page.select_option("#f-state", "")
        until(
            page,
            "() => [...document.querySelectorAll('tr.run')]"
            ".every(r => r.dataset.plan === 'plan-finished')",
        )
    assert page.errors == []


def test_a_run_page_updates_live_while_another_process_runs_it(tmp_path: Path, page: Any) -> None:
    store = tmp_path / "cps"
    with (
        ui_server(store) as url,
        background(
            "execute",
            "a blog post about tea",
            "--plan-id",
            LIVE_PLAN,
            "--checkpoint-dir",
            str(store),
            "--plain",
            VIBE_SIMULATE_LATENCY="0.3",
        ) as run,
    ):
        wait_for(lambda: latest_state(store, LIVE_PLAN) == "running", "the run to start")
        page.goto(f"{url}/#/run/{LIVE_PLAN}")
        page.wait_for_selector("svg .node")
        at_load = page.eval_on_selector_all(
            "svg .node[data-state=completed]", "nodes => nodes.length"
        )
        total = page.eval_on_selector_all("svg .node", "nodes => nodes.length")
        assert at_load < total
        until(
            page,
            "() => document.querySelectorAll('svg .node[data-state=completed]').length"
            f" === {total}",
            60,
        )
        page.wait_for_selector("#run-state .badge.completed")
        assert int(page.get_attribute("#view", "data-events") or 0) >= 1  # pushed, not reloaded
        assert page.inner_text("#done") == f"{total}/{total}"
        run.wait(timeout=60)
        assert run.returncode == 0
        page.click("svg .node[data-id=outline]")
        page.wait_for_selector("#node-md h1, #node-md h2")
        page.screenshot(path=os.environ.get("VIBE_UI_SCREENSHOT") or str(tmp_path / "run.png"))
    assert page.errors == []


def test_resume_from_the_page_completes_an_interrupted_run(tmp_path: Path, page: Any) -> None:
    store = tmp_path / "cps"
    with background(
        "execute",
        "a blog post about tea",
        "--plan-id",
        LIVE_PLAN,
        "--checkpoint-dir",
        str(store),
        "--plain",
        VIBE_SIMULATE_LATENCY="0.3",
    ) as run:
        wait_for(lambda: journal_count(store, LIVE_PLAN) >= 2, "two finished nodes")
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=30)
    assert latest_state(store, LIVE_PLAN) == "interrupted"
    with ui_server(store) as url:
        page.goto(f"{url}/#/run/{LIVE_PLAN}")
        page.wait_for_selector("#run-state .badge.interrupted")
        page.click("#act-resume")
        confirm(page)
        page.wait_for_selector("#result[data-state=ok]", timeout=60_000)
        page.wait_for_selector("#run-state .badge.completed")
        assert "resum" in page.inner_text("#result").lower()
    assert latest_state(store, LIVE_PLAN) == "completed"
    assert page.errors == []


def test_cancel_from_the_page_stops_the_run_as_interrupted(tmp_path: Path, page: Any) -> None:
    store = tmp_path / "cps"
    with (
        ui_server(store) as url,
        background(
            "execute",
            "a blog post about tea",
            "--plan-id",
            LIVE_PLAN,
            "--checkpoint-dir",
            str(store),
            "--plain",
            VIBE_SIMULATE_LATENCY="1.0",
        ) as run,
    ):
        wait_for(lambda: latest_state(store, LIVE_PLAN) == "running", "the run to start")
        page.goto(f"{url}/#/run/{LIVE_PLAN}")
        page.wait_for_selector("#run-state .badge.running")
        page.click("#act-cancel")
        confirm(page)
        page.wait_for_selector("#result[data-state=ok]")
        assert f"pid {run.pid}" in page.inner_text("#result")
        run.wait(timeout=30)
        assert run.returncode == 130
        page.wait_for_selector("#run-state .badge.interrupted")
    assert latest_state(store, LIVE_PLAN) == "interrupted"


def image_plan(store: Path) -> tuple[str, str]:
    plan = plan_of(
        [WorkflowNode(id="poster", type=WorkflowNodeType.GENERATE, description="a poster")],
        "plan-image",
        "a poster with an image",
    )
    ref = ArtifactStore(WorkflowPersistenceManager(store)).save(plan.id, tiny_png("poster", 8))
    save_run(
        store,
        plan,
        {"poster": completed("poster", {"text": "the poster", "image": ref})},
        "completed",
    )
    return plan.id, ref["sha256"]


def test_an_image_output_appears_inline(tmp_path: Path, page: Any) -> None:
    store = tmp_path / "cps"
    plan_id, sha = image_plan(store)
    with ui_server(store) as url:
        page.goto(f"{url}/#/run/{plan_id}")
        page.click("svg .node[data-id=poster]")
        page.wait_for_selector("#node-images img")
        assert page.get_attribute("#node-images img", "src") == f"/artifacts/{plan_id}/{sha}"
        until(
            page,
            "() => document.querySelector('#node-images img').complete && "
            "document.querySelector('#node-images img').naturalWidth === 8",
        )
        assert "path" not in page.inner_text("#node-json")  # the store's file path stays private
    assert page.errors == []


HOSTILE = (
    "# Title\n\n<script>window.__pwned = 'script'</script>\n\n"
    "<img src=x onerror=\"window.__pwned = 'img'\">\n\n"
    "[click](javascript:window.__pwned='link') <b onmouseover=\"window.__pwned='b'\">bold</b>\n\n"
    "![pic](javascript:window.__pwned='pic')"
)


def test_a_hostile_node_output_runs_no_script(tmp_path: Path, page: Any) -> None:
    store = tmp_path / "cps"
    evil_id = "x<img src=x onerror=window.__pwned=1>"
    plan = plan_of(
        [
            WorkflowNode(
                id="write",
                type=WorkflowNodeType.GENERATE,
                description="<script>window.__pwned='desc'</script>",
            ),
        ],
        "plan-hostile",
        "<img src=x onerror=\"window.__pwned='vibe'\">",
    )
    out = completed(
        "write",
        {"text": HOSTILE, evil_id: "<svg onload=window.__pwned=2>"},
        error="<script>window.__pwned='error'</script>",
    )
    save_run(store, plan, {"write": out}, "completed")
    with ui_server(store) as url:
        page.goto(f"{url}/")
        page.wait_for_selector("tr.run")
        page.goto(f"{url}/#/run/{plan.id}")
        page.wait_for_selector("svg .node")
        page.click("svg .node[data-id=write]")
        page.wait_for_selector("#node-md h1")
        for link in page.query_selector_all("#node-md a"):
            link.click()
        page.hover("#node-md")
        page.wait_for_timeout(300)
        assert page.evaluate("window.__pwned") is None
        assert (
            page.eval_on_selector_all("#view script, #view img[src=x], #node-md b", "e => e.length")
            == 0
        )
        assert "<script>" in page.inner_text("#node-md")  # shown as text
        assert "<script>" in page.inner_text("#node-error")
        assert page.query_selector("#node-md a") is None  # the javascript: link is no link
    assert page.errors == []


def test_checkpoints_timeline_diff_and_delete(tmp_path: Path, page: Any) -> None:
    store = tmp_path / "cps"
    finished_run(store)
    ids = [
        c["checkpoint_id"]
        for c in WorkflowPersistenceManager(store).list_checkpoints(FINISHED_PLAN)
    ]
    assert len(ids) == 2
    with ui_server(store) as url:
        page.goto(f"{url}/#/plan/{FINISHED_PLAN}/checkpoints")
        page.wait_for_selector("#timeline .lane .cp")
        for cp in ids:
            page.check(f".cp[data-cp='{cp}'] input")
        page.click("#diff")
        page.wait_for_selector("#diff-nodes tr")
        assert "pending → completed" in page.inner_text("#diff-nodes")
        page.go_back()
        page.wait_for_selector(f".cp[data-cp='{ids[1]}']")
        page.click(f"button[data-delete='{ids[1]}']")
        confirm(page)
        page.wait_for_selector("#result[data-state=ok]")
        until(page, f"() => !document.querySelector(\".cp[data-cp='{ids[1]}']\")")
    left = [
        c["checkpoint_id"]
        for c in WorkflowPersistenceManager(store).list_checkpoints(FINISHED_PLAN)
    ]
    assert left == [ids[0]]


def test_fork_from_a_node_reruns_it_and_shows_the_new_branch(tmp_path: Path, page: Any) -> None:
    store = tmp_path / "cps"
    finished_run(store)
    with ui_server(store) as url:
        page.goto(f"{url}/#/run/{FINISHED_PLAN}")
        page.click("svg .node[data-id=outline]")
        page.wait_for_selector("#act-fork")
        page.click("#act-fork")
        page.fill("#fork-sets", "style=playful")  # the dialog's parameter edits
        confirm(page)
        page.wait_for_selector("#result[data-state]", timeout=60_000)
        text = page.inner_text("#result")
        assert page.get_attribute("#result", "data-state") == "ok", text
        forks = [p for p in WorkflowPersistenceManager(store).plan_ids() if p != FINISHED_PLAN]
        assert len(forks) == 1
        page.goto(f"{url}/#/plan/{FINISHED_PLAN}/checkpoints")
        page.wait_for_selector(f"[data-fork='{forks[0]}']")
        page.goto(f"{url}/#/run/{forks[0]}")
        page.wait_for_selector("#run-state .badge.completed")
        status = json.loads(
            cli("status", forks[0], "--json", "--checkpoint-dir", str(store)).stdout
        )
        reused = {n["node_id"] for n in status["nodes"] if n.get("reused")}
        assert reused == {"brief", "research", "style"}  # upstream of outline: kept
        page.click("svg .node[data-id=outline]")
        page.wait_for_selector("#node-title")
        assert "playful" in (page.text_content("#panel") or "")  # the edited parameter


def test_a_missing_command_shows_the_commands_own_error(tmp_path: Path, page: Any) -> None:
    """Export runs `vibe-aigc export`; whatever the command says is what the page shows."""
    store = tmp_path / "cps"
    finished_run(store)
    with ui_server(store) as url:
        page.goto(f"{url}/#/run/{FINISHED_PLAN}")
        page.click("#act-export")
        confirm(page)
        page.wait_for_selector("#result[data-state]", timeout=60_000)
        expected = cli(
            "export",
            FINISHED_PLAN,
            "-o",
            str(tmp_path / "x.tar.gz"),
            "--checkpoint-dir",
            str(store),
        )
        state = page.get_attribute("#result", "data-state")
        assert state == ("ok" if expected.returncode == 0 else "failed")
        if expected.returncode != 0:
            assert expected.stderr.strip().splitlines()[-1] in page.inner_text("#result")
        else:
            page.wait_for_selector("#download")
