"""Subgroups: how one per-user metric varies across the groups of one or two dimensions."""

from __future__ import annotations

import math
from typing import NamedTuple

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st

from analysis.errors import AnalysisError
from analysis.subgroups import MIN_GROUP_SIZE, kruskal_family
from analysis.subgroups.cohorts import read_cohorts
from analysis.subgroups.distributions import (
    MAX_LINE_GROUPS,
    box_stats,
    default_distribution_plot,
    ecdf_by_group,
    extreme_groups,
    group_labels,
    group_order,
    group_sizes,
    histogram_by_group,
    metric_columns,
    metric_range,
    subgroup_dimensions,
)
from analysis.subgroups.sampling import report_of_table, sample_of_table
from analysis.subgroups.taste import SOURCE_NAMES, TASTE_DIMENSIONS_NOTE, taste_sources, taste_table
from pages._charts import group_colors, plot_escape, plot_labels
from pages._scenarios import subgroups_section
from pages._shared import (
    loaded_run,
    md_escape,
    metric_help,
    page_start,
    run_info,
    show_error,
    workspace,
)
from pages._widgets import cohort_table

#: users drawn into a violin plot (the browser draws every point it is sent); the box plot is
#: drawn from exact figures over every user (:func:`analysis.subgroups.distributions.box_stats`)
MAX_POINTS = 20_000
#: the exact figures a box is drawn from
BOX_FIELDS = ("q1", "median", "q3", "lowerfence", "upperfence", "mean")

#: distribution charts offered (the default is chosen from the data)
PLOTS = ["Histogram", "Box", "Violin"]
#: bins of the histogram
BINS = 20

#: p-value adjustment offered: label -> column of kruskal_family
P_ADJUST = {"Holm": "p_holm", "BH": "p_bh"}

DISPARITY_HELP = {
    "worst": "The group with the lowest mean of the metric among groups of at least the "
             "minimum size (smaller groups are listed in the table but are too noisy to call "
             "worst: a handful of users is often lowest by chance).",
    "gap": "Difference: highest minus lowest group mean, over groups of at least the minimum "
           "size (0 = every group served alike).",
    "ratio": "Ratio: lowest / highest group mean, over groups of at least the minimum size "
             "(1 = parity; 0.8 is a common warning line).",
    "gini": "Gini coefficient of the per-user metric over all evaluated users (0 = everyone "
            "served equally, near 1 = a few users get all the quality).",
    "kruskal": "Kruskal-Wallis p-value of this one test, unadjusted: how often group "
               "differences at least this large would appear if every group's distribution "
               "were the same. Small (< 0.05): unlikely to be chance alone. It is not the "
               "chance that the groups are alike, and says nothing about how large the "
               "difference is, why, or whether it matters. With many dimensions and pairs to "
               "look at, some raw p-values are small by chance: read the adjusted one.",
    "Holm": "Holm-adjusted p-value: the raw p corrected for testing every dimension and every "
            "pair of them on this page (the family below). Below 0.05: the chance that any of "
            "the family's findings is a false alarm stays under 5%.",
    "BH": "Benjamini-Hochberg-adjusted p-value (false discovery rate) over every dimension "
          "and every pair of them: below 0.05, at most 5% of the findings called significant "
          "are expected to be false alarms. Less strict than Holm.",
    "min_size": "Groups with fewer evaluated users than this are listed (Reliable unticked) "
                "but enter no headline figure: worst group, gap, ratio, p-values. Their "
                "bootstrap CIs under-cover (too narrow) at such sizes.",
}



@st.cache_resource(max_entries=8, show_spinner="Clustering the items into taste categories...")
def _table(ws_path: str, run_id: str, taste: tuple[str, int] | None) -> pd.DataFrame:
    """The run's per-user table, with ``taste = (source, n)`` its taste dimensions added."""
    run = loaded_run(run_id)
    return run.per_user if taste is None else taste_table(run, taste[0], n_categories=taste[1])


@st.cache_data(max_entries=4, show_spinner=False)
def _dimensions(ws_path: str, run_id: str, taste) -> tuple[list[str], list[str]]:
    table = _table(ws_path, run_id, taste)
    return subgroup_dimensions(table), metric_columns(table)


class _View(NamedTuple):
    """One view of the page: the report and the tables its charts are drawn from."""

    report: object
    order: pd.DataFrame
    ecdf: pd.DataFrame
    hist: pd.DataFrame
    boxes: pd.DataFrame
    points: pd.DataFrame


