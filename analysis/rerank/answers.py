"""From the LLM's answers to rankings: what the job sent and got back (:class:`JobAnswers`),
each answer parsed without trusting the model, and the one-row-per-user table of the job.

An answer is used when it parses into an ordering of the user's candidates
(:func:`analysis.rerank.parsing.parse_ranking`; likelihood mode: the candidates sorted by
score, ties by baseline rank). Otherwise the user keeps the baseline ranking and the row says
why (``fallback_reason``): ``error`` (the call failed), ``unparsable``, ``budget`` or
``cancelled`` (never sent).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.gains.cost import PriceTable
from analysis.rerank.parsing import parse_ranking
from analysis.rerank.plan import RerankPlan
from models.llm.protocol import Completion, Usage

__all__ = ["CALL_COLUMNS", "JobAnswers", "answer_table", "calls_table"]

#: ``calls.parquet``'s columns taken from the per-user table (then key, backend, model)
CALL_COLUMNS = ("user_id", "cached", "input_tokens", "output_tokens", "cache_creation_tokens",
                "cache_read_tokens", "cost_usd", "latency_s", "stop_reason", "error")
_PARSE_COUNTS = ("n_valid", "n_hallucinated", "n_duplicate", "n_missing")


@dataclass(frozen=True)
class JobAnswers:
    """What sending a plan's prompts produced, before any merge (one entry per request).

    Attributes:
        completions: the answer or failure of each request (None: never answered).
        cached: bool, the answer was already paid for (read from the call cache).
        skipped: request -> why it was never sent (``budget``, ``cancelled``...).
        scores: request -> candidate scores (likelihood mode).
        charged_usd: what each request was charged in this job.
        spend: the budget's accounting (``rerank_summary.json``'s ``spend``).
        backend_stats: the backend's own counters (None when it keeps none).
        job_id: this run of the job; ``wall_s``: its duration.
        prices: the price table used (None for a local model, priced by GPU time).
    """

    completions: list[Completion | None]
    cached: np.ndarray
    skipped: dict[int, str]
    scores: dict[int, np.ndarray]
    charged_usd: np.ndarray
    spend: dict
    backend_stats: dict | None
    job_id: str
    wall_s: float
    prices: PriceTable | None


def error_text(comp: Completion | None, reason: str | None) -> str | None:
    """The per-user error column: the call's own error, or why it was never sent."""
    if comp is not None and comp.error is not None and not comp.meta.get("not_sent"):
        return comp.error
    return reason if reason in ("budget", "cancelled") else None


def _read_answer(plan: RerankPlan, answers: JobAnswers, i: int):
    """Request ``i``: (fallback reason or None, parse counts or None, order of shown slots)."""
    comp = answers.completions[i]
    reason = answers.skipped.get(i)
    cands = plan.candidates
    n_valid = int((cands.shown_items[i] >= 0).sum())
    base_rank = cands.baseline_rank[i][:n_valid]
    if reason is None and comp is not None and not comp.ok:
        reason = "error"
    if reason is not None:
        return reason, None, None
    if plan.config.mode == "likelihood":
        scores = answers.scores.get(i)
        if scores is None:
            return "error", None, None
        parsed = dict(n_valid=n_valid, n_hallucinated=0, n_duplicate=0, n_missing=0,
                      used=True, method="likelihood")
        return None, parsed, np.lexsort((base_rank, -scores))
    pr = parse_ranking(comp.text, plan.shown_texts[i], base_rank, id_style=plan.id_style)
    parsed = dict(n_valid=pr.n_valid, n_hallucinated=pr.n_hallucinated,
                  n_duplicate=pr.n_duplicate, n_missing=pr.n_missing, used=pr.used,
                  method=pr.method)
    return (None if pr.used else "unparsable"), parsed, pr.order


def answer_table(plan: RerankPlan, answers: JobAnswers) -> tuple[pd.DataFrame, np.ndarray]:
    """One row per request, and the LLM's rankings.

    Returns:
        ``(per_user, rows)``: ``per_user`` has ``user_idx``, ``reranked``,
        ``fallback_reason``, the parse counts, ``parse_method``, ``cached``, tokens,
        ``cost_usd`` (paid in this job), ``paid_usd`` (cached answers at their price),
        ``latency_s``, ``stop_reason``, ``error``, ``candidate_recall``; ``rows`` is the
        candidate item matrix with each used answer's order applied (the baseline's order
        where the answer was not used).
    """
    cands = plan.candidates
    reranked_rows = cands.items.copy()
    rows = []
    for i in range(len(cands.user_idx)):  # per-answer string parsing
        reason, parsed, order = _read_answer(plan, answers, i)
        if reason is None:
            cols = cands.shown[i][np.asarray(order, dtype=np.int64)]
            reranked_rows[i, : len(cols)] = cands.items[i][cols]
        comp = answers.completions[i]
        usage = comp.usage if comp is not None else Usage()
        cached = bool(answers.cached[i])
        charged = float(answers.charged_usd[i])
        counts = ({c: parsed[c] for c in _PARSE_COUNTS} if parsed else
                  {"n_valid": 0, "n_hallucinated": 0, "n_duplicate": 0,
                   "n_missing": int((cands.shown_items[i] >= 0).sum())})
        rows.append({
            "user_idx": int(cands.user_idx[i]),
            "reranked": reason is None,
            "fallback_reason": reason,
            **counts,
            "parse_method": parsed["method"] if parsed else "none",
            "cached": cached,
            "input_tokens": usage.input_tokens,
            "output_tokens": usage.output_tokens,
            "cache_creation_tokens": usage.cache_creation_tokens,
            "cache_read_tokens": usage.cache_read_tokens,
            "cost_usd": 0.0 if cached else charged,
            "paid_usd": float(plan.cached[plan.keys[i]].cost_usd) if cached else charged,
            "latency_s": comp.latency_s if comp is not None else 0.0,
            "stop_reason": comp.stop_reason if comp is not None else None,
            "error": error_text(comp, reason),
            "candidate_recall": float(cands.candidate_recall[i]),
        })
    return pd.DataFrame(rows), reranked_rows


def calls_table(plan: RerankPlan, per_user: pd.DataFrame) -> pd.DataFrame:
    """``calls.parquet``: one row per call (cache key, backend, model, cached, tokens, cost,
    latency, stop reason, error), in request order; never a prompt or a key."""
    calls = per_user[list(CALL_COLUMNS)].copy()
    calls.insert(1, "key", plan.keys)
    calls.insert(2, "backend", plan.config.backend)
    calls.insert(3, "model", plan.config.model)
    return calls
