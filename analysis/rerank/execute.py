"""Step 7, the job: send the planned prompts within a budget, resumable, then merge.

``execute_rerank`` sends a plan's uncached prompts (:mod:`analysis.rerank.plan`) in waves:
every attempt is reserved at its worst case before it is sent
(:mod:`analysis.rerank.budget`), so the cap is never exceeded. Every answer is stored in
the cache the moment it arrives, so a killed job loses nothing paid for and a resumed one
pays only for what is missing. In batch mode every uncached prompt goes to the backend at
once, which cuts it into Message Batches, each reserved just before it is created,
journalled, and collected rather than sent again after a kill
(:mod:`analysis.rerank.batches`). Answers are parsed without trusting the model and merged
into the baseline's rankings (:mod:`analysis.gains.gain_report`), with the no-LLM controls on
the same candidates.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from analysis.errors import AnalysisError, surface_hints
from analysis.gains.cost import (
    PriceTable,
    call_cost,
    gpu_cost,
    worst_case_cost,
)
from analysis.gains.merge import merge_rerank
from analysis.rerank.answers import JobAnswers, answer_table, calls_table
from analysis.rerank.batches import BatchJournal, WaveGate, resume_batches
from analysis.rerank.budget import JobBudget, SpendLedger, input_bounds, overbilled
from analysis.rerank.cache import CallCache
from analysis.rerank.plan import RerankPlan
from analysis.runs.baseline import BaselineRun
from analysis.runs.rerank import RerankRun
from analysis.runs.summary import RerankSummary, rerank_summary_json
from models.llm.protocol import Completion, LLMBackend, Usage

__all__ = [
    "RerankProgress",
    "execute_rerank",
    "open_budget",
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


@dataclass(frozen=True)
class RerankProgress:
    """Live figures of a running job.

    Attributes:
        done: requests answered, fallen back or skipped (cached ones included).
        total: requests of the plan.
        batches_submitted: Message Batches created so far (batch mode; an earlier, killed
            run's batches that this run collects included), else 0.
        batches_ended: of those, batches whose results are read and stored.
    """

    done: int
    total: int
    fallen_back: int
    input_tokens: int
    output_tokens: int
    usd: float
    elapsed_s: float
    batches_submitted: int = 0
    batches_ended: int = 0

    @property
    def batches_note(self) -> str:
        """``"2 of 5 batches ended"`` in batch mode, else ``""``."""
        if not self.batches_submitted:
            return ""
        return f"{self.batches_ended} of {self.batches_submitted} batches ended"

    @property
    def eta_s(self) -> float | None:
        if self.done == 0 or self.done >= self.total:
            return None
        return self.elapsed_s / self.done * (self.total - self.done)


class _Ledger:
    """Thread-safe running totals of one job, for its progress line (its batch counts are
    the :class:`~analysis.rerank.batches.BatchCounts` of batch mode)."""

    def __init__(self, total: int) -> None:
        self.lock = threading.Lock()
        self.total = total
        self.done = 0
        self.fallen_back = 0
        self.usage = Usage()
        self.batches_submitted = 0
        self.batches_ended = 0


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
    run: BaselineRun,
    backend: LLMBackend,
    cache: CallCache,
    prices: PriceTable | None = None,
    *,
    wave_size: int = 64,
    progress: Callable[[RerankProgress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> RerankRun:
    """Send the uncached prompts within the budget, parse, merge and measure.

    Every attempt (first tries and retries) is reserved at its worst case before it is sent
    and charged when it ends (:mod:`analysis.rerank.budget`); the cap belongs to the job, so
    running the same job again continues its spend. A job that stops at the cap, or leaves
    users without an answer, returns a run whose ``summary.status`` is
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
                    ledger.batches_submitted,
                    ledger.batches_ended,
                )
            progress(snap)

    for i, k in enumerate(plan.keys):  # answers already paid for
        hit = plan.cached.get(k)
        if hit is not None:
            completions[i] = hit.completion()
            cached_flag[i] = True
            ledger.done += 1
    todo = deque(i for i in range(n) if completions[i] is None)
    batches = None
    if cfg.batch and not cfg.local and budget.ledger is not None:
        resumed = resume_batches(plan, budget, todo)
        ledger.batches_submitted = len(resumed)
        batches = BatchJournal(plan, budget, cache, ledger, lambda: report(), resumed)
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
        _run_waves(plan, backend, budget, todo, requeue, settle, scores, wave_size, should_stop,
                   batches)
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
    answers = JobAnswers(
        completions=completions,
        cached=cached_flag,
        skipped=skipped,
        scores=scores,
        charged_usd=budget.charged_by_request,
        spend=_spend_summary(budget, skipped, completions, cached_flag),
        backend_stats=backend.stats() if hasattr(backend, "stats") else None,
        job_id=job_id,
        wall_s=time.perf_counter() - t0,
        prices=prices if price is not None else None,
    )
    return _finish(plan, run, answers)


def _run_waves(plan, backend, budget, todo, requeue, settle, scores, wave_size, should_stop,
               batches=None):  # fmt: skip
    """Admit and send waves until every request is answered or the budget says stop. A wave
    is at least the backend's ``concurrency`` requests, so a server (or a fleet behind a load
    balancer) gets that many in flight; in batch mode a wave is every request left (the
    backend reserves batch by batch)."""
    try:
        while todo or requeue or (batches is not None and batches.resumed):
            todo.extend(requeue)
            requeue.clear()
            if should_stop is not None and should_stop():
                budget.cancel()
            if budget.stopping:
                break
            if batches is not None:
                wave = [i for _, ids in batches.resumed for i in ids.values()] + list(todo)
                todo.clear()
                _send_wave(plan, backend, budget, wave, settle, scores, batches)
                batches.resumed = []
                budget.close_wave()
                continue
            size = max(wave_size, int(getattr(backend, "concurrency", 1)))  # all in flight
            batch = [todo.popleft() for _ in range(min(size, len(todo)))]
            wave = budget.admit(batch)
            todo.extendleft(reversed(batch[len(wave) :]))
            if not wave:  # the cap is reached: nothing more starts
                break
            _send_wave(plan, backend, budget, wave, settle, scores)
            budget.close_wave()
    finally:
        budget.close_wave()  # charges written even when the job is interrupted


def _send_wave(plan, backend, budget, wave, settle, scores, batches=None) -> None:
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
        backend.complete(reqs, on_result=cb, gate=WaveGate(budget, wave, batches))
    for j in range(len(wave)):  # a backend that ignored on_result: nothing proves the cost
        if j not in seen:
            cb(j, Completion(text="", error="no result returned", usage_reported=False))


def _spend_summary(budget: JobBudget, skipped: dict, completions, cached_flag) -> dict:
    """The job's money and completeness, for ``RerankSummary.spend`` and the exit code."""
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


def _finish(plan: RerankPlan, run: BaselineRun, answers: JobAnswers) -> RerankRun:
    """Parse the answers, merge them into the baseline's rankings, measure, summarise."""
    table, reranked_rows = answer_table(plan, answers)
    merged = merge_rerank(run, plan, table, reranked_rows)
    summary = RerankSummary.from_json(rerank_summary_json(plan, answers, merged))
    return RerankRun(summary=summary, per_user=merged.per_user,
                     calls=calls_table(plan, merged.per_user), by_group=merged.gains.by_group,
                     curve=merged.gains.curve, plan=plan, gains=merged.gains)
