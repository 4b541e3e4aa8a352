"""Image tools, the content-addressed artifact store, and re-attaching to ComfyUI jobs."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from vibe_aigc import (
    ExecutionStatus,
    LLMConfig,
    MetaPlanner,
    NodeExecutionError,
    Vibe,
    WorkflowNode,
    WorkflowNodeType,
    WorkflowPersistenceManager,
    WorkflowPlan,
)
from vibe_aigc.artifacts import ArtifactStore, artifact_refs
from vibe_aigc.context import InMemoryMemo, NodeContext
from vibe_aigc.testing import ComfyUIStub, OpenAIStub, tiny_png
from vibe_aigc.testing.stub_server import stub_process
from vibe_aigc.tools.images import MEMO_PROMPT_ID, ComfyUITool

VIBE = Vibe(description="A poster of a tide pool", style="watercolour")


def image_node(id: str, **params: Any) -> WorkflowNode:
    return WorkflowNode(
        id=id, type=WorkflowNodeType.GENERATE, description="A tide pool poster", parameters=params
    )


def plan_of(*nodes: WorkflowNode, plan_id: str = "plan-images") -> WorkflowPlan:
    return WorkflowPlan(id=plan_id, source_vibe=VIBE, root_nodes=list(nodes))


@pytest.fixture
def openai() -> Iterator[OpenAIStub]:
    with OpenAIStub() as server:
        yield server


@pytest.fixture
def comfy() -> Iterator[ComfyUIStub]:
    with ComfyUIStub(job_seconds=0.3) as server:
        yield server


# --------------------------------------------------------------------------- artifacts


def test_identical_bytes_are_stored_once_with_private_permissions(tmp_path: Path) -> None:
    store = ArtifactStore(WorkflowPersistenceManager(tmp_path))
    png = tiny_png("x")
    first = store.save("plan-a", png)
    again = store.save("plan-a", png)
    assert first == again
    assert first["sha256"] == hashlib.sha256(png).hexdigest()
    assert first["media_type"] == "image/png" and first["bytes"] == len(png)
    files = list((tmp_path / "plan-a" / "artifacts").iterdir())
    assert [f.name for f in files] == [f"{first['sha256']}.png"]
    assert stat.S_IMODE(files[0].stat().st_mode) == 0o600
    assert store.read("plan-a", first) == png and store.exists("plan-a", first)


def test_artifact_ids_cannot_escape_the_checkpoint_folder(tmp_path: Path) -> None:
    store = ArtifactStore(WorkflowPersistenceManager(tmp_path))
    with pytest.raises(ValueError):
        store.save("../outside", b"data")


async def test_image_tool_saves_by_hash_and_checkpoints_only_references(
    openai: OpenAIStub, tmp_path: Path
) -> None:
    config = LLMConfig(base_url=openai.base_url, api_key="sk-img", image_model="img-1")  # type: ignore[arg-type]
    meta = MetaPlanner(llm_config=config, checkpoint_dir=tmp_path, checkpoint_interval=1)
    plan = plan_of(
        image_node("one", tool="generate_image", prompt="same prompt"),
        image_node("two", tool="generate_image", prompt="same prompt"),
    )
    result = await meta.execute_with_resume(plan)
    assert result.status == ExecutionStatus.COMPLETED
    refs = [result.node_results[n].output["images"][0] for n in ("one", "two")]
    assert refs[0] == refs[1]
    assert len(openai.requests_to("/v1/images/generations")) == 2  # bought twice, stored once
    folder = tmp_path / "plan-images" / "artifacts"
    assert [p.name for p in folder.iterdir()] == [f"{refs[0]['sha256']}.png"]
    assert Path(refs[0]["path"]).read_bytes() == tiny_png("same prompt")
    assert result.get_summary()["usage"]["images"] == 2
    record = meta.get_checkpoint(result.checkpoint_id or "")
    encoded = json.dumps(record)
    assert "b64_json" not in encoded and len(encoded) < 20_000
    assert artifact_refs(record["node_results"]) == {refs[0]["sha256"]}


async def test_gc_removes_artifacts_no_checkpoint_references(tmp_path: Path) -> None:
    manager = WorkflowPersistenceManager(tmp_path)
    store = ArtifactStore(manager)
    meta = MetaPlanner(llm_config=False, persistence_manager=manager, checkpoint_interval=1)
    result = await meta.execute(plan_of(image_node("a", tool="draft"), plan_id="plan-gc"))
    kept = store.save("plan-gc", tiny_png("kept"))
    orphan = store.save("plan-gc", tiny_png("orphan"))
    record = manager.load_checkpoint(result.checkpoint_id or "", "plan-gc")
    record["node_results"]["a"]["output"]["image"] = kept
    manager.save_checkpoint("plan-gc", record)
    assert manager.collect_artifacts("plan-gc", min_age_seconds=3600) == []  # too young
    assert manager.collect_artifacts("plan-gc") == [orphan["path"]]
    assert Path(kept["path"]).exists() and not Path(orphan["path"]).exists()
    manager.delete_plan("plan-gc")
    assert not (tmp_path / "plan-gc").exists()


async def test_deleting_checkpoints_removes_artifacts_none_still_reference(
    tmp_path: Path,
) -> None:
    manager = WorkflowPersistenceManager(tmp_path)
    store = ArtifactStore(manager)
    meta = MetaPlanner(llm_config=False, persistence_manager=manager)
    plan = plan_of(image_node("a", tool="draft"), plan_id="plan-del")
    await meta.execute_with_resume(plan)
    base = manager.load_checkpoint(manager.latest_checkpoint_ids("plan-del")[0], "plan-del")
    ids = {}
    for name in ("first", "second"):
        ref = store.save("plan-del", tiny_png(name))
        record = json.loads(json.dumps(base))
        record["node_results"]["a"]["output"]["image"] = ref
        ids[name] = (manager.save_checkpoint("plan-del", record), Path(ref["path"]))
    assert meta.delete_checkpoint(ids["first"][0]) is True
    assert not ids["first"][1].exists()  # referenced by nothing any more
    assert ids["second"][1].exists()  # still referenced by the other checkpoint
    with manager.lock("plan-del"):  # a run holds the plan: its files are left alone
        assert manager.delete_checkpoint(ids["second"][0], "plan-del") is True
    assert ids["second"][1].exists()


# --------------------------------------------------------------------------- ComfyUI


def context_for(plan: WorkflowPlan, node_id: str, memo: InMemoryMemo) -> NodeContext:
    return NodeContext(vibe=plan.source_vibe, plan=plan, node_id=node_id, memo=memo)


def submit(comfy: ComfyUIStub, workflow: dict[str, Any]) -> str:
    request = urllib.request.Request(
        f"{comfy.origin}/prompt",
        data=json.dumps({"prompt": workflow}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as reply:
        return str(json.load(reply)["prompt_id"])


PARAMS = {"checkpoint": "sd.safetensors", "poll_interval": 0.05, "steps": 4}


async def test_comfyui_submits_remembers_polls_and_saves(
    comfy: ComfyUIStub, tmp_path: Path
) -> None:
    store = ArtifactStore(WorkflowPersistenceManager(tmp_path))
    tool = ComfyUITool(comfy.origin, store)
    node = image_node("poster", tool="comfyui", **PARAMS)
    plan, memo = plan_of(node), InMemoryMemo()
    output = await tool.run(node, context_for(plan, "poster", memo))
    assert comfy.submissions == 1 and output["reattached"] is False
    assert memo.recall("poster", MEMO_PROMPT_ID) == output["prompt_id"]
    image = output["images"][0]
    assert Path(image["path"]).read_bytes() == next(iter(comfy.jobs.values())).image()
    workflow = next(iter(comfy.jobs.values())).workflow
    assert workflow["6"]["inputs"]["text"].startswith("A tide pool poster")
    assert workflow["4"]["inputs"]["ckpt_name"] == "sd.safetensors"


async def test_comfyui_reattaches_to_a_recorded_job(comfy: ComfyUIStub, tmp_path: Path) -> None:
    store = ArtifactStore(WorkflowPersistenceManager(tmp_path))
    node = image_node("poster", tool="comfyui", **PARAMS)
    plan = plan_of(node)
    job = submit(comfy, {"1": {"class_type": "Stub", "inputs": {}}})
    memo = InMemoryMemo({"poster": {MEMO_PROMPT_ID: job}})
    output = await ComfyUITool(comfy.origin, store).run(node, context_for(plan, "poster", memo))
    assert comfy.submissions == 1  # polled the recorded job; nothing new submitted
    assert output["reattached"] is True and output["prompt_id"] == job
    assert output["usage"] == {"jobs_submitted": 0.0}


@pytest.mark.parametrize("recorded", ["failed", "unknown"])
async def test_a_failed_or_unknown_recorded_job_is_resubmitted(
    tmp_path: Path, recorded: str
) -> None:
    with ComfyUIStub(job_seconds=0.05, fail_jobs=1 if recorded == "failed" else 0) as comfy:
        if recorded == "failed":
            job = submit(comfy, {"1": {"class_type": "Stub", "inputs": {}}})
            time.sleep(0.1)
        else:
            job = "job-the-server-never-saw"
        store = ArtifactStore(WorkflowPersistenceManager(tmp_path))
        node = image_node("poster", tool="comfyui", **PARAMS)
        memo = InMemoryMemo({"poster": {MEMO_PROMPT_ID: job}})
        output = await ComfyUITool(comfy.origin, store).run(
            node, context_for(plan_of(node), "poster", memo)
        )
        assert output["resubmitted"] == f"job {job} was {recorded}"
        assert output["prompt_id"] != job and memo.recall("poster", MEMO_PROMPT_ID) != job
        assert comfy.submissions == (2 if recorded == "failed" else 1)


async def test_a_job_that_fails_now_fails_the_node(tmp_path: Path) -> None:
    with ComfyUIStub(job_seconds=0.05, fail_jobs=5) as comfy:
        store = ArtifactStore(WorkflowPersistenceManager(tmp_path))
        node = image_node("poster", tool="comfyui", **PARAMS)
        with pytest.raises(NodeExecutionError, match="sampler failed"):
            await ComfyUITool(comfy.origin, store).run(
                node, context_for(plan_of(node), "poster", InMemoryMemo())
            )


CLIENT = textwrap.dedent(
    """
    import asyncio, json, sys
    from vibe_aigc import MetaPlanner, Vibe, WorkflowNode, WorkflowNodeType, WorkflowPlan

    node = WorkflowNode(id="poster", type=WorkflowNodeType.GENERATE,
                        description="A tide pool poster",
                        parameters={"tool": "comfyui", "checkpoint": "sd.safetensors",
                                    "poll_interval": 0.05})
    plan = WorkflowPlan(id="plan-comfy", source_vibe=Vibe(description="a poster"),
                        root_nodes=[node])
    meta = MetaPlanner(llm_config=False, checkpoint_dir=sys.argv[1], checkpoint_interval=1)
    result = asyncio.run(meta.execute_with_resume(plan))
    print(json.dumps({"status": result.status.value,
                      "output": result.node_results["poster"].output}))
    """
)


def stats(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(f"{url}/stats", timeout=5) as reply:
        data: dict[str, Any] = json.load(reply)
        return data


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def journaled_prompt_id(folder: Path) -> str | None:
    for path in sorted(folder.glob("journal-*")):
        for line in path.read_text(errors="replace").splitlines():
            if MEMO_PROMPT_ID in line:
                return line
    return None


def test_kill_9_while_a_comfyui_job_runs_then_resume_reattaches(tmp_path: Path) -> None:
    with stub_process("comfyui", "--job-seconds", "3") as url:
        script = tmp_path / "client.py"
        script.write_text(CLIENT)
        checkpoints = tmp_path / "cps"
        env = {**os.environ, "COMFYUI_URL": url}
        command = [sys.executable, str(script), str(checkpoints)]
        client = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        try:
            wait_for(lambda: stats(url)["submissions"] == 1, 30, "the job submission")
            wait_for(
                lambda: journaled_prompt_id(checkpoints / "plan-comfy") is not None,
                30,
                "the prompt id in the journal",
            )
        finally:
            client.kill()  # SIGKILL: no cleanup, no final checkpoint
            client.communicate(timeout=10)
        assert client.returncode == -9
        assert stats(url)["submissions"] == 1
        recorded = journaled_prompt_id(checkpoints / "plan-comfy") or ""

        resumed = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
        assert resumed.returncode == 0, resumed.stderr
        report = json.loads(resumed.stdout.strip().splitlines()[-1])
        assert report["status"] == "completed"
        output = report["output"]
        assert output["reattached"] is True and output["resubmitted"] is None
        assert output["prompt_id"] in recorded
        assert stats(url)["submissions"] == 1  # never paid twice
        image = output["images"][0]
        data = Path(image["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == image["sha256"]
