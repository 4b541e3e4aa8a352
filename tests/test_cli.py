"""The installed `vibe-aigc` command, driven in real subprocesses (plain mode: stdout is a pipe).

The helpers at the top (``cli``, ``hermetic_env``, ``failing_checkpoint``) are shared with the
other ``test_cli_*`` files.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vibe_aigc import MetaPlanner, Vibe, WorkflowNode, WorkflowNodeType, WorkflowPlan, __version__
from vibe_aigc import cli as cli_module
from vibe_aigc.cli import main as cli_main

BIN = Path(sys.executable).with_name("vibe-aigc")

# Settings that would make the command leave the offline planner or change its output.
_SCRUBBED_PREFIXES = ("VIBE_", "OPENAI_", "OLLAMA_")
_SCRUBBED = {"NO_COLOR", "COLUMNS", "LINES"}


def hermetic_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(_SCRUBBED_PREFIXES) and k not in _SCRUBBED
    }
    env.update(extra or {})
    return env


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN), *args],
        cwd=cwd,
        env=hermetic_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def failing_checkpoint(folder: Path) -> str:
    """A checkpoint (in ``folder/.vibe_checkpoints``) whose resume fails: ``ok`` is done, ``bad``
    asks for a tool that does not exist, and ``after`` waits on ``bad``."""
    plan = WorkflowPlan(
        id="plan-failing",
        source_vibe=Vibe(description="A run that fails"),
        root_nodes=[
            WorkflowNode(id="ok", type=WorkflowNodeType.ANALYZE, description="Works"),
            WorkflowNode(
                id="bad",
                type=WorkflowNodeType.GENERATE,
                description="Uses a missing tool",
                parameters={"tool": "no-such-tool"},
                dependencies=["ok"],
            ),
            WorkflowNode(
                id="after",
                type=WorkflowNodeType.VALIDATE,
                description="Waits on bad",
                dependencies=["bad"],
            ),
        ],
    )
    planner = MetaPlanner(checkpoint_dir=folder / ".vibe_checkpoints")
    return planner.create_checkpoint(
        plan.id,
        {
            "workflow_plan": plan.model_dump(mode="json"),
            "node_results": {"ok": {"status": "completed", "output": {"text": "fine"}}},
        },
    )


BANNER = "=" * 50


def test_version_and_help(tmp_path: Path) -> None:
    out = cli("--version", cwd=tmp_path)
    assert out.returncode == 0 and out.stdout.strip() == f"vibe-aigc {__version__}"
    assert cli("--help", cwd=tmp_path).returncode == 0
    for command in ("plan", "execute", "checkpoints", "resume"):
        shown = cli(command, "--help", cwd=tmp_path)
        assert shown.returncode == 0 and f"vibe-aigc {command}" in shown.stdout


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
    assert ":::pending" in mermaid.stdout and "classDef completed" in mermaid.stdout
    doc = json.loads(cli("plan", "Design a mobile app", "--format", "json", cwd=tmp_path).stdout)
    assert doc["plan"]["id"].startswith("plan-")
    saved = cli("plan", "Design a mobile app", "--output", "plan.txt", cwd=tmp_path)
    assert saved.returncode == 0 and saved.stdout == ""
    assert "Workflow Plan:" in (tmp_path / "plan.txt").read_text()
    short = cli("plan", "Design a mobile app", "-f", "json", "-o", "plan.json", cwd=tmp_path)
    assert short.returncode == 0
    assert json.loads((tmp_path / "plan.json").read_text())["plan"]["id"].startswith("plan-")
    assert not (tmp_path / ".vibe_checkpoints").exists()  # planning writes no checkpoint


def test_plan_guide_example_shape_and_plan_id(tmp_path: Path) -> None:
    out = cli(
        "plan",
        "Create a product launch video",
        "--style",
        "cinematic",
        "--format",
        "ascii",
        "--plan-id",
        "launch-video",
        cwd=tmp_path,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[:6] == [
        "Planning workflow for: Create a product launch video",
        "",
        "Workflow Plan: launch-video",
        BANNER,
        "Source Vibe: Create a product launch video",
        "",
    ]
    assert re.match(r"├── ⏳ \[analyze\] .+ \(\w+\)$", lines[6])
    assert any(line.lstrip("│ ").startswith("└─ Depends on: ") for line in lines)
    assert lines[-2].startswith("└── ⏳ ") and lines[-1].startswith("    └─ Depends on: ")


def test_hostile_descriptions_render_in_every_format(tmp_path: Path) -> None:
    nasty = 'Quote "this" [x] {y} <z> #1; end\u202e --> click `tick` \x1b[31mred'
    for fmt in ("ascii", "mermaid"):
        out = cli("plan", nasty, "--format", fmt, cwd=tmp_path)
        assert out.returncode == 0, (fmt, out.stderr)
        assert "\x1b" not in out.stdout and "\u202e" not in out.stdout
    as_json = cli("plan", nasty, "--format", "json", cwd=tmp_path)
    assert json.loads(as_json.stdout)["plan"]["source_vibe"]["description"] == nasty
    mermaid = cli("plan", nasty, "--format", "mermaid", cwd=tmp_path).stdout
    assert "#quot;" in mermaid and "#91;" in mermaid  # quotes and brackets are entity-coded


def test_execute_visualize_matches_the_guide(tmp_path: Path) -> None:
    run = cli("execute", "Write a technical tutorial", "--visualize", "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0] == "Executing workflow for: Write a technical tutorial"
    started = [i for i, line in enumerate(lines) if re.match(r"🚀 \[\w+\] ", line)]
    finished = [i for i, line in enumerate(lines) if re.match(r"✅ \[\w+\] done", line)]
    assert started and finished and len(started) == len(finished)
    summary_at = len(lines) - 1 - lines[::-1].index(BANNER)  # the diagram has a banner too
    assert started[0] < finished[0] and max(finished) < summary_at
    # the summary is printed once, as in the guide (issue 12.16: it used to come twice)
    assert "Execution Summary:" not in lines and any(re.match(r"Duration: \d", x) for x in lines)
    assert sum(x.startswith("Status: ") for x in lines) == 1
    tail = lines[summary_at:]
    assert tail[1] == "Status: completed"
    done, total = re.fullmatch(r"Completed: (\d+)/(\d+) nodes", tail[2]).groups()  # type: ignore[union-attr]
    assert done == total and int(total) == len(started)
    assert sum("✅ [" in x for x in lines if x.startswith(("├", "│", "└"))) == int(total)


def test_execute_json_is_one_document_and_duration_is_wall_time(tmp_path: Path) -> None:
    began = time.monotonic()
    run = cli(
        "execute",
        "Write a blog post about clocks",
        "--json",
        cwd=tmp_path,
        env={"VIBE_SIMULATE_LATENCY": "0.05"},
    )
    wall = time.monotonic() - began
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)  # the whole of stdout is one JSON document
    assert doc["status"] == "completed" and doc["checkpoint_id"].startswith("cp-")
    assert set(doc["node_results"]) == {n["id"] for n in walk(doc["plan"]["root_nodes"])}
    took = doc["summary"]["total_duration"]
    node_time = sum(r["duration"] for r in doc["node_results"].values())
    assert 0.05 * 4 <= took < wall  # at least four levels of 0.05 s nodes, within the process
    assert took < node_time  # parallel nodes: wall time, not the sum of node times


def walk(nodes: list[dict[str, object]]) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for node in nodes:
        out.append(node)
        out.extend(walk(node["children"]))  # type: ignore[arg-type]
    return out


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
    saved = re.findall(r"💾 checkpoint (cp-\S+) saved \((\d+)/(\d+) nodes", run.stdout)
    assert len(saved) >= 4  # start, every 2 nodes, end
    listing = cli("checkpoints", "--list", cwd=tmp_path)
    assert listing.returncode == 0
    assert listing.stdout.startswith(f"Found {len(saved)} checkpoint(s):\n\n  ID: cp-")
    assert re.search(r"  Created: \d{4}-\d\d-\d\dT[\d:.]+Z\n", listing.stdout)
    assert re.search(r"  Progress: \d+/\d+ nodes\n", listing.stdout)
    entries = json.loads(cli("checkpoints", "--list", "--json", cwd=tmp_path).stdout)
    assert {e["checkpoint_id"] for e in entries} == {cp for cp, _, _ in saved}
    newest = entries[0]["checkpoint_id"]
    shown = json.loads(cli("checkpoints", "--show", newest, cwd=tmp_path).stdout)
    assert shown["checkpoint_id"] == newest and shown["state"] == "completed"
    resumed = cli("resume", newest, "--json", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    doc = json.loads(resumed.stdout)  # --json: one document, nothing else on stdout
    assert doc["status"] == "completed" and doc["resumed_from"] == newest
    oldest = entries[-1]["checkpoint_id"]
    deleted = cli("checkpoints", "--delete", oldest, cwd=tmp_path)
    assert deleted.returncode == 0 and f"Deleted checkpoint {oldest}" in deleted.stdout
    gone = cli("checkpoints", "--delete", oldest, cwd=tmp_path)
    assert gone.returncode == 1 and "not found" in gone.stderr and "--list" in gone.stderr
    refused = cli("checkpoints", "--clear", cwd=tmp_path)  # everything, off a terminal
    assert refused.returncode == 2 and "--yes" in refused.stderr  # issue 12.8: asks first
    assert cli("checkpoints", "--list", "--json", cwd=tmp_path).stdout.strip() != "[]"
    cleared = cli("checkpoints", "--clear", "--yes", cwd=tmp_path)
    assert (
        cleared.returncode == 0
        and "Removed" in cleared.stdout
        and "Cleared 1 plan" in (cleared.stdout)
    )
    assert "No checkpoints" in cli("checkpoints", "--list", cwd=tmp_path).stdout


def test_plan_filters_and_resume_latest_of_a_plan(tmp_path: Path) -> None:
    for plan_id in ("plan-one", "plan-two"):
        run = cli("execute", f"Write about {plan_id}", "--plan-id", plan_id, cwd=tmp_path)
        assert run.returncode == 0, run.stderr
    only = json.loads(
        cli("checkpoints", "--list", "--plan", "plan-one", "--json", cwd=tmp_path).stdout
    )
    assert only and {e["plan_id"] for e in only} == {"plan-one"}
    listing = cli("checkpoints", "--list", "--plan", "plan-two", cwd=tmp_path).stdout
    assert "Plan: plan-two" in listing and "plan-one" not in listing
    latest = cli("resume", "--plan", "plan-two", "--quiet", cwd=tmp_path)
    assert latest.returncode == 0, latest.stderr
    assert "Resuming plan plan-two from its latest checkpoint" in latest.stdout
    assert "Resumed from: cp-" in latest.stdout
    cleared = cli("checkpoints", "--clear", "--plan", "plan-one", cwd=tmp_path)
    assert cleared.returncode == 0 and "plan-one" in cleared.stdout
    left = json.loads(cli("checkpoints", "--list", "--json", cwd=tmp_path).stdout)
    assert left and {e["plan_id"] for e in left} == {"plan-two"}
    missing = cli("resume", "--plan", "plan-one", cwd=tmp_path)
    assert missing.returncode == 1 and "no checkpoint" in missing.stderr


def test_env_checkpoint_dir_is_honoured(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    env = {"VIBE_CHECKPOINT_DIR": str(target)}
    run = cli("execute", "Write a haiku blog post", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stderr
    assert list(target.glob("plan-*/cp-*.json"))
    assert not (tmp_path / ".vibe_checkpoints").exists()
    assert "Found" in cli("checkpoints", "--list", cwd=tmp_path, env=env).stdout
    assert "No checkpoints" in cli("checkpoints", "--list", cwd=tmp_path).stdout


def test_model_settings_from_env_never_leak_and_never_crash(tmp_path: Path) -> None:
    """OPENAI_* reach MetaPlanner untouched; a dead endpoint is an error or an offline plan."""
    secret = "sk-test-do-not-print-0123456789"
    env = {"OPENAI_API_KEY": secret, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1"}
    out = cli("plan", "Write a blog post", "--format", "json", cwd=tmp_path, env=env)
    assert out.returncode in (0, 1), out.stderr
    assert "Traceback" not in out.stderr
    assert secret not in out.stdout + out.stderr
    if out.returncode == 1:  # the model was tried at the given address, and the error says so
        assert out.stderr.startswith("error: ") and "127.0.0.1:9" in out.stderr
        assert len(out.stderr.strip().splitlines()) <= 2


def test_output_dir_gets_every_node_and_the_result(tmp_path: Path) -> None:
    run = cli("execute", "Write a blog post", "--output-dir", "out", "--quiet", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    [folder] = (tmp_path / "out").iterdir()  # one subfolder per plan (issue 12.9)
    doc = json.loads((folder / "result.json").read_text())
    assert folder.name == doc["plan_id"]
    assert {p.stem for p in folder.glob("*.md")} == set(doc["node_results"])


def test_adapt_runs_or_says_it_is_missing(tmp_path: Path) -> None:
    out = cli("execute", "Complex multi-step task", "--adapt", cwd=tmp_path)
    assert "Traceback" not in out.stderr
    if hasattr(MetaPlanner, "execute_with_adaptation"):
        assert out.returncode == 0, out.stderr
        assert "Status: completed" in out.stdout
    else:
        assert out.returncode == 1 and out.stdout == ""
        assert out.stderr.startswith("error: --adapt needs ") and "not available" in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1


def test_failed_run_exits_1_and_says_how_to_resume(tmp_path: Path) -> None:
    checkpoint = failing_checkpoint(tmp_path)
    out = cli("resume", checkpoint, cwd=tmp_path)
    assert out.returncode == 1, (out.stdout, out.stderr)
    assert "❌ [bad] failed: ToolError: unknown tool 'no-such-tool'" in out.stdout
    assert "⏭️ [after] skipped" in out.stdout
    assert "Status: failed" in out.stdout and "Failed: 1  Skipped: 1" in out.stdout
    assert "Fix the cause, then resume with: vibe-aigc resume cp-" in out.stdout
    doc = json.loads(cli("resume", checkpoint, "--json", cwd=tmp_path).stdout)
    assert doc["status"] == "failed" and doc["node_results"]["ok"]["status"] == "completed"


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("resume", "cp-abc123"), 1, "cp-abc123"),
        (("resume", "../../etc/passwd"), 1, "invalid checkpoint id"),
        (("resume",), 2, "CHECKPOINT_ID or --plan"),
        (("checkpoints", "--show", "cp-nope"), 1, "--list"),
        (("checkpoints",), 2, "one of the arguments"),
        (("checkpoints", "--list", "--clear"), 2, "not allowed with"),
        (("execute", "x", "--checkpoint-interval", "0"), 2, "must be 1 or more"),
        (("execute", "x", "--checkpoint-interval", "-3"), 2, "must be 1 or more"),
        (("execute", "x", "--checkpoint-interval", "two"), 2, "not a whole number"),
        (("execute", "x", "--no-checkpoint", "--checkpoint-interval", "2"), 2, "cannot be"),
        (("execute", "   "), 2, "must not be empty"),
        (("execute", ""), 2, "must not be empty"),
        (("execute", "x", "--plan-id", "../up"), 2, "invalid plan id"),  # a usage error (12.15)
        (("plan", "x", "--format", "svg"), 2, "invalid choice"),
        (("plan", "x", "--output", "no/such/dir/plan.txt"), 1, "no/such/dir/plan.txt"),
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
    if code == 1:  # our own errors: what went wrong, and at most one line on what to do
        assert out.stderr.startswith("error: ") and len(out.stderr.strip().splitlines()) <= 2
    assert not any(p.name == "passwd" for p in tmp_path.rglob("*"))


def test_corrupt_checkpoint_and_debug_traceback(tmp_path: Path) -> None:
    assert cli("execute", "Write a short story blog post", cwd=tmp_path).returncode == 0
    files = sorted((tmp_path / ".vibe_checkpoints").glob("*/cp-*.json"))
    for f in files:
        f.write_text("{ not json")
    out = cli("resume", files[-1].stem, cwd=tmp_path)
    assert out.returncode == 1 and "corrupt" in out.stderr and "Traceback" not in out.stderr
    assert out.stderr.count("\n") == 2 and "hint: `vibe-aigc checkpoints --list`" in out.stderr
    shown = cli("checkpoints", "--show", files[-1].stem, cwd=tmp_path)
    assert shown.returncode == 1 and "corrupt" in shown.stderr
    listing = cli("checkpoints", "--list", cwd=tmp_path)
    assert listing.returncode == 0 and "CORRUPT" in listing.stdout
    debug = cli("--debug", "resume", files[-1].stem, cwd=tmp_path)
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_unwritable_checkpoint_folder(tmp_path: Path) -> None:
    blocker = tmp_path / "blocked"
    blocker.write_text("a file where a folder should be")
    for env, extra in (
        ({}, ("--checkpoint-dir", str(blocker / "cps"))),
        (
            {"VIBE_CHECKPOINT_DIR": str(blocker / "cps")},
            (),
        ),
    ):
        out = cli("execute", "Write a blog post", *extra, cwd=tmp_path, env=env)
        assert out.returncode == 1, out.stdout
        assert str(blocker) in out.stderr and "Traceback" not in out.stderr
        assert out.stdout == ""  # refused before any work was done


def test_locked_plan_fails_fast_naming_the_holder(tmp_path: Path) -> None:
    env = hermetic_env({"VIBE_SIMULATE_LATENCY": "1.5"})  # still running while we knock
    holder = subprocess.Popen(
        [str(BIN), "execute", "Write a blog post about locks", "--plain"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        lock = wait_for_lock(tmp_path / ".vibe_checkpoints")
        plan_id = lock.parent.name
        began = time.monotonic()
        second = cli("execute", "Write a blog post about locks", cwd=tmp_path)
        again = cli("resume", "--plan", plan_id, cwd=tmp_path)
        assert time.monotonic() - began < 5
        for out in (second, again):
            assert out.returncode == 1, (out.stdout, out.stderr)
            assert f"pid {holder.pid}" in out.stderr and "another process" in out.stderr
            assert "Traceback" not in out.stderr and "Resuming" not in out.stdout
    finally:
        holder.terminate()
        holder.communicate(timeout=30)
    assert holder.returncode == 130  # the holder was stopped cleanly, with a checkpoint


def wait_for_lock(folder: Path, timeout: float = 20) -> Path:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for lock in folder.glob("*/.lock"):
            # the holder has written who it is, and its run has begun (the command's early
            # check takes the lock for a moment too, and leaves nothing behind)
            if lock.read_text().strip() and list(lock.parent.glob("cp-*.json")):
                return lock
        time.sleep(0.05)
    raise AssertionError("the first run never took its lock")


@pytest.mark.parametrize(
    "sig",
    [signal.SIGTERM, signal.SIGINT, signal.SIGHUP],  # SIGHUP: the terminal closed (issue 12.13)
    ids=["SIGTERM", "SIGINT", "SIGHUP"],
)
def test_signal_checkpoints_and_prints_resume_command(tmp_path: Path, sig: signal.Signals) -> None:
    proc = subprocess.Popen(
        [str(BIN), "execute", "Write a blog post about signals", "--plain"],
        cwd=tmp_path,
        env=hermetic_env({"VIBE_SIMULATE_LATENCY": "0.3"}),  # the signal lands mid-run
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    cps = tmp_path / ".vibe_checkpoints"
    while time.monotonic() < deadline and not list(cps.glob("*/journal-*.jsonl")):
        time.sleep(0.05)
    time.sleep(0.5)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    assert "Traceback" not in err
    assert "Resume with: vibe-aigc resume cp-" in err
    command = err.split("Resume with: ", 1)[1].split()
    listing = json.loads(cli("checkpoints", "--list", "--json", cwd=tmp_path).stdout)
    assert listing[0]["state"] == "interrupted"
    assert listing[0]["checkpoint_id"] == command[2]
    assert 0 < listing[0]["completed_nodes"] < listing[0]["total_nodes"]
    resumed = cli(*command[1:], cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "Status: completed" in resumed.stdout
    assert f"Resumed from: {command[2]}" in resumed.stdout


# --------------------------------------------------------------------------- in-process main()


def test_adapt_without_adaptation_support_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    if hasattr(MetaPlanner, "execute_with_adaptation"):
        monkeypatch.delattr(MetaPlanner, "execute_with_adaptation")
    assert cli_main(["execute", "Complex multi-step task", "--adapt"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("error: --adapt needs ") and "not available" in err
    assert len(err.strip().splitlines()) == 1


def test_unexpected_errors_are_short_unless_debug(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(args: object) -> int:
        raise RuntimeError("kaboom")

    monkeypatch.setitem(cli_module.COMMANDS, "plan", broken)
    assert cli_main(["plan", "x"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: RuntimeError: kaboom\n") and "--debug" in err
    with pytest.raises(RuntimeError, match="kaboom"):
        cli_main(["--debug", "plan", "x"])


def test_a_closed_pipe_ends_quietly(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [str(BIN), "plan", "Write a blog post", "--format", "json"],
        cwd=tmp_path,
        env=hermetic_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None
    proc.stdout.close()  # like `vibe-aigc ... | head -0`
    _, raw = proc.communicate(timeout=30)
    err = raw.decode()
    assert "Traceback" not in err and "Broken pipe" not in err
