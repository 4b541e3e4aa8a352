"""Image tools: ``generate_image`` (OpenAI-compatible ``/images/generations``) and ``comfyui``.

Both save every image in the plan's content-addressed artifacts folder
(:class:`~vibe_aigc.artifacts.ArtifactStore`) and return references, never bytes::

    {"tool": ..., "node_id": ..., "text": "2 image(s): ...", "images": [{"path", "sha256",
     "media_type", "bytes"}, ...], "usage": {...}}

Never paying twice
    ``generate_image`` notes its saved references (``context.remember("images", ...)``) so a
    crash before the node is journaled does not buy the images again. ``comfyui`` notes the
    job's ``prompt_id`` *before* polling; a resumed or retried node finds it with
    ``context.recall`` and polls that job instead of submitting again. Only a job the server
    reports as failed, or no longer knows, is submitted again (the output says why).

ComfyUI parameters
    ``workflow``: a ComfyUI API-format graph ``{node_id: {"class_type", "inputs"}}``; any string
    ``"{{prompt}}"`` / ``"{{negative}}"`` / ``"{{seed}}"`` in it is replaced. Without a workflow
    a standard text-to-image graph is built from ``checkpoint`` (or ``$COMFYUI_CHECKPOINT``),
    ``prompt``, ``negative_prompt``, ``width``, ``height``, ``steps``, ``seed``.
    ``poll_interval`` (seconds) sets how often the job is polled.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
from typing import Any

from vibe_aigc.artifacts import ArtifactStore
from vibe_aigc.context import NodeContext
from vibe_aigc.errors import NodeExecutionError, ToolError, TransientError
from vibe_aigc.llm import Endpoint, LLMClient, ProviderError
from vibe_aigc.models import WorkflowNode
from vibe_aigc.ratelimit import RateLimiter

MEMO_PROMPT_ID = "comfyui_prompt_id"
MEMO_IMAGES = "images"
_SIZE_RE = re.compile(r"^\d{2,5}x\d{2,5}$")
_PROMPT_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,128}$")
MAX_WORKFLOW_BYTES = 1_000_000


def image_prompt(node: WorkflowNode, context: NodeContext) -> str:
    """``parameters["prompt"]``, else the node's description with the vibe's style."""
    prompt = node.parameters.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise ToolError(f"node {node.id!r}: parameters['prompt'] must be text")
    if not prompt:
        style = node.parameters.get("style", context.vibe.style)
        prompt = node.description + (f". Style: {style}" if style else "")
    return prompt


def _int(params: dict[str, Any], key: str, default: int, low: int, high: int) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ToolError(f"parameters[{key!r}] must be a whole number from {low} to {high}")
    return value


async def _save_all(
    store: ArtifactStore, plan_id: str, images: list[bytes]
) -> list[dict[str, Any]]:
    return [await asyncio.to_thread(store.save, plan_id, data) for data in images]


def _output(tool: str, node: WorkflowNode, refs: list[dict[str, Any]], **extra: Any) -> Any:
    names = ", ".join(os.path.basename(r["path"]) for r in refs)
    text = f"{len(refs)} image(s): {names}"
    return {"tool": tool, "node_id": node.id, "text": text, "images": refs, **extra}


class OpenAIImageTool:
    """``generate_image``: an OpenAI-compatible image endpoint (see the module docstring)."""

    name = "generate_image"
    description = (
        "Images from the configured image model (parameters: prompt, size like '1024x1024', "
        "n 1-4). Saved as files; the output references them by path and sha256."
    )

    def __init__(self, client: LLMClient, artifacts: ArtifactStore) -> None:
        self.client = client
        self.artifacts = artifacts

    async def run(self, node: WorkflowNode, context: NodeContext) -> Any:
        plan_id = context.plan.id
        noted = context.recall(MEMO_IMAGES)
        if isinstance(noted, dict) and noted.get("refs"):
            refs = list(noted["refs"])
            if all(self.artifacts.exists(plan_id, ref) for ref in refs):
                usage = {"requests": 0.0, "images": 0.0}
                return _output(self.name, node, refs, reused=True, usage=usage)
        size = node.parameters.get("size")
        if size is not None and (not isinstance(size, str) or not _SIZE_RE.fullmatch(size)):
            raise ToolError("parameters['size'] must look like '1024x1024'")
        n = _int(node.parameters, "n", 1, 1, 4)
        prompt = image_prompt(node, context)
        images, usage = await self.client.generate_images(prompt, size=size, n=n)
        refs = await _save_all(self.artifacts, plan_id, images)
        await context.remember(MEMO_IMAGES, {"refs": refs})
        return _output(self.name, node, refs, prompt=prompt, usage=usage)


def default_workflow(params: dict[str, Any], prompt: str, seed: int) -> dict[str, Any]:
    """A standard ComfyUI text-to-image graph (checkpoint → CLIP → KSampler → VAE → save)."""
    checkpoint = params.get("checkpoint") or os.environ.get("COMFYUI_CHECKPOINT")
    if not isinstance(checkpoint, str) or not checkpoint:
        raise ToolError(
            "a comfyui node needs parameters['workflow'] (API format) or parameters['checkpoint'] "
            "(or $COMFYUI_CHECKPOINT) naming a model file on the ComfyUI server"
        )
    negative = str(params.get("negative_prompt") or "blurry, low quality, watermark")
    return {
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": checkpoint}},
        "5": {
            "class_type": "EmptyLatentImage",
            "inputs": {
                "width": _int(params, "width", 1024, 64, 4096),
                "height": _int(params, "height", 1024, 64, 4096),
                "batch_size": 1,
            },
        },
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": prompt, "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": negative, "clip": ["4", 1]}},
        "3": {
            "class_type": "KSampler",
            "inputs": {
                "seed": seed,
                "steps": _int(params, "steps", 25, 1, 150),
                "cfg": 7,
                "sampler_name": "euler",
                "scheduler": "normal",
                "denoise": 1,
                "model": ["4", 0],
                "positive": ["6", 0],
                "negative": ["7", 0],
                "latent_image": ["5", 0],
            },
        },
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
        "9": {"class_type": "SaveImage", "inputs": {"filename_prefix": "vibe", "images": ["8", 0]}},
    }


def _fill(value: Any, values: dict[str, Any]) -> Any:
    if isinstance(value, str) and value in values:
        return values[value]
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def build_workflow(node: WorkflowNode, context: NodeContext) -> dict[str, Any]:
    params = node.parameters
    prompt = image_prompt(node, context)
    digest = hashlib.sha256(f"{context.plan.id}/{node.id}".encode()).digest()
    seed = _int(params, "seed", int.from_bytes(digest[:4], "big"), 0, 2**63 - 1)
    raw = params.get("workflow")
    if raw is None:
        return default_workflow(params, prompt, seed)
    if not isinstance(raw, dict) or not raw:
        raise ToolError("parameters['workflow'] must be a ComfyUI API-format graph (an object)")
    for key, item in raw.items():
        if not isinstance(item, dict) or not isinstance(item.get("class_type"), str):
            raise ToolError(f"workflow node {key!r} needs a 'class_type' and 'inputs'")
    if len(json.dumps(raw)) > MAX_WORKFLOW_BYTES:
        raise ToolError("parameters['workflow'] is larger than 1 MB")
    negative = str(params.get("negative_prompt") or "")
    filled: dict[str, Any] = _fill(
        raw, {"{{prompt}}": prompt, "{{negative}}": negative, "{{seed}}": seed}
    )
    return filled


class ComfyUITool:
    """``comfyui``: submit, poll and fetch a ComfyUI job (see the module docstring)."""

    name = "comfyui"
    description = (
        "Images from the ComfyUI server (parameters: prompt, optional workflow / checkpoint, "
        "width, height, steps, seed). Saved as files; referenced by path and sha256."
    )

    def __init__(
        self,
        base_url: str,
        artifacts: ArtifactStore,
        *,
        timeout: float = 30.0,
        poll_interval: float = 1.0,
        max_wait: float = 3600.0,
        limiter: RateLimiter | None = None,
        request_deadline: float = 600.0,
    ) -> None:
        # ``timeout``: the longest wait for data; ``request_deadline``: one whole request
        # (a large image from /view included)
        self.endpoint = Endpoint(
            base_url,
            timeout=max(request_deadline, timeout),
            idle_timeout=timeout,
            limiter=limiter or RateLimiter(max_concurrent=8),
        )
        self.artifacts = artifacts
        self.poll_interval = poll_interval
        self.max_wait = max_wait

    async def _get(self, path: str, params: dict[str, str] | None = None) -> Any:
        reply = await self.endpoint.request("GET", path, params=params)
        try:
            return reply.json()
        except ValueError:
            raise ProviderError(
                f"ComfyUI answered {path} with something that is not JSON"
            ) from None

    async def submit(self, workflow: dict[str, Any]) -> str:
        reply = await self.endpoint.request("POST", "/prompt", body={"prompt": workflow})
        try:
            prompt_id = reply.json()["prompt_id"]
        except (ValueError, KeyError, TypeError):
            raise ProviderError("ComfyUI did not answer /prompt with a prompt_id") from None
        if not isinstance(prompt_id, str) or not _PROMPT_ID_RE.fullmatch(prompt_id):
            raise ProviderError(
                f"ComfyUI answered /prompt with a malformed prompt_id {prompt_id!r}"
            )
        return prompt_id

    async def state(self, prompt_id: str) -> tuple[str, dict[str, Any]]:
        """("done" | "failed" | "running" | "unknown", the history entry)."""
        for look in range(2):
            history = await self._get(f"/history/{prompt_id}")
            entry = history.get(prompt_id) if isinstance(history, dict) else None
            if isinstance(entry, dict):
                status = entry.get("status") or {}
                if status.get("status_str") == "error":
                    return "failed", entry
                if status.get("completed") or entry.get("outputs"):
                    return "done", entry
                return "running", entry
            if look == 0:
                queue = await self._get("/queue")
                ids = {
                    item[1]
                    for name in ("queue_running", "queue_pending")
                    for item in (queue.get(name) or [] if isinstance(queue, dict) else [])
                    if isinstance(item, list) and len(item) > 1
                }
                if prompt_id in ids:
                    return "running", {}
        return "unknown", {}  # neither in the history nor in the queue (checked twice)

    async def wait(self, prompt_id: str, poll_interval: float) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.max_wait
        while True:
            state, entry = await self.state(prompt_id)
            if state == "done":
                return entry
            if state == "failed":
                messages = (entry.get("status") or {}).get("messages") or []
                detail = json.dumps(messages)[:300]
                raise NodeExecutionError(f"ComfyUI job {prompt_id} failed: {detail}")
            if state == "unknown":
                raise TransientError(f"ComfyUI no longer knows job {prompt_id}; will resubmit")
            if loop.time() >= deadline:
                raise TransientError(f"ComfyUI job {prompt_id} still running after the wait")
            await asyncio.sleep(poll_interval)

    async def fetch_images(self, entry: dict[str, Any]) -> list[bytes]:
        images: list[bytes] = []
        for output in (entry.get("outputs") or {}).values():
            for image in (output or {}).get("images") or []:
                params = {
                    "filename": str(image.get("filename", "")),
                    "subfolder": str(image.get("subfolder", "")),
                    "type": str(image.get("type", "output")),
                }
                reply = await self.endpoint.request(
                    "GET", "/view", params=params, max_bytes=100_000_000
                )
                images.append(reply.body)
        if not images:
            raise NodeExecutionError("the ComfyUI job finished without any image output")
        return images

    async def run(self, node: WorkflowNode, context: NodeContext) -> Any:
        workflow = build_workflow(node, context)
        poll = node.parameters.get("poll_interval", self.poll_interval)
        if isinstance(poll, bool) or not isinstance(poll, int | float) or not 0 < poll <= 60:
            raise ToolError("parameters['poll_interval'] must be seconds between 0 and 60")
        prompt_id = context.recall(MEMO_PROMPT_ID)
        reattached, resubmitted = False, None
        if isinstance(prompt_id, str) and _PROMPT_ID_RE.fullmatch(prompt_id):
            state, _ = await self.state(prompt_id)
            if state in ("failed", "unknown"):
                resubmitted = f"job {prompt_id} was {state}"
                prompt_id = None
            else:
                reattached = True
        else:
            prompt_id = None
        if prompt_id is None:
            prompt_id = await self.submit(workflow)
            await context.remember(MEMO_PROMPT_ID, prompt_id)  # durable before polling
        entry = await self.wait(prompt_id, float(poll))
        refs = await _save_all(self.artifacts, context.plan.id, await self.fetch_images(entry))
        usage = {"jobs_submitted": 0.0 if reattached else 1.0}
        return _output(
            self.name,
            node,
            refs,
            prompt_id=prompt_id,
            reattached=reattached,
            resubmitted=resubmitted,
            usage=usage,
        )
