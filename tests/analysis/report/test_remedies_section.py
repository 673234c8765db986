"""The report's "Remedies compared" section: the comparison's verdict and every cell of its
table as the comparison shows them, and no section when none is given."""

from __future__ import annotations

import html

import numpy as np

from analysis.gains.remedies import compare_remedies
from analysis.remedies.content_blend import blend_content
from analysis.report import build_report
from analysis.runs.remedy import remedies_of_run
from analysis.runs.store import RunStore


def test_report_shows_the_comparison(runs):
    store = RunStore(runs.workspace)
    run = store.load_baseline(runs.baseline.run_id)
    vectors = np.random.default_rng(1).normal(size=(run.dataset.n_items, 8)).astype(np.float32)
    remedy = blend_content(run, vectors).remedy_run(encoder="tfidf:x", uses_llm=False,
                                                    one_off_usd=0.0)
    store.save_remedy(remedy, runs.baseline.run_id, run.dataset)
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
