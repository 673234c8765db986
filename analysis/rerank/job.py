"""Step 7: rerank the weak users with an LLM, within a budget, resumable.

``plan_rerank`` does everything that costs nothing: pick the weak users (validation),
build their candidates, histories and prompts, look every prompt up in the workspace's
call cache and estimate what the rest would cost (the dry run). ``execute_rerank`` then
sends the uncached prompts in waves: a wave starts only if its worst case (every answer
running to ``max_tokens``) fits in what is left of the budget, so the cap is never
exceeded. Every answer is stored in the cache the moment it arrives, so a killed job loses
nothing paid for and a resumed one pays only for what is missing. Answers are parsed
without trusting the model and merged into the baseline's rankings
(:mod:`analysis.rerank.gains`).

Held-out items are never used to build, send, retry or parse a prompt: the candidates are
the baseline's top C (realistic protocol) and the test labels are read only by the final
evaluation.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from functools import cached_property

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError, surface_hints
from analysis.rerank.budget import JobBudget, SpendLedger, input_bounds, job_key, overbilled
from analysis.rerank.cache import CachedCall, CallCache, call_key
from analysis.rerank.candidates import CandidateSet, paper_candidates, realistic_candidates
from analysis.rerank.controls import (
    ControlReport,
    auc_offsets,
    measure_controls,
    paper_auc_offsets,
)
from analysis.rerank.cost import (
    CostEstimate,
    PriceTable,
    call_cost,
    estimate_cost,
    gpu_cost,
    worst_case_cost,
)
from analysis.rerank.gains import GainReport, evaluate_gains
from analysis.rerank.history import HISTORY_STRATEGIES, History, select_history
from analysis.rerank.prompt_size import (
    PromptSizes,
    TokenCalibration,
    calibrate_tokens,
    prompt_sizes,
    text_lengths,
)
from analysis.run_files import LoadedRun
from analysis.weak_users import WeakRule, WeakUsers, select_weak_users
from models.rerankers.base import Completion, LLMBackend, LLMRequest, Usage
from models.rerankers.parsing import parse_ranking
from models.rerankers.prompts import (
    PromptTemplate,
    approx_tokens,
    clean_text,
    item_texts,
    load_template,
    render_prompt,
)

__all__ = [
    "ApproxTokenCounter",
    "RerankConfig",
    "RerankPlan",
    "RerankProgress",
    "RerankResult",
    "execute_rerank",
    "plan_rerank",
]

BUDGET_TOO_SMALL = surface_hints(
    "A budget of ${budget:.4f} cannot cover even one user: the cheapest prompt could cost up "
    "to ${need:.4f} (its input plus {max_tokens} output tokens, at worst).",
    app="Raise the Budget cap or lower Max tokens on the LLM rerank page.",
    cli="Raise --budget-usd or lower --max-tokens.",
)
BUDGET_SPENT = surface_hints(
    "This job's budget of ${budget:.4f} is spent: ${spent:.4f} was charged or reserved by its "
    "earlier runs, and the next prompt could cost up to ${need:.4f}.",
    app="Raise the Budget cap on the LLM rerank page to go further (answers already paid for "
    "are reused).",
    cli="Raise --budget-usd to go further (answers already paid for are reused).",
)
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
BAD_PROTOCOL = "Unknown candidate protocol {protocol!r}: use realistic or paper."
#: dollars per GPU-hour used for local backends when none is given
DEFAULT_GPU_USD_PER_HOUR = 0.0


@dataclass(frozen=True)
class RerankConfig:
    """Everything that defines a rerank job (JSON-able).

    Attributes:
        backend: ``anthropic``, ``transformers`` or ``openai`` (``fake`` in tests).
        model: model name as the backend knows it.
        rule: weak-user rule (selected on validation).
        protocol: ``realistic`` (baseline's top C) or ``paper`` (held-out + sampled items).
        n_candidates: C.
        history: ``recent``, ``paper`` or ``long-short``; ``history_params`` its settings.
        template: ``paper``, ``llmrank``, ``rankgpt`` or a template file.
        item_chars: item text length cap in the prompt.
        max_tokens: answer bound (default ``8 * C + 64``: an identifier list fits easily).
        temperature: sampling temperature.
        mode: ``generate`` (parse the answer) or ``likelihood`` (score each candidate; local).
        budget_usd: hard cap on dollars spent by this job (None: no cap).
        batch: price (and send) through the provider's batch API.
        gpu_usd_per_hour: price of local GPU time.
        expected_tokens_per_s: throughput assumed by a local dry run.
        seed: shuffles and draws.
        negatives: the paper protocol's negatives: ``popularity`` (matched to the test items'
            training popularity, the default) or ``uniform`` (the original draw, which
            popularity alone separates from the test items).
        pilot_users: rerank only a seeded random sample of this many weak users (a pilot:
            its net gain per user, with its interval, is projected to every weak user);
            None: all of them.
    """

    backend: str = "anthropic"
    model: str = "claude-haiku-4-5"
    rule: WeakRule = field(default_factory=lambda: WeakRule(metric="auc", percentile=20.0))
    protocol: str = "realistic"
    n_candidates: int = 20
    history: str = "recent"
    history_params: dict = field(default_factory=dict)
    template: str = "paper"
    item_chars: int = 80
    max_tokens: int | None = None
    temperature: float = 0.0
    mode: str = "generate"
    budget_usd: float | None = None
    batch: bool = False
    gpu_usd_per_hour: float = DEFAULT_GPU_USD_PER_HOUR
    expected_tokens_per_s: float = 5000.0
    seed: int = 0
    pilot_users: int | None = None
    negatives: str = "popularity"

    @property
    def resolved_max_tokens(self) -> int:
        return int(self.max_tokens) if self.max_tokens else 8 * int(self.n_candidates) + 64

    @property
    def local(self) -> bool:
        return self.backend == "transformers"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["rule"] = asdict(self.rule)
        d["max_tokens"] = self.resolved_max_tokens
        return d


@dataclass(frozen=True)
class PromptBook:
    """What every prompt of a job is built from, and its exact size, without building it.

    Attributes:
        template: the prompt template.
        texts: object (n_items,) one-line display text of each item a prompt of this job
            shows (None for the others).
        candidates: the users' candidate lists; ``history``: their histories.
        sizes: exact characters of each user's prompt (:mod:`analysis.rerank.prompt_size`).
        max_tokens: answer bound of every request; ``temperature``: its sampling temperature.
    """

    template: PromptTemplate
    texts: np.ndarray
    candidates: CandidateSet
    history: History
    sizes: PromptSizes
    max_tokens: int
    temperature: float

    @property
    def system(self) -> str:
        """The system part, the same for every prompt of the job."""
        return self.template.system.format(history_order=clean_text(self.history.description))

    def shown_texts(self, row: int) -> list[str]:
        """The candidate texts of prompt ``row``, in shown order."""
        return [self.texts[i] for i in self.candidates.shown_items[row] if i >= 0]

    def render(self, rows) -> list[LLMRequest]:
        """The prompts of ``rows`` (string building; texts already clean)."""
        hist = self.history
        out = []
        for row in rows:
            hi = hist.items[row]
            keep = hi >= 0
            ratings = hist.ratings[row][keep]
            out.append(render_prompt(
                self.template,
                [self.texts[i] for i in hi[keep]],
                None if np.isnan(ratings).all() else ratings.tolist(),
                self.shown_texts(row),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                history_order=hist.description,
                cleaned=True,
            ))
        return out


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
            for free (see :mod:`analysis.rerank.controls`); None in a pricing-only plan.
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


@dataclass(frozen=True)
class RerankProgress:
    """Live figures of a running job."""

    done: int
    total: int
    fallen_back: int
    input_tokens: int
    output_tokens: int
    usd: float
    elapsed_s: float

    @property
    def eta_s(self) -> float | None:
        if self.done == 0 or self.done >= self.total:
            return None
        return self.elapsed_s / self.done * (self.total - self.done)


@dataclass(frozen=True)
class RerankResult:
    """A finished job.

    Attributes:
        plan: what was planned.
        per_user: one row per reranked user: parse counts, fallback reason, tokens, cost,
            latency and before/after metrics.
        calls: one row per LLM call (cached answers included, flagged), no prompt text.
        gains: before/after figures, paired test, curve.
        summary: JSON-able headline figures (totals, prices used, timings).
    """

    plan: RerankPlan
    per_user: pd.DataFrame
    calls: pd.DataFrame
    gains: GainReport
    summary: dict


class ApproxTokenCounter:
    """Stands in for a backend in a dry run without credentials: counts ~3.5 chars/token."""

    last_count_exact = False

    def __init__(self, name: str, model: str) -> None:
        self.name, self.model = name, model

    def count_tokens(self, requests: list[LLMRequest]) -> list[int]:
        return [approx_tokens(r.system) + approx_tokens(r.user) for r in requests]

    def complete(self, requests, *, on_result=None):  # pragma: no cover - never called
        raise AnalysisError("A dry-run estimator cannot answer prompts.")


def _count_tokens(backend: LLMBackend, book: PromptBook, rows: np.ndarray, rendered: dict,
                  max_exact: int = 200):
    """Input tokens of the prompts ``rows``; exact for up to ``max_exact`` prompts (a seeded
    sample, the only ones rendered), the rest scaled from their exact character counts by
    the sample's tokens per character. Returns the counts, whether they are all exact, the
    backend's one-line note on why it estimated offline (or "") and the calibration (None
    when every prompt was counted or the counts are the offline heuristic)."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64), True, "", None
    chars = book.sizes.chars[rows].astype(np.float64)
    if len(rows) <= max_exact:
        sample = np.arange(len(rows))
    else:
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(len(rows), size=max_exact, replace=False))
    _render_into(book, rows[sample], rendered)
    counted = np.asarray(backend.count_tokens([rendered[int(rows[i])] for i in sample]),
                         dtype=np.int64)
    exact = bool(getattr(backend, "last_count_exact", True))
    note = getattr(backend, "last_count_note", None) or ""
    if len(rows) <= max_exact:
        return counted, exact, note, None
    ratio = counted.sum() / max(chars[sample].sum(), 1.0)
    counts = np.ceil(chars * ratio).astype(np.int64)
    counts[sample] = counted
    calibration = calibrate_tokens(chars[sample], counted) if exact else None
    return counts, False, note, calibration


