"""The local web app of ``vibe-aigc ui`` (the ``web`` extra: Starlette on uvicorn).

Modules: :mod:`.backend` (reads through the public persistence API), :mod:`.derive` (records to
views, pure), :mod:`.render` (safe Markdown, artifact URLs), :mod:`.actions` (the command's
subcommands as subprocesses; cancel), :mod:`.security` (token, CSRF, headers), :mod:`.app` (the
ASGI app and its Server-Sent Events). Nothing outside ``cli/ui_cmd`` imports this package.
"""
