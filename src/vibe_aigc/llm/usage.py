"""Usage numbers from a provider, checked before they are counted, summed or stored.

A provider's ``usage`` is outside data: only finite numbers from 0 to :data:`MAX_USAGE` are
kept (so two of them can never sum to infinity in a run's total); NaN, infinities, negative,
absurd or non-numeric values are dropped and logged by field name. ``input_tokens`` /
``output_tokens`` (the Responses API names) count as ``prompt_tokens`` / ``completion_tokens``.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from vibe_aigc.pricing import Price, cost_usd

log = logging.getLogger("vibe_aigc.llm")
MAX_USAGE = 1e12
_NAMES = {"input_tokens": "prompt_tokens", "output_tokens": "completion_tokens"}


def clean_number(value: Any) -> float | None:
    """``value`` as a float when it is a plausible count (finite, 0..MAX_USAGE), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int too large for a float
        return None
    if not math.isfinite(number) or not 0 <= number <= MAX_USAGE:
        return None
    return number


def usage_of(raw: Any, price: Price | None = None) -> dict[str, float]:
    """Token counts (and ``cost_usd`` when priced) from an answer's ``usage``; one request."""
    usage: dict[str, float] = {"requests": 1.0}
    dropped: list[str] = []
    if isinstance(raw, dict):
        for key, value in raw.items():
            if isinstance(value, dict | list) or value is None:
                continue  # details we do not sum (prompt_tokens_details, ...)
            number = clean_number(value)
            name = _NAMES.get(str(key), str(key))[:64]
            if number is None:
                dropped.append(name)
            elif name not in ("requests", "cost_usd"):
                usage[name] = number
    if dropped:
        log.warning("dropped usage field(s) that are not plausible counts: %s", ", ".join(dropped))
    if "total_tokens" not in usage and ("prompt_tokens" in usage or "completion_tokens" in usage):
        usage["total_tokens"] = usage.get("prompt_tokens", 0.0) + usage.get(
            "completion_tokens", 0.0
        )
    if price is not None:
        usage["cost_usd"] = cost_usd(usage, price)
    return usage


def add_usage(total: dict[str, float], usage: dict[str, float]) -> dict[str, float]:
    """Add ``usage`` into ``total`` (in place) and return it."""
    for key, value in usage.items():
        number = clean_number(value)
        if number is not None:
            total[key] = total.get(key, 0.0) + number
    return total
