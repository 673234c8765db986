"""Tests of analysis/report/_cost.py: the cost section and the prices used."""

from __future__ import annotations

import json

from analysis.formatting import fmt_usd
from analysis.report import build_report
from tests.analysis._fixtures_report import MODEL
from tests.analysis.report._fixtures import visible_text


def test_report_has_a_cost_section_with_the_prices_used(runs, full):
    rr = json.loads((runs.rerank.path / "rerank_summary.json").read_text())
    cost = full.html[full.html.index('id="cost"'):full.html.index('id="model"')]
    text = visible_text(cost)
    assert f"paid by this job {fmt_usd(rr['usd_spent_this_job'])}" in text
    assert (f"per weak user sent {fmt_usd(rr['gains']['cost_per_selected_user_usd'])}"
            in text)
    assert (f"deployment: all {rr['users']['weak_all']} weak users "
            f"{fmt_usd(rr['users']['deployment_usd_expected'])}") in text
    price = rr["prices"]["prices"][MODEL]
    assert f"{MODEL}: ${price['input']:g} per million input tokens" in text
    assert f"prices of {rr['prices']['taken_on']}" in text
    assert "claude-opus-4-1" not in cost  # only the price of the model used
    base_only = build_report(runs.baseline).html
    assert "Nothing spent yet" in base_only
