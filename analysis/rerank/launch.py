"""Before a rerank job starts: what its settings still lack.

A job launched without a price, a key or a model folder fails in the background, after the
user has left the page ("building prompts" with no price for the model). :func:`check_launch`
names every missing setting at once, so the app can keep Launch disabled and say what to
add; an empty list means the job can start.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path

from analysis.gains.cost import ModelPrice, PriceTable
from analysis.rerank.config import RerankConfig

__all__ = [
    "MISSING_BASE_URL",
    "MISSING_FOLDER",
    "MISSING_GPU_PRICE",
    "MISSING_KEY",
    "MISSING_LOCAL_FOR_LIKELIHOOD",
    "MISSING_MODEL",
    "MISSING_PRICE",
    "DryRun",
    "EstimateSettings",
    "changed_settings",
    "check_launch",
]

#: backends whose calls need an API key (an OpenAI-compatible server may be a local one)
KEY_REQUIRED = ("anthropic",)

MISSING_MODEL = "a model: a model id, or a local model folder for transformers"
MISSING_KEY = "an API key: set {env_var} in the environment or .streamlit/secrets.toml and reload"
MISSING_PRICE = "a price for {model}: its dollars per million input and output tokens"
MISSING_BASE_URL = "the base URL of the OpenAI-compatible server"
MISSING_FOLDER = "a local model folder: {path} is not a folder on this machine"
MISSING_GPU_PRICE = "a GPU price ($/hour): a local model's cost is the GPU time it takes"
MISSING_LOCAL_FOR_LIKELIHOOD = "a local model (transformers) for likelihood mode"


@dataclass(frozen=True)
class EstimateSettings:
    """Everything a dry run's figures follow from: they are current only while these are.

    Attributes:
        config: the job's settings (model, rule, prompt, candidates, budget...).
        price: the model's price as priced (a list price or one the user entered); None for
            a local model (its GPU price is in ``config``).
        exact_tokens: counted by the provider's tokenizer (a key was found), else estimated.
        base_url: the server the prompts were counted by.
        prompt_cache: prompt caching on.
    """

    config: RerankConfig
    price: ModelPrice | None
    exact_tokens: bool
    base_url: str | None
    prompt_cache: bool


@dataclass(frozen=True)
class DryRun:
    """A dry run's figures (``figures``) with the settings they were computed from."""

    settings: EstimateSettings
    figures: dict


def changed_settings(old: EstimateSettings, new: EstimateSettings | None) -> list[str]:
    """The settings that differ between an estimate and now, in words (empty: still current).

    Args:
        old: what the estimate was computed from.
        new: the settings now; None when they are incomplete (no model named).
    """
    if new is None:
        return ["model"]
    out = [f.name.replace("_", " ") for f in fields(RerankConfig)
           if getattr(old.config, f.name) != getattr(new.config, f.name)]
    out += [name for name, a, b in (("price", old.price, new.price),
                                    ("token counting", old.exact_tokens, new.exact_tokens),
                                    ("base URL", old.base_url, new.base_url),
                                    ("prompt caching", old.prompt_cache, new.prompt_cache))
            if a != b]
    return out


def _looks_like_path(model: str) -> bool:
    """Whether the transformers backend reads ``model`` as a folder (as it does: anything but
    a hub id ``org/name``, which it looks up in the local cache)."""
    return Path(model).is_absolute() or model.startswith((".", "~")) or model.count("/") != 1


def check_launch(
    config: RerankConfig,
    prices: PriceTable,
    *,
    key_found: bool,
    key_env_var: str | None = None,
    base_url: str | None = None,
) -> list[str]:
    """What a rerank job with these settings still lacks, each as a short phrase.

    Args:
        config: the job's settings (``model`` may be empty).
        prices: the price table the job will use, with any price the user entered.
        key_found: whether the backend's API key is available.
        key_env_var: the variable the key is read from, to name it.
        base_url: the OpenAI-compatible server's URL (``openai`` only).

    Returns:
        The missing settings (the module's ``MISSING_*`` phrases), in the page's order;
        empty when the job can start.
    """
    missing: list[str] = []
    model = (config.model or "").strip()
    if not model:
        missing.append(MISSING_MODEL)
    if config.backend == "transformers":
        if model and _looks_like_path(model) and not Path(model).expanduser().is_dir():
            missing.append(MISSING_FOLDER.format(path=model))
        if not config.gpu_usd_per_hour > 0:
            missing.append(MISSING_GPU_PRICE)
    else:
        if config.backend == "openai" and not (base_url or "").strip():
            missing.append(MISSING_BASE_URL)
        if model and not prices.has(model):
            missing.append(MISSING_PRICE.format(model=model))
        if config.mode == "likelihood":
            missing.append(MISSING_LOCAL_FOR_LIKELIHOOD)
    if config.backend in KEY_REQUIRED and not key_found:
        missing.append(MISSING_KEY.format(env_var=key_env_var or "the API key"))
    return missing