@st.cache_resource(max_entries=32, show_spinner="Computing the subgroup report...")
def _view(ws_path: str, run_id: str, taste, dims: tuple[str, ...], metric: str, min_size: int):
    """The report, groups by mean, ECDF, histogram, box figures and plotted users of one
    view."""
    table = _table(ws_path, run_id, taste)
    grouping = dims[0] if len(dims) == 1 else dims
    report = report_of_table(table, metric, grouping, weak=table["weak"].to_numpy(bool),
                             min_group_size=min_size)  # design-based for a sampled run
    order = group_order(report.by_group, min_size)
    ecdf = ecdf_by_group(table, metric, grouping)
    hist = histogram_by_group(table, metric, grouping, bins=BINS)
    boxes = box_stats(table, metric, grouping)
    points = table.loc[table[metric].notna(), [metric]].assign(group=group_labels(table, grouping))
    points["group"] = points["group"].astype(str)
    if len(points) > MAX_POINTS:
        points = points.sample(n=MAX_POINTS, random_state=0)
    return _View(report, order, ecdf, hist, boxes, points)


@st.cache_resource(max_entries=16, show_spinner="Testing every dimension and pair...")
def _tests(ws_path: str, run_id: str, taste, dims_all: tuple[str, ...], metric: str,
           min_size: int):
    """Kruskal-Wallis of every dimension and pair, with Holm and BH over that family."""
    return kruskal_family(_table(ws_path, run_id, taste), metric, dims_all,
                          min_group_size=min_size)


@st.cache_resource(max_entries=32, show_spinner=False)
def _figures(ws_path: str, run_id: str, taste, dims: tuple[str, ...], metric: str, kind: str,
             min_size: int, n_ends: int):
    """The three charts of one view, built once (plotly figure building is the slow part).

    Groups are sorted by mean (lowest first) and labelled with their sizes, small groups
    marked; the ECDF and the histogram show the ``n_ends`` lowest and highest groups only.
    Group labels and the metric name come from the user's data: plotly gets them escaped.
    """
    report, order, ecdf, hist, boxes, points = _view(ws_path, run_id, taste, dims, metric,
                                                     min_size)
    label = dict(zip(order["group"], plot_labels(order["label"]), strict=True))
    colors = {label[g]: c for g, c in group_colors(order["group"]).items()}
    orders = {"group": [label[g] for g in order["group"]]}
    lines = set(extreme_groups(order, n_ends))
    shown = plot_escape(metric)
    points = points.assign(group=points["group"].map(label))
    ecdf = ecdf[ecdf["group"].isin(lines)].assign(group=lambda d: d["group"].map(label))
    bounds = metric_range(metric)
    if kind == "Histogram":
        hist = hist[hist["group"].isin(lines)].assign(
            group=lambda d: d["group"].map(label), mid=lambda d: (d["left"] + d["right"]) / 2)
        dist = px.bar(hist, x="mid", y="share", color="group", barmode="group",
                      color_discrete_map=colors, category_orders=orders,
                      hover_data={"left": ":.3f", "right": ":.3f", "count": True, "mid": False})
        dist.update_layout(xaxis_title=shown, yaxis_title="share of the group's users",
                           yaxis_tickformat=".0%", legend_title=None, margin={"t": 30},
                           title=f"{shown} per user")
        if bounds:
            dist.update_xaxes(range=list(bounds))
    elif kind == "Box":  # exact figures over every user, no points sent
        stats = boxes.set_index("group")
        dist = go.Figure([
            go.Box(name=label[g], x=[label[g]], marker_color=colors[label[g]], boxpoints=False,
                   **{f: [float(stats.at[g, f])] for f in BOX_FIELDS})
            for g in order["group"] if g in stats.index
        ])
        dist.update_layout(showlegend=False, xaxis_title=None, yaxis_title=shown,
                           margin={"t": 30}, title=f"{shown} per user")
        if bounds:
            dist.update_yaxes(range=list(bounds))
    else:
        dist = px.violin(points, x="group", y=metric, color="group", box=True,
                         color_discrete_map=colors, category_orders=orders,
                         labels={metric: shown})
        dist.update_traces(spanmode="hard")  # no density beyond the data
        dist.update_layout(showlegend=False, xaxis_title=None, margin={"t": 30},
                           title=f"{shown} per user")
    cdf = px.line(ecdf, x="value", y="ecdf", color="group", line_shape="hv",
                  color_discrete_map=colors, category_orders=orders)
    cdf.update_layout(yaxis_title="share of users ≤ value", xaxis_title=shown,
                      margin={"t": 30}, yaxis_tickformat=".0%", title="ECDF", legend_title=None)
    bars = report.by_group.assign(
        group=report.by_group["group"].astype(str).map(label),
        err_plus=report.by_group["ci_high"] - report.by_group["mean"],
        err_minus=report.by_group["mean"] - report.by_group["ci_low"],
    )
    means = px.bar(bars, x="group", y="mean", color="group", color_discrete_map=colors,
                   category_orders=orders, error_y="err_plus", error_y_minus="err_minus",
                   hover_data={"size": True, "err_plus": False, "err_minus": False})
    means.add_hline(y=float(report.overall["mean"]), line_dash="dot", annotation_text="overall")
    means.update_layout(showlegend=False, xaxis_title=None, yaxis_title=f"mean {shown}",
                        margin={"t": 30}, title="Mean with 95% bootstrap CI")
    small = {label[g] for g in order.loc[order["small"], "group"]}
    means.for_each_trace(lambda t: t.update(marker_opacity=0.35) if t.name in small else None)
    return dist, cdf, means


