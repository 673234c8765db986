"""The cost section of a rerank: what was spent and would be, and the prices it used."""

from __future__ import annotations

import pandas as pd

from analysis.formatting import fmt_int, fmt_num, fmt_usd
from analysis.report._html import json_block, table
from analysis.runs.summary import RerankSummary


def cost_section(summary: RerankSummary) -> dict:
    """The rerank's cost for ``report.html.j2``.

    Returns:
        ``table`` (spent including cached answers, paid by the job, budget cap, per weak
        user, per +0.01 NDCG gross and net, deployment to every weak user, the dry run's
        estimate, paid attempts), ``price_text`` (the model's price in words) and ``prices``
        (the price of the model used, as JSON).
    """
    price_text, prices = _prices(summary)
    return {"table": table(pd.DataFrame(_rows(summary), columns=["cost", "value"])),
            "price_text": price_text, "prices": json_block(prices)}


def _rows(summary: RerankSummary) -> list[tuple[str, str]]:
    gains, net, users = summary.gains, summary.net_gain or {}, summary.users or {}
    estimate = summary.estimate or {}
    return [
        ("spent on this report's answers (cached answers at their price)",
         fmt_usd(summary.usd_total_including_cached)),
        ("paid by this job", fmt_usd(summary.usd_spent_this_job)),
        ("budget cap", fmt_usd(summary.budget_usd) if summary.budget_usd is not None
         else "none"),
        ("per weak user sent", fmt_usd(gains.get("cost_per_selected_user_usd"))),
        ("per +0.01 NDCG (everyone, gross)", fmt_usd(gains.get("cost_per_0.01_ndcg_usd"))),
        ("per +0.01 NDCG net of the best control",
         fmt_usd(net.get("cost_per_0.01_net_ndcg_usd"))),
        (f"deployment: all {fmt_int(users.get('weak_all'))} weak users",
         fmt_usd(users.get("deployment_usd_expected"))),
        ("dry-run estimate (expected / upper bound)",
         f"{fmt_usd(estimate.get('expected_usd'))} / {fmt_usd(estimate.get('upper_bound_usd'))}"),
        ("paid attempts", fmt_int((summary.spend or {}).get("paid_attempts"))),
    ]


def _prices(summary: RerankSummary) -> tuple[str, dict]:
    """The model's price in words, and the prices shown: the model's row and the date they
    were taken on, or GPU time for a local model."""
    prices = summary.prices or {}
    model = summary.config.model
    row = (prices.get("prices") or {}).get(model)
    if not row:
        return f"{model}: priced by GPU time (a local model).", prices or {"local": "GPU time"}
    text = (f"{model}: ${fmt_num(row['input'])} per million input tokens, "
            f"${fmt_num(row['output'])} per million output tokens "
            f"(prices of {prices.get('taken_on', 'unknown date')}).")
    return text, {"taken_on": prices.get("taken_on"), model: row}
