"""Weak users: tune the rule on validation, judge it once on test, see who they are and what
an LLM pass over them would cost. Every move re-selects from cached arrays; nothing is
refitted. The test verdict sits in its own panel and follows the slider only on request, so
the threshold is never chosen on test."""

from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
import streamlit as st

from analysis.errors import AnalysisError
from analysis.gains.cost import PriceTable
from analysis.gains.per_user_cost import per_user_cost_estimate
from analysis.rerank.cache import CallCache
from analysis.rerank.config import RerankConfig
from analysis.rerank.plan import plan_rerank, reprice_plan
from analysis.rerank.tokens import ApproxTokenCounter
from analysis.subgroups.distributions import (
    histogram,
    subgroup_dimensions,
    validation_figures,
    weak_composition,
)
from analysis.weak_users import WeakRule, WeakUserSelector
from pages._charts import PALETTE, plot_escape, plot_labels
from pages._scenarios import weak_pairs_section
from pages._shared import (
    current_weak_rule,
    fmt_share,
    fmt_usd,
    loaded_run,
    md_escape,
    metric_help,
    page_start,
    show_error,
    workspace,
)
from pages._widgets import RuleEditor, validation_metrics, weak_rule_editor, weak_rule_text

#: the weak-rule editor of this page (each threshold mode keeps its value while the other shows)
RULE_EDITOR = RuleEditor(prefix="wu_", cut_key="mode", cuts=("Percentile", "Absolute"),
                         compact=False, follow=False)
BACKENDS = ["anthropic"]
DEFAULT_MODEL = "claude-haiku-4-5"


def _pricing_config(run_id: str, backend: str, model: str) -> RerankConfig:
    """The rerank that prices every user: the widest rule, everyone with a validation value
    (AUC's, or NDCG's for a run without AUC over all items, an imported one; any narrower
    rule is priced from it), the default C or the run's own when it stored fewer."""
    run = loaded_run(run_id)
    metrics = validation_metrics(run.per_user, run.k)
    widest = WeakRule(metric="auc" if "auc" in metrics else metrics[0], percentile=100.0)
    return RerankConfig(backend=backend, model=model, rule=widest,
                        n_candidates=min(RerankConfig.n_candidates, run.n_candidates))


@st.cache_resource(max_entries=8, show_spinner="Preparing the weak-user selector...")
def _selector(ws_path: str, run_id: str) -> WeakUserSelector:
    table = loaded_run(run_id).per_user
    return WeakUserSelector(table, subgroup_dimensions(table))


@st.cache_data(max_entries=16, show_spinner=False)
def _histogram(ws_path: str, run_id: str, column: str):
    return histogram(loaded_run(run_id).per_user[column], bins=40, value_range=(0.0, 1.0))


@st.cache_resource(max_entries=8, show_spinner="Sizing every prompt once to price them...")
def _plan(ws_path: str, run_id: str):
    """Every user's prompt, sized once per run (built only for a token-count sample)."""
    config = _pricing_config(run_id, BACKENDS[0], DEFAULT_MODEL)
    return plan_rerank(loaded_run(run_id), config,
                       ApproxTokenCounter(config.backend, config.model),
                       CallCache(workspace()), PriceTable(), pricing_only=True)


@st.cache_resource(max_entries=16, show_spinner=False)
def _per_user_cost(ws_path: str, run_id: str, backend: str, model: str, batch: bool):
    plan = _plan(ws_path, run_id)
    if (backend, model) != (plan.config.backend, plan.config.model):  # cache looked up again
        config = _pricing_config(run_id, backend, model)
        plan = reprice_plan(plan, config, ApproxTokenCounter(backend, model),
                            CallCache(workspace()), PriceTable())
    return per_user_cost_estimate(plan, PriceTable().price(model), batch=batch)


def _judge(rule: WeakRule) -> None:
    st.session_state["wu_judged_rule"] = rule


run_id, run = page_start(
    "Weak users",
    "Users whose validation metric is at or below a threshold: chosen on validation, judged on "
    "test, and the ones an LLM reranking pass would go to.",
)
try:
    ws_path = workspace().path
    selector = _selector(ws_path, run_id)
except AnalysisError as err:
    show_error(err)
    st.stop()

