"""LLM rerank: send the weak users of the active run to an LLM within a budget, follow the
job live, and read what it gained against what it cost, down to one user's prompt."""

from __future__ import annotations

import os

import plotly.graph_objects as go
import streamlit as st

from analysis.errors import AnalysisError
from analysis.gains.controls import PAPER_PROTOCOL_NOTE, bracket
from analysis.gains.cost import PriceTable, entered_price
from analysis.jobs.tasks import rerank_task
from analysis.rerank.cache import CallCache
from analysis.rerank.explain import call_details, explain_user, key_status, resolve_api_key
from analysis.rerank.history import HISTORY_STRATEGIES
from analysis.rerank.launch import DryRun, EstimateSettings, changed_settings, check_launch
from analysis.rerank.plan import ApproxTokenCounter, RerankConfig, plan_rerank
from analysis.weak_users import WeakRule
from models.llm.protocol import BACKEND_NAMES, make_backend
from pages._shared import (
    app_secrets,
    current_weak_rule,
    fmt_usd,
    group_colors,
    job_progress,
    jobs,
    kept,
    md_escape,
    metric_help,
    page_start,
    rerank_files,
    run_store,
    show_error,
    weak_rule_text,
    workspace,
)

TEMPLATES = ("paper", "llmrank", "rankgpt")
OTHER_MODEL = "other (type a model id)"
#: each cut's widget; each keeps its value while the other cut is shown (pages._shared.kept)
RULE_VALUES = {"percentile": "rr_rule_percentile", "threshold": "rr_rule_threshold"}


def _entered_prices(model: str) -> None:
    """The price inputs show what was entered for this model: each model keeps its own, in
    ``rr_prices`` (model -> input and output dollars per million tokens)."""
    ss = st.session_state
    ss["rr_price_in"], ss["rr_price_out"] = ss.setdefault("rr_prices", {}).get(model, (0.0, 0.0))


def _price_entered(model: str) -> None:
    st.session_state["rr_prices"][model] = (st.session_state["rr_price_in"],
                                            st.session_state["rr_price_out"])

run_id, run = page_start(
    "LLM rerank",
    "Send only the weak users to an LLM (their history and their baseline top C, shuffled); "
    "everyone else keeps the baseline ranking. Start with the free dry run.",
)
k = run.k
prices = PriceTable()

# --- settings ----------------------------------------------------------------------------
st.subheader("1. Backend and model")
c1, c2, c3 = st.columns([1, 2, 2])
backend = c1.selectbox("Backend", BACKEND_NAMES, key="rr_backend",
                       help="anthropic: Claude API; openai: any OpenAI-compatible server "
                            "(vLLM, TGI, Ollama); transformers: a local model on this machine.")
base_url = None
gpu_usd = 0.0
if backend == "anthropic":
    choice = c2.selectbox("Model", [*sorted(prices.prices), OTHER_MODEL], key="rr_model_choice",
                          index=sorted(prices.prices).index("claude-haiku-4-5"),
                          help=f"List prices of {prices.taken_on} ($/million tokens).")
    model = (c3.text_input("Model id", key="rr_model_other", placeholder="claude-...").strip()
             if choice == OTHER_MODEL else choice)
    base_url = os.environ.get("ANTHROPIC_BASE_URL") or None
elif backend == "openai":
    base_url = c2.text_input("Base URL", "http://localhost:8000/v1", key="rr_base_url").strip()
    model = c3.text_input("Model", "meta-llama/Llama-3.1-8B-Instruct",
                          key="rr_model_openai").strip()
else:
    model = c2.text_input("Local model folder", key="rr_model_path",
                          placeholder="/models/llama-3.1-8b-instruct").strip()
    gpu_usd = c3.number_input("GPU $/hour", 0.0, 1000.0, 0.0, 0.1, key="rr_gpu_usd",
                              help="Price of this machine's GPU time; cost = $/hour x seconds.")
batch = prompt_cache = False
mode = "generate"
if backend == "anthropic":
    o1, o2, _ = st.columns([1, 1, 2])
    batch = o1.toggle("Batch API (half price)", key="rr_batch",
                      help="Message Batches: half price; answers arrive when the batch ends.")
    prompt_cache = o2.toggle("Prompt caching", key="rr_prompt_cache",
                             help="Cache the shared instructions: later calls read them at a "
                                  "tenth of the input price.")
