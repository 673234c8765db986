"""Overview: the active run's headline numbers, its weakest cohorts, and where to go next."""

from __future__ import annotations

import streamlit as st

from analysis.cohorts import read_cohorts
from analysis.errors import AnalysisError
from pages._shared import (
    active_run_id,
    cohort_table,
    loaded_run,
    md_escape,
    metric_help,
    run_store,
    show_error,
    sidebar,
)

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
    info = run_store().get(run_id)
    run = loaded_run(run_id)
except AnalysisError as err:
    show_error(err)
    st.stop()

ds, k = run.dataset, run.k
overall = info.headline["overall"]
weak = info.headline["weak_users"]
st.subheader(f"{md_escape(ds.name)}: {ds.n_users:,} users, {ds.n_items:,} items, "
             f"{ds.n_interactions:,} interactions")
c = st.columns(4)
c[0].metric(f"NDCG@{k}", f"{overall[f'ndcg@{k}']:.3f}", help=metric_help(f"ndcg@{k}"))
c[1].metric(f"Recall@{k}", f"{overall[f'recall@{k}']:.3f}", help=metric_help(f"recall@{k}"))
c[2].metric("AUC", f"{overall['auc']:.3f}", help=metric_help("auc"))
c[3].metric("Weak users", f"{weak['n_weak']:,} ({weak['share']:.0%})",
            help="Users at or below the weak-user threshold on the validation split; "
                 "tune it on the Weak users page.")
st.markdown(f"Baseline: {md_escape(info.label)}. Weak users are chosen on validation and judged "
            f"on test (their test {weak['rule']['metric']}: {weak['test_mean_weak']:.3f} vs "
            f"{weak['test_mean_rest']:.3f} for the rest).")

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
