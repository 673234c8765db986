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


def test_overview_charts_the_weakest_dimension_with_the_weak_users_marked(demo):
    """Issue #9, point 13: one chart, the per-user NDCG of the weakest dimension's groups
    (lowest mean first, sizes in the labels), weak users marked."""
    import json

    import numpy as np

    from analysis.subgroups import subgroup_report
    from analysis.subgroups.distributions import (
        group_order,
        histogram_by_group,
        subgroup_dimensions,
        weakest_dimension,
    )

    _, table = demo
    at = AppTest.from_file(APP, default_timeout=120).run()
    assert not at.exception, at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 1
    spec = json.loads(charts[0].proto.spec)
    dim = weakest_dimension(table, "ndcg@10", subgroup_dimensions(table))
    assert dim is not None and dim in spec["layout"]["title"]["text"]
    assert any(f"Where the weak users are: {dim}" in s.value for s in at.subheader)
    weak = table["weak"].to_numpy(bool)
    order = group_order(subgroup_report(table, "ndcg@10", dim, weak=weak, n_boot=0).by_group)
    panels = [a["text"] for a in spec["layout"]["annotations"]]
    assert panels == (order["label"].tolist() if len(order) <= 6
                      else order["label"].iloc[:3].tolist() + order["label"].iloc[-3:].tolist())
    assert {t["name"] for t in spec["data"]} == {"weak", "not weak"}
    # the first panel's weak bars are the weak users' shares of the lowest-mean group
    hist = histogram_by_group(table, "ndcg@10", dim, bins=10, mark=weak)
    first = hist[(hist["group"] == order["group"].iloc[0]) & hist["marked"]]
    lowest = order["label"].iloc[0]
    trace = next(t for t in spec["data"]
                 if t["name"] == "weak" and f"group={lowest}<" in t["hovertemplate"])
    y = trace["y"]
    if isinstance(y, dict):  # plotly's typed-array encoding
        import base64
        y = np.frombuffer(base64.b64decode(y["bdata"]), dtype=y["dtype"])
    assert np.allclose(np.asarray(y, dtype=float), first["share"].to_numpy())
    assert first["count"].sum() > 0
    # shares run from 0 up to the tallest stacked bar: never below 0 or far above it
    stacked = hist.groupby(["group", "left"])["share"].sum().max()
    low, high = spec["layout"]["yaxis"]["range"]
    assert low == 0 and stacked <= high <= min(1.0, 1.1 * stacked) + 1e-9
