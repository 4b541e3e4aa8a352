"""Peer driver: LangGraph with ``langgraph-checkpoint-sqlite``, in its own virtual environment.

Each plan node is a graph node; each dependency an edge (``add_edge([deps...], node)`` waits
for all of them). The state is one key holding the latest node output (a reducer keeps the last
write), so a checkpoint stays O(1) in size, like a journal record; state that accumulated every
output would make each checkpoint O(N).

Modes: ``plain`` = compiled without a checkpointer; ``durable`` = ``SqliteSaver`` on a file
(its ``setup`` turns on WAL; SQLite's default ``synchronous=FULL`` fsyncs every commit) and
``durability="sync"``: the checkpoint of each superstep (and the writes of each task) are
committed before the next superstep starts. On a chain every node is its own superstep.
With ``pg_url`` in the job, ``durable`` uses ``PostgresSaver`` on that database instead
(``langgraph-checkpoint-postgres``, its own ``setup()``; psycopg 3, autocommit connection),
with the same ``durability="sync"``.
Sleeping nodes (the DAG workloads) are ``async`` and run with ``ainvoke``; the trivial ones are
plain functions run with ``invoke``. A transient failure is retried by the node's
``RetryPolicy(max_attempts=3, initial_interval=0)``. A resuming process calls
``invoke(None, config)`` on the same thread when ``get_state(config).next`` is not empty.

LangGraph's checkpoint carries a version entry (``channel_versions``, ``versions_seen``) for
every node that has run, so on a graph of N distinct nodes a chain's checkpoints grow with the
step number: O(N^2) bytes in all. ``graph="loop"`` runs the chain as one node revisited N times
instead (what a LangGraph user writes for a long iterative process): O(1) per checkpoint.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from importlib.metadata import version
from pathlib import Path
from typing import Annotated, Any, TypedDict

import peerlib

started = time.perf_counter()
from langgraph.checkpoint.sqlite import SqliteSaver  # noqa: E402
from langgraph.graph import END, START, StateGraph  # noqa: E402
from langgraph.types import RetryPolicy  # noqa: E402

IMPORT_MS = (time.perf_counter() - started) * 1e3


class TransientFailure(Exception):
    """What the retry policy retries."""


def keep_last(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return new


class State(TypedDict, total=False):
    last: Annotated[dict[str, Any], keep_last]
    step: int  # the loop graph: index of the next chain node


def run(job: dict[str, Any]) -> dict[str, Any]:
    spec = peerlib.shape(job)
    calls = peerlib.Calls(job.get("calls_log"))
    faults = peerlib.Faults(job, spec)
    sleeping = any(secs for _, _, secs in spec)

    def node_fn(node_id: str, secs: float) -> Any:
        def before() -> None:
            calls.append(node_id)
            fault = faults.check(node_id)
            if fault == "crash":
                peerlib.crash()
            if fault == "permanent":
                raise RuntimeError("planned failure (permanent)")
            if fault == "transient":
                raise TransientFailure("planned failure (transient, once)")

        if sleeping:

            async def anode(state: State) -> State:
                before()
                await asyncio.sleep(secs)
                return {"last": {"node": node_id, "ok": True}}

            return anode

        def node(state: State) -> State:
            before()
            return {"last": {"node": node_id, "ok": True}}

        return node

    retry = RetryPolicy(
        max_attempts=3, initial_interval=0.0, jitter=False, retry_on=TransientFailure
    )
    builder = StateGraph(State)
    if job.get("graph") == "loop":  # the chain as one node revisited N times (N supersteps)
        ids = [node_id for node_id, _, _ in spec]

        def step(state: State) -> State:
            i = state.get("step", 0)
            node_fn(ids[i], 0.0)(state)
            return {"last": {"node": ids[i], "ok": True}, "step": i + 1}

        builder.add_node("step", step, retry_policy=retry)
        builder.add_edge(START, "step")
        builder.add_conditional_edges("step", lambda s: "step" if s["step"] < len(ids) else END)
    else:
        for node_id, deps, secs in spec:
            builder.add_node(node_id, node_fn(node_id, secs), retry_policy=retry)
            if not deps:
                builder.add_edge(START, node_id)
            else:
                builder.add_edge(deps if len(deps) > 1 else deps[0], node_id)
    folder = Path(job["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    conn = None
    checkpointer: Any = None
    pg_saver = None
    if job["mode"] == "durable" and job.get("pg_url"):
        from langgraph.checkpoint.postgres import PostgresSaver

        pg_saver = PostgresSaver.from_conn_string(job["pg_url"])
        checkpointer = pg_saver.__enter__()
        checkpointer.setup()
    elif job["mode"] == "durable":
        conn = sqlite3.connect(folder / "checkpoints.sqlite", check_same_thread=False)
        checkpointer = SqliteSaver(conn)
    graph = builder.compile(checkpointer=checkpointer)
    config = {
        "configurable": {"thread_id": f"bench-{job['shape']}-{len(spec)}"},
        "recursion_limit": len(spec) + 10,
    }
    kwargs: dict[str, Any] = {"durability": "sync"} if checkpointer else {}
    status = "completed"
    with peerlib.Measure() as m:
        pending = checkpointer is not None and bool(graph.get_state(config).next)
        state_in = None if pending else {}
        try:
            if sleeping:
                asyncio.run(graph.ainvoke(state_in, config, **kwargs))
            else:
                graph.invoke(state_in, config, **kwargs)
        except RuntimeError:
            status = "failed"
    synchronous = conn.execute("PRAGMA synchronous").fetchone()[0] if conn else None
    journal = conn.execute("PRAGMA journal_mode").fetchone()[0] if conn else None
    if conn is not None:
        conn.close()
    if pg_saver is not None:
        pg_saver.__exit__(None, None, None)
    return {
        **m.fields(folder),
        "status": status,
        "resumed": len(spec) - len(set(calls)) if pending else 0,
        "retried": len(faults.failed & faults.failing),
        "executed": len(calls),
        "import_ms": IMPORT_MS,
        "version": f"langgraph {version('langgraph')}, langgraph-checkpoint-sqlite "
        f"{version('langgraph-checkpoint-sqlite')}",
        "sqlite": f"journal_mode={journal}, synchronous={synchronous}" if conn else None,
        "saver": "PostgresSaver" if pg_saver is not None else ("SqliteSaver" if conn else None),
    }


if __name__ == "__main__":
    peerlib.main(run)
