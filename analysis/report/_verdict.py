"""The report's verdict: the question it answers, and its answer in one sentence."""

from __future__ import annotations

from analysis.formatting import fmt_int, fmt_metric, fmt_pct, fmt_signed, fmt_usd
from analysis.gains.controls import PAPER_PROTOCOL_NOTE
from analysis.runs.summary import BaselineSummary, RerankSummary
from analysis.weak_users import WeakRule

QUESTION = "Which users does our recommender fail, and what would it cost to fix them with an LLM?"


def rule_words(rule: WeakRule) -> str:
    """A weak-user rule in words: ``validation auc ≤ p40``, ``... ≤ 0.5 and inactive``."""
    cut = (f"≤ {rule.threshold:g}" if rule.threshold is not None
           else f"≤ p{rule.percentile:g}")
    inactive = " and inactive" if rule.require_inactive else ""
    return f"validation {rule.metric} {cut}{inactive}"


def verdict(summary: BaselineSummary, rerank: RerankSummary | None,
            bracket: dict | None) -> dict:
    """The verdict for ``report.html.j2``.

    Args:
        summary: the baseline run's summary.
        rerank: its rerank's summary, or None.
        bracket: the free bracket (:func:`~analysis.report.dry_run_bracket`) when there is
            no rerank, or None.

    Returns:
        ``question`` (:data:`QUESTION`); ``answer``: how many users the recommender fails,
        then the rerank's gain net of the best free reordering with its interval and cost
        (its gross gain when the run measured no controls), or "not measured yet" with the
        free bracket; ``note``: the paper protocol's warning, or None.
    """
    weak = summary.weak_users
    who = (f"The recommender fails {fmt_int(weak.n_weak)} users "
           f"({fmt_pct(weak.share)}) by the run's weak-user rule.")
    if rerank is None:
        tail, note = _unmeasured(summary.k, bracket), None
    else:
        tail = (_net_answer(rerank, summary.k) if rerank.net_gain
                else _gross_answer(rerank, summary.k))
        note = PAPER_PROTOCOL_NOTE if rerank.config.protocol == "paper" else None
    return {"question": QUESTION, "answer": f"{who} {tail}", "note": note}


def _unmeasured(k: int, bracket: dict | None) -> str:
    if bracket is None:
        return ("What an LLM would gain is not measured yet: no rerank of this run, and no "
                "weak user with test items to bracket it for free.")
    return (f"What an LLM would gain is not measured yet: no rerank of this run. For "
            f"free, on their top {bracket['n_candidates']} candidates, NDCG@{k} lies "
            f"between the baseline's {fmt_metric(bracket['baseline'])} and a perfect "
            f"reordering's {fmt_metric(bracket['ceiling'])}; the best no-LLM "
            f"reordering reaches {fmt_metric(bracket['best_value'])}.")


def _net_answer(rerank: RerankSummary, k: int) -> str:
    """The gain net of the best free reordering, its interval, its price and a deployment's."""
    net, users = rerank.net_gain, rerank.users or {}
    low, high = net["ci95"]
    per = net.get("cost_per_0.01_net_ndcg_usd")
    per_text = (f"+0.01 NDCG net costs {fmt_usd(per)}" if per is not None
                else "there is no net gain to buy")
    return (f"Reranking {fmt_int(net['n_users'])} weak users of the rerank's rule "
            f"({rule_words(rerank.config.rule)}) with {rerank.config.model} "
            f"moved their NDCG@{k} by {fmt_signed(net['mean'])} net of the best free "
            f"reordering ({net['control']}), 95% interval {fmt_signed(low)} to "
            f"{fmt_signed(high)}; {per_text}, and reranking all "
            f"{fmt_int(users.get('weak_all'))} weak users of its rule would cost about "
            f"{fmt_usd(users.get('deployment_usd_expected'))}.")


def _gross_answer(rerank: RerankSummary, k: int) -> str:
    """The weak users' gain when the run measured no free reordering to compare with."""
    gains = rerank.gains
    return (f"Reranking {fmt_int(gains['n_selected'])} weak users with {rerank.config.model} "
            f"moved their NDCG@{k} by "
            f"{fmt_signed(gains['mean_gain_selected'][f'ndcg@{k}'])} (not compared with the "
            f"free reorderings in this run) for {fmt_usd(rerank.usd_total_including_cached)}.")