def _render_into(book: PromptBook, rows, rendered: dict) -> None:
    """Render the prompts of ``rows`` not rendered yet into ``rendered`` (row -> request)."""
    todo = [int(r) for r in rows if int(r) not in rendered]
    for row, req in zip(todo, book.render(todo), strict=True):
        rendered[row] = req


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
    _render_into(book, rows, rendered)
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
    run: LoadedRun,
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
    test = run.split.test
    if config.protocol == "realistic":
        cands = realistic_candidates(
            run.rankings, users, test, n_candidates=config.n_candidates, seed=config.seed
        )
    elif config.protocol == "paper":
        cands = paper_candidates(
            run.split, run.model.score, users, n_candidates=config.n_candidates, seed=config.seed,
            negatives=config.negatives,
        )
    else:
        raise AnalysisError(BAD_PROTOCOL.format(protocol=config.protocol))
    history = _history(run, users, cands, config, config.history)
    template = load_template(config.template)
    texts = _ItemTexts(run, config)
    book = _prompt_book(texts, config, template, cands, history)
    strategies = (config.history,) if pricing_only else HISTORY_STRATEGIES
    history_tokens = compare_history_tokens(run, config, cands, book, texts, strategies)
    controls = None if pricing_only else control_report(run, cands, int(run.summary["k"]))
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
    counts, exact, count_note, calibration = _count_tokens(backend, book, todo, rendered)
    input_tokens = np.zeros(len(book.sizes.user_chars), dtype=np.int64)
    input_tokens[todo] = counts
    expected_out = 5 * config.n_candidates + 10 if mode == "generate" else 0
    if config.local:
        est = estimate_cost(
            counts.tolist(),
            max_tokens=config.resolved_max_tokens if mode == "generate" else 0,
            expected_output_tokens=expected_out,
            model=config.model,
            prices=None,
            n_cached=len(cached),
            exact_tokens=exact,
            gpu_usd_per_hour=config.gpu_usd_per_hour,
            tokens_per_second=config.expected_tokens_per_s,
        )
    else:
        est = estimate_cost(
            counts.tolist(),
            max_tokens=config.resolved_max_tokens,
            expected_output_tokens=expected_out,
            model=config.model,
            prices=prices,
            n_cached=len(cached),
            exact_tokens=exact,
            batch=config.batch,
        )
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


