"""A lease on one plan in a SQL store: a row, a fencing token, an expiry and a heartbeat.

``vibe_leases`` holds one row per plan: who holds it (``owner``: pid, host, start time,
program), its fencing ``token``, and ``expires_at`` / ``heartbeat`` in the database's clock
(epoch seconds; Postgres uses the server's clock, so machines with skewed clocks agree).

- Acquiring inserts the row, or takes over a row whose lease expired (or was released) with
  ``token + 1``; otherwise :class:`~vibe_aigc.errors.CheckpointLockedError` names the holder
  and when its lease expires.
- While held, a daemon thread renews the lease every ``lease_seconds / 3``; every write renews
  it too, in the write's own transaction (see ``SqlStore._fence``).
- Every write checks ``token`` and ``expires_at > now`` in the same transaction as the write. A
  writer that was paused or partitioned past its expiry finds its lease gone (or its token
  superseded) and gets CheckpointLockedError instead of interleaving with the new owner; the
  heartbeat never revives an expired lease either.
- Releasing waits for a write in progress, sets ``expires_at`` to 0 (the row and its token
  stay, so tokens only ever grow) and refuses every later write.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import threading
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

from vibe_aigc.errors import CheckpointError, CheckpointLockedError
from vibe_aigc.persistence.store import released_lease

if TYPE_CHECKING:
    from vibe_aigc.persistence.sql.base import SqlStore

log = logging.getLogger("vibe_aigc.persistence.sql")

DEFAULT_LEASE_SECONDS = 30.0
_HELD: dict[tuple[str, str], SqlLease] = {}  # (store url, plan id) -> lease held here
_HELD_GUARD = threading.Lock()


def held_here(url: str, plan_id: str) -> SqlLease | None:
    """The lease this process holds on ``plan_id`` of the store at ``url``, if any."""
    with _HELD_GUARD:
        lease = _HELD.get((url, plan_id))
    return lease if lease is not None and lease.held else None


_STARTED = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def owner_info() -> str:
    """Who this process is, as stored in the lease row."""
    return json.dumps(
        {
            "pid": os.getpid(),
            "hostname": socket.gethostname(),
            "started_at": _STARTED,
            "argv0": os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "python",
        },
        sort_keys=True,
    )


def _stamp(epoch: float) -> str:
    whole = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch))
    return f"{whole}.{int(epoch % 1 * 1000):03d}Z"


def describe_holder(owner: str, token: int, expires_at: float, now: float) -> str:
    """One line naming a lease's holder and when its lease expires."""
    try:
        info = json.loads(owner)
    except ValueError:
        info = None
    if isinstance(info, dict):
        mine = info.get("pid") == os.getpid() and info.get("hostname") == socket.gethostname()
        who = (
            f"pid {info.get('pid', '?')}{' (this process)' if mine else ''} on "
            f"{info.get('hostname', '?')}, started {info.get('started_at', '?')}, "
            f"program {info.get('argv0', '?')}"
        )
    else:
        who = f"holder {owner[:200]!r}"
    left = expires_at - now
    when = f"in {left:.1f} s" if left > 0 else f"{-left:.1f} s ago"
    return f"{who}; lease token {token} expires at {_stamp(expires_at)} ({when})"


class SqlLease:
    """One writer's hold on one plan of a SQL store (see the module docstring)."""

    def __init__(self, store: SqlStore, plan_id: str, *, heartbeat: bool = True) -> None:
        self.store = store
        self.plan_id = plan_id
        self.token = 0
        self._heartbeat = heartbeat
        self._io = threading.Lock()
        self._held = False
        self._lost: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = "held" if self.held else ("lost" if self._lost else "not held")
        return f"SqlLease({self.plan_id!r}, token={self.token}, {state})"

    @property
    def held(self) -> bool:
        return self._held and self._lost is None

    def acquire(self) -> SqlLease:
        if self._held:
            raise CheckpointLockedError(self.plan_id, "this lease is already held")
        self.token = self.store._acquire(self)
        self._lost = None
        self._held = True
        with _HELD_GUARD:
            _HELD[(self.store.url, self.plan_id)] = self
        if self._heartbeat:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._beat, name=f"vibe-lease-{self.plan_id}", daemon=True
            )
            self._thread.start()
        return self

    def lose(self, why: str) -> None:
        """The store saw the lease lost (expired, taken over): every later write is refused."""
        self._lost = why

    def _beat(self) -> None:
        interval = max(self.store.lease_seconds / 3.0, 0.05)
        try:
            while not self._stop.wait(interval):
                try:
                    lost = self.store._renew(self)
                except CheckpointError as exc:  # the database is away: writes will say so
                    log.warning("could not renew the lease of plan %r: %s", self.plan_id, exc)
                    continue
                if lost is not None:
                    self.lose(lost)
                    return
        finally:
            self.store._thread_done()

    def release(self) -> None:
        with self._io:  # waits for a write in progress; every later write is refused
            if not self._held:
                return
            self._held = False
            with _HELD_GUARD:
                if _HELD.get((self.store.url, self.plan_id)) is self:
                    del _HELD[(self.store.url, self.plan_id)]
            self._stop.set()
            thread, self._thread = self._thread, None
            try:
                if self._lost is None:
                    self.store._release(self)
            finally:
                if thread is not None and thread is not threading.current_thread():
                    thread.join(timeout=5.0)

    @contextlib.contextmanager
    def writing(self) -> Iterator[None]:
        """Hold the I/O guard for one write; CheckpointLockedError when the lease is gone."""
        with self._io:
            if not self._held:
                raise released_lease(self.plan_id)
            if self._lost is not None:
                raise CheckpointLockedError(self.plan_id, self._lost)
            yield

    def __enter__(self) -> SqlLease:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()
