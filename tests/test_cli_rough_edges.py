"""Rough edges of the command, each reproduced first (issues 11.13 and 12.7, 12.8, 12.14)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

from test_cli import BIN, cli, hermetic_env


def start_midway(
    tmp_path: Path, text: str, *flags: str, wait_for: str = "*/journal-*.jsonl"
) -> subprocess.Popen[str]:
    """A slow ``execute`` (0.3 s a node) started in ``tmp_path``, returned once ``wait_for``
    exists in its checkpoint folder (the run is under way) plus a little more."""
    proc = subprocess.Popen(
        [str(BIN), "execute", text, *flags],
        cwd=tmp_path,
        env=hermetic_env({"VIBE_SIMULATE_LATENCY": "0.3"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cps = tmp_path / ".vibe_checkpoints"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(cps.glob(wait_for)):
        time.sleep(0.05)
    time.sleep(0.4)
    return proc


def run_once(tmp_path: Path, text: str = "Write a haiku about clearing") -> None:
    done = cli("execute", text, "--plain", cwd=tmp_path)
    assert done.returncode == 0, done.stderr


def test_clear_of_a_plan_that_never_existed_is_an_error_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """Failed before: "Cleared 1 plan(s)" and a plan-qqq/.lock left behind (12.7)."""
    run_once(tmp_path)
    out = cli("checkpoints", "--clear", "--plan", "plan-qqq", cwd=tmp_path)
    assert out.returncode == 1 and "no plan 'plan-qqq'" in out.stderr
    assert not (tmp_path / ".vibe_checkpoints" / "plan-qqq").exists()
    missing = cli("resume", "--plan", "plan-typo", cwd=tmp_path)
    assert missing.returncode == 1 and "Resuming" not in missing.stdout
    assert not (tmp_path / ".vibe_checkpoints" / "plan-typo").exists()  # no stray .lock


def test_clear_everything_asks_and_reports_in_json(tmp_path: Path) -> None:
    """Failed before: --clear deleted every plan without a word (12.8)."""
    run_once(tmp_path, "Write a haiku about one")
    run_once(tmp_path, "Write a haiku about two")
    refused = cli("checkpoints", "--clear", cwd=tmp_path)
    assert refused.returncode == 2 and "--yes" in refused.stderr
    doc = json.loads(cli("checkpoints", "--clear", "--yes", "--json", cwd=tmp_path).stdout)
    assert len(doc["cleared"]) == 2 and doc["errors"] == {}
    assert all(not item.endswith("plan-") for item in doc["removed"])


def test_one_unclearable_plan_does_not_stop_the_others(tmp_path: Path) -> None:
    """Failed before: one symlinked .lock aborted --clear for every plan (11.13)."""
    run_once(tmp_path, "Write a haiku about a good plan")
    run_once(tmp_path, "Write a haiku about a bad plan")
    root = tmp_path / ".vibe_checkpoints"
    plans = sorted(p.name for p in root.iterdir())
    bad = root / plans[0] / ".lock"
    bad.unlink()
    target = tmp_path / "elsewhere.txt"
    target.write_text("keep\n")
    bad.symlink_to(target)
    out = cli("checkpoints", "--clear", "--yes", "--json", cwd=tmp_path)
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert plans[1] in doc["cleared"] and plans[0] in doc["errors"]
    assert not (root / plans[1]).exists()
    assert target.read_text() == "keep\n"


def test_delete_refuses_while_the_plan_runs_like_clear(tmp_path: Path) -> None:
    """Failed before: --delete succeeded on a running plan while --clear refused (12.14)."""
    proc = subprocess.Popen(
        [str(BIN), "execute", "Write a blog post about deleting", "--plain"],
        cwd=tmp_path,
        env=hermetic_env({"VIBE_SIMULATE_LATENCY": "0.4"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        cps = tmp_path / ".vibe_checkpoints"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not list(cps.glob("*/cp-*.json")):
            time.sleep(0.05)
        cp = next(cps.glob("*/cp-*.json")).name[:-5]
        out = cli("checkpoints", "--delete", cp, cwd=tmp_path)
        assert out.returncode == 1 and "another process" in out.stderr, out.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def test_a_second_signal_still_exits_130_with_a_matching_resume_line(tmp_path: Path) -> None:
    """Failed before: a signal after the handlers were removed exited -15 (11.13)."""
    proc = start_midway(tmp_path, "Write a blog post about two signals", "--plain")
    cps = tmp_path / ".vibe_checkpoints"
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (proc.returncode, err)
    assert "Traceback" not in err
    if "Resume with: " in err:
        named = err.split("Resume with: ", 1)[1].split()[2]
        listing = json.loads(cli("checkpoints", "--list", "--json", cwd=tmp_path).stdout)
        assert listing[0]["checkpoint_id"] == named
    assert os.path.isdir(cps)


def test_constraints_before_the_description_get_a_clear_answer(tmp_path: Path) -> None:
    """Failed before: `-c "under 800 words" "Write..."` took the description as a constraint
    and argparse only said the description was required (12.15)."""
    out = cli("execute", "-c", "under 800 words", "Write a post about rivers", cwd=tmp_path)
    assert out.returncode == 2 and "-c/--constraints took" in out.stderr
    ok = cli("execute", "-c", "under 800 words", "--", "Write a post about rivers", cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr


def test_unknown_domain_warns_with_the_known_ones(tmp_path: Path) -> None:
    out = cli("plan", "Write a post about rivers", "--domain", "fooo", cwd=tmp_path)
    assert out.returncode == 0 and "domain 'fooo'" in out.stderr and "video" in out.stderr
    fine = cli("plan", "Design an app", "--domain", "mobile design", cwd=tmp_path)
    assert fine.returncode == 0 and "warning" not in fine.stderr
    helped = cli("plan", "--help", cwd=tmp_path)
    assert "mermaid" in helped.stdout and "execute --plan" in helped.stdout


def test_json_is_one_document_even_when_interrupted_or_failing(tmp_path: Path) -> None:
    """Failed before: --json printed nothing when a run was interrupted or failed (12.2)."""
    proc = start_midway(tmp_path, "Write a blog post about json", "--json")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    doc = json.loads(out)
    assert doc["status"] == "interrupted" and doc["resume_command"].startswith("vibe-aigc resume")
    bad = cli("checkpoints", "--show", "cp-0000000000000-0000", "--json", cwd=tmp_path)
    assert bad.returncode == 1 and json.loads(bad.stdout)["status"] == "error"


def test_output_dir_is_checked_before_any_work(tmp_path: Path) -> None:
    """Failed before: `--output-dir afile` ran the whole workflow, then failed (12.9)."""
    (tmp_path / "afile").write_text("x")
    out = cli("execute", "Write a post about files", "--output-dir", "afile", cwd=tmp_path)
    assert out.returncode == 2 and "not a folder" in out.stderr
    assert not (tmp_path / ".vibe_checkpoints").exists()


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    """Failed before: `... | head -3` printed 16 BrokenPipeError tracebacks (12.1)."""
    proc = subprocess.run(
        f"{BIN} execute 'Write a blog post about pipes' --plain | head -2",
        shell=True,
        cwd=tmp_path,
        env=hermetic_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert len(proc.stdout.splitlines()) == 2
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr
    done = json.loads(cli("checkpoints", "--list", "--json", cwd=tmp_path).stdout)
    assert done[0]["state"] == "completed"  # the run itself went on to the end


def test_resume_warnings_are_said_once_and_only_when_true(tmp_path: Path) -> None:
    """Failed before: each "skipped corrupt checkpoint" came twice, and "resumed from the
    newest valid checkpoint" appeared when nothing was corrupt (12.10)."""
    proc = start_midway(tmp_path, "Write a blog post about warnings", "--plain")
    cps = tmp_path / ".vibe_checkpoints"
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=30)
    [plan_dir] = [p for p in cps.iterdir() if p.is_dir()]
    newest = max(plan_dir.glob("cp-*.json"))
    newest.write_text(newest.read_text().replace('"state"', '"stat"', 1))
    out = cli("resume", "--plan", plan_dir.name, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stderr.count(f"skipped corrupt checkpoint {newest.stem}") == 1
    assert out.stderr.count("the newest valid checkpoint") == 1
    again = cli("execute", "Write a blog post about warnings", "--fresh", cwd=tmp_path)
    assert "newest valid" not in again.stderr and "corrupt" not in again.stderr
