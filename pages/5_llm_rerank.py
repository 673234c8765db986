"""LLM rerank: send the weak users of the active run to an LLM within a budget, follow the
job live, and read what it gained against what it cost, down to one user's prompt."""

from __future__ import annotations

import math

import plotly.graph_objects as go
import streamlit as st

from analysis.errors import AnalysisError
from analysis.gains.controls import PAPER_PROTOCOL_NOTE
from analysis.gains.cost import PriceTable
from analysis.jobs.tasks import rerank_task
from analysis.rerank.cache import CallCache
from analysis.rerank.explain import call_details, explain_user
from analysis.rerank.history import HISTORY_STRATEGIES
from analysis.rerank.launch import DryRun, EstimateSettings, changed_settings, check_launch
from analysis.rerank.plan import plan_rerank
from analysis.rerank.settings import backend_factory, estimate_backend, rerank_config
from analysis.runs.summary import RerankSummary
from pages._charts import group_colors
from pages._rerank_panels import (
    backend_panel,
    dry_run_figures,
    dry_run_panel,
    job_panel,
    taste_inputs,
)
from pages._shared import (
    current_weak_rule,
    fmt_usd,
    jobs,
    md_escape,
    metric_help,
    page_start,
    rerank_run,
    run_store,
    show_error,
    workspace,
)
from pages._widgets import RuleEditor, validation_metrics, weak_rule_editor, weak_rule_text

TEMPLATES = ("paper", "llmrank", "rankgpt")
#: the weak-rule editor of this page (each cut keeps its value while the other is shown)
RULE_EDITOR = RuleEditor(prefix="rr_rule_", cut_key="kind", cuts=("percentile", "threshold"),
                         compact=True, follow=True)


run_id, run = page_start(
    "LLM rerank",
    "Send only the weak users to an LLM (their history and their baseline top C, shuffled); "
    "everyone else keeps the baseline ranking. Start with the free dry run.",
)
k = run.k

# --- settings ----------------------------------------------------------------------------
st.subheader("1. Backend and model")
pick = backend_panel(PriceTable())
choice, prices, status = pick.choice, pick.prices, pick.key

st.subheader("2. Prompt and budget")
cols = st.columns(5)
template = cols[0].selectbox("Template", TEMPLATES, key="rr_template",
                          help="paper: Kaur & Shah's prompt; llmrank: Hou et al.; rankgpt: "
                               "Sun et al.'s identifier permutation.")
history = cols[1].selectbox("History", HISTORY_STRATEGIES, key="rr_history",
                         help="recent: last 10 rated items; paper: 20 sampled, best rated first; "
                              "long-short: 5 recent + 10 most similar to the candidates.")
n_cand = cols[2].number_input("Candidates C", 2, int(run.n_candidates), min(20, run.n_candidates),
                           key="rr_candidates", help="The baseline's top C the LLM reorders.")
max_tokens = cols[3].number_input("Max tokens (0 = auto)", 0, 8192, 0, 16, key="rr_max_tokens",
                               help="Answer bound per user; auto is 8 x C + 64.")
budget = cols[4].number_input("Budget cap ($, 0 = none)", 0.0, 10_000.0, 1.0, 0.5,
                           key="rr_budget",
                           help="No attempt, retries included, starts that could take this job "
                                "past it at its worst case; a job launched again keeps what it "
                                "already spent. 0: the cap this job had before (none if new).")

cols = st.columns([1, 1, 2])
protocol = cols[0].selectbox(
    "Candidates", ["realistic", "paper"], key="rr_protocol",
    help="realistic: the baseline's top C, what a deployment would rerank. paper: Kaur & "
         "Shah's offline replication protocol (held-out items plus sampled unseen items): "
         "it hands the LLM the test items, so its gains are not deployment gains.")
pilot = cols[1].number_input(
    "Pilot users (0 = all)", 0, 100_000, 0, 10, key="rr_pilot",
    help="Rerank a random sample of this many weak users first; their net gain and its "
         "interval are projected to every weak user. The full pass reuses their answers.")
if protocol == "paper":
    cols[2].warning(PAPER_PROTOCOL_NOTE, icon=":material/science:")
