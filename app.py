"""Weakspot: which users does our recommender fail, and what would fixing them cost?

Until the full app lands, this page shows the demo dataset's headline numbers: a baseline
(ALS) trained and evaluated per user, the subgroups it serves worst and its weak users.
"""

from __future__ import annotations

import streamlit as st

from analysis.demo import ensure_demo_dataset
from analysis.errors import AnalysisError
from analysis.pipeline import EvaluateConfig, run_pipeline
from analysis.workspace import Workspace

st.set_page_config(page_title="Weakspot", layout="wide")


@st.cache_resource(show_spinner="Training the baseline on the demo dataset...")
def _demo_run():
    dataset = ensure_demo_dataset(Workspace())
    return run_pipeline(dataset, EvaluateConfig())


st.title("Weakspot")
st.caption("Which users does our recommender fail, and what would it cost to fix them with an LLM?")
try:
    run = _demo_run()
except AnalysisError as err:
    st.error(str(err))
    st.stop()

ds, k = run.dataset, run.config.k
overall = run.evaluation.overall()
st.subheader(
    f"Demo dataset: {ds.n_users:,} users, {ds.n_items:,} items, {ds.n_interactions:,} interactions"
)
c = st.columns(4)
c[0].metric(
    f"NDCG@{k}",
    f"{overall[f'ndcg@{k}']:.3f}",
    help="Mean per-user NDCG on the test split (1 = every relevant item ranked first).",
)
c[1].metric(
    f"Recall@{k}",
    f"{overall[f'recall@{k}']:.3f}",
    help="Mean share of a user's held-out relevant items found in the top k.",
)
c[2].metric(
    "AUC",
    f"{overall['auc']:.3f}",
    help="Mean per-user probability that a relevant item outranks an unseen one.",
)
c[3].metric(
    "Weak users",
    f"{run.weak.n_weak:,} ({run.weak.share:.0%})",
    help="Users at or below the 20th percentile of validation AUC (Kaur & Shah's metric).",
)
st.write(
    "Baseline: ALS (implicit), per-user temporal split (last 5 interactions to test, 5 before "
    "to validation), seed 0. Weak users are chosen on validation and judged on test."
)
st.subheader("Weakest cohorts")
st.caption(
    f"Leaves of a depth-3 decision tree fitted to per-user NDCG@{k} on user features, worst "
    f"first (overall mean {overall[f'ndcg@{k}']:.3f})."
)
leaves = run.cohorts.leaves[["rule", "n_users", "share", "mean_metric"]]
st.dataframe(
    leaves,
    hide_index=True,
    column_config={
        "rule": st.column_config.TextColumn("Cohort", width="large"),
        "n_users": st.column_config.NumberColumn("Users", format="%d"),
        "share": st.column_config.NumberColumn("Share of users", format="percent"),
        "mean_metric": st.column_config.NumberColumn(f"Mean NDCG@{k}", format="%.3f"),
    },
)
