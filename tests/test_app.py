"""Smoke test of app.py with Streamlit's AppTest: the demo's headline numbers render."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def test_app_shows_demo_headline_numbers(tmp_path, monkeypatch):
    monkeypatch.setenv("WEAKSPOT_WORKSPACE", str(tmp_path / "ws.duckdb"))
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception, at.exception
    labels = [m.label for m in at.metric]
    assert labels == ["NDCG@10", "Recall@10", "AUC", "Weak users"]
    ndcg = float(at.metric[0].value)
    assert 0.0 < ndcg < 1.0
    assert "3,000 users" in at.subheader[0].value
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) >= 2