@st.cache_data(max_entries=16, show_spinner=False)
def _sizes(ws_path: str, run_id: str, taste, dims: tuple[str, ...], metric: str, val: str):
    """Users per group with a test value of ``metric`` and with a validation value ``val``."""
    table = _table(ws_path, run_id, taste)
    columns = [metric] + ([val] if val in table.columns and val != metric else [])
    return group_sizes(table, dims[0] if len(dims) == 1 else dims, columns)


@st.cache_data(max_entries=16, show_spinner=False)
def _cohorts(ws_path: str, run_id: str):
    """Exactly the run's ``weak_cohorts.csv``."""
    return read_cohorts(run_info(run_id).path)


@st.cache_resource(max_entries=2, show_spinner=False)
def _csv(ws_path: str, run_id: str, taste) -> bytes:
    """The per-user table as CSV, with the taste dimensions when they are shown, shared
    (bytes never change): ``cache_data`` would unpickle a copy on every rerun, about 100 ms
    per interaction for a million users' table."""
    return _table(ws_path, run_id, taste).to_csv(index=False).encode()


run_id, run = page_start("Subgroups", "Which groups of users does the baseline serve worst? "
                         "Pick one dimension, or two to cross them.")
taste_col, source_col, count_col = st.columns([2, 2, 1], vertical_alignment="bottom")
on = taste_col.toggle("Add taste categories", key="sg_taste", help=TASTE_DIMENSIONS_NOTE)
source = source_col.selectbox("Taste from", taste_sources(run), key="sg_taste_source",
                              format_func=SOURCE_NAMES.get, disabled=not on)
n_taste = count_col.number_input("Categories", 2, 30, 8, key="sg_taste_k", disabled=not on)
taste = (source, int(n_taste)) if on else None
try:
    ws_path = workspace().path
    dims_all, metrics = _dimensions(ws_path, run_id, taste)
except AnalysisError as err:
    show_error(err)
    st.stop()
if not dims_all:
    st.info("This run's per-user table has no subgroup dimension: ingest user attributes "
            "on the Data page and train a new baseline.")
    st.stop()

k = run.k
default_metric = f"ndcg@{k}" if f"ndcg@{k}" in metrics else metrics[0]
st.session_state.setdefault("sg_dims", [dims_all[0]])
st.session_state["sg_dims"] = [d for d in st.session_state["sg_dims"] if d in dims_all]
if st.session_state.get("sg_metric") not in metrics:
    st.session_state["sg_metric"] = default_metric
st.session_state.setdefault("sg_min_size", MIN_GROUP_SIZE)
st.session_state.setdefault("sg_p_adjust", "Holm")

metric_col, plot_col, scale_col = st.columns([5, 3, 3])  # room for the three plot choices
dims = metric_col.multiselect("Group by (one or two dimensions)", dims_all, max_selections=2,
                              key="sg_dims", help="Crossing two dimensions reports every pair of "
                              "groups (e.g. inactive × gender).")
