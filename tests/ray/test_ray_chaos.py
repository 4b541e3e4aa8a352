"""The kill -9 chaos quick suite (tests/reliability/test_chaos.py) on ``--backend ray``: the
same 200-node plan, drivers SIGKILLed at random moments and resumed until it completes, node
work running as Ray tasks on the local cluster. Every invariant of the local suite holds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cluster import RayCluster, ray_env
from test_chaos import ChaosConfig, report, run_chaos


@pytest.mark.timeout(400)
def test_chaos_quick_on_ray(
    ray_cluster: RayCluster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key in ("RAY_AUTH_MODE", "PYTHONPATH"):  # the runners are drivers of this cluster
        monkeypatch.setenv(key, ray_env()[key])
    cfg = ChaosConfig(
        seed=int(os.environ.get("VIBE_CHAOS_SEED", "11")),
        kills=10,
        max_events=30,
        runner_args=("--backend", "ray", "--ray-address", ray_cluster.address),
        settle=True,
    )
    figures = run_chaos(tmp_path, cfg)
    report(cfg, figures)
    assert figures.kills >= 10
