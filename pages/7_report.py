"""Report: one click builds a self-contained HTML report of the active run (and one of its
reranks) for a product review, plus the per-user results as CSV and Parquet."""

from __future__ import annotations

import streamlit as st

from analysis.errors import AnalysisError
from analysis.formatting import fmt_metric
from analysis.gains.remedies import compare_remedies
from analysis.report import build_report, per_user_results, to_csv_bytes, to_parquet_bytes
from analysis.runs.remedy import remedies_of_run
from pages._shared import (
    active_run_id,
    fmt_share,
    fmt_usd,
    loaded_run,
    md_escape,
    metric_help,
    rerank_runs,
    run_children,
    run_info,
    run_store,
    show_error,
    sidebar,
    workspace,
)

sidebar()
st.title("Report")
st.caption("Everything a product review needs in one HTML file that opens offline: charts, "
           "tables, every setting, the dataset and run ids, timestamps.")
try:
    run_id = active_run_id()
    baseline = run_info(run_id)
    reranks = rerank_runs()
except AnalysisError as err:
    show_error(err)
    st.stop()
reranks = reranks[reranks["parent_run_id"] == run_id]
NONE = "(baseline only)"
options = [NONE, *reranks["run_id"].tolist()]
labels = {NONE: NONE, **dict(zip(reranks["run_id"], reranks["label"], strict=True))}
chosen = st.selectbox("Include the LLM rerank", options, key="report_rerank",
                      index=1 if len(options) > 1 else 0, format_func=labels.get,
                      help="The reranks made from the active run (LLM rerank page).")
if len(options) == 1:
    st.caption("No rerank of this run yet: launch one on the LLM rerank page to add its gains "
               "and costs.")
rerank = None if chosen == NONE else run_info(chosen)
children = tuple(run_children(run_id))
remedy_key = None
if any(kind == "remedy" for _, kind in children):
    cols = st.columns([2, 1, 1, 1])
    if cols[0].toggle("Include the remedies compared", True, key="report_remedies",
                      help="Every remedy of the run (Remedies page) on one table, with its "
                      "verdict."):
        remedy_key = (children,
                      float(cols[1].number_input("Users a month", 0, 10**10, 100_000,
                                                 step=10_000, key="report_rm_users")),
                      float(cols[2].number_input("Refreshes a month", 0.0, 1000.0, 4.0,
                                                 key="report_rm_refresh")),
                      float(cols[3].number_input("Target net gain", 0.0, 1.0, 0.01,
                                                 step=0.005, format="%.3f",
                                                 key="report_rm_goal")))


# cached as a resource: the report (~4.5 MB with plotly.js) and the files are read-only, so
# every rerun reuses them instead of unpickling copies
@st.cache_resource(max_entries=4, show_spinner="Building the report...")
def _build(ws_key: str, baseline_id: str, rerank_id: str | None, remedy_key: tuple | None):
    base = run_info(baseline_id)
    rerank_info = None if rerank_id is None else run_info(rerank_id)
    comparison = goal = None
    if remedy_key is not None:
        _, users, refreshes, goal = remedy_key
        run = loaded_run(baseline_id)
        reranks, remedies = remedies_of_run(run_store(), baseline_id, run.dataset)
        comparison = compare_remedies(run, reranks=reranks, remedies=remedies,
                                      users_per_month=users, refreshes_per_month=refreshes)
    # the run already loaded for the other pages gives the free bracket without a re-read
    report = build_report(base, rerank_info,
                          loaded=loaded_run(baseline_id) if rerank_info is None else None,
                          remedies=comparison, target_gain=goal)
    table = per_user_results(base, rerank_info)
    return report, to_csv_bytes(table), to_parquet_bytes(table), len(table)


try:
    report, csv, parquet, n_rows = _build(workspace().path, run_id, None if rerank is None
                                          else rerank.run_id, remedy_key)
except AnalysisError as err:
    show_error(err)
    st.stop()

headline = report.headline
st.subheader(f"{md_escape(headline['dataset'])} · {md_escape(headline['model'])}")
cols = st.columns(4)
cols[0].metric("NDCG", f"{headline['ndcg']:.3f}", help=metric_help("ndcg"))
cols[1].metric("AUC", fmt_metric(headline["auc"], 3),
               help=metric_help("auc") + " n/a: an imported run (no scorer).")
cols[2].metric("Weak users", f"{headline['n_weak']:,} ({fmt_share(headline['weak_share'])})",
               help="Weak on validation under the run's rule, judged on test.")
cols[3].metric("Evaluated users", f"{headline['n_evaluated']:,} of {headline['n_users']:,}",
               help="Users with held-out relevant test items.")
if rerank is not None:
    cols = st.columns(4)
    cols[0].metric("NDCG gain, weak users", f"{headline['gain_selected']:+.4f}",
                   help="Mean after minus before over the users sent to the LLM.")
    cols[1].metric("NDCG gain, everyone", f"{headline['gain_all']:+.4f}",
                   help="Over all evaluated users (the others gain 0).")
    cols[2].metric("Weak users remaining",
                   f"{headline['weak_before']:,} -> {headline['weak_after']:,}",
                   help="Reranked users still at or below the rule's threshold on test.")
    cols[3].metric("Spent", fmt_usd(headline["usd_spent"]),
                   help=f"Cost per +0.01 NDCG: {fmt_usd(headline['usd_per_0.01'])}.")
st.caption(f"Baseline run `{report.baseline_run_id}`"
           + (f" · rerank run `{report.rerank_run_id}`" if report.rerank_run_id else "")
           + f" · {report.n_charts} charts · built {report.generated_at:%Y-%m-%d %H:%M} UTC")

st.markdown(f"**Verdict.** {md_escape(headline['verdict'])}")
st.caption("The report as it will be downloaded: scroll inside the frame.")
with st.container(key="report_preview"):
    st.iframe(report.html, height=720)

cols = st.columns(3)
cols[0].download_button("HTML report", report.html.encode("utf-8"), file_name=report.filename(),
                        mime="text/html", key="report_html", type="primary",
                        icon=":material/download:", on_click="ignore")
stem = f"weakspot-per-user-{report.rerank_run_id or report.baseline_run_id}"
cols[1].download_button(f"Per-user results, CSV ({n_rows:,} rows)", csv, file_name=f"{stem}.csv",
                        mime="text/csv", key="report_csv", icon=":material/table:",
                        on_click="ignore")
cols[2].download_button("Per-user results, Parquet", parquet, file_name=f"{stem}.parquet",
                        mime="application/octet-stream", key="report_parquet",
                        icon=":material/table:", on_click="ignore")
