"""AppTest of pages/3_subgroups.py on the demo run: one and two dimensions, the disparity
figures equal subgroup_report's (reliable groups only), raw and adjusted p-values, the
cohort table (exactly weak_cohorts.csv) and the CSV download."""

from __future__ import annotations

import json
import os

import numpy as np
import pandas as pd
import pytest

from analysis.runs.store import RunStore
from analysis.subgroups import adjust_p_values, kruskal_family, subgroup_report
from analysis.subgroups import taste as taste_module
from analysis.subgroups.distributions import box_stats, group_order, subgroup_dimensions
from analysis.weak_users import WeakRule, select_weak_users
from analysis.workspace import Workspace

PAGE = "pages/3_subgroups.py"


def frame_with(at, column: str) -> pd.DataFrame:
    """The page's table holding ``column`` (AppTest does not expose a dataframe's key)."""
    return next(d.value for d in at.dataframe if column in d.value.columns)


def disparity(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def expected(report, table, adjusted: str = "p_holm") -> dict[str, str]:
    fam = kruskal_family(table, report.metric, subgroup_dimensions(table),
                         min_group_size=report.min_group_size)
    dims = report.dimension if isinstance(report.dimension, tuple) else (report.dimension,)
    row = fam[fam["dimension"].isin({" × ".join(dims), " × ".join(dims[::-1])})]
    label = "Holm-adjusted p" if adjusted == "p_holm" else "BH-adjusted p"
    return {
        "Worst group": f"{report.group_min:.3f}",
        "Gap (max − min)": f"{report.difference:.3f}",
        "Ratio (min / max)": f"{report.ratio:.2f}",
        "Gini": f"{report.gini:.3f}",
        "Kruskal-Wallis p": f"{report.kruskal_p:.2g}",
        label: f"{row[adjusted].iloc[0]:.2g}",
    }


def test_metric_cards_hold_numbers_and_the_worst_group_is_named_in_full(at, demo):
    """A card never truncates what it names: the group's full name is in a caption."""
    at.run()
    cards = {m.label: m.value for m in at.metric}
    assert all(len(v) <= 12 for v in cards.values()), cards
    worst = [c.value for c in at.caption if c.value.startswith("Worst group: ")]
    assert len(worst) == 1 and "(mean " in worst[0], worst


def test_one_dimension_default_matches_subgroup_report(at, demo):
    _, table = demo
    assert at.multiselect(key="sg_dims").value == ["activity"]
    assert at.selectbox(key="sg_metric").value == "ndcg@10"
    report = subgroup_report(table, "ndcg@10", "activity", weak=table["weak"].to_numpy(bool))
    assert report.min_group_size == 20 and at.number_input(key="sg_min_size").value == 20
    assert disparity(at) == expected(report, table)
    assert all(m.help for m in at.metric)
    by_group = at.dataframe[0].value  # sorted by mean, lowest first
    expected_rows = report.by_group.sort_values("mean", kind="stable")
    assert by_group["group"].tolist() == expected_rows["group"].tolist()
    assert by_group["mean"].tolist() == pytest.approx(expected_rows["mean"].tolist())
    charts = at.get("plotly_chart")
    assert len(charts) == 3
    # the ECDF draws one trace per group (labelled with its size), sorted by mean
    ecdf = json.loads(charts[1].proto.spec)["data"]
    assert [t["name"] for t in ecdf] == group_order(report.by_group)["label"].tolist()


def test_two_dimensions_and_another_metric(at, demo):
    _, table = demo
    at.multiselect(key="sg_dims").set_value(["inactive", "gender"]).run()
    at.selectbox(key="sg_metric").set_value("recall@10").run()
    at.segmented_control(key="sg_plot").set_value("Violin").run()
    assert not at.exception, at.exception
    report = subgroup_report(table, "recall@10", ("inactive", "gender"),
                             weak=table["weak"].to_numpy(bool))
    assert disparity(at) == expected(report, table)
    assert " × " in at.dataframe[0].value["group"].iloc[0]


def test_no_dimension_says_what_to_do(at):
    at.multiselect(key="sg_dims").set_value([]).run()
    assert not at.exception
    assert "Pick one or two dimensions" in at.info[0].value
    assert not at.metric


def test_adjusted_p_values_beside_the_raw_ones(at, demo):
    """Holm by default, BH as an option, over every dimension and pair the page offers."""
    _, table = demo
    at.multiselect(key="sg_dims").set_value(["gender"]).run()
    report = subgroup_report(table, "ndcg@10", "gender")
    shown = disparity(at)
    assert shown == expected(report, table)
    fam = frame_with(at, "p_holm")
    dims = subgroup_dimensions(table)
    assert len(fam) == len(dims) + len(dims) * (len(dims) - 1) // 2
    raw = fam["kruskal_p"].to_numpy()
    np.testing.assert_allclose(fam["p_holm"], adjust_p_values(raw, "holm"))
    assert "does not" in at.metric[4].help or "says nothing" in at.metric[4].help
    at.segmented_control(key="sg_p_adjust").set_value("BH").run()
    assert not at.exception, at.exception
    assert disparity(at) == expected(report, table, "p_bh")


def test_minimum_group_size_keeps_small_groups_listed_but_out_of_the_headline(at, demo):
    _, table = demo
    at.multiselect(key="sg_dims").set_value(["country", "age_band"]).run()
    big = 50  # many country × age band cells fall below it: listed, not in the headline
    at.number_input(key="sg_min_size").set_value(big).run()
    assert not at.exception, at.exception
    report = subgroup_report(table, "ndcg@10", ("country", "age_band"),
                             weak=table["weak"].to_numpy(bool), min_group_size=big)
    assert 0 < report.n_small_groups < len(report.by_group)
    assert disparity(at) == expected(report, table)
    shown = frame_with(at, "reliable")
    assert len(shown) == len(report.by_group)  # nothing hidden
    assert shown["reliable"].tolist() == (shown["size"] >= big).tolist()
    worst = shown[shown["reliable"]].sort_values("mean").iloc[0]["group"]
    assert report.worst_group == worst
    assert any(f"fewer than {big:,} evaluated users" in c.value for c in at.caption)


def test_cohorts_and_csv_download(at, demo):
    info, _ = demo
    cohorts = frame_with(at, "rule")
    assert {"rule", "n_users", "val_mean", "test_mean"} <= set(cohorts.columns)
    assert len(cohorts) >= 2 and cohorts["val_mean"].is_monotonic_increasing
    # exactly the run's weak_cohorts.csv, whatever metric the page shows
    on_disk = pd.read_csv(info.path / "weak_cohorts.csv")
    pd.testing.assert_frame_equal(
        cohorts.reset_index(drop=True), on_disk[list(cohorts.columns)], check_dtype=False)
    at.selectbox(key="sg_metric").set_value("recall@10").run()
    pd.testing.assert_frame_equal(frame_with(at, "rule"), cohorts)
    dl = at.download_button(key="sg_download")
    assert "CSV" in dl.label


def _spec(at, i):
    return json.loads(at.get("plotly_chart")[i].proto.spec)


def test_groups_sorted_by_mean_with_sizes_and_the_default_plot_fits_the_data(at, demo):
    """Issue #9, point 15: groups by mean with sizes in the labels; NDCG is 0 for most users,
    so the default is a histogram (with the reason), not a box collapsed onto 0."""
    _, table = demo
    report = subgroup_report(table, "ndcg@10", "activity", weak=table["weak"].to_numpy(bool))
    order = group_order(report.by_group)
    assert (table["ndcg@10"].dropna() == 0).mean() > 0.5
    assert at.segmented_control(key="sg_plot").value == "Histogram"
    assert any("score exactly 0" in c.value for c in at.caption)
    dist, ecdf, means = (_spec(at, i)["data"] for i in range(3))
    assert {t["type"] for t in dist} == {"bar"}
    assert [t["name"] for t in dist] == order["label"].tolist()
    assert [t["name"] for t in ecdf] == order["label"].tolist()
    assert [t["name"] for t in means] == order["label"].tolist()
    assert order["mean"].is_monotonic_increasing
    size = dict(zip(report.by_group["group"], report.by_group["size"], strict=True))
    assert order["label"].tolist() == [f"{g} (n={size[g]:,})" for g in order["group"]]
    shown = frame_with(at, "reliable")
    assert shown["group"].tolist() == order["group"].tolist()
    # a metric few users score 0 on gets the box plot
    at.selectbox(key="sg_metric").set_value("auc").run()
    assert not at.exception, at.exception
    assert at.segmented_control(key="sg_plot").value == "Box"
    assert {t["type"] for t in _spec(at, 0)["data"]} == {"box"}
    # drawn from exact figures over every user of the group, no point sent
    stats = box_stats(table, "auc", "activity").set_index("group")
    order = group_order(subgroup_report(table, "auc", "activity",
                                        weak=table["weak"].to_numpy(bool)).by_group)
    label = dict(zip(order["label"], order["group"], strict=True))
    for trace in _spec(at, 0)["data"]:
        assert trace["boxpoints"] is False and "y" not in trace
        figures = stats.loc[label[trace["name"]]]
        assert trace["q1"] == [pytest.approx(figures["q1"])]
        assert trace["median"] == [pytest.approx(figures["median"])]
        assert trace["upperfence"] == [pytest.approx(figures["upperfence"])]


def test_violin_density_stays_inside_the_data(at):
    at.selectbox(key="sg_metric").set_value("auc").run()
    at.segmented_control(key="sg_plot").set_value("Violin").run()
    assert not at.exception, at.exception
    traces = _spec(at, 0)["data"]
    assert traces and all(t["type"] == "violin" and t["spanmode"] == "hard" for t in traces)


def test_many_groups_show_the_lowest_and_highest_by_mean_and_mark_small_ones(at, demo):
    _, table = demo
    at.multiselect(key="sg_dims").set_value(["country", "age_band"]).run()
    assert not at.exception, at.exception
    report = subgroup_report(table, "ndcg@10", ("country", "age_band"),
                             weak=table["weak"].to_numpy(bool))
    order = group_order(report.by_group, report.min_group_size)
    assert len(order) > 8 and order["small"].any()
    assert at.number_input(key="sg_line_groups").value == 4
    ecdf = [t["name"] for t in _spec(at, 1)["data"]]
    assert ecdf == order["label"].iloc[:4].tolist() + order["label"].iloc[-4:].tolist()
    means = {t["name"]: t for t in _spec(at, 2)["data"]}
    assert len(means) == len(order)  # the means show every group
    for row in order.itertuples():
        assert row.label.endswith(", small)") == row.small
        assert means[row.label]["marker"].get("opacity") == (0.35 if row.small else None)
    at.number_input(key="sg_line_groups").set_value(2).run()
    ecdf = [t["name"] for t in _spec(at, 1)["data"]]
    assert ecdf == order["label"].iloc[:2].tolist() + order["label"].iloc[-2:].tolist()


def test_group_sizes_say_which_users_each_page_counts(at, demo):
    """Subgroups counts users with a test value; the Weak users page those with a validation
    value of the rule's metric: both sizes are in the table, and the caption says why."""
    info, table = demo
    rule = info.headline["weak_users"]["rule"]
    val = f"val_{rule['metric']}"
    shown = frame_with(at, "reliable").set_index("group")
    weak = select_weak_users(table, WeakRule(**rule), dimensions=["activity"])
    weak_page = weak.breakdown["activity"].set_index("group")["n_users"]
    assert shown[f"n_{val}"].to_dict() == weak_page.to_dict()
    assert shown["n_all"].to_dict() == table.groupby("activity", observed=False).size().to_dict()
    assert (shown["size"] != shown[f"n_{val}"]).any()  # the two populations differ here
    assert any(f"validation {val}" in c.value for c in at.caption)


def test_taste_categories_are_two_more_dimensions_computed_once(at, demo, monkeypatch):
    """The toggle adds the dominant taste category and the taste focus (from the run's item
    factors by default), reported like any other dimension: one row per category, the
    evaluated users split among them, the same CIs and family-adjusted p-values; the
    categories are computed once per (run, source, n), not on every interaction."""
    info, _ = demo
    run = RunStore(Workspace(os.environ["WEAKSPOT_WORKSPACE"])).load_baseline(info.run_id)
    calls = []
    real = taste_module.taste_categories

    def counted(*args, **kwargs):
        calls.append(kwargs["n_categories"])
        return real(*args, **kwargs)

    monkeypatch.setattr(taste_module, "taste_categories", counted)
    assert "taste_category" not in at.multiselect(key="sg_dims").options
    assert at.selectbox(key="sg_taste_source").disabled  # set once the toggle is on
    from streamlit.runtime.memory_media_file_storage import MemoryMediaFileStorage

    served = {}  # file name -> the bytes a download button serves
    real_store = MemoryMediaFileStorage.load_and_get_id

    def store(self, path_or_data, mimetype, kind, filename=None):
        served[filename] = path_or_data
        return real_store(self, path_or_data, mimetype, kind, filename)

    monkeypatch.setattr(MemoryMediaFileStorage, "load_and_get_id", store)
    at.toggle(key="sg_taste").set_value(True).run()
    assert not at.exception, at.exception
    # the download then carries the taste columns
    header = served[f"{info.run_id}-per_user-taste.csv"].split(b"\n", 1)[0].decode()
    assert {"taste_category", "taste_focus"} <= set(header.split(","))
    assert at.selectbox(key="sg_taste_source").options == [
        "the run's item factors", "TF-IDF of the item texts"]  # the run is ALS: factors first
    assert at.selectbox(key="sg_taste_source").value == "factors"
    k = 7  # a size no other test asks for: computed here, once
    at.number_input(key="sg_taste_k").set_value(k).run()
    assert calls[-1] == k
    options = at.multiselect(key="sg_dims").options
    assert {"taste_category", "taste_focus"} <= set(options)
    at.multiselect(key="sg_dims").set_value(["taste_category"]).run()
    assert not at.exception, at.exception
    n_calls = len(calls)
    table = taste_module.taste_table(run, "factors", n_categories=k)  # the expected figures
    n_calls += 1
    report = subgroup_report(table, "ndcg@10", "taste_category",
                             weak=table["weak"].to_numpy(bool))
    assert disparity(at) == expected(report, table)  # the family includes the taste dimensions
    shown = frame_with(at, "reliable")
    assert len(shown) == k and all(g.startswith("T") for g in shown["group"])
    evaluated = int(table["ndcg@10"].notna().sum())
    assert shown["size"].sum() == evaluated == int(report.overall["size"])
    assert shown["mean"].tolist() == pytest.approx(
        report.by_group.sort_values("mean", kind="stable")["mean"].tolist())
    assert shown["ci_low"].tolist() == pytest.approx(
        report.by_group.sort_values("mean", kind="stable")["ci_low"].tolist())
    fam = frame_with(at, "p_holm")
    assert {"taste_category", "taste_focus", "taste_category × taste_focus"} <= set(
        fam["dimension"])
    # other widgets move: nothing is clustered again; off and on again: still cached
    at.number_input(key="sg_min_size").set_value(30).run()
    at.multiselect(key="sg_dims").set_value(["taste_focus", "activity"]).run()
    at.toggle(key="sg_taste").set_value(False).run()
    assert "taste_focus" not in at.multiselect(key="sg_dims").options
    at.toggle(key="sg_taste").set_value(True).run()
    assert not at.exception, at.exception
    assert len(calls) == n_calls and at.number_input(key="sg_taste_k").value == k
    # TF-IDF: its own categories, computed once too
    at.selectbox(key="sg_taste_source").set_value("tfidf").run()
    assert not at.exception, at.exception
    assert len(calls) == n_calls + 1
