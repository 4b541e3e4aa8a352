"""Loaded by every Python process of the test Ray clusters (``ray start``, drivers, workers):
the clusters live on 127.0.0.1 only.

Ray "resolves" ``--node-ip-address=127.0.0.1`` (and a driver's local address) to the machine's
network address on Linux (``ray._private.services.resolve_ip_for_localhost``), so nodes would
register, and be reached, on an address that is not loopback. Here a loopback address stays
what it is. ``tests/ray/cluster.py`` checks that every node is on 127.0.0.1.
"""

import importlib.abc
import importlib.machinery
import sys
from types import ModuleType
from typing import Any


def _keep_loopback(module: ModuleType) -> None:
    def resolve_ip_for_localhost(host: str) -> str:
        if not host:
            raise ValueError(f"Malformed host: {host}")
        return host

    module.resolve_ip_for_localhost = resolve_ip_for_localhost


class _Patch(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        if name != "ray._private.services":
            return None
        sys.meta_path.remove(self)
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        if spec is None or spec.loader is None:
            return spec
        loader = spec.loader
        original = loader.exec_module

        def exec_module(module: ModuleType) -> None:
            original(module)
            _keep_loopback(module)

        loader.exec_module = exec_module  # type: ignore[method-assign]
        return spec


sys.meta_path.insert(0, _Patch())
