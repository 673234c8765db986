"""Step 7, the dry run: who is sent, with which prompts, what is cached, what it costs.

``plan_rerank`` does everything that costs nothing: pick the weak users (validation),
build their candidates and histories, size every prompt exactly from its items' texts
(:mod:`analysis.rerank.prompt_size`), look the prompts that could be cached up in the
workspace's call cache and estimate what the rest would cost. Prompts are built only for
the exact-count sample and the cache lookup; :attr:`RerankPlan.requests` builds them all
when the job is launched (:mod:`analysis.rerank.execute`).

Held-out items are never used to build a prompt: the candidates are the baseline's top C
(realistic protocol) and the test labels are read only by the controls and the final
evaluation.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError, surface_hints
from analysis.gains.controls import ControlReport, control_report
from analysis.gains.cost import (
    CostEstimate,
    PriceTable,
    estimate_cost,
)
from analysis.rerank.budget import job_key
from analysis.rerank.cache import CachedCall, CallCache, call_key
from analysis.rerank.candidates import CandidateSet
from analysis.rerank.config import RerankConfig
from analysis.rerank.history import HISTORY_STRATEGIES, History
from analysis.rerank.prompt_book import (
    ItemTexts,
    PromptBook,
    build_candidates,
    build_history,
    build_prompt_book,
)
from analysis.rerank.prompt_size import (
    TokenCalibration,
)
from analysis.rerank.prompts import (
    load_template,
)
from analysis.rerank.tokens import (
    ApproxTokenCounter,
    compare_history_tokens,
    count_tokens,
    render_into,
)
from analysis.runs.baseline import BaselineRun
from analysis.weak_users import WeakRule, WeakUsers, select_weak_users
from models.llm.protocol import LLMBackend, LLMRequest

__all__ = [
    "ApproxTokenCounter",
    "RerankPlan",
    "compare_history_tokens",
    "pilot_sample",
    "plan_rerank",
    "reprice_plan",
]

NO_WEAK_USERS = (
    "No weak user with test items to rerank under this rule ({rule}): raise the threshold or "
    "percentile."
)
LIKELIHOOD_NEEDS_LOCAL = surface_hints(
    "Likelihood mode scores candidates with a local model.",
    app="Choose the transformers Backend on the LLM rerank page.",
    cli="Use --backend transformers, or --mode generate.",
)
BAD_PILOT = "A pilot needs at least 2 users (got {size}): its interval needs a spread."
@dataclass(frozen=True)
class RerankPlan:
    """A job before any call: who, with which prompts, what is cached, what it would cost.

    A plan prices its prompts from their exact lengths (:attr:`prompts`' sizes) and builds
    them only when asked (:attr:`requests`, :attr:`keys`): a dry run renders the exact-count
    sample and the prompts that could be cached, nothing else.

    Attributes:
        weak: the weak-user selection (validation).
        users: user_idx sent to the LLM (weak and with test items; a seeded sample of them
            in a pilot), one per request.
        n_population: weak users with test items (``len(users)`` unless a pilot).
        controls: the no-LLM controls and the oracle ceiling on these candidates, measured
            for free (see :mod:`analysis.gains.controls`); None in a pricing-only plan.
        n_weak_without_test: weak users without test items: a deployment would pay for
            them too (:attr:`n_weak_all`), the evaluation cannot measure them.
        candidates: their candidate lists; ``history``: their histories.
        prompts: what the prompts are built from, and their sizes.
        cached: answers already in the workspace cache (by key).
        cached_rows: bool per request, its answer is in ``cached``.
        input_tokens: counted input tokens per request (0 for cached ones).
        estimate: dry-run cost of the uncached requests.
        id_style: the template's identifier style (for parsing).
        history_tokens: prompt tokens per history strategy (see
            :func:`compare_history_tokens`).
        token_count_note: why the input tokens are approximate although the backend can
            count them, in one line (e.g. "the count endpoint was unavailable (HTTP 404)"),
            or "".
        calibration: how exact counts on a sample were scaled to the other prompts (None
            when every prompt was counted, or by the offline heuristic).
    """

    config: RerankConfig
    weak: WeakUsers
    users: np.ndarray
    n_population: int
    controls: ControlReport | None
    n_weak_without_test: int
    candidates: CandidateSet
    history: History
    prompts: PromptBook
    cached: dict[str, CachedCall]
    cached_rows: np.ndarray
    input_tokens: np.ndarray
    estimate: CostEstimate
    id_style: str
    history_tokens: pd.DataFrame
    token_count_note: str = ""
    calibration: TokenCalibration | None = None
    rendered: dict = field(default_factory=dict, repr=False, compare=False)

    @cached_property
    def requests(self) -> list[LLMRequest]:
        """One prompt per user, with its cache key (built on first use)."""
        cfg = self.config
        done = self.rendered
        todo = [i for i in range(len(self.users)) if i not in done]
        for i, r in zip(todo, self.prompts.render(todo), strict=True):
            done[i] = r
        return [
            LLMRequest(r.system, r.user, r.max_tokens, r.temperature,
                       key=r.key or call_key(cfg.backend, cfg.model, r, cfg.mode))
            for r in (done[i] for i in range(len(self.users)))
        ]

    @cached_property
    def keys(self) -> list[str]:
        """The requests' cache keys."""
        return [r.key for r in self.requests]

    @cached_property
    def shown_texts(self) -> list[list[str]]:
        """The candidate texts in prompt order, per user."""
        return [self.prompts.shown_texts(i) for i in range(len(self.users))]

    @property
    def n_weak_all(self) -> int:
        """Every weak user: what a deployment would send and pay for."""
        return int(self.weak.n_weak)

    @property
    def deployment_usd(self) -> float:
        """What sending every weak user would cost at this plan's expected cost per prompt
        (its uncached prompts' mean; the cached answers' mean cost when all are cached)."""
        est = self.estimate
        if est.n_calls:
            per_user = est.expected_usd / est.n_calls
        else:
            costs = [c.cost_usd for c in self.cached.values()]
            per_user = float(np.mean(costs)) if costs else 0.0
        return per_user * self.n_weak_all

    @property
    def job_key(self) -> str:
        """The job's identity for its budget: backend, model, mode and prompts (see
        :func:`analysis.rerank.budget.job_key`); the same job run again has the same key."""
        cfg = self.config
        return job_key(cfg.backend, cfg.model, cfg.mode, self.keys)


def _cached_rows(cache: CallCache, config: RerankConfig, book: PromptBook, rendered: dict):
    """The answers already cached for this job's prompts, and a bool per prompt.

    Only prompts whose exact length matches a stored prompt of the same backend, model,
    mode, system part, answer bound and temperature can be cached; only those are rendered
    and looked up (none, for a model this workspace has not used)."""
    n = len(book.sizes.user_chars)
    lengths = cache.prompt_lengths(config.backend, config.model, config.mode, book.system,
                                   book.max_tokens, book.temperature)
    rows = np.flatnonzero(np.isin(book.sizes.user_chars, lengths)) if len(lengths) else []
    flags = np.zeros(n, dtype=bool)
    if len(rows) == 0:
        return {}, flags
    render_into(book, rows, rendered)
    keys = {}
    for r in rows:
        req = rendered[int(r)]
        if not req.key:
            req = replace(req, key=call_key(config.backend, config.model, req, config.mode))
            rendered[int(r)] = req
        keys[int(r)] = req.key
    cached = cache.get_many(keys.values())
    for r, k in keys.items():
        flags[r] = k in cached
    return cached, flags


def plan_rerank(
    run: BaselineRun,
    config: RerankConfig,
    backend: LLMBackend,
    cache: CallCache,
    prices: PriceTable | None = None,
    *,
    pricing_only: bool = False,
) -> RerankPlan:
    """Select, size the prompts, look up the cache and estimate: spends nothing.

    Args:
        pricing_only: skip what only a launch decision reads (the no-LLM controls and the
            other history strategies' token figures): ``controls`` is None and
            ``history_tokens`` holds the chosen strategy only. The app's cost projection
            prices every user this way.

    Raises:
        AnalysisError: no weak user, bad protocol/template/history settings, unknown price.
    """
    if config.mode == "likelihood" and not config.local:
        raise AnalysisError(LIKELIHOOD_NEEDS_LOCAL)
    prices = prices or PriceTable()
    dims = [d for d in ("activity", "inactive", "mainstream") if d in run.per_user.columns]
    weak = select_weak_users(run.per_user, config.rule, dimensions=dims)
    evaluated = run.per_user["evaluated"].to_numpy(bool)
    users = np.flatnonzero(weak.mask & evaluated).astype(np.int64)
    if len(users) == 0:
        raise AnalysisError(NO_WEAK_USERS.format(rule=_rule_text(config.rule)))
    n_population = len(users)
    users = pilot_sample(users, config.pilot_users, config.seed)
    cands = build_candidates(run, users, config)
    history = build_history(run, users, cands, config)
    template = load_template(config.template)
    texts = ItemTexts(run, config)
    book = build_prompt_book(texts, config, template, cands, history)
    strategies = (config.history,) if pricing_only else HISTORY_STRATEGIES
    history_tokens = compare_history_tokens(run, config, cands, book, texts, strategies)
    controls = None if pricing_only else control_report(run, cands, run.k)
    return _priced(
        config, backend, cache, prices, weak=weak, users=users, n_population=n_population,
        controls=controls, n_weak_without_test=int((weak.mask & ~evaluated).sum()),
        candidates=cands, history=history, prompts=book, id_style=template.id_style,
        history_tokens=history_tokens,
    )


#: settings a plan may be repriced under without building anything again (see
#: :func:`reprice_plan`); any other change changes the prompts or who gets them
REPRICEABLE = ("backend", "model", "budget_usd", "batch", "gpu_usd_per_hour",
               "expected_tokens_per_s")
NOT_REPRICEABLE = "A plan can be repriced for another model only; {fields} changed."


def reprice_plan(
    plan: RerankPlan,
    config: RerankConfig,
    backend: LLMBackend,
    cache: CallCache,
    prices: PriceTable | None = None,
) -> RerankPlan:
    """The same users and prompts under another backend, model or price setting: the
    cache is looked up and the tokens counted again, nothing else is rebuilt (the app's
    cost projection follows a model change in milliseconds).

    Raises:
        AnalysisError: ``config`` differs from the plan's in a setting outside
            :data:`REPRICEABLE`, or the usual pricing errors.
    """
    old, new = plan.config.to_dict(), config.to_dict()
    changed = sorted(k for k in old if k not in REPRICEABLE and old[k] != new[k])
    if changed:
        raise AnalysisError(NOT_REPRICEABLE.format(fields=", ".join(changed)))
    if config.mode == "likelihood" and not config.local:
        raise AnalysisError(LIKELIHOOD_NEEDS_LOCAL)
    return _priced(
        config, backend, cache, prices or PriceTable(), weak=plan.weak, users=plan.users,
        n_population=plan.n_population, controls=plan.controls,
        n_weak_without_test=plan.n_weak_without_test, candidates=plan.candidates,
        history=plan.history, prompts=plan.prompts, id_style=plan.id_style,
        history_tokens=plan.history_tokens,
    )


def _priced(config: RerankConfig, backend: LLMBackend, cache: CallCache, prices: PriceTable,
            **parts) -> RerankPlan:
    """A plan from its built parts: the cache looked up, the tokens counted, the cost
    estimated."""
    book: PromptBook = parts["prompts"]
    mode = config.mode
    rendered: dict[int, LLMRequest] = {}
    cached, cached_rows = _cached_rows(cache, config, book, rendered)
    todo = np.flatnonzero(~cached_rows)
    counts, exact, count_note, calibration = count_tokens(backend, book, todo, rendered)
    input_tokens = np.zeros(len(book.sizes.user_chars), dtype=np.int64)
    input_tokens[todo] = counts
    common = {"expected_output_tokens": config.expected_output_tokens, "model": config.model,
              "n_cached": len(cached), "exact_tokens": exact}
    if config.local:  # priced by GPU time
        est = estimate_cost(
            counts.tolist(), max_tokens=config.resolved_max_tokens if mode == "generate" else 0,
            prices=None, gpu_usd_per_hour=config.gpu_usd_per_hour,
            tokens_per_second=config.expected_tokens_per_s, **common,
        )
    else:
        est = estimate_cost(counts.tolist(), max_tokens=config.resolved_max_tokens,
                            prices=prices, batch=config.batch, **common)
    return RerankPlan(
        config=config,
        cached=cached,
        cached_rows=cached_rows,
        input_tokens=input_tokens,
        estimate=est,
        token_count_note=count_note,
        calibration=calibration,
        rendered=rendered,
        **parts,
    )


def pilot_sample(users: np.ndarray, size: int | None, seed: int) -> np.ndarray:
    """A seeded random sample of ``size`` of ``users`` (sorted), or all of them."""
    if size is None or size >= len(users):
        return users
    if isinstance(size, bool) or int(size) < 2:
        raise AnalysisError(BAD_PILOT.format(size=size))
    rng = np.random.default_rng([int(seed), 0x9170])
    return np.sort(rng.choice(users, size=int(size), replace=False))


def _rule_text(rule: WeakRule) -> str:
    cut = f"<= {rule.threshold}" if rule.threshold is not None else f"<= p{rule.percentile}"
    return f"validation {rule.metric} {cut}" + (" and inactive" if rule.require_inactive else "")
