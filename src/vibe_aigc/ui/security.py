"""Who may talk to the web app, and the headers every answer carries.

* **Where it listens.** Loopback (127.0.0.0/8, ::1, ``localhost``) by default. Any other host
  needs an access token: ``$VIBE_UI_TOKEN``, or one generated and printed at start.
* **The access token** (when one is set, also on loopback): sent as the ``X-Vibe-Token``
  header or the ``vibe_token`` cookie (set by visiting ``/?token=...`` once), compared with
  :func:`hmac.compare_digest`. Without it, every API and artifact request is refused (401).
* **CSRF.** A state-changing request (POST) must come from the app's own origin (``Origin``
  equal to the ``Host`` it was sent to, and ``Sec-Fetch-Site`` same-origin when the browser
  sends it) and carry ``X-CSRF-Token``: an HMAC of the session cookie (``vibe_session``,
  HttpOnly, SameSite=Strict) that only a page of this origin can read from ``/api/session``.
* **Host header.** Requests must name a host this server listens as (DNS rebinding).
* **Headers.** A strict Content-Security-Policy (scripts and styles from the app's own static
  files only, no inline script, no framing), ``nosniff``, no referrer.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from vibe_aigc.errors import ConfigurationError

TOKEN_HEADER = "x-vibe-token"
TOKEN_COOKIE = "vibe_token"
SESSION_COOKIE = "vibe_session"
CSRF_HEADER = "x-csrf-token"
ENV_TOKEN = "VIBE_UI_TOKEN"
MIN_TOKEN_LENGTH = 16

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    "content-security-policy": CSP,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "x-frame-options": "DENY",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-store",
}


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and addresses in 127.0.0.0/8 or ::1."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def new_token() -> str:
    return secrets.token_urlsafe(24)


@dataclass
class Verdict:
    """The answer of a check: ``ok``, else the HTTP status and why."""

    ok: bool
    status: int = 200
    reason: str = ""


OK = Verdict(True)


@dataclass
class Guard:
    """The checks of the module docstring for one server (``token`` None: loopback, open)."""

    token: str | None
    hosts: set[str]
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32))

    def csrf_for(self, session: str) -> str:
        return hmac.new(self.secret, session.encode("utf-8"), hashlib.sha256).hexdigest()

    def token_ok(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> bool:
        if self.token is None:
            return True
        given = headers.get(TOKEN_HEADER) or cookies.get(TOKEN_COOKIE) or ""
        return hmac.compare_digest(given.encode("utf-8"), self.token.encode("utf-8"))

    def host_ok(self, headers: Mapping[str, str]) -> bool:
        return headers.get("host", "").lower() in self.hosts

    def check(
        self,
        method: str,
        headers: Mapping[str, str],
        cookies: Mapping[str, str],
        *,
        needs_token: bool = True,
    ) -> Verdict:
        """The verdict on one request (``headers`` with lower-case names)."""
        if not self.host_ok(headers):
            return Verdict(False, 421, "this server does not answer to that Host")
        if needs_token and not self.token_ok(headers, cookies):
            return Verdict(False, 401, "an access token is required (X-Vibe-Token or cookie)")
        if method.upper() in ("GET", "HEAD", "OPTIONS"):
            return OK
        return self.csrf_check(headers, cookies)

    def csrf_check(self, headers: Mapping[str, str], cookies: Mapping[str, str]) -> Verdict:
        site = headers.get("sec-fetch-site")
        if site is not None and site not in ("same-origin", "none"):
            return Verdict(False, 403, "cross-site request refused")
        origin = headers.get("origin")
        host = headers.get("host", "")
        if origin is None or origin.split("://", 1)[-1].lower() != host.lower():
            return Verdict(False, 403, "the request's Origin is not this app")
        session = cookies.get(SESSION_COOKIE, "")
        given = headers.get(CSRF_HEADER, "")
        if not session or not hmac.compare_digest(
            given.encode("utf-8"), self.csrf_for(session).encode("utf-8")
        ):
            return Verdict(False, 403, "missing or wrong CSRF token; reload the page")
        return OK


def allowed_hosts(host: str, port: int) -> set[str]:
    """The Host header values a server bound to ``host:port`` answers to."""
    names = {host.lower()}
    if is_loopback(host):
        names |= {"127.0.0.1", "localhost", "[::1]"}
    if host in ("0.0.0.0", "::"):
        import socket

        names |= {socket.gethostname().lower(), socket.getfqdn().lower()}
    out: set[str] = set()
    for name in names:
        shown = f"[{name}]" if ":" in name and not name.startswith("[") else name
        out |= {f"{shown}:{port}", shown} if port in (80, 443) else {f"{shown}:{port}"}
    return out


def choose_token(host: str, env: Mapping[str, str], generate: bool) -> tuple[str | None, str]:
    """The access token for a server on ``host`` and where it came from (``env``,
    ``generated``, ``none``); ConfigurationError when a non-loopback host has none."""
    given = env.get(ENV_TOKEN, "")
    if given:
        if len(given) < MIN_TOKEN_LENGTH:
            raise ConfigurationError(f"{ENV_TOKEN} must be at least {MIN_TOKEN_LENGTH} characters")
        return given, "env"
    if is_loopback(host):
        return None, "none"
    if generate:
        return new_token(), "generated"
    raise ConfigurationError(
        f"--host {host} is not a loopback address: the web app then needs an access token. "
        f"Set {ENV_TOKEN} (16+ characters) or pass --new-token to have one generated and printed"
    )
