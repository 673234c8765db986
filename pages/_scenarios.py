"""The "Scenarios" sections of the Subgroups and Weak users pages (issue 14): shown only
when the run's dataset has scenarios. Pair metrics are computed once per (run, mode) and
cached; a slider move only re-selects from the cached selector."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from analysis.errors import AnalysisError
from analysis.scenarios import (
    MODES,
    WeakPairSelector,
    pair_metrics,
    scenario_heatmap,
    scenario_report,
)
from analysis.subgroups.distributions import subgroup_dimensions
from analysis.weak_users import WeakRule
from pages._charts import plot_labels
from pages._shared import loaded_run, md_escape, show_error

MODE_HELP = ("Catalogue: each user's own top-k of the shared model, whatever scenario its items "
             "come from. Scenario: the run's top-C candidates kept where the item belongs to "
             "the scenario (a training interaction in it), then the first k.")


@st.cache_resource(max_entries=8, show_spinner="Measuring every user in every scenario...")
def _pairs(ws_path: str, run_id: str, mode: str):
    return pair_metrics(loaded_run(run_id), mode)


@st.cache_resource(max_entries=8, show_spinner="Comparing the scenarios...")
def _report(ws_path: str, run_id: str, mode: str, min_size: int):
    run = loaded_run(run_id)
    return scenario_report(_pairs(ws_path, run_id, mode), run.per_user, seed=run.summary.seed,
                           min_group_size=min_size)


@st.cache_resource(max_entries=8, show_spinner=False)
def _selector(ws_path: str, run_id: str, mode: str) -> WeakPairSelector:
    return WeakPairSelector(_pairs(ws_path, run_id, mode))


def _groups_table(rep, count: str, metric: str, key: str) -> None:
    """A report's groups: size, mean with its 95% interval, small groups marked."""
    table = rep.by_group[["group", "size", "mean", "ci_low", "ci_high", "reliable"]]
    st.dataframe(table, hide_index=True, key=key, column_config={
        "group": st.column_config.TextColumn("Group"),
        "size": st.column_config.NumberColumn(count, format="%d"),
        "mean": st.column_config.NumberColumn(f"Mean {metric}", format="%.4f"),
        "ci_low": st.column_config.NumberColumn("95% CI low", format="%.4f"),
        "ci_high": st.column_config.NumberColumn("95% CI high", format="%.4f"),
        "reliable": st.column_config.CheckboxColumn(
            "Reliable", help=f"At least {rep.min_group_size} observations: only reliable "
            "groups are ranked or named worst."),
    })


def _mode(key: str) -> str:
    return st.segmented_control("Lists", MODES, key=key, default="catalogue", required=True,
                                help=MODE_HELP)


def _opened(run_id: str, title: str, key: str) -> str | None:
    """A section's heading and list-mode control; None (nothing shown) without scenarios."""
    if not loaded_run(run_id).dataset.has_scenarios:
        return None
    st.subheader(title)
    return _mode(key)


def subgroups_section(ws_path: str, run_id: str, min_size: int) -> None:
    """Per-scenario table, cross vs single users and the scenario x subgroup heat map."""
    mode = _opened(run_id, "Scenarios", "sg_scen_mode")
    if mode is None:
        return
    run = loaded_run(run_id)
    try:
        report = _report(ws_path, run_id, mode, min_size)
    except AnalysisError as err:
        show_error(err)
        return
    metric = report.pairs.metric
    worst = report.worst_scenario
    st.caption(f"Mean {md_escape(metric)} per (user, scenario) pair, {mode} lists: each user "
               "measured on their held-out items of each scenario. Worst reliable scenario: "
               + (f"**{md_escape(worst)}**." if worst else "none (every scenario is small)."))
    _groups_table(report.by_scenario, "Pairs", metric, "sg_scen_table")
    st.caption("Cross-scenario users (training interactions in two or more scenarios) against "
               f"single-scenario users, on their own {md_escape(metric)}.")
    _groups_table(report.by_users, "Users", metric, "sg_scen_users")
    dims = [d for d in subgroup_dimensions(run.per_user)]
    if not dims:
        return
    by = st.selectbox("Heat map: scenario by", dims, key="sg_scen_by",
                      index=dims.index("activity") if "activity" in dims else 0)
    heat = scenario_heatmap(report.pairs, run.per_user, by, min_group_size=min_size)
    means, sizes = heat.grid("mean"), heat.grid("size")
    fig = go.Figure(go.Heatmap(
        z=means.to_numpy(), x=plot_labels(means.columns), y=plot_labels(means.index),
        text=sizes.to_numpy(), texttemplate="n=%{text}", colorscale="RdYlGn",
        hovertemplate="%{y} × %{x}: %{z:.3f}, n=%{text}<extra></extra>"))
    fig.update_layout(margin={"t": 30}, title=f"Mean {metric}; cells under {min_size} pairs "
                      "left blank")
    st.plotly_chart(fig, key="sg_scen_heat", width="stretch")
    if heat.worst is not None:
        st.caption(f"Worst reliable cell: **{md_escape(heat.worst[0])} × "
                   f"{md_escape(heat.worst[1])}**.")


def weak_pairs_section(ws_path: str, run_id: str) -> None:
    """Weak (user, scenario) pairs: a validation threshold, counts, the pairs, a download."""
    mode = _opened(run_id, "Weak (user, scenario) pairs", "wu_scen_mode")
    if mode is None:
        return
    run = loaded_run(run_id)
    try:
        selector = _selector(ws_path, run_id, mode)
    except AnalysisError as err:
        show_error(err)
        return
    metric = f"ndcg@{run.k}"
    t = st.slider(f"Weak pair: validation {metric} at or below", 0.0, 1.0, 0.0, 0.01,
                  key="wu_scen_threshold")
    weak = selector.select(WeakRule(metric=metric, threshold=float(t)))
    st.caption(f"A pair is weak when the user's validation {md_escape(metric)} on that "
               "scenario's items is at or below the threshold (chosen on validation), and is "
               f"judged on its test {md_escape(metric)}. At 0, every pair whose validation "
               "items were all missed is weak.")
    sel = weak.selection
    cols = st.columns(3)
    cols[0].metric("Weak pairs", f"{weak.n_weak:,}")
    cols[1].metric("Selectable pairs", f"{weak.n_pairs - weak.n_unselectable:,}",
                   help=f"Pairs with validation items of the scenario; {weak.n_unselectable:,} "
                        "pairs have none and cannot be selected.")
    cols[2].metric("Test, weak vs rest", "n/a" if sel.test_mean_weak != sel.test_mean_weak
                   else f"{sel.test_mean_weak:.3f} vs {sel.test_mean_rest:.3f}")
    st.dataframe(weak.table, hide_index=True, key="wu_scen_pairs")
    st.download_button("Download the weak pairs (CSV)", data=weak.table.to_csv(index=False),
                       file_name=f"{run_id}-weak_pairs.csv", mime="text/csv",
                       key="wu_scen_download", on_click="ignore")