elif backend == "transformers":
    mode = st.segmented_control(
        "Mode", ["generate", "likelihood"], default="generate", key="rr_mode",
        help="generate: the model writes a ranking that is parsed; likelihood: each candidate "
             "is scored by its log-probability after the prompt (no parsing, deterministic).",
    ) or "generate"
if backend != "transformers" and model and not prices.has(model):
    _entered_prices(model)
    p1, p2, p3 = st.columns([1, 1, 2], vertical_alignment="bottom")
    p_in = p1.number_input("Input $ per million tokens", 0.0, 10_000.0, step=0.1,
                           key="rr_price_in", on_change=_price_entered, args=(model,),
                           help="Not in the price table: what this model bills per million "
                                "prompt tokens.")
    p_out = p2.number_input("Output $ per million tokens", 0.0, 10_000.0, step=0.1,
                            key="rr_price_out", on_change=_price_entered, args=(model,),
                            help="What it bills per million answer tokens.")
    if p_in or p_out:
        prices = prices.with_model(model, entered_price(p_in, p_out))
    p3.caption(md_escape(f"{model} is not in the price table of {prices.taken_on}: enter its "
                         f"prices to estimate and launch (cache and batch at Anthropic's "
                         f"ratios)."))
secrets = app_secrets()
status = key_status(backend, os.environ, secrets)
(st.success if status.found else st.warning)(status.message, icon=":material/key:")

st.subheader("2. Prompt and budget")
c = st.columns(5)
template = c[0].selectbox("Template", TEMPLATES, key="rr_template",
                          help="paper: Kaur & Shah's prompt; llmrank: Hou et al.; rankgpt: "
                               "Sun et al.'s identifier permutation.")
history = c[1].selectbox("History", HISTORY_STRATEGIES, key="rr_history",
                         help="recent: last 10 rated items; paper: 20 sampled, best rated first; "
                              "long-short: 5 recent + 10 most similar to the candidates.")
n_cand = c[2].number_input("Candidates C", 2, int(run.n_candidates), min(20, run.n_candidates),
                           key="rr_candidates", help="The baseline's top C the LLM reorders.")
max_tokens = c[3].number_input("Max tokens (0 = auto)", 0, 8192, 0, 16, key="rr_max_tokens",
                               help="Answer bound per user; auto is 8 x C + 64.")
budget = c[4].number_input("Budget cap ($, 0 = none)", 0.0, 10_000.0, 1.0, 0.5,
                           key="rr_budget",
                           help="No attempt, retries included, starts that could take this job "
                                "past it at its worst case; a job launched again keeps what it "
                                "already spent. 0: the cap this job had before (none if new).")

c = st.columns([1, 1, 2])
protocol = c[0].selectbox(
    "Candidates", ["realistic", "paper"], key="rr_protocol",
    help="realistic: the baseline's top C, what a deployment would rerank. paper: Kaur & "
         "Shah's offline replication protocol (held-out items plus sampled unseen items): "
         "it hands the LLM the test items, so its gains are not deployment gains.")
pilot = c[1].number_input(
    "Pilot users (0 = all)", 0, 100_000, 0, 10, key="rr_pilot",
    help="Rerank a random sample of this many weak users first; their net gain and its "
         "interval are projected to every weak user. The full pass reuses their answers.")
if protocol == "paper":
    c[2].warning(PAPER_PROTOCOL_NOTE, icon=":material/science:")

st.subheader("3. Who is weak")
rule0 = current_weak_rule(run)  # the Weak users page's rule, every field of it
ss = st.session_state
if ss.get("rr_rule_from") != rule0:  # a new rule there: these widgets take it exactly
    ss["rr_rule_from"] = rule0
    ss["rr_rule_metric_kept"] = rule0.metric
    ss["rr_rule_kind_kept"] = "percentile" if rule0.percentile is not None else "threshold"
    for kind, key in RULE_VALUES.items():
        value = getattr(rule0, kind)
        ss.setdefault(f"{key}_kept", 20.0 if kind == "percentile" else 0.5)
        if value is not None:
            ss[f"{key}_kept"] = float(value)
    ss["rr_rule_inactive_kept"] = bool(rule0.require_inactive)
metrics = [m for m in ("auc", "auc@heldout", f"ndcg@{k}") if f"val_{m}" in run.per_user.columns]
if rule0.metric not in metrics:
    metrics.append(rule0.metric)
c = st.columns(4)
r_metric = c[0].selectbox("Metric (validation)", metrics, help=metric_help(rule0.metric),
                          **kept("rr_rule_metric"))
