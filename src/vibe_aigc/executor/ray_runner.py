"""Node work on a Ray cluster: :class:`RayRunner`, a :class:`~.runners.NodeRunner`.

What runs where
---------------
* **Driver** (this process): the scheduler — ready queue, priorities, ``max_concurrency``, our
  retries with backoff, timeouts, events — and every write of the run (journal, snapshots,
  memos) under the run's lease. Only the driver records; a result is recorded once the driver
  has it.
* **Ray task** (any node of the cluster): one attempt of ``executor.execute_node(node,
  context)``. The user's :class:`~vibe_aigc.executor.WorkflowExecutor` subclass is shipped by
  Ray's cloudpickle (once per plan, through the object store) without its progress callback or
  runner; its services are rebuilt on the worker from recipes (see :meth:`RayRunner.recipe`:
  an LLM client from its config, an artifact store over the shared folder or database — never a
  live socket or connection). Outputs come back through Ray's object store; large binary
  outputs belong in ``context.services["artifacts"]``, which writes them to the shared blob
  store from the worker, so only the reference travels.

Resources: ``node.parameters["resources"]`` (``num_cpus``, ``num_gpus``, ``memory`` and custom
ones such as ``{"gpu_sim": 1}``) become the task's ``.options(...)``. Before submitting, the
alive nodes (``ray.nodes()``) are checked: when none has everything asked for, the node fails
at once with :class:`~vibe_aigc.errors.ClusterResourceError` instead of waiting forever.

Failures: a worker process or node that dies mid-task is retried by Ray (``max_retries``,
bounded); when those are used up the scheduler sees a :class:`~vibe_aigc.errors.TransientError`
and applies its own retry policy. An application error is never retried by Ray
(``retry_exceptions=False``): the task returns it as a value and the driver re-raises the very
exception, so classification (transient or not) is the same as local.

Memos (``context.remember/recall``) are routed back to the driver, which journals them under
its lease before the worker's ``remember`` returns: a per-runner relay actor (owned by the
driver, 0 CPUs) queues each note, the driver drains the queue, writes it through the run's memo
(the checkpoint hook) and then acknowledges. Fencing stays the store's: a worker never holds the
lease, and when the driver dies its relay dies with it (an owned actor), so a task of a dead
driver can neither get a note acknowledged nor a result recorded. ``recall`` answers from the
notes the driver had when it submitted the attempt (the node's own notes: only it writes them)
plus the notes the attempt made since.

Driver death: Ray cancels the tasks a dead driver owned; their late results have no one to go
to. A new driver pointing at the same store URL resumes the plan: it gets the lease once the
dead one's lease is released (file store: at process death) or expired (SQL stores), and only
the nodes in flight at the death run again.
"""

from __future__ import annotations

import asyncio
import copy
import importlib
import itertools
import logging
import math
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from vibe_aigc.context import InMemoryMemo, Memo, NodeContext
from vibe_aigc.errors import (
    ClusterResourceError,
    ConfigurationError,
    NodeExecutionError,
    TransientError,
)
from vibe_aigc.executor.runners import LocalRunner, NodeWork
from vibe_aigc.models import WorkflowNode, WorkflowPlan
from vibe_aigc.retry import is_transient

INSTALL_HINT = (
    "the Ray backend needs Ray, an optional extra: pip install 'vibe-aigc[ray]' "
    "(or pip install 'ray>=2.9'); or run without --backend ray"
)
ADDRESS_ENV = "VIBE_RAY_ADDRESS"
log = logging.getLogger("vibe_aigc.ray")
_STANDARD = {"num_cpus": "CPU", "num_gpus": "GPU", "memory": "memory"}
_SYSTEM_ERRORS = (
    "WorkerCrashedError",
    "NodeDiedError",
    "ObjectLostError",
    "ObjectFetchTimedOutError",
    "OwnerDiedError",
    "ActorDiedError",
    "ActorUnavailableError",
    "RaySystemError",
    "LocalRayletDiedError",
    "OutOfMemoryError",
)
Recipe = Callable[[Any], tuple[Callable[..., Any], tuple[Any, ...]]]
"""A service -> (rebuild, args): how to make the service again on a worker."""


def import_ray() -> Any:
    """The ``ray`` module, or ConfigurationError saying how to install it."""
    try:
        return importlib.import_module("ray")
    except ImportError:
        raise ConfigurationError(INSTALL_HINT) from None


