"""AppTest of pages/0_overview.py on the demo run: the cohorts it shows are exactly the run's
weak_cohorts.csv (fitted on validation, judged on test), never recomputed from the per-user
table (whose ``weak`` and ``evaluated`` flags must never be features)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")


def test_overview_shows_exactly_the_runs_weak_cohorts(demo):
    info, _ = demo
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    shown = next(d.value for d in at.dataframe if "rule" in d.value.columns)
    on_disk = pd.read_csv(info.path / "weak_cohorts.csv")
    assert list(shown.columns) == ["rule", "n_users", "share", "val_mean", "test_mean"]
    pd.testing.assert_frame_equal(
        shown.reset_index(drop=True), on_disk[list(shown.columns)], check_dtype=False
    )
    assert not shown["rule"].str.contains("weak|evaluated|user_id").any()
    assert any("fitted to per-user validation NDCG@10" in c.value for c in at.caption)