def _history(run: LoadedRun, users, cands, config: RerankConfig, strategy: str) -> History:
    return select_history(
        run.split,
        users,
        strategy,
        item_factors=run.item_factors,
        candidates=cands,
        seed=config.seed,
        **config.history_params,
    )


class _ItemTexts:
    """The one-line display text of the items prompts show, computed once per item as
    prompts of any history strategy need them (:func:`~models.rerankers.prompts.item_texts`,
    then :func:`~models.rerankers.prompts.clean_text`)."""

    def __init__(self, run: LoadedRun, config: RerankConfig) -> None:
        ds = run.dataset
        self._items, self._ids, self._chars = ds.items, ds.item_ids, config.item_chars
        self.texts = np.full(ds.n_items, None, dtype=object)
        self.lengths = np.zeros(ds.n_items, dtype=np.int64)
        self._done = np.zeros(ds.n_items, dtype=bool)

    def need(self, *item_arrays: np.ndarray) -> None:
        idx = np.unique(np.concatenate([np.asarray(a).ravel() for a in item_arrays]))
        idx = idx[idx >= 0]
        idx = idx[~self._done[idx]]
        if len(idx):
            raw = item_texts(self._items, self._ids, idx, max_chars=self._chars)
            clean = np.array([clean_text(t) for t in raw] + [None], dtype=object)[:-1]
            self.texts[idx] = clean
            self.lengths[idx] = text_lengths(clean)
            self._done[idx] = True


