"""The live view of `vibe-aigc execute` / `resume`, driven under a pseudo-terminal (pexpect)."""

from __future__ import annotations

import json
import re
import signal
import time
from pathlib import Path

import pexpect
import pytest

from test_cli import BIN, cli, failing_checkpoint, hermetic_env

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def spawn(
    *args: str, cwd: Path, latency: float = 0.05, env: dict[str, str] | None = None
) -> pexpect.spawn:
    full = hermetic_env(
        {
            "VIBE_SIMULATE_LATENCY": str(latency),
            "COLUMNS": "120",
            "LINES": "40",
            "TERM": "xterm-256color",
            **(env or {}),
        }
    )
    return pexpect.spawn(
        str(BIN),
        list(args),
        cwd=str(cwd),
        env=full,
        dimensions=(40, 120),
        encoding="utf-8",
        codec_errors="replace",  # the terminal's "^C" echo can land inside a multi-byte character
        timeout=30,
    )


def finish(child: pexpect.spawn) -> tuple[int, str]:
    """Wait for the end; (exit code, everything it wrote with terminal controls removed)."""
    child.expect(pexpect.EOF)
    child.close()
    return child.exitstatus, ANSI.sub("", child.before or "")


def test_live_view_shows_nodes_icons_progress_and_checkpoint(tmp_path: Path) -> None:
    child = spawn("execute", "Write a blog post about terminals", "--quiet", cwd=tmp_path)
    child.expect("running")  # a frame drawn while nodes run
    code, screen = finish(child)
    assert code == 0, screen
    frames = screen.split("vibe-aigc  plan-")  # each redraw starts with the title line
    assert len(frames) > 3  # redrawn as the run goes, not printed once at the end
    final = frames[-1]
    plan = json.loads(cli("checkpoints", "--list", "--json", cwd=tmp_path).stdout)[0]
    total = plan["total_nodes"]
    for node_id in ("brief", "outline", "review"):
        assert re.search(rf"[├└]─ ✅ {node_id}\s+done \d", final), node_id
    assert f"{total}/{total} nodes" in final and "elapsed 0:" in final and "retries 0" in final
    assert f"{total}/{total} nodes recorded  last checkpoint {plan['checkpoint_id']}" in final
    assert "Status: completed" in final
    assert "🔄" in screen and "⏳" in screen  # running and pending nodes were shown on the way
    assert re.search(rf"\b\d/{total} nodes", screen)
    assert "🚀 [" not in screen  # no plain lines on a terminal
    assert "Traceback" not in screen


def test_live_view_shows_failures_and_skips(tmp_path: Path) -> None:
    checkpoint = failing_checkpoint(tmp_path)
    code, screen = finish(spawn("resume", checkpoint, cwd=tmp_path, latency=0))
    assert code == 1, screen
    assert "❌ [bad] failed: ToolError" in screen  # printed above the view, kept in scrollback
    assert re.search(r"└─ ⏭️ after\s+skipped", screen) and re.search(r"├─ ❌ bad\s+failed", screen)
    assert "Status: failed" in screen and "Fix the cause, then resume with:" in screen


@pytest.mark.parametrize("how", ["ctrl-c", "SIGTERM"])
def test_stopping_the_live_view_checkpoints_and_prints_the_resume_command(
    tmp_path: Path, how: str
) -> None:
    child = spawn("execute", "Write a blog post about interrupts", cwd=tmp_path, latency=0.3)
    child.expect(r"(?<![0-9])[1-9][0-9]*/[0-9]+ nodes")  # the first frame with finished nodes
    time.sleep(0.1)
    if how == "ctrl-c":
        child.sendintr()  # ^C through the terminal: SIGINT to the foreground process group
    else:
        child.kill(signal.SIGTERM)
    code, screen = finish(child)
    assert code == 130, screen
    assert "Status: interrupted" in screen and "Traceback" not in screen
    assert "Status: completed" not in screen
    found = re.search(r"Resume with: vibe-aigc resume (cp-\S+)", screen)
    assert found, screen
    listing = json.loads(cli("checkpoints", "--list", "--json", cwd=tmp_path).stdout)
    assert listing[0]["checkpoint_id"] == found.group(1) and listing[0]["state"] == "interrupted"
    resumed = cli("resume", found.group(1), "--quiet", cwd=tmp_path)
    assert resumed.returncode == 0 and "Status: completed" in resumed.stdout


@pytest.mark.parametrize(
    ("args", "env"),
    [(("--plain",), {}), ((), {"NO_COLOR": "1"}), ((), {"TERM": "dumb"})],
    ids=["--plain", "NO_COLOR", "TERM=dumb"],
)
def test_plain_lines_on_a_terminal_when_asked(
    tmp_path: Path, args: tuple[str, ...], env: dict[str, str]
) -> None:
    child = spawn("execute", "Write a haiku", "-q", *args, cwd=tmp_path, latency=0, env=env)
    code, screen = finish(child)
    assert code == 0, screen
    assert "🚀 [brief]" in screen and "✅ [brief] done" in screen
    assert "nodes  elapsed" not in screen and "\x1b[" not in (child.before or "")


def test_json_on_a_terminal_is_one_document(tmp_path: Path) -> None:
    code, screen = finish(spawn("execute", "Write a haiku", "--json", cwd=tmp_path, latency=0))
    assert code == 0
    assert json.loads(screen)["status"] == "completed"
