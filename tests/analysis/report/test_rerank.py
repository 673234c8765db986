"""Tests of analysis/report/_rerank.py: the rerank section's net gain and user counts."""

from __future__ import annotations

import json


def test_report_shows_the_net_gain_and_both_user_counts(runs, full):
    rr = json.loads((runs.rerank.path / "rerank_summary.json").read_text())
    net, users = rr["net_gain"], rr["users"]
    assert "gain net of the best control" in full.html
    assert f"{users['weak_all']:,} / {users['sent']:,}" in full.html
    assert f"({net['control']})" in full.html