r_kind = c[1].radio("Cut", list(RULE_VALUES), horizontal=True, **kept("rr_rule_kind"))
if r_kind == "percentile":
    r_value = c[2].number_input("Percentile", 0.0, 100.0, step=1.0,
                                help="Weak: at or below this percentile of the validation metric.",
                                **kept("rr_rule_percentile"))
else:
    r_value = c[2].number_input("Threshold", 0.0, 1.0, step=0.01, format="%.4f",
                                help="Weak: validation metric at or below this value.",
                                **kept("rr_rule_threshold"))
r_inactive = c[3].checkbox("Only inactive users", **kept("rr_rule_inactive"))
rule = WeakRule(metric=r_metric, require_inactive=r_inactive,
                **({"percentile": r_value} if r_kind == "percentile" else {"threshold": r_value}))
ss["rr_rule"] = rule
source = "Rule taken from the Weak users page" if "weak_rule" in ss else "The run's own rule"
if rule == rule0:
    st.caption(md_escape(f"{source}: {weak_rule_text(rule0)}. Change it here for this rerank "
                         f"only."))
else:
    st.caption(md_escape(f"Changed here for this rerank only: {weak_rule_text(rule)}. "
                         f"{source}: {weak_rule_text(rule0)}."))


def _config() -> RerankConfig:
    if not model:
        raise AnalysisError("Name a model first (a model id, or a local folder for transformers).")
    return _settings_config()


def _settings_config() -> RerankConfig:
    """The job's settings as they stand (the model may still be empty)."""
    return RerankConfig(backend=backend, model=model, rule=rule, n_candidates=int(n_cand),
                        history=history, template=template, max_tokens=int(max_tokens) or None,
                        budget_usd=float(budget) or None, gpu_usd_per_hour=float(gpu_usd),
                        batch=bool(batch), mode=mode, protocol=protocol,
                        pilot_users=int(pilot) or None)


def _backend_factory():
    key = resolve_api_key(backend, os.environ, secrets)  # stays in memory, never shown
    opts: dict = {"model": model}
    # where the key came from, in words, for the message that stops a job whose key is refused
    source = ("the app's secrets (.streamlit/secrets.toml)" if status.source == "secrets"
              else f"the environment variable {status.env_var}")
    if backend == "anthropic":
        opts.update(api_key=key, base_url=base_url, batch=bool(batch),
                    prompt_cache=bool(prompt_cache), key_source=source)
    elif backend == "openai":
        opts.update(api_key=key, base_url=base_url, key_source=source)
    else:
        opts.update(gpu_usd_per_hour=float(gpu_usd))
    return lambda: make_backend(backend, **opts)


# --- dry run -------------------------------------------------------------------------------
def _estimate_settings() -> EstimateSettings | None:
    """What a dry run now would be computed from (None: no model named yet)."""
    if not model:
        return None
    return EstimateSettings(
        config=_settings_config(),
        price=prices.price(model) if backend != "transformers" and prices.has(model) else None,
        exact_tokens=bool(status.found and backend != "transformers"),
        base_url=base_url, prompt_cache=bool(prompt_cache))


st.subheader("4. Dry run (free)")
if st.button("Estimate the cost", key="rr_dry_run", icon=":material/calculate:"):
    try:
        cfg = _config()
        est_backend = (_backend_factory()() if status.found and backend != "transformers"
                       else ApproxTokenCounter(backend, model))
        with st.spinner("Sizing the prompts and counting tokens..."):
            plan = plan_rerank(run, cfg, est_backend, CallCache(workspace()), prices)
        st.session_state["rr_estimate"] = DryRun(_estimate_settings(), {
            "users": len(plan.users), "without_test": plan.n_weak_without_test,
            "weak_all": plan.n_weak_all, "deployment_usd": plan.deployment_usd,
            "population": plan.n_population, "bracket": bracket(plan.controls),
            "threshold": plan.weak.threshold_value, "estimate": plan.estimate,
            "history": plan.history_tokens, "approximate": isinstance(est_backend,
                                                                       ApproxTokenCounter),
            "calibration": None if plan.calibration is None else plan.calibration.describe(),
        })
    except AnalysisError as err:
        st.session_state.pop("rr_estimate", None)
        show_error(err)