def _prompt_book(texts: _ItemTexts, config: RerankConfig, template: PromptTemplate,
                 cands: CandidateSet, history: History) -> PromptBook:
    shown = cands.shown_items
    texts.need(shown, history.items)
    sizes = prompt_sizes(template, texts.lengths, shown, history.items, history.ratings,
                         history_order=history.description)
    return PromptBook(template=template, texts=texts.texts, candidates=cands, history=history,
                      sizes=sizes, max_tokens=config.resolved_max_tokens,
                      temperature=config.temperature)


def compare_history_tokens(
    run: LoadedRun,
    config: RerankConfig,
    cands: CandidateSet,
    chosen: PromptBook,
    texts: _ItemTexts,
    strategies: tuple[str, ...] = HISTORY_STRATEGIES,
) -> pd.DataFrame:
    """Prompt tokens each history strategy would spend for these users (approximate:
    ~3.5 characters per token, :meth:`PromptSizes.approx_tokens`, from the prompts' exact
    lengths), so the analyst sees what a shorter history saves.

    Returns:
        DataFrame ``strategy``, ``history_items`` (mean per prompt), ``prompt_tokens``
        (mean per prompt), ``total_tokens``, ``chosen``; strategies this data cannot use
        (no timestamps, no item factors) are left out.
    """
    rows = []
    for strategy in strategies:
        if strategy == config.history:
            book = chosen
        else:
            try:
                hist = _history(run, cands.user_idx, cands, config, strategy)
            except AnalysisError:
                continue
            book = _prompt_book(texts, config, chosen.template, cands, hist)
        tokens = book.sizes.approx_tokens()
        rows.append(
            {
                "strategy": strategy,
                "history_items": float((book.history.items >= 0).sum(axis=1).mean()),
                "prompt_tokens": float(tokens.mean()),
                "total_tokens": int(tokens.sum()),
                "chosen": strategy == config.history,
            }
        )
    return pd.DataFrame(rows)


def _rule_text(rule: WeakRule) -> str:
    cut = f"<= {rule.threshold}" if rule.threshold is not None else f"<= p{rule.percentile}"
    return f"validation {rule.metric} {cut}" + (" and inactive" if rule.require_inactive else "")


class _Ledger:
    """Thread-safe running totals of one job, for its progress line."""

    def __init__(self, total: int) -> None:
        self.lock = threading.Lock()
        self.total = total
        self.done = 0
        self.fallen_back = 0
        self.usage = Usage()


class _WaveGate:
    """The :class:`~models.rerankers.base.AttemptGate` of one wave: maps the backend's
    positions in the wave to the plan's request indices."""

    def __init__(self, budget: JobBudget, wave: list[int]) -> None:
        self.budget, self.wave = budget, wave

    @property
    def stopping(self) -> bool:
        return self.budget.stopping

    def reserve(self, index: int) -> str | None:
        return self.budget.reserve(self.wave[index])

    def release(self, index: int) -> None:
        self.budget.release(self.wave[index])

    def failed(self, index: int, *, status: int | None, reason: str, unusable: bool) -> None:
        self.budget.failed(self.wave[index], status=status, reason=reason, unusable=unusable)


#: times an answer with no text (a non-text content block, an empty message) is asked again
UNUSABLE_RETRIES = 2
UNUSABLE_ANSWER = "the model's answer held no text (asked {n} times)"


def open_budget(
    plan: RerankPlan, cache: CallCache, prices: PriceTable | None, backend: LLMBackend
) -> JobBudget:
    """The job's budget: its cap from the workspace (or the config) and each request's
    worst case (see :mod:`analysis.rerank.budget`)."""
    cfg = plan.config
    prices = prices or PriceTable()
    bounds = input_bounds([r.system + r.user for r in plan.requests])
    if cfg.local:
        worst = np.zeros(len(plan.requests))
    else:
        price = prices.price(cfg.model)
        worst = worst_case_cost(bounds, cfg.resolved_max_tokens, price, batch=cfg.batch)
    ledger = SpendLedger(cache.workspace)
    key = plan.job_key
    cap = ledger.open_job(key, cfg.budget_usd, cfg.backend, cfg.model)
    source = getattr(backend, "key_source", None) or "the backend's settings"
    return JobBudget(ledger, key, cap, worst, plan.keys, key_source=source)


