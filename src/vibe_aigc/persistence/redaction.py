"""Keep secrets out of checkpoints.

:func:`redact` returns a deep copy of a value in which everything stored under a key that looks
like a secret (``api_key``, ``token``, ``password``, ``Authorization``, ...) is replaced with
``"[REDACTED]"``. Keys are matched case-insensitively by substring, ignoring ``-`` and ``_``
(so ``apiKey`` and ``X-API-KEY`` match); the whole value under such a key is replaced.

Counting keys such as ``max_tokens``, ``prompt_tokens`` or ``token_count`` contain "token" but
hold no secret; they are kept, because redacting them would break a resumed run's parameters.
"""

from __future__ import annotations

import copy
import re
from typing import Any

from vibe_aigc.jsondata import JsonText, KnownJson, as_value

REDACTED = "[REDACTED]"

SECRET_MARKERS: tuple[str, ...] = (
    "api_key",
    "apikey",
    "api-key",
    "token",
    "secret",
    "password",
    "passwd",
    "authorization",
    "auth_header",
    "bearer",
    "private_key",
    "access_key",
    "credential",
    "cookie",
    "session_key",
    "passphrase",
    "ssh_key",
    "sshkey",
    "webhook",
    "signing_key",
    "client_key",
)

# whole words of a key (split at "-", "_", "." and camelCase) that name a credential alone:
# "X-Auth", "auth", "openai.key", "pgpass" -- but not "author" or "keyboard"
_SECRET_WORDS = {"auth", "pwd", "pass", "pgpass", "dsn", "creds"}
_KEY_WORD = "key"
_WORD_SPLIT = re.compile(r"[-_.\s]+|(?<=[a-z0-9])(?=[A-Z])")

# credentials inside a string value: URL userinfo (scheme://user:PASS@host) and query
# parameters that carry a secret (?api_key=..., &token=..., &sig=...)
_URL_USERINFO = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<user>[^\s/@:]*):[^\s/@]+@")
_QUERY_SECRET = re.compile(
    r"(?P<name>[?&](?:api[-_]?key|key|token|access[-_]?token|password|passwd|secret|sig|"
    r"signature|auth)=)[^&\s#]+",
    re.IGNORECASE,
)

# "token" in these keys counts tokens; it is not a credential.
_COUNTING_KEY = re.compile(
    r"(?:max|min|num|n|total|prompt|completion|input|output|reasoning|cached|max_new|"
    r"max_output|max_completion|max_input)_?tokens?"
    r"|tokens?_?(?:count|counts|used|usage|limit|limits|budget|per_[a-z]+)"
    r"|tokeni[sz](?:er|ation|e)[a-z_]*"
)
_COMPACT_MARKERS = tuple(
    m.replace("_", "").replace("-", "") for m in SECRET_MARKERS if m != "token"
)


def is_secret_key(key: str) -> bool:
    """True when values under ``key`` must not be written to disk.

    Separators are ignored, so ``apiKey``, ``API-KEY`` and ``api_key`` all match.
    """
    lowered = key.lower()
    compact = lowered.replace("_", "").replace("-", "").replace(".", "")
    if any(m in compact for m in _COMPACT_MARKERS):
        return True
    words = [w.lower() for w in _WORD_SPLIT.split(key) if w]
    if any(w in _SECRET_WORDS for w in words):
        return True
    if len(words) >= 2 and words[-1] == _KEY_WORD:  # ssh_key, openai.key, client-key
        return True
    if "token" not in lowered:
        return False
    return _COUNTING_KEY.fullmatch(lowered.replace("-", "_")) is None


_VALUES: set[str] = set()


def add_secret_values(values: Any) -> None:
    """Register values that must never reach disk whatever field carries them (the configured
    API key, credentials of a base URL); :func:`redact` replaces them inside every string."""
    for value in values or ():
        if isinstance(value, str) and len(value) >= 8:
            _VALUES.add(value)


def has_secret_values() -> bool:
    return bool(_VALUES)


def scrub_values(value: Any) -> Any:
    """``value`` with every registered secret value replaced inside its strings (keys and
    structure untouched); the identity when nothing is registered."""
    if not _VALUES:
        return value
    if type(value) is JsonText:  # an object as its text: scrubbed as the object it spells
        return scrub_values(as_value(value))
    if isinstance(value, str):
        for secret in _VALUES:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {k: scrub_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub_values(v) for v in value]
    return value


def scrub_text(text: str) -> str:
    """``text`` with URL credentials and registered secret values replaced."""
    for secret in _VALUES:
        if secret in text:
            text = text.replace(secret, REDACTED)
    if "://" in text:
        text = _URL_USERINFO.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: f"{m['name']}{REDACTED}", text)
    return text


def redact(value: Any) -> Any:
    """A deep copy of ``value`` with secret-looking keys' values replaced by ``"[REDACTED]"``
    and credentials inside strings scrubbed (:func:`scrub_text`)."""
    if isinstance(value, str):
        return scrub_text(value)
    if isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and is_secret_key(k) else redact(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, tuple):
        return tuple(redact(v) for v in value)
    if value is None or isinstance(value, int | float | bool):
        return value
    return copy.deepcopy(value)


def _redact_node(node: Any) -> Any:
    if not isinstance(node, dict):
        return node
    if not node.get("parameters") and not node.get("children"):
        return node  # nothing a redaction changes (most nodes of a large plan): no copy
    out = KnownJson(node) if type(node) is KnownJson else dict(node)  # redacting keeps it JSON
    if "parameters" in out:
        out["parameters"] = redact(out["parameters"])
    if isinstance(out.get("children"), list):
        out["children"] = [_redact_node(child) for child in out["children"]]
    if type(node) is KnownJson and out == node:  # nothing to redact: no copy per snapshot
        return node
    return out


def _redact_vibe(vibe: Any) -> Any:
    if not isinstance(vibe, dict) or "metadata" not in vibe:
        return vibe
    return {**vibe, "metadata": redact(vibe["metadata"])}


def redact_record(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of a checkpoint record with secrets removed from ``vibe.metadata``, the plan's
    ``source_vibe.metadata`` and every plan node's ``parameters``."""
    out = dict(record)
    for key in ("node_results", "memos", "summary"):
        if key in out:
            out[key] = scrub_values(out[key])
    if "vibe" in out:
        out["vibe"] = _redact_vibe(out["vibe"])
    plan = out.get("workflow_plan")
    if isinstance(plan, dict):
        plan = dict(plan)
        if "source_vibe" in plan:
            plan["source_vibe"] = _redact_vibe(plan["source_vibe"])
        if isinstance(plan.get("root_nodes"), list):
            plan["root_nodes"] = [_redact_node(node) for node in plan["root_nodes"]]
        out["workflow_plan"] = plan
    return out
