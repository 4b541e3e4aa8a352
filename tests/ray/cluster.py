"""A real local Ray cluster for the tests: a head and worker nodes, each its own `ray start`.

Every node is started with ``--block`` so its ``ray start`` process stays in the foreground and
owns that node's daemons (GCS, raylet, workers); stopping the cluster terminates exactly those
processes (by pid), never any other Ray on the machine. All addresses are 127.0.0.1, the temp
dir is the cluster's own, token auth is off (``RAY_AUTH_MODE=disabled``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"
RAY = str(Path(sys.executable).with_name("ray"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ray_env() -> dict[str, str]:
    env = dict(os.environ)
    env["RAY_AUTH_MODE"] = "disabled"
    env["RAY_USAGE_STATS_ENABLED"] = "0"
    # workers import vibe_aigc from this worktree and the tests' helper modules
    # loopback/sitecustomize.py: Ray keeps 127.0.0.1 as the nodes' address (see there)
    env["PYTHONPATH"] = os.pathsep.join(
        [
            str(HERE / "loopback"),
            str(SRC),
            str(HERE),
            str(HERE.parent / "reliability"),
            env.get("PYTHONPATH", ""),
        ]
    )
    return env


def children_of(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (walks /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError, ValueError):
            stat = (entry / "stat").read_text()
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = [], [pid]
    while frontier:
        current = frontier.pop()
        kids = [p for p, parent in parents.items() if parent == current]
        found += kids
        frontier += kids
    return found


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


@dataclass
class RayNode:
    name: str
    proc: subprocess.Popen[bytes]
    resources: dict[str, float] = field(default_factory=dict)

    def raylet_pid(self) -> int:
        for pid in children_of(self.proc.pid):
            if "/raylet" in cmdline(pid).split(" ")[0]:
                return pid
        raise AssertionError(f"no raylet under node {self.name} (pid {self.proc.pid})")


class RayCluster:
    """Start with :meth:`start`; :meth:`add_worker` adds nodes; :meth:`stop` ends them all."""

    def __init__(self) -> None:
        self.temp_dir = Path(tempfile.mkdtemp(prefix="vray-", dir="/tmp"))
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.nodes: list[RayNode] = []
        self.log = self.temp_dir / "nodes.log"

    def _start(
        self, name: str, args: list[str], resources: dict[str, float], num_cpus: int = 1
    ) -> RayNode:
        ports = [
            f"--node-manager-port={free_port()}",
            f"--object-manager-port={free_port()}",
            f"--dashboard-agent-listen-port={free_port()}",
            f"--dashboard-agent-grpc-port={free_port()}",
            f"--runtime-env-agent-port={free_port()}",
            f"--metrics-export-port={free_port()}",
        ]
        command = [RAY, "start", "--block", "--node-ip-address=127.0.0.1", f"--num-cpus={num_cpus}"]
        command += ["--disable-usage-stats", "--object-store-memory=100000000", *ports, *args]
        if resources:
            command.append(f"--resources={json.dumps(resources)}")
        with self.log.open("ab") as log:
            proc = subprocess.Popen(
                command,
                env=ray_env(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        node = RayNode(name, proc, resources)
        self.nodes.append(node)
        return node

    def start(self, workers: list[dict[str, float]], head_cpus: int = 1) -> None:
        self._start(
            "head",
            [
                "--head",
                f"--port={self.port}",
                "--include-dashboard=false",
                f"--temp-dir={self.temp_dir}",
            ],
            {},
            head_cpus,
        )
        self.wait_for(1)
        for i, resources in enumerate(workers, 1):  # one by one: 2 cores, a busy GCS
            self.add_worker(f"worker{i}", resources)

    def add_worker(
        self, name: str, resources: dict[str, float], wait: bool = True, num_cpus: int = 1
    ) -> RayNode:
        expected = self.alive_count() + 1
        node = self._start(name, [f"--address={self.address}"], resources, num_cpus)
        if wait:
            self.wait_for(expected)
        return node

    def alive_count(self) -> int:
        return sum(1 for n in self.nodes if n.proc.poll() is None)

    def wait_for(self, count: int, timeout: float = 90.0) -> None:
        """Wait until ``count`` nodes are alive in the cluster (asked from a short driver)."""
        script = (
            "import ray, sys, time\n"
            f"ray.init(address={self.address!r}, logging_level='ERROR', log_to_driver=False)\n"
            f"deadline = time.monotonic() + {timeout}\n"
            f"while sum(1 for n in ray.nodes() if n['Alive']) < {count}:\n"
            "    if time.monotonic() > deadline: sys.exit(1)\n"
            "    time.sleep(0.2)\n"
            "away = {n['NodeManagerAddress'] for n in ray.nodes()} - {'127.0.0.1'}\n"
            "if away: sys.exit(f'nodes not on 127.0.0.1: {sorted(away)}')\n"
        )
        deadline = time.monotonic() + timeout
        while True:
            dead = [n.name for n in self.nodes if n.proc.poll() is not None]
            if dead and len(self.nodes) - len(dead) < count:
                raise RuntimeError(f"ray nodes exited: {dead}; see {self.log}")
            try:
                done = subprocess.run(
                    [sys.executable, "-c", script], env=ray_env(), capture_output=True, timeout=30
                )
            except subprocess.TimeoutExpired:
                error = "a driver could not connect within 30 s"
            else:
                if done.returncode == 0:
                    return
                error = done.stderr.decode()[-800:]
                if "not on 127.0.0.1" in error:  # never another address, not even this host's
                    raise RuntimeError(error)
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Ray cluster did not reach {count} nodes: {error}")
            time.sleep(1.0)

    def stop(self) -> None:
        """Terminate each node's `ray start --block` (it stops its daemons), then any leftover
        process of ours by pid."""
        owned = {n.proc.pid: children_of(n.proc.pid) for n in self.nodes}
        for node in reversed(self.nodes):
            if node.proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    node.proc.send_signal(signal.SIGTERM)
        for node in reversed(self.nodes):
            try:
                node.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.proc.kill()
                node.proc.wait(timeout=10)
        for pids in owned.values():
            for pid in pids:
                if "ray" in cmdline(pid):  # still ours (a pid is not reused that fast)
                    with contextlib.suppress(ProcessLookupError, PermissionError):
                        os.kill(pid, signal.SIGKILL)
        shutil.rmtree(self.temp_dir, ignore_errors=True)
