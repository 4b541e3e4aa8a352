"""The installed `vibe-aigc` command, driven in real subprocesses (plain mode)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vibe_aigc import __version__

BIN = Path(sys.executable).with_name("vibe-aigc")


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("VIBE_")}
    full_env.update(env or {})
    return subprocess.run(
        [str(BIN), *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def test_version_and_help(tmp_path: Path) -> None:
    out = cli("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == f"vibe-aigc {__version__}"
    assert cli("--help", cwd=tmp_path).returncode == 0


def test_plan_formats_and_output_file(tmp_path: Path) -> None:
    ascii_out = cli(
        "plan",
        "Design a mobile app",
        "--style",
        "modern, minimal",
        "--constraints",
        "iOS-first",
        "under 5 screens",
        "--domain",
        "mobile design",
        "--format",
        "ascii",
        cwd=tmp_path,
    )
    assert ascii_out.returncode == 0, ascii_out.stderr
    assert "Planning workflow for: Design a mobile app" in ascii_out.stdout
    assert "Workflow Plan: plan-" in ascii_out.stdout and "⏳ [" in ascii_out.stdout
    mermaid = cli("plan", "Design a mobile app", "--format", "mermaid", cwd=tmp_path)
    assert mermaid.stdout.split()[0] in ("graph", "flowchart")
    doc = json.loads(cli("plan", "Design a mobile app", "--format", "json", cwd=tmp_path).stdout)
    assert doc["plan"]["id"].startswith("plan-")
    saved = cli("plan", "Design a mobile app", "--output", "plan.txt", cwd=tmp_path)
    assert saved.returncode == 0
    assert "Workflow Plan:" in (tmp_path / "plan.txt").read_text()
    assert not (tmp_path / ".vibe_checkpoints").exists()  # planning writes no checkpoint


def test_execute_checkpoints_list_show_resume_delete_clear(tmp_path: Path) -> None:
    run = cli(
        "execute",
        "Generate comprehensive documentation",
        "--checkpoint",
        "--checkpoint-interval",
        "2",
        cwd=tmp_path,
    )
    assert run.returncode == 0, run.stderr
    assert "Executing workflow for: Generate comprehensive documentation" in run.stdout
    assert "Status: completed" in run.stdout and "🚀 [" in run.stdout and "✅ [" in run.stdout
    listing = cli("checkpoints", "--list", cwd=tmp_path)
    assert listing.returncode == 0
    assert "checkpoint(s):" in listing.stdout and "  ID: cp-" in listing.stdout
    assert "Progress: " in listing.stdout
    entries = json.loads(cli("checkpoints", "--list", "--json", cwd=tmp_path).stdout)
    newest = entries[0]["checkpoint_id"]
    shown = json.loads(cli("checkpoints", "--show", newest, cwd=tmp_path).stdout)
    assert shown["checkpoint_id"] == newest and shown["state"] == "completed"
    resumed = cli("resume", newest, "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads(resumed.stdout)  # --json: one document, nothing else on stdout
    assert doc["status"] == "completed" and doc["resumed_from"] == newest
    assert (
        cli("checkpoints", "--delete", entries[-1]["checkpoint_id"], cwd=tmp_path).returncode == 0
    )
    gone = cli("checkpoints", "--delete", entries[-1]["checkpoint_id"], cwd=tmp_path)
    assert gone.returncode == 1 and "no checkpoint" in gone.stderr
    cleared = cli("checkpoints", "--clear", cwd=tmp_path)
    assert cleared.returncode == 0 and "Removed" in cleared.stdout
    assert "No checkpoints" in cli("checkpoints", "--list", cwd=tmp_path).stdout


def test_env_checkpoint_dir_is_honoured(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    run = cli(
        "execute", "Write a haiku blog post", cwd=tmp_path, env={"VIBE_CHECKPOINT_DIR": str(target)}
    )
    assert run.returncode == 0, run.stderr
    assert list(target.glob("plan-*/cp-*.json"))
    assert not (tmp_path / ".vibe_checkpoints").exists()


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("resume", "cp-abc123"), 1, "cp-abc123"),
        (("resume", "../../etc/passwd"), 1, "invalid checkpoint id"),
        (("checkpoints", "--show", "cp-nope"), 1, "list"),
        (("execute", "x", "--checkpoint-interval", "0"), 2, "must be 1 or more"),
        (("execute", "x", "--checkpoint-interval", "-3"), 2, "must be 1 or more"),
        (("execute", "   "), 2, "must not be empty"),
        (("plan",), 2, "required"),
        (("frobnicate",), 2, "invalid choice"),
    ],
)
def test_bad_input_is_one_clear_line(
    tmp_path: Path, args: tuple[str, ...], code: int, needle: str
) -> None:
    out = cli(*args, cwd=tmp_path)
    assert out.returncode == code, (out.stdout, out.stderr)
    assert needle in out.stderr
    assert "Traceback" not in out.stderr
    assert not any(p.name == "passwd" for p in tmp_path.rglob("*"))


def test_corrupt_checkpoint_and_debug_traceback(tmp_path: Path) -> None:
    assert cli("execute", "Write a short story blog post", cwd=tmp_path).returncode == 0
    files = sorted((tmp_path / ".vibe_checkpoints").glob("*/cp-*.json"))
    for f in files:
        f.write_text("{ not json")
    out = cli("resume", files[-1].stem, cwd=tmp_path)
    assert out.returncode == 1 and "corrupt" in out.stderr and "Traceback" not in out.stderr
    listing = cli("checkpoints", "--list", cwd=tmp_path)
    assert listing.returncode == 0 and "CORRUPT" in listing.stdout
    debug = cli("--debug", "resume", files[-1].stem, cwd=tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_unwritable_checkpoint_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where a folder should be")
    out = cli(
        "execute", "Write a blog post", "--checkpoint-dir", str(blocker / "cps"), cwd=tmp_path
    )
    assert out.returncode == 1
    assert str(blocker) in out.stderr and "Traceback" not in out.stderr


def test_sigterm_checkpoints_and_prints_resume_command(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIBE_")}
    env["VIBE_SIMULATE_LATENCY"] = "0.3"  # each offline node takes 0.3 s: the signal lands mid-run
    proc = subprocess.Popen(
        [str(BIN), "execute", "Write a blog post about signals", "--plain"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    cps = tmp_path / ".vibe_checkpoints"
    while time.monotonic() < deadline and not list(cps.glob("*/journal-*.jsonl")):
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert "Resume with: vibe-aigc resume cp-" in err
    command = err.split("Resume with: ", 1)[1].split()
    listing = json.loads(cli("checkpoints", "--list", "--json", cwd=tmp_path).stdout)
    assert listing[0]["state"] == "interrupted"
    assert listing[0]["checkpoint_id"] == command[2]
    resumed = cli(*command[1:], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "Status: completed" in resumed.stdout