metric = plot_col.selectbox("Metric", metrics, key="sg_metric", help=metric_help(default_metric))
choice = default_distribution_plot(_table(ws_path, run_id, taste)[metric])
if st.session_state.get("sg_plot_for") != metric:  # a new metric: the default fits its data
    st.session_state["sg_plot"] = choice.kind
    st.session_state["sg_plot_for"] = metric
kind = scale_col.segmented_control("Plot", PLOTS, key="sg_plot", required=True,
                                   help="Histogram: share of each group's users at every value. "
                                        "Box: median, quartiles, outliers. Violin: the density, "
                                        "drawn only over the values users have.")
size_col, adjust_col = st.columns([1, 1])
min_size = int(size_col.number_input("Minimum group size", min_value=1, step=1, key="sg_min_size",
                                     help=DISPARITY_HELP["min_size"]))
adjust = adjust_col.segmented_control("p-value adjustment", list(P_ADJUST), key="sg_p_adjust",
                                      required=True,
                                      help=DISPARITY_HELP["Holm"] + " " + DISPARITY_HELP["BH"])
if not dims:
    st.info("Pick one or two dimensions to compare groups.")
    st.stop()

try:
    report, order = _view(ws_path, run_id, taste, tuple(dims), metric, min_size)[:2]
    tests = _tests(ws_path, run_id, taste, tuple(dims_all), metric, min_size)
except AnalysisError as err:
    show_error(err)
    st.stop()
labels = {" × ".join(dims), " × ".join(dims[::-1])}
row = tests[tests["dimension"].isin(labels)]
p_adj = float(row[P_ADJUST[adjust]].iloc[0]) if len(row) else float("nan")


def _num(value: float, fmt: str) -> str:
    return "n/a" if math.isnan(value) else format(value, fmt)


cards = st.columns(6)
# the card holds a number (never truncated); the group it names is spelt out in full below
cards[0].metric("Worst group", _num(report.group_min, ".3f"),
                help=DISPARITY_HELP["worst"] + " The value is its mean; its name is below.")
cards[1].metric("Gap (max − min)", _num(report.difference, ".3f"), help=DISPARITY_HELP["gap"])
cards[2].metric("Ratio (min / max)", _num(report.ratio, ".2f"), help=DISPARITY_HELP["ratio"])
cards[3].metric("Gini", f"{report.gini:.3f}", help=DISPARITY_HELP["gini"])
cards[4].metric("Kruskal-Wallis p", _num(report.kruskal_p, ".2g"), help=DISPARITY_HELP["kruskal"])
cards[5].metric(f"{adjust}-adjusted p", _num(p_adj, ".2g"), help=DISPARITY_HELP[adjust])
if report.worst_group is not None:
    st.caption(f"Worst group: **{md_escape(report.worst_group)}** (mean {md_escape(metric)} "
               f"{report.group_min:.3f}).")
sample = sample_of_table(loaded_run(run_id).per_user)
st.caption(f"{int(report.overall['size']):,} evaluated users, overall mean "
           f"{md_escape(metric)} {report.overall['mean']:.3f}; {report.n_excluded:,} users "
           f"without a value are left out. {metric_help(metric)}" + ("" if sample is None else
           f" A sample of {sample.n_sampled:,} of {sample.n_frame:,} users: means and 95% "
           "intervals are design-based (stratified, with the finite population correction)."))
if report.n_small_groups:
    st.caption(f"{report.n_small_groups:,} of {len(report.by_group):,} groups have fewer than "
               f"{min_size:,} evaluated users: they are listed below (Reliable unticked) but "
               "left out of the worst group, gap, ratio and p-values, and their CIs are "
               "unreliable.", help=DISPARITY_HELP["min_size"])

n_ends = MAX_LINE_GROUPS // 2
if len(order) > MAX_LINE_GROUPS:
    n_ends = int(st.number_input(
        "Groups shown by the ECDF and histogram: the lowest and highest N by mean", min_value=1,
        max_value=len(order) // 2, value=MAX_LINE_GROUPS // 2, step=1, key="sg_line_groups",
        help=f"{len(order):,} groups would be {len(order):,} tangled lines; the box plot and "
             "the means show every group."))
    st.caption(f"The ECDF and the histogram show the {n_ends:,} lowest and {n_ends:,} highest "
               f"of the {len(order):,} groups by mean {md_escape(metric)}.")
if kind == choice.kind == "Histogram":
    st.caption(choice.reason)