def task_demand(node: WorkflowNode) -> tuple[dict[str, Any], dict[str, float]]:
    """``parameters["resources"]`` as Ray task options and as the per-node demand to check."""
    raw = node.parameters.get("resources")
    if raw is None:
        return {}, {"CPU": 1.0}
    if not isinstance(raw, Mapping):
        raise ConfigurationError(
            f"node {node.id!r}: parameters['resources'] must be a mapping such as "
            f"{{'num_gpus': 1}}, got {type(raw).__name__}"
        )
    options: dict[str, Any] = {}
    custom: dict[str, float] = {}
    for key, value in raw.items():
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not math.isfinite(value)
            or value < 0
        ):
            raise ConfigurationError(
                f"node {node.id!r}: resource {str(key)[:40]!r} must be a number >= 0, "
                f"got {str(value)[:40]!r}"
            )
        name = {"CPU": "num_cpus", "GPU": "num_gpus"}.get(str(key), str(key))
        if name in _STANDARD:
            options[name] = int(value) if name == "memory" else float(value)
        else:
            custom[name] = float(value)
    if custom:
        options["resources"] = custom
    demand = {_STANDARD[k]: float(v) for k, v in options.items() if k in _STANDARD}
    demand.setdefault("CPU", 1.0)
    demand.update(custom)
    return options, {k: v for k, v in demand.items() if v > 0}


def fits(demand: Mapping[str, float], offered: Mapping[str, float]) -> bool:
    return all(offered.get(k, 0.0) >= v for k, v in demand.items())


def _notes_of(memo: Memo, node_id: str) -> dict[str, Any]:
    """The node's notes held by the driver's memo (the checkpoint hook's ``memos`` or an
    :class:`InMemoryMemo`'s ``notes``); another memo shares none with the worker."""
    for attribute in ("memos", "notes"):
        table = getattr(memo, attribute, None)
        if isinstance(table, dict):
            return dict(table.get(node_id) or {})
    return {}


class _RelayMemo:
    """The worker's memo: notes go to the driver's relay and count once acknowledged."""

    def __init__(self, relay: Any, call: str, node_id: str, notes: dict[str, Any]) -> None:
        self.relay = relay
        self.call = call
        self.notes = {node_id: dict(notes)}

    async def remember(self, node_id: str, key: str, value: Any) -> None:
        try:
            ref = self.relay.remember.remote(self.call, node_id, key, value)
            error = await asyncio.wrap_future(ref.future())
        except Exception as exc:  # the relay (or the driver's node) is gone: try again later
            raise TransientError(
                f"the driver's memo relay is unreachable ({type(exc).__name__}); memo {key!r} "
                "was not recorded"
            ) from None
        if error is not None:
            raise NodeExecutionError(f"the driver could not record memo {key!r}: {error}", node_id)
        self.notes.setdefault(node_id, {})[key] = value

    def recall(self, node_id: str, key: str) -> Any:
        return self.notes.get(node_id, {}).get(key)


class _Relay:
    """Ray actor (owned by the driver): the queue of memo notes between workers and driver."""

    def __init__(self) -> None:
        self.pending: asyncio.Queue[tuple[int, str, str, str, Any]] = asyncio.Queue()
        self.waiting: dict[int, asyncio.Future[str | None]] = {}
        self.ids = itertools.count()

    async def remember(self, call: str, node_id: str, key: str, value: Any) -> str | None:
        request = next(self.ids)
        future: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
        self.waiting[request] = future
        await self.pending.put((request, call, node_id, key, value))
        return await future

    async def take(self, wait: float) -> list[tuple[int, str, str, str, Any]]:
        try:
            batch = [await asyncio.wait_for(self.pending.get(), wait)]
        except TimeoutError:
            return []
        while not self.pending.empty():
            batch.append(self.pending.get_nowait())
        return batch

    def settle(self, request: int, error: str | None) -> None:
        future = self.waiting.pop(request, None)
        if future is not None and not future.done():
            future.set_result(error)


def _portable(exc: BaseException, node_id: str, dumps: Callable[[Any], bytes]) -> BaseException:
    """``exc`` when it survives pickling, else an error of the same retry class and text."""
    try:
        dumps(exc)
        return exc
    except Exception:
        text = f"{type(exc).__name__}: {exc}"
        return TransientError(text) if is_transient(exc) else NodeExecutionError(text, node_id)


def _attempt(
    work: NodeWork, plan: WorkflowPlan, node: WorkflowNode, payload: dict[str, Any], relay: Any
) -> Any:
    """The body of the Ray task: one attempt of ``execute_node`` on a worker."""
    ray = import_ray()
    context = NodeContext(
        vibe=plan.source_vibe,
        plan=plan,
        dependency_outputs=payload["dependency_outputs"],
        child_outputs=payload["child_outputs"],
        attempt=payload["attempt"],
        services=dict(getattr(work, "services", {}) or {}),
        node_id=node.id,
        memo=_RelayMemo(relay, payload["call"], node.id, payload["notes"]),
    )
    try:
        output = asyncio.run(work.execute_node(node, context))
    except Exception as exc:  # returned, not raised: Ray must not retry application errors
        return ("error", _portable(exc, node.id, ray.cloudpickle.dumps))
    return ("ok", output)


