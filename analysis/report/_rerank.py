"""The LLM rerank section: gains, the net gain against the free controls, before vs after
per metric and per subgroup, and the cost-benefit curve."""

from __future__ import annotations

from typing import Any

import pandas as pd
from markupsafe import Markup

from analysis.formatting import fmt_num, fmt_signed, fmt_usd
from analysis.gains.controls import PAPER_PROTOCOL_NOTE
from analysis.report._charts import Charts, controls_figure, curve_figure, subgroup_figure
from analysis.report._html import json_block, table
from analysis.runs.rerank import RerankRun
from analysis.runs.summary import RerankSummary


def rerank_section(run: RerankRun, charts: Charts,
                   min_size: int) -> tuple[dict[str, Any], dict[str, Markup | None]]:
    """The rerank's view for ``report.html.j2``, and its charts.

    Args:
        run: the rerank run.
        charts: the report's embedder (controls, then by group, then the curve).
        min_size: the baseline's minimum group size (smaller groups are marked).

    Returns:
        The view: ``backend``, ``model``, ``cards``, ``text``, ``estimate``, ``net``,
        ``before_after``, ``by_group`` and ``curve`` (tables, None when empty); and the charts
        ``controls``, ``by_group``, ``curve`` (each None when absent).
    """
    summary = run.summary
    k = summary.k
    view: dict[str, Any] = {
        "backend": summary.config.backend, "model": summary.config.model,
        "cards": _cards(summary), "text": _text(summary),
        "by_group": None, "curve": None,
        "estimate": json_block(summary.estimate or {}),
    }
    view["net"], controls_chart = _net_view(summary, charts)
    view["before_after"] = _before_after(summary.gains)
    figures: dict[str, Markup | None] = {"controls": controls_chart, "by_group": None,
                                         "curve": None}
    if len(run.by_group):
        figures["by_group"] = charts(subgroup_figure(
            run.by_group, f"Mean NDCG@{k} per subgroup, before vs after (sorted by after)",
            value="mean_after", before="mean_before", min_size=min_size), height=None)
        view["by_group"] = table(run.by_group)
    if len(run.curve):
        figures["curve"] = charts(curve_figure(run.curve, k))
        view["curve"] = table(run.curve, {"cost_usd": fmt_usd})
    return view, figures


def _cards(summary: RerankSummary) -> list[tuple[str, str]]:
    gains, k = summary.gains, summary.k
    metric = f"ndcg@{k}"
    remaining = summary.weak_remaining
    after = ("not recomputed" if remaining["selected_after"] is None
             else f"{remaining['selected_after']:,}")
    return [
        (f"NDCG@{k} gain, weak users", fmt_signed(gains["mean_gain_selected"][metric])),
        (f"NDCG@{k} gain, everyone", fmt_signed(gains["mean_gain_all"][metric])),
        ("Weak users remaining", f"{remaining['selected_before']:,} → " + after),
        ("Spent", fmt_usd(summary.usd_total_including_cached)),
        ("Per +0.01 NDCG", fmt_usd(gains.get("cost_per_0.01_ndcg_usd")))]


def _text(summary: RerankSummary) -> str:
    gains = summary.gains
    return (f"{summary.n_requests:,} weak users sent, {summary.n_reranked:,} reranked "
            f"({summary.n_cached:,} answers reused from the cache); fell back: "
            f"{summary.fallback or 'none'}. Wilcoxon signed-rank p = "
            f"{fmt_num(gains['wilcoxon_p'])}. Cost per weak user "
            f"{fmt_usd(gains.get('cost_per_selected_user_usd'))}.")


def _before_after(gains: dict) -> Markup:
    """Every metric's mean before and after, and its gain over everyone and the weak users."""
    rows = [{"metric": metric, "before": gains["mean_before"][metric],
             "after": gains["mean_after"][metric],
             "gain (everyone)": gains["mean_gain_all"][metric],
             "gain (weak users)": gains["mean_gain_selected"][metric]}
            for metric in gains["mean_before"]]
    return table(pd.DataFrame(rows))


def _net_view(summary: RerankSummary, charts: Charts) -> tuple[dict | None, Markup | None]:
    """The gain net of the best free reordering, the pilot's projection, and the controls
    chart; (None, None) when the run measured no controls."""
    net = summary.net_gain
    if not net:
        return None, None
    k = summary.k
    low, high = net["ci95"]
    users = summary.users or {}
    zero = (" The interval includes zero: these answers do not show that the LLM beats a "
            "free reordering." if net["ci_includes_zero"] else "")
    view: dict[str, Any] = {
        "paper_note": PAPER_PROTOCOL_NOTE if summary.config.protocol == "paper" else None,
        "cards": [
            (f"NDCG@{k} gain net of the best control ({net['control']})",
             f"{fmt_signed(net['mean'])} [{fmt_signed(low)}, {fmt_signed(high)}]"),
            ("Per +0.01 NDCG, net", fmt_usd(net.get("cost_per_0.01_net_ndcg_usd"))),
            ("Weak users (all) / sent and evaluated",
             f"{users.get('weak_all', 0):,} / {users.get('sent', 0):,}")],
        "text": (f"Net gain: the LLM's NDCG@{k} minus that of the best free reordering of the "
                 f"same candidates, per weak user sent, with its 95% interval; paired Wilcoxon "
                 f"p = {fmt_num(net['wilcoxon_p'])}.{zero} A deployment would pay for every "
                 f"weak user: about {fmt_usd(users.get('deployment_usd_expected'))}."),
        "pilot": _pilot_text(summary.pilot, k),
    }
    return view, charts(controls_figure(net["means"], k))


def _pilot_text(pilot: dict | None, k: int) -> str | None:
    """What a pilot's sample projects for all the weak users with test items."""
    if not pilot:
        return None
    projected = pilot["projected"]
    return (f"Pilot of {pilot['n_sample']:,} of {pilot['n_population']:,} weak users with test "
            f"items: all of them would move mean NDCG@{k} by "
            f"{fmt_signed(projected['net_gain_over_all_users'])} net (95% interval "
            f"{fmt_signed(projected['ci95'][0])} to {fmt_signed(projected['ci95'][1])}) for about "
            f"{fmt_usd(projected['cost_all_weak_usd'])}; {pilot['verdict']}.")