st.caption("Groups are sorted by mean, lowest first; n is the group's evaluated users, and "
           "“small” marks a group below the minimum size (its mean is too noisy to rank).")
dist_fig, ecdf_fig, means_fig = _figures(ws_path, run_id, taste, tuple(dims), metric, kind,
                                         min_size, n_ends)
left, right = st.columns(2)
left.plotly_chart(dist_fig, key="sg_dist", width="stretch")
right.plotly_chart(ecdf_fig, key="sg_ecdf", width="stretch")
st.plotly_chart(means_fig, key="sg_means", width="stretch")
rule_metric = run_info(run_id).headline.get("weak_users", {}).get("rule", {}).get(
    "metric", "ndcg@10")
val = f"val_{rule_metric}"
sizes = _sizes(ws_path, run_id, taste, tuple(dims), metric, val)
by_group = report.by_group.merge(
    sizes.drop(columns=[f"n_{metric}"]).rename(columns={"n_users": "n_all"}), on="group",
    how="left").sort_values("mean", kind="stable", na_position="last")
counted = (f" The Weak users page counts a group's users with a validation {md_escape(val)}, "
           "the only ones a weak-user rule can select, so its sizes differ: both are listed."
           if f"n_{val}" in sizes.columns and val != metric else "")
st.caption(f"Users: the group's users with a test {md_escape(metric)} (evaluated), the ones "
           f"every figure on this page is computed over.{counted}")
st.dataframe(
    by_group, hide_index=True, key="sg_table", column_config={
        "size": st.column_config.NumberColumn(
            "Users", format="%d", help="Users of the group with a test value of the metric."),
        "n_all": st.column_config.NumberColumn("All users", format="%d",
                                               help="Every user of the group."),
        f"n_{val}": st.column_config.NumberColumn(
            f"With {val}", format="%d", help="Users with a validation value of the weak-user "
            "rule's metric: the group's size on the Weak users page."),
        "mean": st.column_config.NumberColumn("Mean", format="%.3f"),
        "median": st.column_config.NumberColumn("Median", format="%.3f"),
        "ci_low": st.column_config.NumberColumn("CI low", format="%.3f"),
        "ci_high": st.column_config.NumberColumn("CI high", format="%.3f"),
        "weak_share": st.column_config.NumberColumn(
            "Weak share", format="percent", help="Share of the group flagged weak by the run's "
            "rule (validation split)."),
        "reliable": st.column_config.CheckboxColumn(
            "Reliable", help=DISPARITY_HELP["min_size"]),
    })
with st.expander(f"Every dimension and pair tested ({int(tests['family_size'].max()):,} "
                 "tests in the family)"):
    st.caption("Raw and adjusted Kruskal-Wallis p-values of every dimension and every pair "
               "this page can show, over groups of at least the minimum size. Compare the "
               "adjusted ones with 0.05.")
    st.dataframe(
        tests[["dimension", "n_groups", "kruskal_p", "p_holm", "p_bh"]], hide_index=True,
        key="sg_tests", column_config={
            "n_groups": st.column_config.NumberColumn("Groups tested", format="%d"),
            "kruskal_p": st.column_config.NumberColumn("Raw p", format="%.2g"),
            "p_holm": st.column_config.NumberColumn("Holm p", format="%.2g",
                                                    help=DISPARITY_HELP["Holm"]),
            "p_bh": st.column_config.NumberColumn("BH p", format="%.2g",
                                                  help=DISPARITY_HELP["BH"]),
        })

st.subheader("Weakest cohorts")
try:
    cohorts = _cohorts(ws_path, run_id)
except AnalysisError as err:
    show_error(err)
else:
    st.caption(f"The run's weak cohorts (`weak_cohorts.csv`): leaves of a depth-3 regression "
               f"tree fitted to per-user validation NDCG@{k} on user features, worst first on "
               "validation, each judged on the test split it never saw. Groups no single "
               "dimension shows; they do not follow the metric picked above.")
    cohort_table(cohorts, f"NDCG@{k}", key="sg_cohorts")

subgroups_section(ws_path, run_id, min_size)  # only when the run's dataset has scenarios

st.download_button("Download the per-user table (CSV)", data=_csv(ws_path, run_id, taste),
                   file_name=f"{run_id}-per_user{'-taste' if taste else ''}.csv",
                   mime="text/csv", key="sg_download",
                   icon=":material/download:", on_click="ignore")