k = run.k
metrics = validation_metrics(run.per_user, k)
if not metrics:
    st.info("This run has no validation metrics to select weak users on: train a baseline "
            "with a split that has a validation fold on the Baseline page.")
    st.stop()
stored = current_weak_rule(run)
rule = weak_rule_editor(RULE_EDITOR, metrics, stored)  # a first visit: the stored rule
metric = rule.metric

try:
    weak = selector.select(rule)
except AnalysisError as err:
    show_error(err)
    st.stop()
st.session_state["weak_rule"] = rule  # the LLM rerank page starts from it
st.session_state.setdefault("wu_judged_rule", stored)  # the verdict starts on the stored rule
tuning = validation_figures(run.per_user, weak)


def _mean(value: float) -> str:
    return "n/a" if np.isnan(value) else f"{value:.3f}"


st.caption("Tuning figures, on the validation split the rule is chosen on: move the threshold "
           "by these.")
cards = st.columns(4)
cards[0].metric("Weak users", f"{weak.n_weak:,}", help="Users the rule selects on the validation "
                f"split (threshold {weak.threshold_value:.3f} on val {metric}).")
cards[1].metric("Share of users", fmt_share(weak.share),
                help=f"Weak users / users with a validation value ({weak.n_unselectable:,} users "
                     "have none and are never weak).")
diff = tuning.mean_weak - tuning.mean_rest
cards[2].metric("Weak, validation", _mean(tuning.mean_weak),
                delta=None if np.isnan(diff) else f"{diff:+.3f} vs the rest",
                help=f"Mean validation {metric}. " + metric_help(f"val_{metric}") + " Mean over "
                     "the weak users, on the split the rule was chosen on: lower by construction.")
cards[3].metric("Rest, validation", _mean(tuning.mean_rest),
                help=f"Mean validation {metric} of the other users. "
                     + metric_help(f"val_{metric}"))
if weak.ties_note:
    st.warning(weak.ties_note, icon=":material/warning:")

with st.container(border=True, key="wu_heldout"):
    judged_rule = st.session_state["wu_judged_rule"]
    try:
        judged = selector.select(judged_rule)
    except AnalysisError as err:
        show_error(err)
    else:
        st.markdown("**Held-out test verdict**")
        judged_text = weak_rule_text(judged_rule, judged.threshold_value)
        st.caption(f"Judged on the test split for the rule {judged_text} "
                   f"({judged.n_weak:,} weak users). It does not follow the slider: choose the "
                   "rule on the validation figures above, then judge it once. Do not move the "
                   "threshold to improve these figures: a rule chosen on test makes them "
                   "optimistic, and test no longer judges it.")
        verdict = st.columns([1, 1, 1], vertical_alignment="bottom")
        jdiff = judged.test_mean_weak - judged.test_mean_rest
        verdict[0].metric("Weak, test", _mean(judged.test_mean_weak),
                          delta=None if np.isnan(jdiff) else f"{jdiff:+.3f} vs the rest",
                          help=f"Mean test {judged_rule.metric}. " + metric_help(judged_rule.metric)
                          + " Mean on the test split, which the selection never saw.")
        verdict[1].metric("Rest, test", _mean(judged.test_mean_rest),
                          help=f"Mean test {judged_rule.metric} of the other users. "
                          + metric_help(judged_rule.metric))
        verdict[2].button("Judge the current rule on test", key="wu_judge", on_click=_judge,
                          args=(rule,), disabled=rule == judged_rule,
                          help="Once you have settled on a rule on validation: show its test "
                               "figures here.")
        if rule != judged_rule:
            st.caption("The rule above has changed since it was judged: these test figures "
                       "belong to the judged rule, not to the current one.")

hist = _histogram(ws_path, run_id, f"val_{metric}")
below = hist["right"].to_numpy() <= weak.threshold_value
fig = go.Figure(
    go.Bar(x=(hist["left"] + hist["right"]) / 2, y=hist["count"],
           width=hist["right"] - hist["left"], hovertemplate="%{y} users<extra></extra>",
           marker_color=np.where(below, PALETTE[1], "#b0b0b0")),
    layout={"xaxis": {"title": f"validation {metric}"}, "yaxis": {"title": "users"},
            "bargap": 0.05, "margin": {"t": 30}, "title": f"Validation {metric} of every user",
            "shapes": [{"type": "line", "x0": weak.threshold_value, "x1": weak.threshold_value,
                        "y0": 0, "y1": 1, "yref": "paper",
                        "line": {"color": PALETTE[1], "dash": "dash"}}],
            "annotations": [{"x": weak.threshold_value, "y": 1, "yref": "paper",
                             "text": f"threshold {weak.threshold_value:.3f}",
                             "showarrow": False, "xanchor": "left", "yanchor": "bottom"}]},
)
st.plotly_chart(fig, key="wu_hist", width="stretch")

