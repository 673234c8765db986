"""Gains vs cost, part 1: the price table, what a call costs, estimates and the budget cap.

Prices are US dollars per million tokens. The defaults are Anthropic's list prices, taken on
:data:`PRICES_TAKEN_ON` from Anthropic's pricing page
(https://platform.claude.com/docs/en/about-claude/pricing); they change, so the table is
editable (:meth:`PriceTable.with_model`, :func:`load_price_table` from JSON) and every report
records the prices it used.

Cost of one API call::

    usd = (input * p_in + output * p_out + cache_write * p_cache_write
           + cache_read * p_cache_read) / 1e6 * (batch_discount if batch else 1)

Anthropic bills ``input_tokens`` (uncached), ``cache_creation_input_tokens`` and
``cache_read_input_tokens`` separately, so the three input terms never overlap.

Local models (transformers, a self-hosted vLLM) cost GPU time: ``usd = gpu_usd_per_hour *
seconds / 3600``, reported beside the measured throughput.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from analysis.errors import AnalysisError, surface_hints
from models.llm.protocol import Usage

__all__ = [
    "DEFAULT_PRICES",
    "PRICES_TAKEN_ON",
    "CostEstimate",
    "ModelPrice",
    "PriceTable",
    "call_cost",
    "entered_price",
    "estimate_cost",
    "gpu_cost",
    "load_price_table",
    "worst_case_cost",
]

PRICES_TAKEN_ON = "2026-11-21"

UNKNOWN_PRICE = surface_hints(
    "No price for model {model!r}; the price table has: {known}.",
    app="Enter its input and output $ per million tokens on the LLM rerank page, or pick a "
    "model of the table.",
    cli="Add it to a JSON price table (input, output, cache_write and cache_read dollars per "
    "million tokens) given with --prices FILE, or pick a model of the table.",
)
BAD_PRICE_FILE = surface_hints(
    "Price table {file!r}: {problem}.", cli="Fix the file given with --prices."
)
BAD_ENTERED_PRICE = (
    "Prices are dollars per million tokens and cannot be negative: got input {input!r}, "
    "output {output!r}."
)


@dataclass(frozen=True)
class ModelPrice:
    """Dollars per million tokens for one model.

    Attributes:
        input: uncached input tokens.
        output: generated tokens.
        cache_write: tokens written to the prompt cache (5-minute cache).
        cache_read: tokens read from the prompt cache.
        batch_discount: multiplier on the whole call when sent through the batch API.
    """

    input: float
    output: float
    cache_write: float
    cache_read: float
    batch_discount: float = 0.5


def _anthropic(inp: float, out: float) -> ModelPrice:
    # cache writes cost 1.25x input, cache reads 0.1x input; batch 50% off
    return ModelPrice(inp, out, round(inp * 1.25, 4), round(inp * 0.1, 4), 0.5)


#: Anthropic list prices on PRICES_TAKEN_ON (model id prefixes; dated ids match by prefix)
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "claude-opus-4-6": _anthropic(5.0, 25.0),
    "claude-opus-4-5": _anthropic(5.0, 25.0),
    "claude-opus-4-1": _anthropic(15.0, 75.0),
    "claude-sonnet-4-6": _anthropic(3.0, 15.0),
    "claude-sonnet-4-5": _anthropic(3.0, 15.0),
    "claude-sonnet-4": _anthropic(3.0, 15.0),
    "claude-haiku-4-5": _anthropic(1.0, 5.0),
    "claude-3-5-haiku": _anthropic(0.8, 4.0),
    "claude-3-haiku": ModelPrice(0.25, 1.25, 0.30, 0.03, 0.5),
}


@dataclass(frozen=True)
class PriceTable:
    """Model prices, looked up by exact id, then by the longest matching id prefix."""

    prices: dict[str, ModelPrice] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    taken_on: str = PRICES_TAKEN_ON

    def price(self, model: str) -> ModelPrice:
        """The price of ``model``.

        Raises:
            AnalysisError: no entry matches.
        """
        if model in self.prices:
            return self.prices[model]
        matches = [k for k in self.prices if model.startswith(k)]
        if not matches:
            raise AnalysisError(
                UNKNOWN_PRICE.format(model=model, known=", ".join(sorted(self.prices)))
            )
        return self.prices[max(matches, key=len)]

    def has(self, model: str) -> bool:
        return model in self.prices or any(model.startswith(k) for k in self.prices)

    def with_model(self, model: str, price: ModelPrice) -> PriceTable:
        """A copy with ``model`` priced at ``price`` (an edit from the app or a file)."""
        return replace(self, prices={**self.prices, model: price})

    def to_dict(self) -> dict:
        return {
            "taken_on": self.taken_on,
            "prices": {k: asdict(v) for k, v in sorted(self.prices.items())},
        }


def entered_price(input_usd: float, output_usd: float) -> ModelPrice:
    """The price of a model the table lacks, as a user enters it (dollars per million input
    and output tokens); cache writes and reads and the batch discount follow Anthropic's
    ratios (1.25x and 0.1x input, half price), as in a price file without them.

    Raises:
        AnalysisError: a negative or non-finite price (:data:`BAD_ENTERED_PRICE`).
    """
    inp, out = float(input_usd), float(output_usd)
    if not (math.isfinite(inp) and math.isfinite(out)) or min(inp, out) < 0:
        raise AnalysisError(BAD_ENTERED_PRICE.format(input=input_usd, output=output_usd))
    return ModelPrice(inp, out, round(inp * 1.25, 6), round(inp * 0.1, 6), 0.5)


def load_price_table(path: str | Path | None) -> PriceTable:
    """The default table, overridden by a JSON file ``{"model": {"input": .., "output": ..,
    "cache_write": .., "cache_read": .., "batch_discount": ..}, ...}`` when given."""
    table = PriceTable()
    if path is None:
        return table
    p = Path(path)
    try:
        raw = json.loads(p.read_text())
    except FileNotFoundError:
        raise AnalysisError(BAD_PRICE_FILE.format(file=p.name, problem="no such file")) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise AnalysisError(BAD_PRICE_FILE.format(file=p.name, problem=f"not valid JSON ({exc})"))
    if not isinstance(raw, dict):
        raise AnalysisError(BAD_PRICE_FILE.format(file=p.name, problem="must be a JSON object"))
    for model, entry in raw.items():
        try:
            price = ModelPrice(
                input=float(entry["input"]),
                output=float(entry["output"]),
                cache_write=float(entry.get("cache_write", entry["input"] * 1.25)),
                cache_read=float(entry.get("cache_read", entry["input"] * 0.1)),
                batch_discount=float(entry.get("batch_discount", 0.5)),
            )
        except (KeyError, TypeError, ValueError):
            raise AnalysisError(
                BAD_PRICE_FILE.format(
                    file=p.name, problem=f"entry {model!r} needs numeric input and output prices"
                )
            )
        if min(price.input, price.output, price.cache_write, price.cache_read) < 0:
            raise AnalysisError(
                BAD_PRICE_FILE.format(file=p.name, problem=f"entry {model!r} has a negative price")
            )
        table = table.with_model(model, price)
    return table


def call_cost(usage: Usage, price: ModelPrice, *, batch: bool = False) -> float:
    """Dollars billed for one call with this usage (formula in the module docstring)."""
    usd = (
        usage.input_tokens * price.input
        + usage.output_tokens * price.output
        + usage.cache_creation_tokens * price.cache_write
        + usage.cache_read_tokens * price.cache_read
    ) / 1e6
    return usd * (price.batch_discount if batch else 1.0)


def worst_case_cost(
    input_bound: np.ndarray, max_tokens: int, price: ModelPrice, *, batch: bool = False
) -> np.ndarray:
    """The most one attempt of each request can be billed (what the budget reserves).

    ``input_bound * max(input, cache_write, cache_read) + max_tokens * output`` dollars per
    million tokens, times the batch discount in batch mode: whichever way the provider
    splits the input between uncached, cache-write and cache-read tokens, and however long
    the answer within ``max_tokens``, the bill is at most this.

    Args:
        input_bound: upper bound on each request's input tokens
            (:func:`analysis.rerank.budget.input_bounds`).
        max_tokens: the answer's token bound.
    """
    per_input = max(price.input, price.cache_write, price.cache_read)
    usd = (np.asarray(input_bound, dtype=np.float64) * per_input + max_tokens * price.output) / 1e6
    return usd * (price.batch_discount if batch else 1.0)


def gpu_cost(seconds: float, gpu_usd_per_hour: float) -> float:
    """Dollars of GPU time: ``gpu_usd_per_hour * seconds / 3600``."""
    return gpu_usd_per_hour * seconds / 3600.0


@dataclass(frozen=True)
class CostEstimate:
    """What a job would spend, before it runs (a dry run).

    Attributes:
        n_calls: calls still to make (cached calls excluded: they are free).
        n_cached: calls already answered in the workspace cache.
        input_tokens: counted on the real prompts.
        expected_output_tokens: expected answer length (an identifier per candidate).
        max_output_tokens: ``n_calls * max_tokens``, the bound.
        expected_usd: cost at the expected output length.
        upper_bound_usd: cost if every answer ran to ``max_tokens`` (what the cap reserves).
        per_user_usd: ``expected_usd / n_calls``.
        exact_tokens: whether input tokens came from the provider's tokenizer
            (else a ~3.5 characters per token approximation).
        model: priced model; ``price``: its prices; ``batch``: batch pricing applied.
    """

    n_calls: int
    n_cached: int
    input_tokens: int
    expected_output_tokens: int
    max_output_tokens: int
    expected_usd: float
    upper_bound_usd: float
    per_user_usd: float
    exact_tokens: bool
    model: str
    price: ModelPrice | None
    batch: bool = False
    note: str = ""

    def to_dict(self) -> dict:
        d = asdict(self)
        d["price"] = None if self.price is None else asdict(self.price)
        return d


def estimate_cost(
    input_tokens: list[int] | tuple[int, ...],
    *,
    max_tokens: int,
    expected_output_tokens: int,
    model: str,
    prices: PriceTable | None,
    n_cached: int = 0,
    exact_tokens: bool = True,
    batch: bool = False,
    gpu_usd_per_hour: float | None = None,
    tokens_per_second: float | None = None,
) -> CostEstimate:
    """Expected cost and upper bound for the calls still to make.

    API models are priced from ``prices``; a local model (``gpu_usd_per_hour`` given)
    from GPU time at ``tokens_per_second`` (prompt and generated tokens together).

    Args:
        input_tokens: input tokens of each call still to make.
        max_tokens: the answer's token bound per call.
        expected_output_tokens: expected answer length per call.
    """
    n = len(input_tokens)
    tin = int(sum(input_tokens))
    exp_out = min(int(expected_output_tokens), int(max_tokens)) * n
    max_out = int(max_tokens) * n
    if gpu_usd_per_hour is not None:
        tps = tokens_per_second or float("nan")
        expected = gpu_cost((tin + exp_out) / tps, gpu_usd_per_hour) if tps > 0 else math.nan
        upper = gpu_cost((tin + max_out) / tps, gpu_usd_per_hour) if tps > 0 else math.nan
        price = None
        note = (
            f"local model: ${gpu_usd_per_hour:.2f}/GPU-hour at an assumed "
            f"{tokens_per_second or 0:,.0f} tokens/s; the run reports the measured cost"
        )
    else:
        assert prices is not None
        price = prices.price(model)
        expected = call_cost(Usage(tin, exp_out), price, batch=batch)
        upper = call_cost(Usage(tin, max_out), price, batch=batch)
        note = f"prices of {prices.taken_on}"
    return CostEstimate(
        n_calls=n,
        n_cached=int(n_cached),
        input_tokens=tin,
        expected_output_tokens=exp_out,
        max_output_tokens=max_out,
        expected_usd=float(expected),
        upper_bound_usd=float(upper),
        per_user_usd=float(expected / n) if n else 0.0,
        exact_tokens=exact_tokens,
        model=model,
        price=price,
        batch=batch,
        note=note,
    )
