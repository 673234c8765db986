"""The report's "Remedies compared" section: the comparison's verdict and every cell of its
table as the comparison shows them, and no section when none is given."""

from __future__ import annotations

import html

from analysis.gains.remedies import compare_remedies
from analysis.report import build_report
from analysis.runs.remedy import remedies_of_run
from tests.analysis._fixtures_report import save_blend_remedy


def test_report_shows_the_comparison(runs):
    run, store = save_blend_remedy(runs)
    reranks, remedies = remedies_of_run(store, runs.baseline.run_id, run.dataset)
    assert (len(reranks), len(remedies)) == (1, 1)
    cmp = compare_remedies(run, reranks=reranks, remedies=remedies, users_per_month=5000,
                           refreshes_per_month=2)
    report = build_report(runs.baseline, runs.rerank, remedies=cmp, target_gain=0.02)
    text = html.unescape(report.html)
    assert '<section id="remedies">' in report.html and 'href="#remedies"' in report.html
    assert cmp.verdict(0.02) in text
    assert "Costs at 5,000 users a month, each list refreshed 2 times a month; target net " \
           "gain +0.0200 on the users served." in text
    for cell in cmp.shown().to_numpy().ravel():
        assert f"<td>{cell}</td>" in text

    plain = build_report(runs.baseline, runs.rerank)
    assert 'id="remedies"' not in plain.html
