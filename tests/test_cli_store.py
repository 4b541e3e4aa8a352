"""``vibe-aigc store copy`` and ``vibe-aigc store migrate``, through the installed command.

An interrupted run (SIGINT mid-run) is copied file → SQLite → PostgreSQL → file; ``resume``
from the last copy finishes the plan and re-runs none of the nodes the interrupted run had
completed. ``migrate`` reports the schema version, applies what is missing and refuses a
database written by a newer vibe-aigc (exit 1, one clear line).
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from test_cli import BIN, cli, hermetic_env
from vibe_aigc.persistence.sql.migrations import LATEST

pytest_plugins = ("pgcluster",)


def interrupted_run(cwd: Path) -> str:
    """A plan interrupted with SIGINT after some completions; its plan id."""
    proc = subprocess.Popen(
        [str(BIN), "execute", "Write a blog post about moving stores", "--plain"],
        cwd=cwd,
        env=hermetic_env({"VIBE_SIMULATE_LATENCY": "0.2"}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    cps = cwd / ".vibe_checkpoints"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not list(cps.glob("*/journal-*.jsonl")):
        time.sleep(0.05)
    time.sleep(0.6)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, (out, err)
    listing = json.loads(cli("checkpoints", "--list", "--json", cwd=cwd).stdout)
    assert 0 < listing[0]["completed_nodes"] < listing[0]["total_nodes"], listing[0]
    return str(listing[0]["plan_id"])


def test_copy_file_sqlite_postgres_file_then_resume_runs_only_the_rest(
    tmp_path: Path, pg_url: str
) -> None:
    plan_id = interrupted_run(tmp_path)
    file_url = f"file://{tmp_path / '.vibe_checkpoints'}"
    sqlite_url = f"sqlite://{tmp_path / 'runs.db'}"
    back_url = f"file://{tmp_path / 'back'}"
    hops = [(file_url, sqlite_url), (sqlite_url, pg_url), (pg_url, back_url)]
    for src, dst in hops:
        out = cli("store", "copy", src, dst, "--plan", plan_id, "--json", cwd=tmp_path)
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert report["ok"] and report["plans"] == [plan_id] and report["problems"] == []
        assert report["snapshots"] >= 2 and report["entries"] >= 1, report
    # the same listing everywhere
    listings = [
        json.loads(cli("checkpoints", "--list", "--json", "--store", u, cwd=tmp_path).stdout)
        for u in (file_url, sqlite_url, pg_url, back_url)
    ]
    assert all(listing == listings[0] for listing in listings[1:])
    # copying again adds nothing
    again = cli("store", "copy", file_url, sqlite_url, "--json", cwd=tmp_path)
    assert again.returncode == 0 and json.loads(again.stdout)["entries"] == 0

    resumed = cli("resume", "--plan", plan_id, "--json", "--store", back_url, cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    result = json.loads(resumed.stdout)
    assert result["status"] == "completed" and result["resumed_from"]
    kept = {k for k, v in result["node_results"].items() if v.get("resumed")}
    ran = {k for k, v in result["node_results"].items() if not v.get("resumed")}
    assert kept and ran, "the interrupted run had done part of the plan"
    original = cli("resume", "--plan", plan_id, "--json", "--store", file_url, cwd=tmp_path)
    assert original.returncode == 0, original.stderr
    first = json.loads(original.stdout)
    kept_there = {k for k, v in first["node_results"].items() if v.get("resumed")}
    assert kept == kept_there  # the copy kept every completion the original had
    assert {k: v["output"] for k, v in first["node_results"].items()} == {
        k: v["output"] for k, v in result["node_results"].items()
    }
    # and the resumed copy is finished: once more re-runs nothing
    done = cli("resume", "--plan", plan_id, "--json", "--store", back_url, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert all(v.get("resumed") for v in json.loads(done.stdout)["node_results"].values())


def test_copy_of_an_unknown_plan_reports_and_fails(tmp_path: Path) -> None:
    out = cli(
        "store", "copy", str(tmp_path / "empty"), f"sqlite://{tmp_path / 'r.db'}",
        "--plan", "plan-nope", cwd=tmp_path,
    )  # fmt: skip
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "plan-nope" in out.stdout and "not in" in out.stdout


def test_migrate_reports_applies_and_refuses_newer(tmp_path: Path, pg_url: str) -> None:
    db = tmp_path / "runs.db"
    url = f"sqlite://{db}"
    fresh = cli("store", "migrate", "--store", url, "--json", cwd=tmp_path)
    assert fresh.returncode == 0, fresh.stderr
    report = json.loads(fresh.stdout)
    assert report["kind"] == "sqlite" and report["version"] == LATEST
    assert report["version_before"] == 0 and report["applied"] == list(range(1, LATEST + 1))
    again = cli("store", "migrate", "--store", url, cwd=tmp_path)
    assert again.returncode == 0 and "up to date" in again.stdout
    # the environment's store is the default
    via_env = cli("store", "migrate", "--json", cwd=tmp_path, env={"VIBE_STORE_URL": pg_url})
    assert via_env.returncode == 0, via_env.stderr
    assert json.loads(via_env.stdout)["kind"] == "postgresql"
    folder = cli("store", "migrate", "--json", cwd=tmp_path)
    assert folder.returncode == 0 and json.loads(folder.stdout)["kind"] == "file"

    with sqlite3.connect(db) as conn:  # a newer vibe-aigc migrated this database
        conn.execute(
            "INSERT INTO vibe_schema (version, applied_at, library) VALUES (?, 0, 'future')",
            (LATEST + 1,),
        )
    newer = cli("store", "migrate", "--store", url, cwd=tmp_path)
    assert newer.returncode == 1
    assert f"schema version {LATEST + 1}" in newer.stderr and "upgrade" in newer.stderr
    assert "Traceback" not in newer.stderr and newer.stdout == ""
    for command in (["resume", "--plan", "plan-a"], ["checkpoints", "--list"]):
        refused = cli(*command, "--store", url, cwd=tmp_path)
        assert refused.returncode == 1 and "newer vibe-aigc" in refused.stderr
        assert "Traceback" not in refused.stderr