stored_dry = st.session_state.get("rr_estimate")
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
    est = dry["estimate"]
    c = st.columns(3)
    c[0].metric("Weak users", f"{dry['weak_all']:,}",
                help=md_escape(f"Weak on validation (threshold {dry['threshold']:.4f}). Sending "
                               f"all of them would cost about {fmt_usd(dry['deployment_usd'])} "
                               f"at this plan's expected cost per prompt."))
    c[1].metric("Sent & evaluated", f"{dry['users']:,}",
                help=f"{dry['population']:,} weak users have test items (the evaluation needs "
                     f"them; {dry['without_test']:,} do not)"
                     + ("; a pilot sends a random sample of them." if dry["users"]
                        < dry["population"] else "."))
    b = dry["bracket"]
    c[2].metric("Gain bracket", f"{b['best_value']:.3f}–{b['ceiling']:.3f}",
                help=f"On these candidates, before any call: the best no-LLM control "
                     f"({b['best']}) reaches {b['best_value']:.4f} (baseline order "
                     f"{b['baseline']:.4f}); a perfect order of the top C reaches "
                     f"{b['ceiling']:.4f}. An LLM is worth paying for only above the first.")
    c = st.columns(4)
    c[0].metric("Answers already cached", f"{est.n_cached:,}",
                help="Stored in the workspace from earlier runs: free.")
    c[1].metric("Input tokens", f"{est.input_tokens:,}",
                help="Exact (provider tokenizer)" if est.exact_tokens else
                     md_escape("Approximate: " + (dry.get("calibration") or
                                                  "~3.5 characters per token (no key).")))
    c[2].metric("Expected cost", fmt_usd(est.expected_usd),
                help=f"At ~{est.expected_output_tokens:,} output tokens; {est.note}.")
    c[3].metric("Upper bound", fmt_usd(est.upper_bound_usd),
                help=f"If every answer ran to max_tokens ({est.max_output_tokens:,} tokens).")
    if dry["approximate"]:
        st.caption("Approximate token counts: no key for this backend, so the prompts were "
                   "counted offline (about 3.5 characters per token).")
    st.dataframe(dry["history"], hide_index=True, key="rr_history_tokens", column_config={
        "strategy": "History strategy",
        "history_items": st.column_config.NumberColumn("Items shown", format="%.1f"),
        "prompt_tokens": st.column_config.NumberColumn("Prompt tokens per user", format="%.0f"),
        "total_tokens": st.column_config.NumberColumn("Total prompt tokens", format="%d"),
        "chosen": "Chosen"})

# --- launch and live progress ---------------------------------------------------------------
# The job is submitted at the very end of this script run, after every workspace read of the
# run: a job's first writes then never meet this run's reads (see the report to the lead).
st.subheader("5. Launch")
missing = check_launch(_settings_config(), prices, key_found=status.found,
                       key_env_var=status.env_var, base_url=base_url)
launch = None
if missing:
    st.info(md_escape("Launch needs " + "; ".join(missing) + "."), icon=":material/checklist:")
if st.button("Launch the rerank", key="rr_launch", type="primary", disabled=bool(missing),
             icon=":material/rocket_launch:",
             help=md_escape("Missing: " + "; ".join(missing) + ".") if missing else None):
    try:
        launch = (f"Rerank {run_id}: {backend} {model}",
                  rerank_task(workspace(), run_id, _config(), _backend_factory(), prices))
    except AnalysisError as err:
        show_error(err)
progress_slot = st.container()


def _progress(job_id: str | None) -> None:
    if job_id is None:
        st.caption("No rerank job running for this run.")
        return
    j = jobs().get(job_id)
    d = j.detail
    job_progress(j)  # the same line as the sidebar's
    c = st.columns(6)
    c[0].metric("Users done", f"{d.get('done', 0):,} / {d.get('total', 0):,}")
    c[1].metric("Fell back", f"{d.get('fallen_back', 0):,}",
                help="Kept the baseline ranking: error, unparsable answer, budget or cancel.")
    c[2].metric("Tokens", f"{d.get('input_tokens', 0) + d.get('output_tokens', 0):,}",
                help="Input plus output tokens billed so far.")
    c[3].metric("Spent", fmt_usd(d.get("usd", 0.0)))
    c[4].metric("Elapsed", f"{d.get('elapsed_s', 0.0):,.0f} s")
    eta = d.get("eta_s")
    c[5].metric("Remaining", "n/a" if eta is None else f"~{eta:,.0f} s")
    if j.active:
        if st.button("Cancel", key="rr_cancel", icon=":material/cancel:",
                     help="Stops after the calls in flight; paid answers are kept."):
            jobs().cancel(job_id)
    elif j.state == "failed":
        st.error(md_escape(j.error or "The job failed."), icon=":material/error:")
    elif j.run_id and st.session_state.get("rr_shown_run") != j.run_id:
        st.session_state["rr_shown_run"] = j.run_id
        st.session_state["rr_pending_result"] = j.run_id
        st.rerun(scope="app")  # show the new results below


