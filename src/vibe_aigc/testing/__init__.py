"""Test doubles shipped in the package: real HTTP servers on 127.0.0.1, not client mocks.

* :class:`OpenAIStub`: an OpenAI-compatible server (``/v1/chat/completions``,
  ``/v1/images/generations``, ``/files/<name>``) whose answers are scripted with :class:`Reply`.
* :class:`ComfyUIStub`: a ComfyUI-like server (``POST /prompt``, ``GET /history/<id>``,
  ``GET /queue``, ``GET /view``) that counts submissions (``GET /stats``).

Both run in a thread (``with OpenAIStub() as stub: ...``) or as their own process::

    python -m vibe_aigc.testing.stub_server comfyui --job-seconds 3

which prints ``READY <base_url>`` once it listens, so a test can kill its client with SIGKILL
while the server lives on. ``hermetic_env`` lists the variables tests must unset.
"""

from vibe_aigc.testing.servers import (
    HERMETIC_ENV,
    ComfyUIStub,
    OpenAIStub,
    RecordedRequest,
    Reply,
    StubServer,
    tiny_png,
)

__all__ = [
    "HERMETIC_ENV",
    "ComfyUIStub",
    "OpenAIStub",
    "RecordedRequest",
    "Reply",
    "StubServer",
    "tiny_png",
]
