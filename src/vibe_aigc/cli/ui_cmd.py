"""``vibe-aigc ui``: the local web app over a store (the ``web`` extra: Starlette, uvicorn).

Registered by the command's parser through :func:`add_commands`. Loopback by default; a
non-loopback ``--host`` needs an access token (``$VIBE_UI_TOKEN``, or ``--new-token`` to have
one generated and printed). Prints ``READY <url>`` once it listens.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import webbrowser
from collections.abc import Callable
from typing import Any

from vibe_aigc.errors import ConfigurationError
from vibe_aigc.persistence import WorkflowPersistenceManager

Handler = Callable[[argparse.Namespace], int]


def add_commands(sub: Any) -> dict[str, Handler]:
    """Add ``ui`` to the command's subparsers; returns ``{name: handler}``."""
    p = sub.add_parser("ui", help="a local web page of runs: live DAG, outputs, actions")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--checkpoint-dir", help="checkpoint folder (as for the other commands)")
    where.add_argument(
        "--store", metavar="URL", help="store URL (folder, sqlite://, postgresql://)"
    )
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default loopback)")
    p.add_argument("--port", type=int, default=8765, help="port (0: any free port)")
    p.add_argument("--open", action="store_true", help="open the page in a browser")
    p.add_argument(
        "--new-token",
        action="store_true",
        help="generate and print an access token (needed for a non-loopback --host "
        "unless $VIBE_UI_TOKEN is set)",
    )
    p.set_defaults(command_parser=p)
    return COMMANDS


def store_args(args: argparse.Namespace) -> list[str]:
    """The store flags to hand to the commands the page starts (same store as the app)."""
    if args.store:
        return ["--store", args.store]
    if args.checkpoint_dir:
        return ["--checkpoint-dir", os.path.abspath(args.checkpoint_dir)]
    return []


def cmd_ui(args: argparse.Namespace) -> int:
    from vibe_aigc.ui.security import allowed_hosts, choose_token, is_loopback

    token, source = choose_token(args.host, os.environ, args.new_token)
    try:
        import uvicorn

        from vibe_aigc.ui.actions import Actions
        from vibe_aigc.ui.app import create_app
        from vibe_aigc.ui.backend import UIBackend
        from vibe_aigc.ui.security import Guard
    except ImportError as exc:
        raise ConfigurationError(
            f"the web app needs the 'web' extra ({exc.name} is missing): "
            "pip install 'vibe-aigc[web]'"
        ) from None
    if not 0 <= args.port <= 65535:
        raise ConfigurationError(f"--port must be 0-65535, not {args.port}")
    manager = WorkflowPersistenceManager(args.checkpoint_dir, store=args.store)
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    sock.listen(128)
    port = int(sock.getsockname()[1])
    guard = Guard(token, allowed_hosts(args.host, port))
    app = create_app(UIBackend(manager), Actions(store_args(args)), guard)
    shown = f"[{args.host}]" if ":" in args.host else args.host
    url = f"http://{shown}:{port}/"
    print(f"vibe-aigc ui: {manager.url}", flush=True)
    if token is not None and source == "generated":
        print(f"access token: {token}", flush=True)
        print(f"open: {url}?token={token}", flush=True)
    elif token is not None:
        print(f"access token from $VIBE_UI_TOKEN; open {url}?token=<token>", flush=True)
    if not is_loopback(args.host):
        print(f"warning: listening on {args.host}, not only this machine", file=sys.stderr)
    print(f"READY {url}", flush=True)
    if args.open:
        webbrowser.open(url if token is None else f"{url}?token={token}")
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    server = uvicorn.Server(config)
    server.run(sockets=[sock])
    return 0


COMMANDS: dict[str, Handler] = {"ui": cmd_ui}
"""The command's handlers by name (what :func:`add_commands` adds)."""
