"""Record every file-system access the process makes, through CPython audit hooks.

``with FileAccess() as seen: ...`` collects ``(event, path)`` for opens, listings, creations,
renames and removals made while the block runs (in any thread). Audit hooks cannot be removed,
so one hook is installed per process and switched on and off.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import threading
from typing import Any

_EVENTS = {
    "open": 0,
    "os.listdir": 0,
    "os.scandir": 0,
    "os.mkdir": 0,
    "os.remove": 0,
    "os.rmdir": 0,
    "os.rename": (0, 1),
    "os.replace": (0, 1),
    "os.chmod": 0,
    "os.truncate": 0,
    "os.symlink": (0, 1),
    "os.link": (0, 1),
    "os.utime": 0,
    "shutil.rmtree": 0,
    "shutil.copyfile": (0, 1),
    "shutil.move": (0, 1),
}
_active: list[FileAccess] = []
_guard = threading.Lock()
_installed = False

# reading Python's own files (lazy imports, encodings, ...) is not the library's doing
_PYTHON_DIRS = tuple(
    os.path.realpath(p)
    for p in {
        sys.prefix,
        sys.base_prefix,
        sys.exec_prefix,
        sysconfig.get_paths()["stdlib"],
        sysconfig.get_paths()["purelib"],
        os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + "/../src",
    }
)


def _hook(event: str, args: tuple[Any, ...]) -> None:
    if not _active or event not in _EVENTS:
        return
    where = _EVENTS[event]
    for index in (where,) if isinstance(where, int) else where:
        if index >= len(args):
            continue
        path = args[index]
        if isinstance(path, int) or path is None:
            continue  # a file descriptor: its open was recorded
        try:
            text = os.fsdecode(path)
        except (TypeError, ValueError):
            continue
        with _guard:
            for recorder in _active:
                recorder.seen.append((event, os.path.normpath(os.path.join(os.getcwd(), text))))


class FileAccess:
    def __init__(self) -> None:
        self.seen: list[tuple[str, str]] = []

    def __enter__(self) -> FileAccess:
        global _installed
        if not _installed:
            sys.addaudithook(_hook)
            _installed = True
        with _guard:
            _active.append(self)
        return self

    def __exit__(self, *exc: object) -> None:
        with _guard:
            _active.remove(self)

    def outside(self, *allowed: str) -> list[tuple[str, str]]:
        """Accesses to paths not under any of ``allowed`` (nor Python's own files)."""
        roots = tuple(os.path.normpath(a) for a in allowed)
        out = []
        for event, path in self.seen:
            if any(path == r or path.startswith(r + os.sep) for r in roots):
                continue
            real = os.path.realpath(path)
            if event == "open" and real.startswith(_PYTHON_DIRS):
                continue
            if path in ("/dev/null", "/dev/urandom"):
                continue
            out.append((event, path))
        return out