taste, taste_params = taste_inputs(*st.columns([1, 1, 2])[:2])

st.subheader("3. Who is weak")
run_rule = current_weak_rule(run)  # the Weak users page's rule, every field of it
state = st.session_state
metrics = validation_metrics(run.per_user, k)
if run_rule.metric not in metrics:
    metrics.append(run_rule.metric)
rule = weak_rule_editor(RULE_EDITOR, metrics, run_rule)  # a new rule there: taken exactly
state["rr_rule"] = rule
source = "Rule taken from the Weak users page" if "weak_rule" in state else "The run's own rule"
if rule == run_rule:
    st.caption(md_escape(f"{source}: {weak_rule_text(run_rule)}. Change it here for this "
                         f"rerank only."))
else:
    st.caption(md_escape(f"Changed here for this rerank only: {weak_rule_text(rule)}. "
                         f"{source}: {weak_rule_text(run_rule)}."))
#: the job's settings as they stand (the model may still be empty)
config = rerank_config(choice, rule, n_candidates=int(n_cand), history=history,
                       template=template, max_tokens=int(max_tokens) or None,
                       budget_usd=float(budget) or None, mode=pick.mode, protocol=protocol,
                       pilot_users=int(pilot) or None, taste=taste, taste_params=taste_params)


# --- dry run -------------------------------------------------------------------------------
def _estimate_settings() -> EstimateSettings | None:
    """What a dry run now would be computed from (None: no model named yet)."""
    if not choice.model:
        return None
    return EstimateSettings(
        config=config,
        price=(prices.price(choice.model) if not choice.local and prices.has(choice.model)
               else None),
        exact_tokens=bool(status.found and not choice.local),
        base_url=choice.base_url, prompt_cache=choice.prompt_cache)


st.subheader("4. Dry run (free)")
if st.button("Estimate the cost", key="rr_dry_run", icon=":material/calculate:"):
    try:
        counter = estimate_backend(choice, exact=status.found and not choice.local)
        with st.spinner("Sizing the prompts and counting tokens..."):
            plan = plan_rerank(run, config, counter, CallCache(workspace()), prices)
        state["rr_estimate"] = DryRun(_estimate_settings(), dry_run_figures(plan, counter))
    except AnalysisError as err:
        state.pop("rr_estimate", None)
        show_error(err)
stored_dry = state.get("rr_estimate")
# a figure is shown only while the settings it came from are the current ones
changed = (changed_settings(stored_dry.settings, _estimate_settings())
           if isinstance(stored_dry, DryRun) else [])
dry = stored_dry.figures if isinstance(stored_dry, DryRun) and not changed else None
if changed:
    st.warning(md_escape(f"Settings changed since this estimate: estimate again (changed: "
                         f"{', '.join(changed)})."), icon=":material/update:")
elif dry is None:
    st.info("Press **Estimate the cost** to see users, tokens and dollars before spending any.")
else:
    dry_run_panel(dry)

# --- launch and live progress ---------------------------------------------------------------
# The job is submitted at the very end of this script run, after every workspace read of the
# run: a job's first writes then never meet this run's reads (see the report to the lead).
st.subheader("5. Launch")
missing = check_launch(config, prices, key_found=status.found, key_env_var=status.env_var,
                       base_url=choice.base_url)
launch = None
if missing:
    st.info(md_escape("Launch needs " + "; ".join(missing) + "."), icon=":material/checklist:")
if st.button("Launch the rerank", key="rr_launch", type="primary", disabled=bool(missing),
             icon=":material/rocket_launch:",
             help=md_escape("Missing: " + "; ".join(missing) + ".") if missing else None):
    try:
        launch = (f"Rerank {run_id}: {choice.backend} {choice.model}",
                  rerank_task(workspace(), run_id, config, backend_factory(choice), prices))
    except AnalysisError as err:
        show_error(err)
progress_slot = st.container()


# --- results ------------------------------------------------------------------------------


