"""Smoke test of app.py with Streamlit's AppTest: it opens on the demo's overview."""

from __future__ import annotations

from pathlib import Path

from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[1] / "app.py")


def test_app_opens_on_the_demo_overview(tmp_path, monkeypatch):
    monkeypatch.setenv("WEAKSPOT_WORKSPACE", str(tmp_path / "ws.duckdb"))
    at = AppTest.from_file(APP, default_timeout=180).run()
    assert not at.exception, at.exception
    labels = [m.label for m in at.metric]
    assert labels == ["NDCG@10", "Recall@10", "AUC", "Weak users"]
    assert 0.0 < float(at.metric[0].value) < 1.0
    assert "demo: 3,000 users" in at.subheader[0].value
    assert len(at.dataframe) == 1 and len(at.dataframe[0].value) >= 2
