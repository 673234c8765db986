"""What the user chose for a rerank, turned into the objects that run it, once for every surface.

The rerank page and ``python -m analysis rerank`` both ask for a backend, a model and its
server, key and options, then for the job's own settings (rule, candidates, prompt, budget).
:class:`BackendChoice` holds the first part; :func:`make_rerank_backend` builds the backend it
names (the keyword arguments of :func:`models.llm.make_backend`, per backend),
:func:`estimate_backend` the one a dry run counts tokens with, and :func:`rerank_config`
the :class:`~analysis.rerank.plan.RerankConfig` of the job. Neither surface assembles either
by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from analysis.errors import AnalysisError, surface_hints
from analysis.rerank.config import RerankConfig
from analysis.rerank.tokens import ApproxTokenCounter
from analysis.weak_users import WeakRule
from models.llm import make_backend
from models.llm.protocol import LLMBackend

__all__ = [
    "KEY_FROM_SECRETS",
    "MISSING_BASE_URL",
    "MISSING_MODEL",
    "BackendChoice",
    "backend_factory",
    "backend_options",
    "estimate_backend",
    "key_source_text",
    "make_rerank_backend",
    "rerank_config",
]

MISSING_MODEL = surface_hints(
    "Name a model first (a model id, or a local folder for transformers).",
    cli="Pass --model NAME (or a local folder with --backend transformers).",
)
MISSING_BASE_URL = surface_hints(
    "The openai backend needs the base URL of its OpenAI-compatible server "
    "(e.g. http://localhost:8000/v1 for `vllm serve`).",
    app="Enter it in Base URL.",
    cli="Pass --base-url URL.",
)
#: where a key read from the app's secrets comes from, in words
KEY_FROM_SECRETS = "the app's secrets (.streamlit/secrets.toml)"


@dataclass(frozen=True)
class BackendChoice:
    """The LLM backend a user chose, with every option either surface offers.

    Attributes:
        backend: ``anthropic``, ``openai`` or ``transformers`` (``fake`` in tests).
        model: the model id, or a local model folder (transformers).
        base_url: the server's API root (openai: required; anthropic: optional, else the
            provider's own).
        api_key: the key itself, handed straight to the backend and never shown (excluded
            from ``repr``); None: the backend reads its environment variable.
        key_source: where the key came from, in words (:func:`key_source_text`), for the
            message that stops a job whose key is refused; None: the backend's default.
        batch: send (and price) through Anthropic's Message Batches (half price).
        prompt_cache: cache the shared instructions (Anthropic).
        concurrency: requests in flight at once (remote backends); None: the backend's
            default.
        batch_size: local generation batch (transformers); None: the backend's default.
        gpu_usd_per_hour: price of local GPU time (transformers).
    """

    backend: str
    model: str
    base_url: str | None = None
    api_key: str | None = field(default=None, repr=False)
    key_source: str | None = None
    batch: bool = False
    prompt_cache: bool = False
    concurrency: int | None = None
    batch_size: int | None = None
    gpu_usd_per_hour: float = 0.0

    @property
    def local(self) -> bool:
        """A model on this machine (transformers): no key, no list price, GPU time."""
        return self.backend == "transformers"


def key_source_text(source: str | None, env_var: str | None) -> str:
    """Where a backend's key was found, in words: the app's secrets, else the environment
    variable ``env_var`` (:class:`analysis.rerank.explain.KeyStatus` fields)."""
    return KEY_FROM_SECRETS if source == "secrets" else f"the environment variable {env_var}"


def backend_options(choice: BackendChoice) -> dict[str, Any]:
    """The keyword arguments of ``make_backend(choice.backend, **options)``: each backend
    gets the options it takes, and an option left at None keeps the backend's default.

    Raises:
        AnalysisError: no model named (:data:`MISSING_MODEL`), or an openai backend without
            a base URL (:data:`MISSING_BASE_URL`).
    """
    if not (choice.model or "").strip():
        raise AnalysisError(MISSING_MODEL)
    options: dict[str, Any] = {"model": choice.model}
    if choice.backend == "anthropic":
        options.update(api_key=choice.api_key, base_url=choice.base_url, batch=choice.batch,
                       prompt_cache=choice.prompt_cache, key_source=choice.key_source,
                       concurrency=choice.concurrency)
    elif choice.backend == "openai":
        if not (choice.base_url or "").strip():
            raise AnalysisError(MISSING_BASE_URL)
        options.update(api_key=choice.api_key, base_url=choice.base_url,
                       key_source=choice.key_source, concurrency=choice.concurrency)
    elif choice.local:
        options.update(batch_size=choice.batch_size, gpu_usd_per_hour=choice.gpu_usd_per_hour)
    return {name: value for name, value in options.items() if value is not None}


def make_rerank_backend(choice: BackendChoice) -> LLMBackend:
    """The backend ``choice`` names, built now (a local model is loaded).

    Raises:
        AnalysisError: as :func:`backend_options`, and whatever the backend refuses (a
            missing package or key, a bad setting).
    """
    return make_backend(choice.backend, **backend_options(choice))


def backend_factory(choice: BackendChoice) -> Callable[[], LLMBackend]:
    """:func:`make_rerank_backend` to call later (a background job builds its own backend);
    the options are checked now, so a missing model or URL stops the launch, not the job."""
    options = backend_options(choice)
    return lambda: make_backend(choice.backend, **options)


def estimate_backend(choice: BackendChoice, *, exact: bool = True) -> LLMBackend:
    """What a dry run counts prompt tokens with.

    Args:
        choice: the backend chosen.
        exact: try the backend itself (the provider's tokenizer, or a local model's); when
            it cannot be built (no key, no package), a remote backend falls back to
            :class:`~analysis.rerank.plan.ApproxTokenCounter` (about 3.5 characters per
            token), which needs nothing. False: the approximate counter straight away.

    Raises:
        AnalysisError: no model named; while ``exact``, a choice :func:`backend_options`
            refuses (an openai backend without a base URL) or a local model that cannot be
            loaded (its counts need its own tokenizer).
    """
    if not (choice.model or "").strip():
        raise AnalysisError(MISSING_MODEL)
    if not exact:
        return ApproxTokenCounter(choice.backend, choice.model)
    options = backend_options(choice)  # what the user must fix is said, not counted around
    try:
        return make_backend(choice.backend, **options)
    except AnalysisError:
        if choice.local:
            raise
        return ApproxTokenCounter(choice.backend, choice.model)


def rerank_config(choice: BackendChoice, rule: WeakRule, **job: Any) -> RerankConfig:
    """The job's :class:`~analysis.rerank.plan.RerankConfig`: the backend, model, batch
    pricing and GPU price from ``choice``, the weak-user ``rule``, and the job's other
    settings (``n_candidates``, ``history``, ``template``, ``max_tokens``, ``budget_usd``,
    ``mode``, ``protocol``, ``pilot_users``...) as given, each field's default otherwise.
    The model may still be empty (a page shows what a launch lacks before one is named).
    """
    return RerankConfig(backend=choice.backend, model=choice.model, rule=rule,
                        batch=bool(choice.batch),
                        gpu_usd_per_hour=float(choice.gpu_usd_per_hour), **job)