def _net_gain_panel(summary: RerankSummary, k: int) -> None:
    """The LLM against the no-LLM controls on the same candidates, for the weak users sent."""
    net = summary.net_gain
    if not net:
        return
    if summary.config.protocol == "paper":
        st.warning(PAPER_PROTOCOL_NOTE, icon=":material/science:")
    left, right = st.columns([1, 2])
    low, high = net["ci95"]
    left.metric(f"Net NDCG@{k} gain", f"{net['mean']:+.4f}",
                help=f"The LLM's NDCG@{k} minus that of the best no-LLM reordering of the same "
                     f"candidates ({net['control']}), per weak user sent; 95% interval "
                     f"{low:+.4f} to {high:+.4f}; paired Wilcoxon p = {net['wilcoxon_p']:.3g}.")
    users = summary.users or {}
    if users:
        left.metric("Weak / sent",
                    f"{users['weak_all']:,} / {users['sent']:,}",
                    help=md_escape(f"A deployment would pay for all {users['weak_all']:,} weak "
                                   f"users, about {fmt_usd(users['deployment_usd_expected'])}; "
                                   f"the evaluation measures those with test items."))
    per_001 = net.get("cost_per_0.01_net_ndcg_usd")
    left.metric("Per +0.01 net NDCG", fmt_usd(per_001),
                help="Dollars / (net gain over everyone / 0.01); n/a when nothing was gained "
                     "over the best control.")
    if net["ci_includes_zero"]:
        left.warning("The interval includes zero: these answers do not show that the LLM "
                     "beats a free reordering.", icon=":material/balance:")
    pilot = summary.pilot
    if pilot:
        projected = pilot["projected"]
        left.info(md_escape(
            f"Pilot of {pilot['n_sample']:,} of {pilot['n_population']:,} weak users: all of "
            f"them would move mean NDCG@{k} by {projected['net_gain_over_all_users']:+.4f} net "
            f"(95% CI {projected['ci95'][0]:+.4f} to {projected['ci95'][1]:+.4f}) for about "
            f"{fmt_usd(projected['cost_all_weak_usd'])}; {pilot['verdict']}."),
            icon=":material/science:")
    names = {"llm": "LLM", "baseline": "baseline order", "shuffled": "shuffled (as shown)",
             "popularity": "popularity", "oracle": "ceiling (oracle)"}
    means = net["means"]
    keys = [n for n in names if n in means]
    fig = go.Figure(go.Bar(
        x=[names[n] for n in keys], y=[means[n] for n in keys],
        marker_color=["#d62728" if n == "llm" else "#7f7f7f" if n == "oracle" else "#1f77b4"
                      for n in keys],
        text=[f"{means[n]:.3f}" for n in keys], textposition="outside"))
    fig.update_layout(title=f"Weak users sent: mean NDCG@{k}, LLM against free reorderings of "
                            f"the same candidates", yaxis_title=f"NDCG@{k}", height=340)
    right.plotly_chart(fig, key="rr_controls_chart")


