"""A throwaway PostgreSQL cluster for tests: the session-scoped ``pg_cluster`` fixture.

Test modules that need it say ``pytest_plugins = ("pgcluster",)``. The cluster is Debian's
``postgresql`` package (``apt-get install -y postgresql``); the binaries are found in
``$VIBE_PG_BIN``, else where ``pg_ctl`` is on ``PATH``, else the newest
``/usr/lib/postgresql/*/bin``. ``initdb`` runs as an unprivileged user (the server refuses to
run as root): when the tests run as root, as the ``nobody`` user, in a temp folder it owns.
The server listens on 127.0.0.1 only, on a free port, with its socket in that folder; trust
authentication for the one superuser ``vibe``; stopped (and the folder removed) at session end.

Each test gets its own database (``pg_url``). When the cluster cannot start (no binaries, no
psycopg) tests skip with the reason, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

SUPERUSER = "vibe"
_names = itertools.count(1)


class PgUnavailable(Exception):
    """The cluster cannot be started here (the reason says why)."""


def find_bindir() -> Path:
    explicit = os.environ.get("VIBE_PG_BIN")
    candidates = [explicit] if explicit else []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(os.path.dirname(on_path))
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin"),
        key=lambda p: int(p.split("/")[-2]) if p.split("/")[-2].isdigit() else 0,
        reverse=True,
    )
    for candidate in candidates:
        if candidate and (Path(candidate) / "initdb").is_file():
            return Path(candidate)
    raise PgUnavailable(
        "PostgreSQL binaries not found (apt-get install -y postgresql, or set VIBE_PG_BIN)"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PgCluster:
    """One running throwaway cluster (see the module docstring)."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="vibe-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = 0
        self._user: dict[str, Any] = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(self.root, nobody.pw_uid, nobody.pw_gid)
            self._user = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}

    def _run(self, *args: str, timeout: float = 60.0) -> None:
        done = subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            **self._user,
        )
        if done.returncode != 0:
            server_log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise PgUnavailable(
                f"{args[0]} failed ({done.returncode}): {done.stderr.strip()[-2000:]}\n{server_log}"
            )

    def start(self) -> None:
        self._run(
            "initdb", "-D", str(self.data), "-U", SUPERUSER, "--auth=trust", "-E", "UTF8",
            "--locale=C", "--no-sync",
        )  # fmt: skip
        for _ in range(5):  # the free port may be taken between probing and binding
            self.port = _free_port()
            try:
                self.start_server()
                return
            except PgUnavailable:
                if "could not bind" not in self.log.read_text(errors="replace"):
                    raise

    def start_server(self) -> None:
        """``pg_ctl start`` on :attr:`port` (again, after :meth:`stop_server`)."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c max_connections=200 -c shared_buffers=32MB"
        )
        self._run("pg_ctl", "start", "-w", "-t", "60", "-D", str(self.data),
                  "-l", str(self.log), "-o", options)  # fmt: skip

    def stop_server(self) -> None:
        """``pg_ctl stop -m immediate``, keeping the data: the server is away until
        :meth:`start_server`."""
        self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data))

    def url(self, dbname: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{dbname}"

    def create_database(self) -> str:
        """A new empty database; its URL."""
        import psycopg

        name = f"t{os.getpid()}_{next(_names)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def restart_immediate(self) -> None:
        """``pg_ctl restart -m immediate``: the server dies without a checkpoint, then starts
        again (crash recovery) on the same port."""
        self._run("pg_ctl", "restart", "-w", "-t", "60", "-m", "immediate", "-D", str(self.data),
                  "-l", str(self.log))  # fmt: skip

    def stop(self) -> None:
        with contextlib.suppress(PgUnavailable, subprocess.TimeoutExpired, OSError):
            self._run("pg_ctl", "stop", "-w", "-m", "immediate", "-D", str(self.data))
        shutil.rmtree(self.root, ignore_errors=True)


def unavailable(reason: str) -> None:
    """Fail under CI=true, else skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"PostgreSQL is required under CI=true but cannot start: {reason}")
    pytest.skip(f"PostgreSQL not available: {reason}")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        unavailable(f"{exc} (pip install 'vibe-aigc[postgres]')")
    try:
        cluster = PgCluster(find_bindir())
    except (PgUnavailable, KeyError, OSError) as exc:
        unavailable(str(exc))
    try:
        cluster.start()
    except (PgUnavailable, subprocess.TimeoutExpired, OSError) as exc:
        cluster.stop()
        unavailable(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """A fresh database of the session's cluster."""
    return pg_cluster.create_database()


@pytest.fixture
def pg_own_cluster(pg_cluster: PgCluster) -> Iterator[PgCluster]:
    """A cluster of this test's own (for restarts: the stores other tests left open reconnect
    to the session's cluster after a restart and may take its connection slots first)."""
    cluster = PgCluster(pg_cluster.bindir)
    try:
        cluster.start()
    except (PgUnavailable, subprocess.TimeoutExpired, OSError) as exc:
        cluster.stop()
        unavailable(str(exc))
    try:
        yield cluster
    finally:
        cluster.stop()
