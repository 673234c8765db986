"""Overview: the active run's headline numbers, its weakest cohorts, and where to go next."""

from __future__ import annotations

import plotly.express as px
import streamlit as st

from analysis.errors import AnalysisError
from analysis.formatting import fmt_metric
from analysis.subgroups import MIN_GROUP_SIZE, subgroup_report
from analysis.subgroups.cohorts import read_cohorts
from analysis.subgroups.distributions import (
    extreme_groups,
    group_order,
    histogram_by_group,
    subgroup_dimensions,
    weakest_dimension,
)
from pages._charts import plot_escape, plot_labels
from pages._shared import (
    active_run_id,
    loaded_run,
    md_escape,
    metric_help,
    run_info,
    show_error,
    sidebar,
    workspace,
)
from pages._widgets import cohort_table

#: groups of the weakest dimension drawn (the lowest and highest by mean past twice this)
N_ENDS = 3
WEAK_COLORS = {"weak": "#d62728", "not weak": "#9ecae1"}


@st.cache_resource(max_entries=8, show_spinner="Finding the weakest dimension...")
def _weakest(ws_path: str, run_id: str, metric: str):
    """The dimension whose groups differ most in ``metric``, and its chart (None without
    one): per-user histogram per group, weak users marked, groups sorted by mean."""
    table = loaded_run(run_id).per_user
    dim = weakest_dimension(table, metric, subgroup_dimensions(table))
    if dim is None:
        return None, None, 0
    weak = table["weak"].to_numpy(bool)
    report = subgroup_report(table, metric, dim, weak=weak, n_boot=0)
    order = group_order(report.by_group, MIN_GROUP_SIZE)
    shown = extreme_groups(order, N_ENDS)
    label = dict(zip(order["group"], plot_labels(order["label"]), strict=True))
    hist = histogram_by_group(table, metric, dim, bins=10, mark=weak)
    hist = hist[hist["group"].isin(shown)].assign(
        group=lambda d: d["group"].map(label), mid=lambda d: (d["left"] + d["right"]) / 2,
        users=lambda d: d["marked"].map({True: "weak", False: "not weak"}))
    fig = px.bar(hist, x="mid", y="share", color="users", facet_col="group", facet_col_wrap=3,
                 color_discrete_map=WEAK_COLORS,
                 category_orders={"group": [label[g] for g in shown],
                                  "users": ["weak", "not weak"]},
                 hover_data={"left": ":.2f", "right": ":.2f", "count": True, "mid": False},
                 labels={"mid": plot_escape(metric), "share": "share of the group"})
    fig.for_each_annotation(lambda a: a.update(text=a.text.split("=", 1)[-1]))
    fig.update_layout(barmode="stack", legend_title=None, margin={"t": 40},
                      title=f"{plot_escape(metric)} per user by {plot_escape(dim)}")
    top = float(hist.groupby(["group", "mid"])["share"].sum().max()) if len(hist) else 1.0
    fig.update_yaxes(tickformat=".0%", range=[0, min(1.0, top * 1.1) or 1.0])  # stacked shares
    fig.update_xaxes(range=[0, 1])
    return dim, fig, len(order)


try:
    run_id = active_run_id()  # first start: builds the demo run before the sidebar lists runs
except AnalysisError as err:
    show_error(err)
    st.stop()
sidebar()
st.title("Weakspot")
st.caption("Which users does our recommender fail, and what would it cost to fix them with an LLM?")
try:
    run_id = active_run_id()
    info = run_info(run_id)
    run = loaded_run(run_id)
except AnalysisError as err:
    show_error(err)
    st.stop()

dataset, k = run.dataset, run.k
overall = info.headline["overall"]
weak = info.headline["weak_users"]
st.subheader(f"{md_escape(dataset.name)}: {dataset.n_users:,} users, {dataset.n_items:,} items, "
             f"{dataset.n_interactions:,} interactions")
cols = st.columns(4)
cols[0].metric(f"NDCG@{k}", f"{overall[f'ndcg@{k}']:.3f}", help=metric_help(f"ndcg@{k}"))
cols[1].metric(f"Recall@{k}", f"{overall[f'recall@{k}']:.3f}", help=metric_help(f"recall@{k}"))
cols[2].metric("AUC", fmt_metric(overall.get("auc"), 3),
               help=metric_help("auc") + " n/a: an imported run (no scorer).")
cols[3].metric("Weak users", f"{weak['n_weak']:,} ({weak['share']:.0%})",
               help="Users at or below the weak-user threshold on the validation split; "
                    "tune it on the Weak users page.")
st.markdown(f"Baseline: {md_escape(info.label)}. Weak users are chosen on validation and judged "
            f"on test (their test {weak['rule']['metric']}: {weak['test_mean_weak']:.3f} vs "
            f"{weak['test_mean_rest']:.3f} for the rest).")

try:
    dim, fig, n_groups = _weakest(workspace().path, run_id, f"ndcg@{k}")
except AnalysisError as err:
    show_error(err)
else:
    if fig is not None:
        st.subheader(f"Where the weak users are: {md_escape(dim)}")
        st.plotly_chart(fig, key="overview_weakest", width="stretch")
        more = (f" The {N_ENDS} lowest and {N_ENDS} highest of its {n_groups} groups by mean "
                "are drawn." if n_groups > 2 * N_ENDS else "")
        st.caption(
            f"{md_escape(dim)} is the dimension whose groups differ most in mean NDCG@{k} "
            f"(groups of at least {MIN_GROUP_SIZE} users). Each panel is one group, lowest mean "
            f"first, n its evaluated users: the share of them at each test NDCG@{k}, with the "
            f"weak users (chosen on validation {md_escape(weak['rule']['metric'])}) in red."
            + more)

st.subheader("Weakest cohorts")
try:
    cohorts = read_cohorts(info.path)  # exactly the run's weak_cohorts.csv
except AnalysisError as err:
    show_error(err)
else:
    if "test_mean" in cohorts.columns:
        st.caption(f"Leaves of a depth-3 decision tree fitted to per-user validation NDCG@{k} "
                   "on user features, worst first on validation; the test column is each "
                   f"cohort's NDCG@{k} on the test split the tree never saw (overall "
                   f"{overall[f'ndcg@{k}']:.3f}).")
    else:
        st.caption("This run's cohorts were fitted and reported on the test split (an older "
                   "run): their means are optimistic. Train the baseline again for cohorts "
                   "fitted on validation and judged on test.")
    cohort_table(cohorts, f"NDCG@{k}", key="overview_cohorts")
st.page_link("pages/4_weak_users.py", label="Tune the weak-user threshold", icon=":material/tune:")
st.page_link("pages/5_llm_rerank.py", label="Rerank the weak users with an LLM",
             icon=":material/auto_awesome:")