st.subheader("Who they are")
comp = weak_composition(weak)
if selector.dimensions:
    dim = st.selectbox("Dimension", selector.dimensions, key="wu_dim")
    part = comp[comp["dimension"] == dim].drop(columns="dimension")
    fig = go.Figure(  # group labels and the dimension name come from the data: escaped
        [go.Bar(name=name, x=plot_labels(part["group"]), y=part[col], marker_color=color,
                hovertemplate="%{y:.1%}<extra>" + name + "</extra>")
         for name, col, color in (("all users", "share_all", "#b0b0b0"),
                                  ("weak users", "share_weak", PALETTE[1]))],
        layout={"barmode": "group", "yaxis": {"tickformat": ".0%", "title": "share"},
                "xaxis": {"title": plot_escape(dim), "type": "category"}, "margin": {"t": 30}},
    )
    st.plotly_chart(fig, key="wu_comp_chart", width="stretch")
    st.dataframe(
        part, hide_index=True, key="wu_composition",
        column_config={
            "n_users": st.column_config.NumberColumn("Users", format="%d"),
            "n_weak": st.column_config.NumberColumn("Weak", format="%d"),
            "share_all": st.column_config.NumberColumn("Share of all users", format="percent"),
            "share_weak": st.column_config.NumberColumn("Share of weak users", format="percent"),
            "over_representation": st.column_config.NumberColumn(
                "Over-representation", format="%.2f×",
                help="Share among weak users / share among all users (> 1: over-represented)."),
        },
    )
    st.caption(f"Users: the group's users with a validation {md_escape(metric)}, the only ones "
               "a rule can select. The Subgroups page counts the users with a test value, so "
               "a group can be larger there (its table shows both).")
else:
    st.info("This run has no subgroup dimension to break the weak users down by.")

weak_pairs_section(ws_path, run_id)  # only when the run's dataset has scenarios

st.subheader("What an LLM pass over them would cost")
prices = PriceTable()
cols = st.columns([1, 2, 1], vertical_alignment="bottom")
backend = cols[0].selectbox("Backend", BACKENDS, key="wu_backend")
models = sorted(prices.prices)
st.session_state.setdefault("wu_model", DEFAULT_MODEL if DEFAULT_MODEL in models
                            else models[0])
model = cols[1].selectbox("Model", models, key="wu_model")
batch = cols[2].toggle("Batch API", key="wu_batch", help="Half price, answers within 24 h.")
try:
    proj = _per_user_cost(ws_path, run_id, backend, model, batch).project(weak.mask)
except AnalysisError as err:
    show_error(err)
else:
    cards = st.columns(4)
    cards[0].metric("Projected cost", fmt_usd(proj.expected_usd),
                    help="Expected dollars to rerank these users once: every prompt built and its "
                         "tokens estimated (~3.5 characters per token), answers of the expected "
                         f"length; prices of {prices.taken_on}. At most "
                         f"{fmt_usd(proj.upper_bound_usd)} if every answer runs to max_tokens.")
    cards[1].metric("Users sent", f"{proj.n_sent:,} of {proj.n_selected:,}",
                    help=md_escape(
                        f"Weak users with test items: the evaluation can judge only them; "
                        f"{proj.n_cached:,} of them are already answered in the cache. A "
                        f"deployment would send all {proj.n_selected:,} weak users, about "
                        f"{fmt_usd(proj.deployment_usd)} ({proj.n_not_planned:,} without test "
                        f"items priced at the mean of the others)."))
    cards[2].metric("Input tokens", f"{proj.input_tokens:,}",
                    help="Approximate prompt tokens of the calls still to make.")
    cards[3].metric("Per user", fmt_usd(proj.expected_usd / proj.n_sent if proj.n_sent else 0.0),
                    help="Projected cost / users sent.")
st.page_link("pages/5_llm_rerank.py", label="Rerank these users with an LLM",
             icon=":material/auto_awesome:")