def _results() -> None:
    st.subheader("6. Results")
    runs = run_store().list_runs(kind="rerank")
    runs = runs[runs["parent_run_id"] == run_id]
    if not len(runs):
        st.info("No rerank of this run yet: estimate and launch one above.")
        return
    ids = runs["run_id"].tolist()
    pending = st.session_state.pop("rr_pending_result", None)
    if pending in ids:
        st.session_state["rr_result_run"] = pending
    if st.session_state.get("rr_result_run") not in ids:
        st.session_state["rr_result_run"] = ids[0]
    stamps = runs["created_at"].astype(str).str[:16]
    labels = dict(zip(runs["run_id"], runs["label"] + " · " + stamps, strict=True))
    result_id = st.selectbox("Rerank run", ids, format_func=labels.get, key="rr_result_run")
    try:
        rerank = rerank_run(result_id)
    except AnalysisError as err:
        show_error(err)
        return
    summary = rerank.summary
    gains = summary.gains
    ndcg = f"ndcg@{rerank.k}"
    remaining = gains["weak_remaining"]
    spend = summary.spend or {}
    if summary.status == "incomplete":
        why = spend.get("stopped") or "their calls failed after every retry."
        st.warning(md_escape(f"Incomplete: {spend.get('n_without_answer', 0):,} of "
                             f"{summary.n_requests:,} weak users have no answer and keep the "
                             f"baseline ranking. {why}"), icon=":material/warning:")
    cards = st.columns(4)
    cards[0].metric(f"NDCG@{rerank.k} gain, weak users",
                    f"{gains['mean_gain_selected'][ndcg]:+.4f}",
                    help=metric_help(ndcg)
                    + " Mean after minus before over the users sent to the LLM.")
    cards[1].metric(f"NDCG@{rerank.k} gain, everyone", f"{gains['mean_gain_all'][ndcg]:+.4f}",
                help=f"Over all {gains['n_evaluated']:,} evaluated users (the others gain 0). "
                     f"{gains['mean_before'][ndcg]:.4f} -> {gains['mean_after'][ndcg]:.4f}.")
    if remaining["selected_after"] is None:  # a rule metric the merge does not recompute
        cards[2].metric("Weak users remaining", "n/a", help=remaining.get("note") or "")
    else:
        cards[2].metric("Weak users remaining", f"{remaining['selected_after']:,}",
                    delta=f"{remaining['selected_after'] - remaining['selected_before']:+,} "
                          f"vs {remaining['selected_before']:,}",
                    delta_color="inverse",
                    help=f"Reranked users whose test {remaining['metric']} is still <= "
                         f"{remaining['threshold']:.4f}.")
    p_value = gains["wilcoxon_p"]
    p_text = "n/a" if p_value is None or math.isnan(p_value) else f"{p_value:.3g}"
    cards[3].metric("Wilcoxon p", p_text,
                help="Paired signed-rank test of the weak users' NDCG after vs before.")
    _net_gain_panel(summary, rerank.k)
    cards = st.columns(4)
    cap = spend.get("cap_usd")
    cards[0].metric("Spent", fmt_usd(summary.usd_total_including_cached),
                help=md_escape(f"{fmt_usd(summary.usd_spent_this_job)} in this job over "
                     f"{spend.get('attempts', 0):,} attempts (failed attempts charged at their "
                     f"worst case); the rest reused cached answers. Budget cap of this job: "
                     f"{'none' if cap is None else fmt_usd(cap)}, "
                     f"{fmt_usd(spend.get('job_total_usd', 0.0))} charged over all its runs."))
    cards[1].metric("Cost per weak user", fmt_usd(gains.get("cost_per_selected_user_usd")))
    cards[2].metric("Cost per +0.01 NDCG", fmt_usd(gains.get("cost_per_0.01_ndcg_usd")),
                help="Dollars / (mean NDCG gain over everyone / 0.01); n/a when nothing "
                     "was gained.")
    cards[3].metric("Reranked / sent", f"{summary.n_reranked:,} / {summary.n_requests:,}",
                help=f"Fell back: {summary.fallback or 'none'}; "
                     f"{summary.n_cached:,} answers from cache.")

    left, right = st.columns(2)
    with left:
        by_group = rerank.by_group
        if len(by_group):
            dim = st.selectbox("Subgroup", by_group["dimension"].unique().tolist(),
                               key="rr_group_dim")
            sub = by_group[by_group["dimension"] == dim]
            colors = group_colors(sub["group"])
            fig = go.Figure()
            fig.add_bar(x=sub["group"], y=sub["mean_before"], name="before",
                        marker_color=[colors[str(x)] for x in sub["group"]], opacity=0.45)
            fig.add_bar(x=sub["group"], y=sub["mean_after"], name="after",
                        marker_color=[colors[str(x)] for x in sub["group"]])
            fig.update_layout(barmode="group",
                              title=f"Mean NDCG@{rerank.k} by {dim}, before vs after",
                              yaxis_title=f"NDCG@{rerank.k}", height=360)
            st.plotly_chart(fig, key="rr_group_chart")
    with right:
        curve = rerank.curve
        fig = go.Figure(go.Scatter(x=curve["cost_usd"], y=curve["gain"], mode="lines+markers",
                                   customdata=curve[["threshold", "n_users"]],
                                   hovertemplate="$%{x:.4f}: gain %{y:+.4f}<br>threshold "
                                                 "%{customdata[0]:.4f}, %{customdata[1]} users"))
        fig.update_layout(title="Cost-benefit over thresholds", xaxis_title="dollars",
                          yaxis_title=f"mean NDCG@{rerank.k} gain (everyone)", height=360)
        st.plotly_chart(fig, key="rr_curve_chart")

    st.markdown("**Users sent to the LLM**")
    per_user = rerank.per_user
    cols = ["user_id", "reranked", "fallback_reason", f"before_{ndcg}", f"after_{ndcg}",
            f"gain_{ndcg}",
            "gain_auc", "n_hallucinated", "cost_usd", "paid_usd"]
    view = per_user[cols].sort_values(f"gain_{ndcg}", ascending=False, kind="stable")
    st.dataframe(view, hide_index=True, key="rr_users_table", on_select="rerun",
                 selection_mode="single-row", column_config={
                     f"before_{ndcg}": st.column_config.NumberColumn("NDCG before", format="%.3f"),
                     f"after_{ndcg}": st.column_config.NumberColumn("NDCG after", format="%.3f"),
                     f"gain_{ndcg}": st.column_config.NumberColumn("Gain", format="%+.3f"),
                     "gain_auc": st.column_config.NumberColumn("AUC gain", format="%+.4f"),
                     "cost_usd": st.column_config.NumberColumn("Paid now", format="$%.5f"),
                     "paid_usd": st.column_config.NumberColumn("Cost", format="$%.5f")})
    picked = st.session_state.get("rr_users_table")
    rows = picked.selection.rows if picked is not None and picked.selection.rows else []
    users = view["user_id"].tolist()
    if rows:
        st.session_state["rr_user"] = users[rows[0]]
    elif st.session_state.get("rr_user") not in users:
        st.session_state.pop("rr_user", None)
    user = st.selectbox("Inspect a user", users, key="rr_user",
                        help="Or select a row of the table.")
    row = per_user[per_user["user_id"] == user].iloc[0]
    calls = rerank.calls[rerank.calls["user_id"] == user]
    answer = None
    if len(calls):
        try:
            answer = call_details(workspace(), calls["key"].iloc[0])
        except AnalysisError as err:
            st.info(md_escape(f"{err} Call error: {calls['error'].iloc[0] or 'none'}."))
    try:
        explained = explain_user(run, rerank.config, user,
                                 None if answer is None else answer.response_text)
    except AnalysisError as err:
        show_error(err)
        return
    used = "LLM ranking used" if row["reranked"] else f"fell back: {row['fallback_reason']}"
    st.caption(f"User {md_escape(user)}: NDCG {row[f'before_{ndcg}']:.3f} -> "
               f"{row[f'after_{ndcg}']:.3f}; {md_escape(used)}"
               f"; {int(row['n_hallucinated'])} invented items in the answer.")
    history_col, candidates_col = st.columns([2, 3])
    history_col.markdown("History shown")
    history_col.dataframe(explained.history, hide_index=True, key="rr_user_history")
    if explained.taste:  # the line the prompt carried right after this history
        history_col.caption(md_escape(f"Taste line after the history: {explained.taste}"))
    candidates_col.markdown(
        "Candidates: baseline vs LLM rank (relevant = a held-out item the user liked)")
    candidates_col.dataframe(explained.candidates, hide_index=True, key="rr_user_candidates")
    if answer is not None:
        with st.expander("Prompt and answer"):
            st.code(answer.system_prompt + "\n\n" + answer.user_prompt, language=None,
                    wrap_lines=True)
            st.markdown("LLM answer")
            st.code(answer.response_text or "(empty)", language=None, wrap_lines=True)
            st.caption(f"{answer.input_tokens:,} input + {answer.output_tokens:,} output tokens, "
                       f"{fmt_usd(answer.cost_usd)}, {answer.latency_s:.2f} s, "
                       f"stop: {md_escape(answer.stop_reason)}")


_results()
if launch is not None:
    st.session_state["rr_job_id"] = jobs().submit("rerank", *launch)
job_id = st.session_state.get("rr_job_id")
if job_id is None:  # a job launched from another session or before a reload
    mine = [job for job in jobs().jobs(kind="rerank") if run_id in job.title]
    job_id = mine[0].job_id if mine and mine[0].active else None
with progress_slot:
    active = job_id is not None and jobs().get(job_id).active
    st.fragment(run_every=1.0 if active else None)(job_panel)(job_id)
