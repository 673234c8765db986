"""The report's "Remedies compared" section: every remedy of the run on the same figures
(:mod:`analysis.gains.remedies`), with the one-sentence verdict and the volume it assumes."""

from __future__ import annotations

from analysis.formatting import fmt_int, fmt_signed
from analysis.gains.remedies import RemedyComparison
from analysis.report._html import table

__all__ = ["remedies_section"]

NOTE = (
    "Test NDCG@{k} of the users each remedy served (the run's weak users, chosen on "
    "validation). Net gain: the gain minus the remedy's no-LLM control on the same users (an "
    "LLM rerank against reordering the same candidates without an LLM; SASRec with a text "
    "item table against a random table; a blend of LLM vectors against the TF-IDF blend); a "
    "remedy without an LLM is its own control, and an LLM remedy whose control was not run "
    "shows none. Intervals are 95% t-intervals over the users served. Long tail: the least "
    "popular 80% of items by training interactions. One-off cost: per catalogue (item "
    "embeddings); per user: per user served per refresh (LLM calls). Definitions: "
    "docs/metrics.md."
)


def remedies_section(comparison: RemedyComparison, target_gain: float | None) -> dict:
    """The section's view: ``verdict``, ``table`` (escaped HTML), ``volume`` and ``note``."""
    shown = comparison.shown()
    volume = (f"Costs at {fmt_int(comparison.users_per_month)} users a month, each list "
              f"refreshed {comparison.refreshes_per_month:g} times a month"
              + ("" if target_gain is None else
                 f"; target net gain {fmt_signed(target_gain)} on the users served") + ".")
    return {"verdict": comparison.verdict(target_gain), "table": table(shown),
            "volume": volume, "note": NOTE.format(k=comparison.k),
            "rule": comparison.rule, "n": len(shown) - 1}
