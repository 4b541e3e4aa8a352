"""Peer driver: DBOS Transact with its SQLite system database, in its own virtual environment.

The plan is one ``@DBOS.workflow`` that calls one ``@DBOS.step`` per node, in topological
order (a DBOS workflow is a function; the nodes are trivial, so running them one after the
other costs nothing in these workloads). Each step's output is recorded in the system database
(SQLite, its default rollback journal, ``synchronous=FULL``) before the workflow goes on: a
durable record per node. A transient failure is retried by the step
(``retries_allowed=True, interval_seconds=0, max_attempts=3``, ``should_retry`` only for the
transient error); a permanent one fails the workflow (status ``ERROR``).

Resuming in a new process: after a crash, ``DBOS.launch()`` recovers the pending workflow by
itself (it re-runs the workflow function; recorded steps return their recorded output); the
driver waits on ``retrieve_workflow(id).get_result(polling_interval_sec=0.01)``. After a failure
(status ``ERROR``, which DBOS does not resume), it finds the failed step with
``list_workflow_steps`` and calls ``fork_workflow(id, start_step=<that step>)``, which copies the
recorded outputs of the steps before it into a new workflow and runs the rest.

With ``system_database_url`` in the job (``postgresql://...``) the system database is that
PostgreSQL database instead of the SQLite file.
"""

from __future__ import annotations

import time
from importlib.metadata import version
from pathlib import Path
from typing import Any

import peerlib

started = time.perf_counter()
from dbos import DBOS, SetWorkflowID  # noqa: E402

IMPORT_MS = (time.perf_counter() - started) * 1e3


class TransientFailure(Exception):
    """What the step's retry policy retries."""


class Ctx:
    calls: peerlib.Calls = peerlib.Calls()
    faults: peerlib.Faults | None = None


@DBOS.step(
    retries_allowed=True,
    interval_seconds=0.0,
    max_attempts=3,
    should_retry=lambda exc: isinstance(exc, TransientFailure),
)
def node(node_id: str, previous: dict[str, Any] | None) -> dict[str, Any]:
    Ctx.calls.append(node_id)
    assert Ctx.faults is not None
    fault = Ctx.faults.check(node_id)
    if fault == "crash":
        peerlib.crash()
    if fault == "permanent":
        raise RuntimeError("planned failure (permanent)")
    if fault == "transient":
        raise TransientFailure("planned failure (transient, once)")
    return {"node": node_id, "ok": True}


@DBOS.workflow()
def plan_workflow(shape: dict[str, Any]) -> int:
    """``shape``: the job's shape keys (see ``peerlib.shape``)."""
    previous = None
    spec = peerlib.shape(shape)
    for node_id, _, _ in spec:
        previous = node(node_id, previous)
    return len(spec)


def run(job: dict[str, Any]) -> dict[str, Any]:
    spec = peerlib.shape(job)
    Ctx.calls = peerlib.Calls(job.get("calls_log"))
    Ctx.faults = peerlib.Faults(job, spec)
    folder = Path(job["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    workflow_id = f"bench-{job['shape']}-{len(spec)}"
    status, resumed, how = "completed", 0, "fresh"
    launching = time.perf_counter()
    DBOS(
        config={
            "name": "bench",
            "system_database_url": job.get("system_database_url")
            or f"sqlite:///{folder / 'dbos.sqlite'}",
            "log_level": "WARNING",
        }
    )
    DBOS.launch()  # also starts recovering a workflow left pending by a crashed process
    launch_secs = time.perf_counter() - launching
    with peerlib.Measure() as m:
        previous = DBOS.get_workflow_status(workflow_id)
        try:
            if previous is None:
                with SetWorkflowID(workflow_id):
                    keys = ("shape", "n", "layers", "width")
                    plan_workflow({k: job[k] for k in keys if k in job})
            elif previous.status == "ERROR":
                steps = DBOS.list_workflow_steps(workflow_id)
                failed = next(s for s in steps if s["error"] is not None)
                how = f"fork_workflow(start_step={failed['function_id']})"
                resumed = sum(1 for s in steps if s["error"] is None)
                DBOS.fork_workflow(workflow_id, failed["function_id"]).get_result(
                    polling_interval_sec=0.01
                )
            else:
                how = f"recovered by launch() (was {previous.status})"
                DBOS.retrieve_workflow(workflow_id).get_result(polling_interval_sec=0.01)
        except RuntimeError:
            status = "failed"
    if previous is not None and previous.status != "ERROR":
        resumed = len(spec) - len(set(Ctx.calls))
    DBOS.destroy()
    return {
        **m.fields(folder),
        # resuming includes launch(): that is where DBOS recovers a pending workflow
        "resume_secs": launch_secs + m.secs,
        "launch_ms": launch_secs * 1e3,
        "status": status,
        "resumed": resumed,
        "how": how,
        "retried": len(Ctx.faults.failed & Ctx.faults.failing),
        "executed": len(Ctx.calls),
        "import_ms": IMPORT_MS,
        "version": f"dbos {version('dbos')}, SQLAlchemy {version('sqlalchemy')}",
    }


if __name__ == "__main__":
    peerlib.main(run)
