"""Prices per model, the money a node cost, and a spending budget. Pure logic, no I/O but one file.

A price table maps model names (exact, or ``fnmatch`` patterns such as ``"gpt-4o*"``; the
longest matching pattern wins) to a :class:`Price` in US dollars::

    {"gpt-4o-mini": {"input": 0.15, "output": 0.60},      # per 1M prompt / completion tokens
     "dall-e-3": {"image": 0.04},                          # per image
     "local-*": {}}                                        # free

It comes from ``LLMConfig(prices=...)`` or from the JSON file named by ``VIBE_PRICES``
(:func:`prices_from_env`). :func:`cost_usd` turns a usage dict (``prompt_tokens``,
``completion_tokens``, ``images``) into dollars; the client adds it to every node's usage as
``cost_usd``, so it sums into the run's ``total_usage()`` like the token counts.

:class:`Budget` is the scheduling rule behind ``--budget``: ``spent`` grows with each node's
``cost_usd``; ``would_exceed(estimate)`` says whether starting a node whose worst case is
``estimate`` could overrun the limit; :func:`estimate_usd` gives that worst case from the
prompt size, ``max_tokens`` and the price.
"""

from __future__ import annotations

import fnmatch
import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from vibe_aigc.errors import ConfigurationError

PRICES_ENV = "VIBE_PRICES"
MAX_PRICE = 1_000_000.0  # dollars per unit; anything larger is a typo


class Price(BaseModel):
    """US dollars per 1M prompt (``input``) and completion (``output``) tokens, and per image."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    input: float = Field(default=0.0, ge=0.0, le=MAX_PRICE, allow_inf_nan=False)
    output: float = Field(default=0.0, ge=0.0, le=MAX_PRICE, allow_inf_nan=False)
    image: float = Field(default=0.0, ge=0.0, le=MAX_PRICE, allow_inf_nan=False)


PriceTable = dict[str, Price]


def parse_prices(data: Any, source: str = "the price table") -> PriceTable:
    """A validated price table from JSON data (see the module docstring)."""
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{source} must be a JSON object of model name -> prices")
    table: PriceTable = {}
    for name, raw in data.items():
        if not isinstance(name, str) or not name.strip():
            raise ConfigurationError(f"{source}: model names must be non-empty text")
        try:
            table[name.strip()] = raw if isinstance(raw, Price) else Price.model_validate(raw)
        except ValidationError as exc:
            fields = ", ".join(".".join(str(p) for p in e["loc"]) or "value" for e in exc.errors())
            raise ConfigurationError(
                f"{source}: the prices of {name!r} are invalid ({fields}); each is a number "
                "of US dollars >= 0: input / output per 1M tokens, image per image"
            ) from None
    return table


def load_prices(path: str | os.PathLike[str]) -> PriceTable:
    """The price table in a JSON file."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(f"cannot read the price table {path}: {exc.strerror}") from None
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ConfigurationError(f"the price table {path} is not JSON ({exc})") from None
    return parse_prices(data, f"the price table {path}")


def prices_from_env(env: Mapping[str, str] | None = None) -> PriceTable | None:
    """The table in the file named by ``VIBE_PRICES``, or None when it is not set."""
    path = (os.environ if env is None else env).get(PRICES_ENV, "").strip()
    return load_prices(path) if path else None


def price_for(table: Mapping[str, Price] | None, model: str) -> Price | None:
    """The price of ``model``: an exact entry, else the longest matching pattern, else None."""
    if not table:
        return None
    if model in table:
        return table[model]
    matches = [p for p in table if fnmatch.fnmatchcase(model, p)]
    return table[max(matches, key=len)] if matches else None


def cost_usd(usage: Mapping[str, float], price: Price) -> float:
    """Dollars for the tokens and images counted in ``usage``."""
    total = (
        usage.get("prompt_tokens", 0.0) * price.input / 1e6
        + usage.get("completion_tokens", 0.0) * price.output / 1e6
        + usage.get("images", 0.0) * price.image
    )
    return round(total, 10) if math.isfinite(total) else 0.0


def estimate_usd(
    price: Price | None, *, prompt_tokens: float = 0.0, max_tokens: float = 0.0, images: float = 0
) -> float:
    """The worst-case cost of one call: the prompt, ``max_tokens`` of answer, ``images``."""
    if price is None:
        return 0.0
    usage = {"prompt_tokens": prompt_tokens, "completion_tokens": max_tokens, "images": images}
    return cost_usd(usage, price)


def prompt_tokens_of(text: str) -> int:
    """A cautious token count for ``text`` (about 3 characters a token) for estimates."""
    return len(text) // 3 + 1


class Budget:
    """A spending limit in US dollars (see the module docstring)."""

    def __init__(self, limit_usd: float, spent_usd: float = 0.0) -> None:
        if isinstance(limit_usd, bool) or not isinstance(limit_usd, int | float):
            raise ConfigurationError("the budget must be a number of US dollars")
        if not math.isfinite(limit_usd) or limit_usd < 0:
            raise ConfigurationError(f"the budget must be >= 0 US dollars, got {limit_usd!r}")
        if not math.isfinite(spent_usd) or spent_usd < 0:
            raise ConfigurationError("the amount already spent must be >= 0 US dollars")
        self.limit_usd = float(limit_usd)
        self.spent_usd = float(spent_usd)

    def __repr__(self) -> str:
        return f"Budget(limit_usd={self.limit_usd:g}, spent_usd={self.spent_usd:.6f})"

    @property
    def remaining_usd(self) -> float:
        return max(0.0, self.limit_usd - self.spent_usd)

    @property
    def exhausted(self) -> bool:
        return self.spent_usd >= self.limit_usd

    def add(self, usage_or_cost: Mapping[str, float] | float | None) -> float:
        """Count what a node cost (its usage dict's ``cost_usd``, or a number); the new total."""
        if isinstance(usage_or_cost, Mapping):
            value = usage_or_cost.get("cost_usd", 0.0)
        else:
            value = usage_or_cost or 0.0
        if isinstance(value, int | float) and math.isfinite(value) and value > 0:
            self.spent_usd += float(value)
        return self.spent_usd

    def would_exceed(self, estimate_usd: float) -> bool:
        """True when spending ``estimate_usd`` more could go over the limit."""
        if not math.isfinite(estimate_usd):
            return True
        return self.spent_usd + max(0.0, estimate_usd) > self.limit_usd + 1e-12

    def message(self, next_node: str | None = None, estimate: float | None = None) -> str:
        """The one line to print when the budget stops a run."""
        head = f"budget reached: spent ${self.spent_usd:.4f} of ${self.limit_usd:.4f}"
        if next_node is not None:
            worst = f" (up to ${estimate:.4f})" if estimate is not None else ""
            head += f"; the next paid step {next_node!r}{worst} could exceed it"
        return head + "; resume with a larger --budget to continue"
