"""Settings of a SQL store given in its URL's query (``?lease_seconds=5&artifact_dir=/mnt/a``)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from vibe_aigc.errors import ConfigurationError

NUMBER_OPTIONS = ("lease_seconds", "busy_timeout", "retry_seconds")
TEXT_OPTIONS = ("artifact_dir",)


def split_options(
    query: str, ours: tuple[str, ...]
) -> tuple[dict[str, object], list[tuple[str, str]]]:
    """The store's own options (numbers converted) and the rest of the query, in order."""
    mine: dict[str, object] = {}
    rest: list[tuple[str, str]] = []
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query))
    except ValueError as exc:
        raise ConfigurationError(f"the store URL's query {query!r} is malformed ({exc})") from None
    for key, value in pairs:
        if key not in ours:
            rest.append((key, value))
            continue
        if key in mine:
            raise ConfigurationError(f"the store URL sets {key!r} twice")
        if key in NUMBER_OPTIONS:
            try:
                mine[key] = float(value)
            except ValueError:
                raise ConfigurationError(
                    f"{key} in the store URL must be a number of seconds, not {value!r}"
                ) from None
        else:
            mine[key] = value
    return mine, rest


def number(options: dict[str, object], key: str, default: float) -> float:
    value = options.get(key, default)
    assert isinstance(value, float | int)
    return float(value)


def text(options: dict[str, object], key: str) -> str | None:
    value = options.get(key)
    return None if value is None else str(value)
