"""What the buttons do: run the ``vibe-aigc`` command as a subprocess, or signal a run.

Resume, retry-failed, fork and export are the command's own subcommands, started with the same
store flags as the web app (``--store URL`` / ``--checkpoint-dir DIR``) and an argument list (no
shell). A command this version does not have fails in the subprocess, and its error text is
what the page shows: nothing is reimplemented here. Each start is a :class:`Job` whose output
goes to a file in the app's private temp folder; the page polls the job's status (one request
per second while a dialog is open, never per node).

Cancel sends SIGTERM to the pid named in the plan's lease holder info, and only when that pid
is a ``vibe-aigc`` process of this user on this host (the command then checkpoints the run as
"interrupted").
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vibe_aigc.ui.backend import Holder

MAX_JOBS = 16
MAX_LOG = 64_000
_ARG_RE = re.compile(r"^[^\x00-\x1f\-][^\x00-\x1f]{0,499}$")
_NODE_RE = re.compile(r"^[A-Za-z0-9_.:\-]{1,200}$")


class ActionRefused(Exception):
    """An action that cannot be done as asked (HTTP 400/409 with this text)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def command_prefix() -> list[str]:
    """How to start the command: the console script's entry point (``vibe_aigc.cli:main``)
    under this same Python, so the subprocess runs exactly the package the app runs."""
    return [sys.executable, "-c", "import sys; from vibe_aigc.cli import main; sys.exit(main())"]


def safe_arg(value: object, what: str) -> str:
    """An argument for the command: a string that cannot be read as an option."""
    if not isinstance(value, str) or _ARG_RE.fullmatch(value) is None:
        raise ActionRefused(f"{what} must be text that does not start with '-'")
    return value


@dataclass
class Job:
    """One started command."""

    id: int
    action: str
    argv: list[str]
    process: subprocess.Popen[bytes]
    log: Path
    started: float = field(default_factory=time.time)
    download: Path | None = None

    def view(self) -> dict[str, Any]:
        code = self.process.poll()
        try:
            with self.log.open("rb") as handle:
                handle.seek(max(0, self.log.stat().st_size - MAX_LOG))
                output = handle.read().decode("utf-8", "replace")
        except OSError:
            output = ""
        ready = code == 0 and self.download is not None and self.download.is_file()
        return {
            "id": self.id,
            "action": self.action,
            "command": " ".join(["vibe-aigc", *self.argv]),
            "running": code is None,
            "returncode": code,
            "ok": code == 0,
            "output": output,
            "download": f"/api/jobs/{self.id}/download" if ready else None,
            "started": self.started,
        }


class Actions:
    """Starts commands against one store and keeps their jobs (see the module docstring)."""

    def __init__(self, store_args: list[str], env: dict[str, str] | None = None) -> None:
        self.store_args = list(store_args)
        self.env = dict(os.environ if env is None else env)
        self.env.pop("VIBE_UI_TOKEN", None)  # the commands it starts do not need the app's token
        self.folder = Path(tempfile.mkdtemp(prefix="vibe-ui-"))
        self.jobs: dict[int, Job] = {}
        self._ids = itertools.count(1)
        self._guard = threading.Lock()

    def close(self) -> None:
        """Remove the job logs and exports (a run the page started keeps running)."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def start(self, action: str, argv: list[str], download: Path | None = None) -> Job:
        with self._guard:
            running = sum(1 for j in self.jobs.values() if j.process.poll() is None)
            if running >= MAX_JOBS:
                raise ActionRefused(f"{running} commands are running already; wait", 429)
            job_id = next(self._ids)
            log = self.folder / f"job-{job_id}.log"
            with log.open("wb") as out:
                process = subprocess.Popen(
                    [*command_prefix(), *argv],
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=self.env,
                    start_new_session=True,  # a Ctrl-C on the app does not stop the run
                )
            job = Job(job_id, action, argv, process, log, download=download)
            self.jobs[job_id] = job
            return job

    def job(self, job_id: int) -> Job | None:
        return self.jobs.get(job_id)

    # ------------------------------------------------------------------ the actions

    def resume(self, plan_id: str, *, retry_failed: bool = False) -> Job:
        argv = ["resume", "--plan", plan_id, "--plain", *self.store_args]
        if retry_failed:
            argv.append("--retry-failed")
        return self.start("retry-failed" if retry_failed else "resume", argv)

    def fork(self, checkpoint_id: str, nodes: list[object], settings: list[object]) -> Job:
        argv = ["fork", checkpoint_id, "--plain"]
        for node in nodes:
            if not isinstance(node, str) or _NODE_RE.fullmatch(node) is None:
                raise ActionRefused("a node id to fork from is letters, digits, '_.:-' only")
            argv += ["--from", node]
        for setting in settings:
            text = safe_arg(setting, "a parameter edit (NODE.PARAM=VALUE)")
            if "=" not in text or "." not in text.split("=", 1)[0]:
                raise ActionRefused(f"a parameter edit is NODE.PARAM=VALUE, not {text[:80]!r}")
            argv += ["--set", text]
        return self.start("fork", [*argv, *self.store_args])

    def export(self, plan_id: str) -> Job:
        target = self.folder / f"{plan_id}-{int(time.time())}.tar.gz"
        argv = ["export", plan_id, "-o", str(target), *self.store_args]
        return self.start("export", argv, download=target)


def _proc_uid(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("Uid:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def _is_vibe_command(pid: int) -> bool:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    parts = [p.decode("utf-8", "replace") for p in raw.split(b"\0") if p]
    for part in parts[:3]:
        name = os.path.basename(part)
        if name == "vibe-aigc" or "vibe_aigc.cli" in part:
            return True
    return False


def cancel(holder: Holder | None) -> str:
    """SIGTERM the run named by ``holder`` when it is a vibe-aigc process of this user on
    this host; returns what was done (ActionRefused otherwise)."""
    if holder is None:
        raise ActionRefused("the plan is not running (nobody holds its lease)", 409)
    pid = holder.pid
    if pid is None or pid <= 1 or pid == os.getpid():
        raise ActionRefused(f"cannot tell which process runs the plan ({holder.text})", 409)
    if not holder.on_this_host:
        raise ActionRefused(f"the run is on another host ({holder.hostname}); stop it there", 409)
    if _proc_uid(pid) != os.getuid() or not _is_vibe_command(pid):
        raise ActionRefused(f"pid {pid} is not a vibe-aigc process of this user; not sent", 409)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        raise ActionRefused(f"pid {pid} has already exited", 409) from None
    return f"sent SIGTERM to pid {pid}; the run checkpoints as interrupted"
