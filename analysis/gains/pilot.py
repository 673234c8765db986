"""The headline a rerank's decision rests on: the LLM's gain net of the best no-LLM control,
per dollar, and for a pilot (a seeded sample of the weak users) its projection to every weak
user, with the interval and a verdict in words."""

from __future__ import annotations

import pandas as pd

from analysis.gains.controls import ControlReport
from analysis.gains.gain_report import GainReport
from analysis.rerank.plan import RerankPlan

__all__ = ["net_summary", "pilot_summary"]


def net_summary(controls: ControlReport, gains: GainReport, per: pd.DataFrame) -> dict:
    """The LLM's gain net of the best control, in total and per dollar."""
    net = controls.net.to_dict()
    n_eval = gains.n_evaluated
    net_all = net["mean"] * net["n_users"] / n_eval if n_eval else float("nan")
    total = gains.total_cost_usd
    net["mean_over_all_users"] = net_all
    net["cost_per_0.01_net_ndcg_usd"] = total / (net_all / 0.01) if net_all > 0 else None
    return net


def pilot_summary(
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
    share = plan.n_population / gains.n_evaluated
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
