"""The web app's walls: token rule, CSRF guard, Host check, artifact URLs by hash only, headers.

The token rule is checked at the unit level (Guard) and through the real server on 127.0.0.1
with a token forced by VIBE_UI_TOKEN; a non-loopback --host without a token does not start.
"""

from __future__ import annotations

import hashlib
import http.client
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from test_ui_pages import image_plan
from ui_kit import cli, completed, plan_of, save_run, ui_server

from vibe_aigc.artifacts import ArtifactStore
from vibe_aigc.errors import ConfigurationError
from vibe_aigc.models import WorkflowNode, WorkflowNodeType
from vibe_aigc.persistence import WorkflowPersistenceManager
from vibe_aigc.testing import tiny_png
from vibe_aigc.ui.security import (
    CSP,
    SESSION_COOKIE,
    Guard,
    allowed_hosts,
    choose_token,
    is_loopback,
)

TOKEN = "t0ken-for-the-tests-0123456789"


def request(
    url: str,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """A raw request (the path is sent exactly as given, `..` included)."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        for key, value in (headers or {}).items():
            conn.putheader(key, value)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        answer = conn.getresponse()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, answer.read()
    finally:
        conn.close()


# ---------------------------------------------------------------------- unit level


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.0.0.2", "::1", "localhost", "[::1]"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "192.168.1.4", "::", "example.com"))


def test_a_non_loopback_host_needs_a_token() -> None:
    with pytest.raises(ConfigurationError, match="VIBE_UI_TOKEN"):
        choose_token("0.0.0.0", {}, generate=False)
    assert choose_token("0.0.0.0", {"VIBE_UI_TOKEN": TOKEN}, False) == (TOKEN, "env")
    token, source = choose_token("0.0.0.0", {}, generate=True)
    assert source == "generated" and token and len(token) >= 16
    assert choose_token("127.0.0.1", {}, False) == (None, "none")
    with pytest.raises(ConfigurationError, match="16"):
        choose_token("0.0.0.0", {"VIBE_UI_TOKEN": "short"}, False)


def test_the_guard_refuses_actions_without_token_origin_or_csrf() -> None:
    guard = Guard(TOKEN, allowed_hosts("0.0.0.0", 8765) | {"box:8765"})
    base = {"host": "box:8765", "origin": "http://box:8765", "sec-fetch-site": "same-origin"}
    cookies = {SESSION_COOKIE: "s1"}
    good = {**base, "x-vibe-token": TOKEN, "x-csrf-token": guard.csrf_for("s1")}
    assert guard.check("POST", good, cookies).ok
    assert guard.check("POST", {**good, "x-vibe-token": TOKEN + "x"}, cookies).status == 401
    no_token = {k: v for k, v in good.items() if k != "x-vibe-token"}
    assert guard.check("POST", no_token, cookies).status == 401
    assert guard.check("POST", no_token, {**cookies, "vibe_token": TOKEN}).ok  # cookie works
    assert guard.check("POST", {**good, "origin": "http://evil:8765"}, cookies).status == 403
    assert guard.check("POST", {**good, "sec-fetch-site": "cross-site"}, cookies).status == 403
    no_origin = {k: v for k, v in good.items() if k != "origin"}
    assert guard.check("POST", no_origin, cookies).status == 403
    assert guard.check("POST", {**good, "x-csrf-token": "0" * 64}, cookies).status == 403
    assert guard.check("POST", good, {}).status == 403  # no session, no CSRF token
    assert guard.check("GET", {**good, "host": "evil.example:8765"}, cookies).status == 421
    assert guard.check("GET", {"host": "box:8765"}, {}).status == 401
    open_guard = Guard(None, allowed_hosts("127.0.0.1", 8765))
    assert open_guard.check("GET", {"host": "127.0.0.1:8765"}, {}).ok
    assert open_guard.check("POST", {"host": "127.0.0.1:8765"}, {}).status == 403  # CSRF still


def test_ui_on_a_non_loopback_host_without_a_token_does_not_start(tmp_path: Path) -> None:
    out = cli("ui", "--checkpoint-dir", str(tmp_path), "--host", "0.0.0.0", "--port", "0")
    assert out.returncode != 0
    assert "VIBE_UI_TOKEN" in out.stderr and "READY" not in out.stdout


# ---------------------------------------------------------------------- the real server


def test_with_a_token_every_request_without_it_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "cps"
    plan_id, _ = image_plan(store)
    with ui_server(store, VIBE_UI_TOKEN=TOKEN) as url:
        host = urlsplit(url).netloc
        same = {
            "Host": host,
            "Origin": url,
            "Sec-Fetch-Site": "same-origin",
            "Content-Type": "application/json",
        }
        status, _, _ = request(url, "GET", "/api/runs", {"Host": host})
        assert status == 401
        status, _, body = request(url, "POST", f"/api/plans/{plan_id}/resume", same, b"{}")
        assert status == 401, body
        status, headers, body = request(
            url, "GET", "/api/session", {"Host": host, "X-Vibe-Token": TOKEN}
        )
        assert status == 200
        csrf = json.loads(body)["csrf"]
        sid = headers["set-cookie"].split(";")[0]
        with_token = {**same, "X-Vibe-Token": TOKEN, "Cookie": sid}
        # the token alone is not enough for a state change: the CSRF guard too
        status, _, _ = request(url, "POST", f"/api/plans/{plan_id}/cancel", with_token, b"{}")
        assert status == 403
        status, _, _ = request(
            url,
            "POST",
            f"/api/plans/{plan_id}/cancel",
            {**with_token, "X-CSRF-Token": csrf, "Origin": "http://evil.test"},
            b"{}",
        )
        assert status == 403
        status, _, body = request(
            url, "POST", f"/api/plans/{plan_id}/cancel", {**with_token, "X-CSRF-Token": csrf}, b"{}"
        )
        assert status == 409 and b"not running" in body  # allowed through, nothing to cancel
        status, _, _ = request(
            url, "GET", "/api/runs", {"Host": "evil.test", "X-Vibe-Token": TOKEN}
        )
        assert status == 421


def test_the_page_with_a_token_link_works_and_without_it_is_refused(
    tmp_path: Path, page: Any
) -> None:
    store = tmp_path / "cps"
    plan_id, _ = image_plan(store)
    with ui_server(store, VIBE_UI_TOKEN=TOKEN) as url:
        page.goto(url + "/")
        page.wait_for_selector("#error")
        assert "token" in page.inner_text("#error")
        page.goto(f"{url}/?token={TOKEN}")
        page.wait_for_selector(f"tr.run[data-plan={plan_id}]")
        cp = WorkflowPersistenceManager(store).list_checkpoints(plan_id)[0]["checkpoint_id"]
        page.goto(f"{url}/#/plan/{plan_id}/checkpoints")
        page.click(f"button[data-delete='{cp}']")
        page.click("#confirm-yes")
        page.wait_for_selector("#result[data-state=ok]")
    assert WorkflowPersistenceManager(store).list_checkpoints(plan_id) == []


def test_artifact_urls_are_content_hashes_only(tmp_path: Path) -> None:
    store = tmp_path / "cps"
    plan_id, sha = image_plan(store)
    manager = WorkflowPersistenceManager(store)
    other = plan_of(
        [WorkflowNode(id="a", type=WorkflowNodeType.GENERATE, description="a")],
        "plan-other",
        "another plan",
    )
    foreign = ArtifactStore(manager).save(other.id, tiny_png("other", 8))
    save_run(store, other, {"a": completed("a", {"image": foreign})}, "completed")
    unreferenced = ArtifactStore(manager).save(plan_id, tiny_png("stray", 8))["sha256"]
    with ui_server(store) as url:
        host = {"Host": urlsplit(url).netloc}
        status, headers, body = request(url, "GET", f"/artifacts/{plan_id}/{sha}", host)
        assert status == 200 and headers["content-type"] == "image/png"
        assert hashlib.sha256(body).hexdigest() == sha
        assert "sandbox" in headers["content-security-policy"]
        for path in (
            f"/artifacts/{plan_id}/../{plan_id}/{sha}",
            f"/artifacts/{plan_id}/..%2F..%2F{sha}",
            f"/artifacts/{plan_id}/%2e%2e",
            "/artifacts/../../etc/passwd",
            f"/artifacts/{plan_id}/{foreign['sha256']}",  # another plan's blob
            f"/artifacts/{plan_id}/{unreferenced}",  # held, but nothing references it
            f"/artifacts/{plan_id}/{'0' * 64}",
            f"/artifacts/{plan_id}/{sha.upper()}",
            f"/artifacts/{plan_id}/{sha}.png",
            f"/artifacts/..%2f{plan_id}/{sha}",
            "/static/../pyproject.toml",
            "/static/",
            "/static/index.html",
        ):
            status, _, body = request(url, "GET", path, host)
            assert status == 404, (path, status, body[:200])


def test_every_answer_carries_a_strict_policy(tmp_path: Path) -> None:
    with ui_server(tmp_path / "cps") as url:
        host = {"Host": urlsplit(url).netloc}
        for path in ("/", "/static/app.js", "/api/runs", "/nothing-here"):
            _, headers, _ = request(url, "GET", path, host)
            assert headers["content-security-policy"] == CSP, path
            assert headers["x-content-type-options"] == "nosniff"
        _, _, page = request(url, "GET", "/", host)
        assert b"<script>" not in page and b"<script src=" in page  # no inline script
