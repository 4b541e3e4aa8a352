"""Reliability suites: quick versions run in every ``python -m pytest``; the long versions are
marked ``long`` (deselected by the default ``-m "not long"`` in pyproject) and run by hand with
``python -m pytest -m long tests/reliability -s`` (see RELIABILITY.md)."""

from __future__ import annotations

import sys
from pathlib import Path

# pytest (prepend import mode) puts this folder on sys.path for the test modules; make the
# helper importable for conftest-level fixtures and subprocess runners too.
HERE = str(Path(__file__).resolve().parent)
if HERE not in sys.path:
    sys.path.insert(0, HERE)
