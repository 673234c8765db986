"""Tests of analysis/rerank/ledger.py: every job's cap and spend, in the workspace."""

from __future__ import annotations

from analysis.rerank.ledger import JobCap, SpendLedger
from analysis.workspace import Workspace


def test_the_cap_belongs_to_the_job(tmp_path):
    ledger = SpendLedger(Workspace(tmp_path / "ws.duckdb"))
    assert ledger.job("j") is None
    assert ledger.open_job("j", 1.0, "anthropic", "m") == JobCap(1.0, 0.0, "")
    assert ledger.open_job("j", None, "anthropic", "m").cap_usd == 1.0  # resumed: kept
    raised = ledger.open_job("j", 2.0, "anthropic", "m")
    assert raised.cap_usd == 2.0 and "changed from $1.000000 to $2.000000" in raised.note
    assert ledger.open_job("other", None, "anthropic", "m").cap_usd is None
    assert ledger.job("j") == JobCap(2.0, 0.0)