# --- results ------------------------------------------------------------------------------


def _net_gain_panel(s: dict, k: int) -> None:
    """The LLM against the no-LLM controls on the same candidates, for the weak users sent."""
    net = s.get("net_gain")
    if not net:
        return
    if s["config"].get("protocol") == "paper":
        st.warning(PAPER_PROTOCOL_NOTE, icon=":material/science:")
    left, right = st.columns([1, 2])
    lo, hi = net["ci95"]
    left.metric(f"Net NDCG@{k} gain", f"{net['mean']:+.4f}",
                help=f"The LLM's NDCG@{k} minus that of the best no-LLM reordering of the same "
                     f"candidates ({net['control']}), per weak user sent; 95% interval "
                     f"{lo:+.4f} to {hi:+.4f}; paired Wilcoxon p = {net['wilcoxon_p']:.3g}.")
    users = s.get("users") or {}
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
    pilot = s.get("pilot")
    if pilot:
        pr = pilot["projected"]
        left.info(md_escape(
            f"Pilot of {pilot['n_sample']:,} of {pilot['n_population']:,} weak users: all of "
            f"them would move mean NDCG@{k} by {pr['net_gain_over_all_users']:+.4f} net "
            f"(95% CI {pr['ci95'][0]:+.4f} to {pr['ci95'][1]:+.4f}) for about "
            f"{fmt_usd(pr['cost_all_weak_usd'])}; {pilot['verdict']}."), icon=":material/science:")
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
        files = rerank_files(result_id)
    except AnalysisError as err:
        show_error(err)
        return
    s, g = files.summary, files.summary["gains"]
    nd = f"ndcg@{files.k}"
    wr = g["weak_remaining"]
    spend = s.get("spend") or {}
    if s.get("status") == "incomplete":
        why = spend.get("stopped") or "their calls failed after every retry."
        st.warning(md_escape(f"Incomplete: {spend.get('n_without_answer', 0):,} of "
                             f"{s['n_requests']:,} weak users have no answer and keep the "
                             f"baseline ranking. {why}"), icon=":material/warning:")
    c = st.columns(4)
    c[0].metric(f"NDCG@{files.k} gain, weak users", f"{g['mean_gain_selected'][nd]:+.4f}",
                help=metric_help(nd) + " Mean after minus before over the users sent to the LLM.")
    c[1].metric(f"NDCG@{files.k} gain, everyone", f"{g['mean_gain_all'][nd]:+.4f}",
                help=f"Over all {g['n_evaluated']:,} evaluated users (the others gain 0). "
                     f"{g['mean_before'][nd]:.4f} -> {g['mean_after'][nd]:.4f}.")
    if wr["selected_after"] is None:  # a rule metric the merge does not recompute
        c[2].metric("Weak users remaining", "n/a", help=wr.get("note") or "")
    else:
        c[2].metric("Weak users remaining", f"{wr['selected_after']:,}",
                    delta=f"{wr['selected_after'] - wr['selected_before']:+,} "
                          f"vs {wr['selected_before']:,}",
                    delta_color="inverse",
                    help=f"Reranked users whose test {wr['metric']} is still <= "
                         f"{wr['threshold']:.4f}.")
    p_value = g["wilcoxon_p"]
    c[3].metric("Wilcoxon p", "n/a" if p_value is None or p_value != p_value else f"{p_value:.3g}",
                help="Paired signed-rank test of the weak users' NDCG after vs before.")
    _net_gain_panel(s, files.k)
    c = st.columns(4)
    cap = spend.get("cap_usd")
    c[0].metric("Spent", fmt_usd(s["usd_total_including_cached"]),
                help=md_escape(f"{fmt_usd(s['usd_spent_this_job'])} in this job over "
                     f"{spend.get('attempts', 0):,} attempts (failed attempts charged at their "
                     f"worst case); the rest reused cached answers. Budget cap of this job: "
                     f"{'none' if cap is None else fmt_usd(cap)}, "
                     f"{fmt_usd(spend.get('job_total_usd', 0.0))} charged over all its runs."))
    c[1].metric("Cost per weak user", fmt_usd(g.get("cost_per_selected_user_usd")))
    c[2].metric("Cost per +0.01 NDCG", fmt_usd(g.get("cost_per_0.01_ndcg_usd")),
                help="Dollars / (mean NDCG gain over everyone / 0.01); n/a when nothing "
                     "was gained.")
    c[3].metric("Reranked / sent", f"{s['n_reranked']:,} / {s['n_requests']:,}",
                help=f"Fell back: {s['fallback'] or 'none'}; {s['n_cached']:,} answers from cache.")

    left, right = st.columns(2)
    with left:
        bg = files.by_group
        if len(bg):
            dim = st.selectbox("Subgroup", bg["dimension"].unique().tolist(), key="rr_group_dim")
            sub = bg[bg["dimension"] == dim]
            colors = group_colors(sub["group"])
            fig = go.Figure()
            fig.add_bar(x=sub["group"], y=sub["mean_before"], name="before",
                        marker_color=[colors[str(x)] for x in sub["group"]], opacity=0.45)
            fig.add_bar(x=sub["group"], y=sub["mean_after"], name="after",
                        marker_color=[colors[str(x)] for x in sub["group"]])
            fig.update_layout(barmode="group",
                              title=f"Mean NDCG@{files.k} by {dim}, before vs after",
                              yaxis_title=f"NDCG@{files.k}", height=360)
            st.plotly_chart(fig, key="rr_group_chart")
    with right:
        cv = files.curve
        fig = go.Figure(go.Scatter(x=cv["cost_usd"], y=cv["gain"], mode="lines+markers",
                                   customdata=cv[["threshold", "n_users"]],
                                   hovertemplate="$%{x:.4f}: gain %{y:+.4f}<br>threshold "
                                                 "%{customdata[0]:.4f}, %{customdata[1]} users"))
        fig.update_layout(title="Cost-benefit over thresholds", xaxis_title="dollars",
                          yaxis_title=f"mean NDCG@{files.k} gain (everyone)", height=360)
        st.plotly_chart(fig, key="rr_curve_chart")

    st.markdown("**Users sent to the LLM**")
    pu = files.per_user
    cols = ["user_id", "reranked", "fallback_reason", f"before_{nd}", f"after_{nd}", f"gain_{nd}",
            "gain_auc", "n_hallucinated", "cost_usd", "paid_usd"]
    view = pu[cols].sort_values(f"gain_{nd}", ascending=False, kind="stable")
    st.dataframe(view, hide_index=True, key="rr_users_table", on_select="rerun",
                 selection_mode="single-row", column_config={
                     f"before_{nd}": st.column_config.NumberColumn("NDCG before", format="%.3f"),
                     f"after_{nd}": st.column_config.NumberColumn("NDCG after", format="%.3f"),
                     f"gain_{nd}": st.column_config.NumberColumn("Gain", format="%+.3f"),
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
    row = pu[pu["user_id"] == user].iloc[0]
    calls = files.calls[files.calls["user_id"] == user]
    answer = None
    if len(calls):
        try:
            answer = call_details(workspace(), calls["key"].iloc[0])
        except AnalysisError as err:
            st.info(md_escape(f"{err} Call error: {calls['error'].iloc[0] or 'none'}."))
    try:
        ex = explain_user(run, files.config, user, None if answer is None else answer.response_text)
    except AnalysisError as err:
        show_error(err)
        return
    used = "LLM ranking used" if row["reranked"] else f"fell back: {row['fallback_reason']}"
    st.caption(f"User {md_escape(user)}: NDCG {row[f'before_{nd}']:.3f} -> "
               f"{row[f'after_{nd}']:.3f}; {md_escape(used)}"
               f"; {int(row['n_hallucinated'])} invented items in the answer.")
    a, b = st.columns([2, 3])
    a.markdown("History shown")
    a.dataframe(ex.history, hide_index=True, key="rr_user_history")
    b.markdown("Candidates: baseline vs LLM rank (relevant = a held-out item the user liked)")
    b.dataframe(ex.candidates, hide_index=True, key="rr_user_candidates")
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
    mine = [j for j in jobs().jobs(kind="rerank") if run_id in j.title]
    job_id = mine[0].job_id if mine and mine[0].active else None
with progress_slot:
    active = job_id is not None and jobs().get(job_id).active
    st.fragment(run_every=1.0 if active else None)(_progress)(job_id)