def execute_rerank(
    plan: RerankPlan,
    run: LoadedRun,
    backend: LLMBackend,
    cache: CallCache,
    prices: PriceTable | None = None,
    *,
    wave_size: int = 64,
    progress: Callable[[RerankProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RerankResult:
    """Send the uncached prompts within the budget, parse, merge and measure.

    Every attempt (first tries and retries) is reserved at its worst case before it is sent
    and charged when it ends (:mod:`analysis.rerank.budget`); the cap belongs to the job, so
    running the same job again continues its spend. A job that stops at the cap, or leaves
    users without an answer, returns a result whose ``summary["status"]`` is
    ``"incomplete"`` and says why.

    Raises:
        AnalysisError: the budget cannot cover even one uncached call, or a failure that
            would repeat for every user stopped the job (a refused key, invalid requests, a
            server billing past ``max_tokens``, a server failing every attempt): no result.
    """
    cfg = plan.config
    prices = prices or PriceTable()
    price = None if cfg.local else prices.price(cfg.model)
    job_id = uuid.uuid4().hex[:12]
    n = len(plan.requests)
    t0 = time.perf_counter()
    completions: list[Completion | None] = [None] * n
    cached_flag = np.zeros(n, dtype=bool)
    ledger = _Ledger(n)
    budget = open_budget(plan, cache, prices, backend)
    bounds = input_bounds([r.system + r.user for r in plan.requests])
    max_tokens = cfg.resolved_max_tokens

    def report() -> None:
        if progress is not None:
            with ledger.lock:
                snap = RerankProgress(
                    ledger.done,
                    n,
                    ledger.fallen_back,
                    ledger.usage.input_tokens,
                    ledger.usage.output_tokens,
                    budget.charged_usd,
                    time.perf_counter() - t0,
                )
            progress(snap)

    for i, k in enumerate(plan.keys):  # answers already paid for
        hit = plan.cached.get(k)
        if hit is not None:
            completions[i] = hit.completion()
            cached_flag[i] = True
            ledger.done += 1
    todo = deque(i for i in range(n) if completions[i] is None)
    cheapest = budget.cheapest_blocked(list(todo))
    if cheapest is not None:
        spent = budget.spent_before_usd
        raise AnalysisError(
            (BUDGET_SPENT if spent > 0 else BUDGET_TOO_SMALL).format(
                budget=budget.cap_usd, need=cheapest, max_tokens=max_tokens, spent=spent
            )
        )
    report()
    unusable_tries = np.zeros(n, dtype=np.int64)
    requeue: list[int] = []

    def settle(i: int, comp: Completion) -> None:
        """One answer (or failure) of request ``i``: charge it, cache it, count it."""
        over = None
        if price is not None:
            usd = call_cost(comp.usage, price, batch=comp.batch) if comp.usage_reported else None
            u = comp.usage
            if comp.usage_reported:
                over = overbilled(
                    u.input_tokens + u.cache_creation_tokens + u.cache_read_tokens,
                    u.output_tokens,
                    input_bound=int(bounds[i]),
                    max_tokens=max_tokens,
                )
        else:
            usd = gpu_cost(comp.latency_s, cfg.gpu_usd_per_hour)
        charged = budget.answered(i, usd, over)
        unusable = comp.ok and cfg.mode == "generate" and not comp.text.strip()
        if comp.ok and not unusable:
            cache.put(
                plan.keys[i],
                backend=cfg.backend,
                model=cfg.model,
                mode=cfg.mode,
                request=plan.requests[i],
                completion=comp,
                cost_usd=charged,
                job_id=job_id,
            )
        with ledger.lock:
            if completions[i] is not None:
                return
            if unusable:
                unusable_tries[i] += 1
                if unusable_tries[i] <= UNUSABLE_RETRIES:
                    requeue.append(i)  # asked again in a later wave, within the cap
                    return
                comp = replace(comp, error=UNUSABLE_ANSWER.format(n=int(unusable_tries[i])))
            completions[i] = comp
            ledger.done += 1
            ledger.usage = ledger.usage + comp.usage
            if not comp.ok:
                ledger.fallen_back += 1
        report()

    scores: dict[int, np.ndarray] = {}
    with cache.writing():  # answers committed as they arrive, in groups, never held open
        _run_waves(plan, backend, budget, todo, requeue, settle, scores, wave_size, should_stop)
    budget.close_wave()
    skipped = {i: budget.stop_kind or "budget" for i in range(n) if completions[i] is None}
    for i, comp in enumerate(completions):
        if comp is not None and comp.meta.get("not_sent"):  # refused by the gate
            skipped[i] = budget.stop_kind or "budget"
    if budget.fatal:
        raise AnalysisError(budget.stop_reason)
    with ledger.lock:
        ledger.fallen_back += sum(1 for i in skipped if completions[i] is None)
        ledger.done += sum(1 for i in skipped if completions[i] is None)
    report()
    stats = backend.stats() if hasattr(backend, "stats") else None
    spend = _spend_summary(budget, skipped, completions, cached_flag)
    return _finish(
        plan,
        run,
        completions,
        budget.charged_by_request,
        cached_flag,
        skipped,
        scores,
        job_id,
        time.perf_counter() - t0,
        prices if price is not None else None,
        stats,
        spend,
    )


def _run_waves(plan, backend, budget, todo, requeue, settle, scores, wave_size, should_stop):
    """Admit and send waves until every request is answered or the budget says stop."""
    try:
        while todo or requeue:
            todo.extend(requeue)
            requeue.clear()
            if should_stop is not None and should_stop():
                budget.cancel()
            if budget.stopping:
                break
            batch = [todo.popleft() for _ in range(min(wave_size, len(todo)))]
            wave = budget.admit(batch)
            todo.extendleft(reversed(batch[len(wave) :]))
            if not wave:  # the cap is reached: nothing more starts
                break
            _send_wave(plan, backend, budget, wave, settle, scores)
            budget.close_wave()
    finally:
        budget.close_wave()  # charges written even when the job is interrupted


def _send_wave(plan, backend, budget, wave, settle, scores) -> None:
    """One wave of requests through the backend; each result goes to ``settle``."""
    reqs = [plan.requests[i] for i in wave]
    seen: set[int] = set()

    def cb(j: int, comp: Completion) -> None:
        seen.add(j)
        settle(wave[j], comp)

    if plan.config.mode == "likelihood":
        t_w = time.perf_counter()
        out = backend.score(reqs, [plan.shown_texts[i] for i in wave])  # type: ignore[attr-defined]
        share = (time.perf_counter() - t_w) / len(wave)
        for j, i in enumerate(wave):
            scores[i] = np.asarray(out[j], dtype=np.float64)
            cb(j, Completion(text="scored", latency_s=share, stop_reason="scored"))
    else:
        backend.complete(reqs, on_result=cb, gate=_WaveGate(budget, wave))
    for j in range(len(wave)):  # a backend that ignored on_result: nothing proves the cost
        if j not in seen:
            cb(j, Completion(text="", error="no result returned", usage_reported=False))


def _spend_summary(budget: JobBudget, skipped: dict, completions, cached_flag) -> dict:
    """The job's money and completeness, for ``summary["spend"]`` and the exit code."""
    without = sorted(
        i for i, c in enumerate(completions) if c is None or not c.ok or i in skipped
    )
    return {
        "job_key": budget.key,
        "cap_usd": budget.cap_usd,
        "spent_before_usd": budget.spent_before_usd,
        "charged_usd": budget.charged_usd,
        "job_total_usd": budget.spent_before_usd + budget.charged_usd,
        "attempts": int(budget.attempts),
        "paid_attempts": int(budget.paid_attempts),
        "stopped": budget.stop_reason,
        "stop_kind": budget.stop_kind,
        "n_without_answer": len(without),
    }


def control_report(
    run: LoadedRun, cands: CandidateSet, k: int, llm_rows: np.ndarray | None = None
) -> ControlReport:
    """The no-LLM controls and the oracle ceiling on ``cands`` (and the LLM's rows when
    given), measured on the test split with the run's exact AUC conventions
    (:mod:`analysis.rerank.controls`)."""
    split = run.split
    truth = split.test[cands.user_idx]
    seen = (split.train + split.validation_seen).tocsr()
    seen.data[:] = 1
    n_seen = np.diff(seen.indptr)
    n_neg = (run.dataset.n_items - n_seen - np.diff(split.test.indptr))[cands.user_idx]
    popularity = np.diff(split.train.tocsc().indptr).astype(np.float64)
    if cands.protocol == "paper":
        offset = paper_auc_offsets(cands, truth, n_neg, seen[cands.user_idx], run.model.score)
    else:
        anchor = run.per_user["auc"].to_numpy(float)[cands.user_idx]
        offset = auc_offsets(cands.items, anchor, truth, n_neg)
    return measure_controls(cands, truth, popularity=popularity, k=k, auc_offset=offset,
                            n_negatives=n_neg.astype(np.float64), llm_rows=llm_rows)  # fmt: skip


def _net_summary(controls: ControlReport, gains: GainReport, per: pd.DataFrame) -> dict:
    """The LLM's gain net of the best control, in total and per dollar."""
    net = controls.net.to_dict()
    n_eval = gains.summary["n_evaluated"]
    net_all = net["mean"] * net["n_users"] / n_eval if n_eval else float("nan")
    total = gains.summary["total_cost_usd"]
    net["mean_over_all_users"] = net_all
    net["cost_per_0.01_net_ndcg_usd"] = total / (net_all / 0.01) if net_all > 0 else None
    return net


def _pilot_summary(
    plan: RerankPlan, controls: ControlReport, gains: GainReport, per: pd.DataFrame
) -> dict | None:
    """A pilot's figures projected to every weak user (None when it was not a pilot).

    The net gain per user and its 95% interval come from the sample; the mean over all
    evaluated users if every weak user with test items were reranked is
    ``net * n_population / n_evaluated`` (interval scaled alike); the cost of all weak
    users is the sample's mean dollars per user times :attr:`RerankPlan.n_weak_all`.
    """
    if len(plan.users) >= plan.n_population:
        return None
    net = controls.net
    share = plan.n_population / gains.summary["n_evaluated"]
    spent = float(per["paid_usd"].sum())
    per_user = spent / len(plan.users)
    projected = {
        "net_gain_over_all_users": net.mean * share,
        "ci95": [net.ci_low * share, net.ci_high * share],
        "cost_all_weak_usd": per_user * plan.n_weak_all,
    }
    verdict = (
        "the interval includes zero: the pilot does not show that the LLM beats the best "
        "no-LLM control"
        if net.includes_zero
        else ("the LLM beats the best no-LLM control" if net.mean > 0
              else "the LLM does worse than the best no-LLM control")
    )
    return {
        "n_sample": len(plan.users),
        "n_population": int(plan.n_population),
        "n_weak_all": plan.n_weak_all,
        "net_gain_per_user": net.mean,
        "net_gain_ci95": [net.ci_low, net.ci_high],
        "ci_includes_zero": net.includes_zero,
        "cost_per_user_usd": per_user,
        "projected": projected,
        "verdict": verdict,
    }


def _error_text(comp: Completion | None, reason: str | None) -> str | None:
    """The per-user error column: the call's own error, or why it was never sent."""
    if comp is not None and comp.error is not None and not comp.meta.get("not_sent"):
        return comp.error
    return reason if reason in ("budget", "cancelled") else None


def _finish(
    plan, run, completions, costs, cached_flag, skipped, scores, job_id, wall, prices, stats, spend
):
    cfg = plan.config
    cands = plan.candidates
    n, c = cands.items.shape
    reranked_rows = cands.items.copy()
    rows = []
    shown_items = cands.shown_items
    for i in range(n):  # per-answer string parsing
        comp = completions[i]
        reason = skipped.get(i)
        n_valid_cand = int((shown_items[i] >= 0).sum())
        base_rank = cands.baseline_rank[i][:n_valid_cand]
        parsed = None
        if reason is None and comp is not None and not comp.ok:
            reason = "error"
        if reason is None and cfg.mode == "likelihood":
            s = scores.get(i)
            if s is None:
                reason = "error"
            else:
                order = np.lexsort((base_rank, -s))
                parsed = dict(
                    n_valid=n_valid_cand,
                    n_hallucinated=0,
                    n_duplicate=0,
                    n_missing=0,
                    used=True,
                    method="likelihood",
                )
        elif reason is None:
            pr = parse_ranking(comp.text, plan.shown_texts[i], base_rank, id_style=plan.id_style)
            order = pr.order
            parsed = dict(
                n_valid=pr.n_valid,
                n_hallucinated=pr.n_hallucinated,
                n_duplicate=pr.n_duplicate,
                n_missing=pr.n_missing,
                used=pr.used,
                method=pr.method,
            )
            if not pr.used:
                reason = "unparsable"
        if reason is None:
            cols = cands.shown[i][np.asarray(order, dtype=np.int64)]
            reranked_rows[i, : len(cols)] = cands.items[i][cols]
        usage = comp.usage if comp is not None else Usage()
        rows.append(
            {
                "user_idx": int(cands.user_idx[i]),
                "reranked": reason is None,
                "fallback_reason": reason,
                "n_valid": parsed["n_valid"] if parsed else 0,
                "n_hallucinated": parsed["n_hallucinated"] if parsed else 0,
                "n_duplicate": parsed["n_duplicate"] if parsed else 0,
                "n_missing": parsed["n_missing"] if parsed else n_valid_cand,
                "parse_method": parsed["method"] if parsed else "none",
                "cached": bool(cached_flag[i]),
                "input_tokens": usage.input_tokens,
                "output_tokens": usage.output_tokens,
                "cache_creation_tokens": usage.cache_creation_tokens,
                "cache_read_tokens": usage.cache_read_tokens,
                "cost_usd": 0.0 if cached_flag[i] else float(costs[i]),
                "paid_usd": float(costs[i])
                if not cached_flag[i]
                else float(plan.cached[plan.keys[i]].cost_usd),
                "latency_s": comp.latency_s if comp is not None else 0.0,
                "stop_reason": comp.stop_reason if comp is not None else None,
                "error": _error_text(comp, reason),
                "candidate_recall": float(cands.candidate_recall[i]),
            }
        )
    per = pd.DataFrame(rows)
    ds = run.dataset
    n_users = ds.n_users
    # everyone keeps their real baseline ranking (under both protocols); the users whose
    # answer was used take the LLM's order of their candidates
    baseline = run.rankings[:, : cands.n_candidates]
    hybrid = baseline.copy()
    used = per["reranked"].to_numpy(bool)
    hybrid[cands.user_idx[used]] = reranked_rows[used]
    selected = np.zeros(n_users, dtype=bool)
    selected[cands.user_idx] = True
    reranked = np.zeros(n_users, dtype=bool)
    reranked[cands.user_idx[used]] = True
    cost_user = np.zeros(n_users)
    cost_user[cands.user_idx] = per["paid_usd"].to_numpy()
    k = int(run.summary["k"])
    controls = control_report(run, cands, k, llm_rows=reranked_rows)
    auc_after = run.per_user["auc"].to_numpy(float).copy()
    auc_after[cands.user_idx] = controls.per_user["llm_auc"].to_numpy()  # exact, merged
    rule_val = run.per_user[f"val_{cfg.rule.metric}"].to_numpy(float)
    dims = [d for d in ("activity", "inactive", "mainstream") if d in run.per_user.columns]
    gains = evaluate_gains(
        run.per_user,
        run.split.test,
        baseline,
        hybrid,
        selected=selected,
        reranked=reranked,
        cost_usd=cost_user,
        k=k,
        auc_after=auc_after,
        rule_metric=cfg.rule.metric,
        rule_threshold=plan.weak.threshold_value,
        rule_validation=rule_val,
        dimensions=dims,
    )
    per = per.merge(
        gains.per_user.drop(columns=["selected", "reranked", "cost_usd"]), on="user_idx", how="left"
    )
    control_cols = controls.per_user.drop(columns=[c for c in controls.per_user if "_auc" in c
                                                   or c.startswith("llm_")])
    per = per.merge(control_cols, on="user_idx", how="left")
    nd = f"ndcg@{k}"
    per[f"net_gain_{nd}"] = per[f"after_{nd}"] - per[f"{controls.net.control}_{nd}"]
    per = per[
        ["user_idx", "user_id", *[c for c in per.columns if c not in ("user_idx", "user_id")]]
    ]
    calls = per[
        [
            "user_id",
            "cached",
            "input_tokens",
            "output_tokens",
            "cache_creation_tokens",
            "cache_read_tokens",
            "cost_usd",
            "latency_s",
            "stop_reason",
            "error",
        ]
    ].copy()
    calls.insert(1, "key", plan.keys)
    calls.insert(2, "backend", cfg.backend)
    calls.insert(3, "model", cfg.model)
    totals = (
        per[["input_tokens", "output_tokens", "cache_creation_tokens", "cache_read_tokens"]]
        .where(~per["cached"], 0)
        .sum()
    )
    summary = {
        "job_id": job_id,
        "config": cfg.to_dict(),
        "n_weak": int(plan.weak.n_weak),
        "n_weak_without_test_items": plan.n_weak_without_test,
        "users": {
            "weak_all": plan.n_weak_all,
            "weak_with_test_items": plan.n_population,
            "sent": len(plan.users),
            "deployment_usd_expected": plan.deployment_usd,
        },
        "threshold_value": float(plan.weak.threshold_value),
        "n_requests": len(plan.requests),
        "n_cached": int(per["cached"].sum()),
        "n_reranked": int(per["reranked"].sum()),
        "fallback": {
            str(k): int(v)
            for k, v in per["fallback_reason"].fillna("none").value_counts().items()
            if k != "none"
        },
        "parse": {
            c: int(per[c].sum()) for c in ("n_valid", "n_hallucinated", "n_duplicate", "n_missing")
        },
        "candidate_recall_mean": float(np.nanmean(cands.candidate_recall)),
        "tokens_spent": {k: int(v) for k, v in totals.items()},
        "status": "incomplete" if spend["n_without_answer"] else "complete",
        "spend": spend,
        "usd_spent_this_job": float(per["cost_usd"].sum()),
        "usd_total_including_cached": float(per["paid_usd"].sum()),
        "budget_usd": cfg.budget_usd,
        "estimate": plan.estimate.to_dict(),
        "history_tokens": plan.history_tokens.to_dict(orient="records"),
        "prices": prices.to_dict() if prices is not None else None,
        "wall_s": float(wall),
        "gains": gains.summary,
        "controls": controls.summary(),
        "net_gain": _net_summary(controls, gains, per),
        "pilot": _pilot_summary(plan, controls, gains, per),
        "backend_stats": stats,
    }
    return RerankResult(plan=plan, per_user=per, calls=calls, gains=gains, summary=summary)
