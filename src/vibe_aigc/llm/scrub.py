"""Keeping secrets out of every text the client produces or hands back.

:class:`Scrubber` knows secret *values* (the API key, credentials found in URLs) and replaces,
in any text: each value; its URL-encoded forms; its base64 forms (standard and URL-safe, at
each of the three byte alignments, so a key inside a longer encoded blob such as a Basic auth
header is found too); and every run of 16 or more characters copied from a value (a key cut in
half by someone else's truncation). :func:`redact_urls` removes URL userinfo
(``http://user:PASS@host``) and credential-like query parameters (``?api_key=...``) whatever
the value. Scrub first, then cut: a text cut before scrubbing could keep part of a key.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
FRAGMENT = 16  # a run this long copied from a secret counts as the secret
MIN_SECRET = 6  # shorter values are too common to scrub by value

_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]*@")
_CREDENTIAL_PARAM = re.compile(
    r"(?i)([?&;](?:[a-z0-9_.-]*(?:key|token|secret|passw(?:or)?d|pwd|auth|signature|sig|"
    r"credential|session)[a-z0-9_.-]*))=([^&#\s\"'<>]*)"
)


def redact_urls(text: str) -> str:
    """``text`` without URL userinfo and without the values of credential-like parameters."""
    text = _USERINFO.sub(lambda m: f"{m.group(1)}{REDACTED}@", text)
    return _CREDENTIAL_PARAM.sub(lambda m: f"{m.group(1)}={REDACTED}", text)


def _b64_cores(value: bytes) -> set[str]:
    """Base64 text that encodes ``value`` at any alignment, minus the edge characters."""
    cores: set[str] = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + value).decode()
        start = 4 if shift else 0  # the first group mixes in the padding bytes
        tail = len(encoded) - 4  # the last group may mix in what follows
        core = encoded[start:tail] if tail - start >= FRAGMENT else ""
        if core:
            cores.add(core)
            cores.add(core.replace("+", "-").replace("/", "_"))
    whole = base64.b64encode(value).decode()
    cores |= {whole, whole.rstrip("="), whole.replace("+", "-").replace("/", "_").rstrip("=")}
    return cores


def encoded_forms(value: str) -> set[str]:
    """``value`` and its URL-encoded and base64 forms (see the module docstring)."""
    if len(value) < MIN_SECRET:
        return set()
    forms = {value, quote(value, safe=""), quote_plus(value), quote(value)}
    forms |= {f.lower() for f in forms if "%" in f} | {
        re.sub(r"%[0-9a-f]{2}", lambda m: m.group(0).upper(), f) for f in forms if "%" in f
    }
    forms |= _b64_cores(value.encode())
    return {f for f in forms if len(f) >= MIN_SECRET}


class Scrubber:
    """Replaces known secret values (and their encodings) in text; see the module docstring."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= MIN_SECRET}, key=len)[::-1]
        forms: set[str] = set()
        for secret in self.secrets:
            forms |= encoded_forms(secret)
        self.forms = sorted(forms, key=len, reverse=True)
        grams = {
            s[i : i + FRAGMENT]
            for s in self.secrets
            if len(s) > FRAGMENT
            for i in range(len(s) - FRAGMENT + 1)
        }
        self._whole = re.compile("|".join(re.escape(f) for f in self.forms)) if forms else None
        self._grams = re.compile("|".join(re.escape(g) for g in sorted(grams))) if grams else None

    def __bool__(self) -> bool:
        return bool(self.secrets)

    def values(self) -> list[str]:
        """Every form scrubbed by value (the secrets and their encodings), longest first."""
        return list(self.forms)

    def _fragments(self, text: str) -> str:
        assert self._grams is not None
        out: list[str] = []
        pos = 0
        while True:
            found = self._grams.search(text, pos)
            if found is None:
                break
            start, end = found.span()
            # grow the run as far as it keeps copying one of the secrets
            for secret in self.secrets:
                at = secret.find(found.group(0))
                while at >= 0:
                    stop = end
                    i = at + FRAGMENT
                    while stop < len(text) and i < len(secret) and text[stop] == secret[i]:
                        stop, i = stop + 1, i + 1
                    end = max(end, stop)
                    at = secret.find(found.group(0), at + 1)
            out += [text[pos:start], REDACTED]
            pos = end
        out.append(text[pos:])
        return "".join(out)

    def scrub(self, text: str) -> str:
        """``text`` with every known secret, encoded form and long fragment replaced."""
        if not text:
            return text
        if self._whole is not None:
            text = self._whole.sub(REDACTED, text)
        if self._grams is not None:
            text = self._fragments(text)
        return text

    def __call__(self, text: str) -> str:
        """``scrub`` plus :func:`redact_urls`: for messages (errors, logs), not model output."""
        return redact_urls(self.scrub(text))
