"""A real local Ray cluster for tests/ray: a head and two worker nodes (one with the custom
resource ``gpu_sim``), each its own ``ray start`` process, started once per session and
stopped at the end (exactly those processes). Without Ray, or when the cluster cannot start,
the tests skip with the reason, and fail under ``CI=true``."""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

HERE = str(Path(__file__).resolve().parent)
RELIABILITY = str(Path(HERE).parent / "reliability")  # the chaos suite's kit and runner
for folder in (RELIABILITY, HERE):
    if folder not in sys.path:
        sys.path.insert(0, folder)

from cluster import RayCluster  # noqa: E402


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"the Ray cluster is required under CI=true: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[RayCluster]:
    if importlib.util.find_spec("ray") is None:
        _unavailable("ray is not installed (pip install 'vibe-aigc[ray]')")
    cluster = RayCluster()
    try:
        cluster.start([{}, {"gpu_sim": 1}])
    except Exception as exc:
        cluster.stop()
        _unavailable(f"could not start a local Ray cluster: {exc}")
    try:
        yield cluster
    finally:
        cluster.stop()