class RayRunner:
    """Runs each node attempt as a Ray task (see the module docstring).

    ``address``: a cluster (``"127.0.0.1:6379"``, ``"ray://host:10001"``, ``"auto"``); None →
    ``$VIBE_RAY_ADDRESS``, else ``ray.init()`` of a local instance. ``max_retries``: Ray's
    bounded retries of a task whose worker or node died. Connects on the first node.
    """

    name = "ray"

    def __init__(
        self,
        address: str | None = None,
        *,
        max_retries: int = 3,
        recipes: Mapping[type, Recipe] | None = None,
        init_options: Mapping[str, Any] | None = None,
    ) -> None:
        if max_retries < 0:
            raise ConfigurationError("max_retries must be >= 0")
        self.ray = import_ray()
        self.address = address or os.environ.get(ADDRESS_ENV) or None
        self.max_retries = max_retries
        self.recipes: dict[type, Recipe] = dict(recipes or {})
        self.init_options = dict(init_options or {})
        self._task: Any = None
        self._relay: Any = None
        self._shipped: dict[str, tuple[int, Any, Any]] = {}  # plan id -> (id(work), refs)
        self._memos: dict[str, tuple[Memo, asyncio.AbstractEventLoop]] = {}
        self._drain: asyncio.Task[None] | None = None
        self._nodes: tuple[float, list[dict[str, float]]] = (0.0, [])

    def __repr__(self) -> str:
        return f"RayRunner(address={self.address!r})"

    def recipe(self, kind: type, rebuild: Recipe) -> None:
        """Rebuild services of type ``kind`` on workers as ``rebuild(service)`` describes."""
        self.recipes[kind] = rebuild

    # ------------------------------------------------------------------ connection

    def connect(self) -> None:
        """Join the cluster (or start a local instance) once; register the service recipes."""
        ray = self.ray
        if not ray.is_initialized():
            options: dict[str, Any] = {
                "ignore_reinit_error": True,
                "logging_level": "WARNING",
                "configure_logging": False,
                "include_dashboard": False,
                "log_to_driver": False,  # workers' output stays in the cluster's logs
            }
            if self.address is None:
                options["num_cpus"] = os.cpu_count() or 1
            options.update(self.init_options)
            # ray.init installs its own SIGTERM handler (sys.exit); the driver keeps its own
            # (the command's: checkpoint, then exit 130)
            main = threading.current_thread() is threading.main_thread()
            previous = signal.getsignal(signal.SIGTERM) if main else None
            try:
                ray.init(address=self.address, **options)
            except ConnectionError as exc:
                raise ConfigurationError(
                    f"cannot reach the Ray cluster at {self.address!r}: {exc}; start it with "
                    "`ray start --head` or fix --ray-address / $VIBE_RAY_ADDRESS"
                ) from None
            finally:
                if previous is not None:
                    signal.signal(signal.SIGTERM, previous)
        for kind, rebuild in self.recipes.items():
            ray.util.register_serializer(
                kind,
                serializer=_Recipe(rebuild),
                deserializer=_rebuild,
            )
        if self._task is None:
            self._task = ray.remote(_attempt)
        if self._relay is None:
            self._relay = self._new_relay()

    def _new_relay(self) -> Any:
        """The memo relay, on the driver's own node (it lives and dies with the driver)."""
        ray = self.ray
        affinity = ray.util.scheduling_strategies.NodeAffinitySchedulingStrategy(
            node_id=ray.get_runtime_context().get_node_id(), soft=False
        )
        relay_class = ray.remote(num_cpus=0, max_concurrency=1000)(_Relay)
        return relay_class.options(scheduling_strategy=affinity).remote()

    def offered(self) -> list[dict[str, float]]:
        """The resources of each alive node (refreshed at most every 2 s)."""
        when, nodes = self._nodes
        if time.monotonic() - when > 2.0:
            nodes = [
                {str(k): float(v) for k, v in (n.get("Resources") or {}).items()}
                for n in self.ray.nodes()
                if n.get("Alive")
            ]
            self._nodes = (time.monotonic(), nodes)
        return nodes

    def _ship(self, work: NodeWork, context: NodeContext) -> tuple[Any, Any]:
        """The worker's copy of the executor and the plan, put once per plan."""
        plan_id = context.plan.id
        shipped = self._shipped.get(plan_id)
        if shipped is not None and shipped[0] == id(work):
            return shipped[1], shipped[2]
        clone = copy.copy(work)
        if hasattr(clone, "progress_callback"):
            clone.progress_callback = None
        if hasattr(clone, "runner"):
            clone.runner = LocalRunner()
        try:
            refs = self.ray.put(clone), self.ray.put(context.plan)
        except Exception as exc:
            raise ConfigurationError(
                f"the executor {type(work).__name__} cannot be shipped to Ray workers "
                f"({type(exc).__name__}: {str(exc)[:300]}); keep live connections out of it "
                "or give their type a recipe (RayRunner.recipe)"
            ) from None
        self._shipped = {plan_id: (id(work), *refs)}
        return refs

    # ------------------------------------------------------------------ one attempt

    async def run(self, work: NodeWork, node: WorkflowNode, context: NodeContext) -> Any:
        self.connect()
        options, demand = task_demand(node)
        offered = self.offered()
        if not any(fits(demand, o) for o in offered):
            self._nodes = (0.0, [])  # look again, a node may just have joined
            offered = self.offered()
            if not any(fits(demand, o) for o in offered):
                raise ClusterResourceError(node.id, demand, offered)
        executor_ref, plan_ref = self._ship(work, context)
        call = uuid.uuid4().hex
        memo = context.memo if context.memo is not None else InMemoryMemo()
        self._memos[call] = (memo, asyncio.get_running_loop())
        self._ensure_drain()
        payload = {
            "dependency_outputs": context.dependency_outputs,
            "child_outputs": context.child_outputs,
            "attempt": context.attempt,
            "call": call,
            "notes": _notes_of(memo, node.id),
        }
        ref = self._task.options(
            max_retries=self.max_retries, retry_exceptions=False, name=f"vibe:{node.id}", **options
        ).remote(executor_ref, plan_ref, node, payload, self._relay)
        try:
            kind, value = await asyncio.wrap_future(ref.future())
        except asyncio.CancelledError:
            self.ray.cancel(ref)
            raise
        except Exception as exc:
            raise self._system_error(exc, node) from exc
        finally:
            self._memos.pop(call, None)
        if kind == "error":
            raise value
        return value

    def _system_error(self, exc: Exception, node: WorkflowNode) -> Exception:
        names = {cls.__name__ for cls in type(exc).__mro__}
        text = f"{type(exc).__name__}: {str(exc).strip().splitlines()[0][:300] if str(exc) else ''}"
        if names & set(_SYSTEM_ERRORS):
            return TransientError(f"the Ray worker running {node.id!r} was lost ({text})")
        return NodeExecutionError(f"the Ray task failed: {text}", node.id)

    # ------------------------------------------------------------------ memos

    def _ensure_drain(self) -> None:
        loop = asyncio.get_running_loop()
        if self._drain is None or self._drain.done() or self._drain.get_loop() is not loop:
            self._drain = loop.create_task(self._drain_notes(), name="vibe:ray-memos")

    async def _drain_notes(self) -> None:
        """Journal the workers' notes through the driver's memo, then acknowledge each."""
        pending: set[asyncio.Task[None]] = set()
        while self._memos or pending:
            relay = self._relay
            try:
                batch = await asyncio.wrap_future(relay.take.remote(0.5).future())
            except Exception as exc:  # the relay died: its notes were never acknowledged
                log.warning("the Ray memo relay was lost (%s); starting a new one", exc)
                await asyncio.sleep(0.2)
                if self._relay is relay:
                    self._relay = self._new_relay()
                continue
            for request, call, node_id, key, value in batch:
                task = asyncio.create_task(self._note(relay, request, call, node_id, key, value))
                pending.add(task)
                task.add_done_callback(pending.discard)
        self._drain = None

    async def _note(
        self, relay: Any, request: int, call: str, node_id: str, key: str, value: Any
    ) -> None:
        entry = self._memos.get(call)
        error: str | None = "the attempt that made it is over"
        if entry is not None:
            try:
                await entry[0].remember(node_id, key, value)
                error = None
            except Exception as exc:  # told to the worker, whose remember raises it
                error = f"{type(exc).__name__}: {exc}"
        relay.settle.remote(request, error)


class _Recipe:
    """A picklable serializer: service -> (rebuild, args) through the given recipe."""

    def __init__(self, rebuild: Recipe) -> None:
        self.rebuild = rebuild

    def __call__(self, service: Any) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return self.rebuild(service)


def _rebuild(recipe: tuple[Callable[..., Any], tuple[Any, ...]]) -> Any:
    function, args = recipe
    return function(*args)
