"""A node's output for the browser: Markdown rendered safely, artifact images as hash URLs.

Model text can hold ``<script>``, ``<img onerror>``, ``javascript:`` links: Markdown is rendered
with raw HTML disabled (markdown-it escapes it) and markdown-it's link check (no
``javascript:``/``vbscript:``/``file:``/``data:`` links); the page's Content-Security-Policy is
the second wall. Images are never read from a path: an artifact reference becomes
``/artifacts/<plan_id>/<sha256>``, which the app serves only for a hash the plan holds and
references.
"""

from __future__ import annotations

import json
from typing import Any

from markdown_it import MarkdownIt

from vibe_aigc.artifacts import is_artifact_ref

TEXT_KEYS = ("text", "markdown", "content", "answer", "summary")
MAX_TEXT = 200_000
MAX_JSON = 100_000

_MD = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable(["table", "strikethrough"])


def markdown_html(text: str) -> str:
    """Safe HTML for Markdown ``text`` (raw HTML is shown as text, bad links are not links)."""
    return str(_MD.render(text[:MAX_TEXT]))


def _texts(output: Any) -> list[str]:
    if isinstance(output, str):
        return [output]
    if isinstance(output, dict):
        return [output[k] for k in TEXT_KEYS if isinstance(output.get(k), str)]
    return []


def _refs(value: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    seen: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if is_artifact_ref(item) and item["sha256"] not in seen:
                seen.add(item["sha256"])
                found.append(item)
            stack.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            stack.extend(reversed(item))
    return found


def _without_paths(value: Any) -> Any:
    """The output as JSON without artifact ``path`` keys (where the store keeps a file is
    not the browser's business)."""
    if isinstance(value, dict):
        if is_artifact_ref(value):
            return {k: v for k, v in value.items() if k != "path"}
        return {k: _without_paths(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_paths(v) for v in value]
    return value


def output_view(plan_id: str, output: Any) -> dict[str, Any]:
    """What the node panel shows of an output: ``html`` (safe Markdown), ``images``
    (hash URLs), ``json`` (the rest, as text for the page to escape)."""
    html = "".join(markdown_html(t) for t in _texts(output))
    images = [
        {
            "url": f"/artifacts/{plan_id}/{ref['sha256']}",
            "sha256": ref["sha256"],
            "media_type": str(ref.get("media_type", "")),
            "bytes": ref.get("bytes"),
        }
        for ref in _refs(output)
    ]
    raw = "" if output is None or isinstance(output, str) else _dump(_without_paths(output))
    return {"html": html, "images": images, "json": raw}


def _dump(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=2, default=str)
    return text if len(text) <= MAX_JSON else text[:MAX_JSON] + "\n… (cut)"
