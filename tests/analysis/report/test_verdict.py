"""Tests of analysis/report/_verdict.py (issue 9, point 16): a verdict first, on the net
gain and its cost, then the evidence."""

from __future__ import annotations

import json

from analysis.formatting import fmt_int, fmt_signed, fmt_usd
from analysis.report import QUESTION


def test_report_opens_with_the_verdict_on_the_net_gain_and_cost(runs, full):
    rr = json.loads((runs.rerank.path / "rerank_summary.json").read_text())
    net, users = rr["net_gain"], rr["users"]
    html = full.html
    # the verdict comes before any evidence, the question then the one-sentence answer
    assert html.index('id="verdict"') < html.index('id="evidence"') < html.index('id="cost"')
    assert QUESTION in html
    answer = full.headline["verdict"]
    assert html.index(QUESTION) < html.index(answer.replace("'", "&#39;"))
    lo, hi = net["ci95"]
    assert f"by {fmt_signed(net['mean'])} net of the best free reordering ({net['control']})" \
        in answer
    assert f"95% interval {fmt_signed(lo)} to {fmt_signed(hi)}" in answer
    assert net["cost_per_0.01_net_ndcg_usd"] is None  # the fake LLM loses: nothing to buy
    assert "there is no net gain to buy" in answer
    assert (f"all {fmt_int(users['weak_all'])} weak users of its rule would cost about "
            f"{fmt_usd(users['deployment_usd_expected'])}") in answer
    assert "not measured yet" not in answer
    rule = rr["config"]["rule"]  # the rerank's own rule is named beside its count
    assert f"weak users of the rerank's rule (validation {rule['metric']} ≤" in answer
