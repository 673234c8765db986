"""AppTest of pages/3_subgroups.py on the demo run: one and two dimensions, the disparity
figures equal subgroup_report's, the cohort table and the CSV download."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from analysis.subgroups import subgroup_report

APP = str(Path(__file__).resolve().parents[2] / "app.py")
PAGE = "pages/3_subgroups.py"


@pytest.fixture
def at(demo):
    at = AppTest.from_file(APP, default_timeout=120).run()
    at.switch_page(PAGE).run()
    assert not at.exception, at.exception
    return at


def disparity(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def expected(report) -> dict[str, str]:
    return {
        "Worst group": report.worst_group,
        "Gap (max − min)": f"{report.difference:.3f}",
        "Ratio (min / max)": f"{report.ratio:.2f}",
        "Gini": f"{report.gini:.3f}",
        "Kruskal-Wallis p": f"{report.kruskal_p:.2g}",
    }


def test_one_dimension_default_matches_subgroup_report(at, demo):
    _, table = demo
    assert at.multiselect(key="sg_dims").value == ["activity"]
    assert at.selectbox(key="sg_metric").value == "ndcg@10"
    report = subgroup_report(table, "ndcg@10", "activity", weak=table["weak"].to_numpy(bool))
    assert disparity(at) == expected(report)
    assert all(m.help for m in at.metric)
    by_group = at.dataframe[0].value
    assert by_group["group"].tolist() == report.by_group["group"].tolist()
    assert by_group["mean"].tolist() == pytest.approx(report.by_group["mean"].tolist())
    charts = at.get("plotly_chart")
    assert len(charts) == 3
    # the ECDF draws one trace per group, coloured like every other chart of that group
    ecdf = json.loads(charts[1].proto.spec)["data"]
    assert [t["name"] for t in ecdf] == report.by_group["group"].tolist()


def test_two_dimensions_and_another_metric(at, demo):
    _, table = demo
    at.multiselect(key="sg_dims").set_value(["inactive", "gender"]).run()
    at.selectbox(key="sg_metric").set_value("recall@10").run()
    at.segmented_control(key="sg_plot").set_value("Violin").run()
    assert not at.exception, at.exception
    report = subgroup_report(table, "recall@10", ("inactive", "gender"),
                             weak=table["weak"].to_numpy(bool))
    assert disparity(at) == expected(report)
    assert " × " in at.dataframe[0].value["group"].iloc[0]


def test_no_dimension_says_what_to_do(at):
    at.multiselect(key="sg_dims").set_value([]).run()
    assert not at.exception
    assert "Pick one or two dimensions" in at.info[0].value
    assert not at.metric


def test_cohorts_and_csv_download(at):
    cohorts = at.dataframe[1].value
    assert {"rule", "n_users", "mean_metric"} <= set(cohorts.columns) and len(cohorts) >= 2
    assert cohorts["mean_metric"].is_monotonic_increasing
    dl = at.download_button(key="sg_download")
    assert "CSV" in dl.label
