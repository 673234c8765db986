"""Remedies: what else could fix the active run's weak users than a per-user LLM call (a content
blend, SASRec with an item table from text embeddings), run as jobs, and every remedy of the
run (LLM reranks included) side by side with its gain, net gain and bill."""

from __future__ import annotations

import streamlit as st

from analysis.errors import AnalysisError
from analysis.gains.remedies import compare_remedies
from analysis.jobs.tasks import remedy_task
from analysis.remedies.msr import msr_task
from analysis.remedies.targets import TARGETS
from analysis.runs.remedy import remedies_of_run
from models.encoders import ENCODERS
from pages._shared import (
    job_progress,
    jobs,
    md_escape,
    page_start,
    run_children,
    run_info,
    run_store,
    show_error,
    workspace,
)

REMEDIES = {"content_blend": "Content blend", "sasrec_text": "SASRec with item embeddings",
            "msr_rescorer": "Scenario-aware re-scorer (LLM4MSR)"}
REMEDY_HELP = {
    "content_blend": "Each served user's history embedding (the mean of their items' vectors) "
    "scored against every item and blended into the baseline's scores; the weight is chosen "
    "on validation (0 keeps the baseline) and judged on test.",
    "sasrec_text": "SASRec whose item table comes from the items' text embeddings (LLMEmb: "
    "PCA to SASRec's width behind a trained adapter), fitted beside the same SASRec with a "
    "random table (its no-LLM control); the served users get its list.",
    "msr_rescorer": "A prompt per scenario and per user, encoded once (the knowledge), "
    "conditions a small head that reorders the baseline's candidates; fitted on validation, "
    "judged on test, beside the same head with learned ids (its no-LLM control). Only for "
    "data with scenarios; see docs/llm4msr.md.",
}
ENCODER_HELP = {
    "tfidf": "TF-IDF over the item text, reduced by truncated SVD: no LLM, no cost (the control).",
    "transformers": "A local Hugging Face model folder, mean-pooled (GPU time is the cost).",
    "openai": "Any OpenAI-compatible /v1/embeddings server (vLLM, TEI, Ollama).",
}

run_id, run = page_start(
    "Remedies",
    "Cheaper shapes of the same idea than reranking every weak user with an LLM: an LLM runs "
    "once per item, not per request. Each remedy serves the run's weak users (chosen on "
    "validation) and is judged on test against its no-LLM control.")


def _encoder_settings(encoder: str) -> dict:
    if encoder == "tfidf":
        return {"dim": int(st.number_input("Dimensions", 8, 512, 64, step=8, key="rm_dim")),
                "seed": int(run.summary.seed)}
    if encoder == "transformers":
        folder = st.text_input("Model folder", key="rm_folder",
                               help="A local Hugging Face model folder (weights are never "
                               "downloaded).")
        price = st.number_input("GPU $/hour", 0.0, 100.0, 0.0, key="rm_gpu_price")
        return {"model": folder.strip(), "gpu_usd_per_hour": float(price)}
    cols = st.columns(3)
    url = cols[0].text_input("Base URL", "http://localhost:8000/v1", key="rm_url")
    model = cols[1].text_input("Model", key="rm_model")
    price = cols[2].number_input("$ per million tokens", 0.0, 100.0, 0.0, key="rm_price")
    return {"base_url": url.strip(), "model": model.strip(), "usd_per_mtok": float(price)}


@st.cache_data(max_entries=8, show_spinner="Counting the knowledge prompts...")
def _knowledge_plan(ws_path: str, run_id: str, encoder: str, config: tuple):
    """The knowledge's dry run (prompts, tokens, one-off cost) for this run and encoder."""
    from analysis.embeddings import EmbeddingStore
    from analysis.remedies.msr import build_prompts, plan_knowledge
    from models.encoders import make_encoder

    ws = workspace()
    run = run_store().load_baseline(run_id)
    return plan_knowledge(build_prompts(run.split), make_encoder(encoder, **dict(config)),
                          EmbeddingStore(ws), dataset_name=run.dataset.name)


def _launch_form() -> None:
    cols = st.columns(3)
    kinds = [k for k in REMEDIES if k != "msr_rescorer" or run.dataset.has_scenarios]
    kind = cols[0].selectbox("Remedy", kinds, format_func=REMEDIES.get, key="rm_kind")
    target = cols[1].selectbox("Users served", TARGETS, key="rm_target",
                               format_func=lambda t: t.replace("_", " ") + " users",
                               help="The run's weak users (its rule, chosen on validation), "
                               "its inactive users, or either.")
    encoder = cols[2].selectbox("Item text encoder", ENCODERS, key="rm_encoder",
                                help=ENCODER_HELP["tfidf"])
    st.caption(md_escape(f"{REMEDY_HELP[kind]} Encoder: {ENCODER_HELP[encoder]}"))
    config = _encoder_settings(encoder)
    options: dict = {}
    if kind == "sasrec_text":
        cols = st.columns(2)
        options["text_table"] = cols[0].radio(
            "Text item table", ["frozen", "trainable"], horizontal=True, key="rm_table",
            help="Frozen: only an adapter over the PCA-reduced text vectors trains. "
            "Trainable: the table trains too, starting from them.")
        epochs = int(cols[1].number_input("Epochs", 1, 200, 20, key="rm_epochs"))
        options["sasrec_params"] = {"epochs": epochs}
        st.caption("Fits SASRec twice on the run's split, with the text table and with a "
                   "random one (its no-LLM control); on CPU this takes minutes on large data.")
    missing = [name for name in ("model", "base_url") if name in config and not config[name]]
    if kind == "msr_rescorer" and not missing:
        try:
            plan = _knowledge_plan(workspace().path, run_id, encoder, tuple(sorted(
                config.items())))
        except AnalysisError as err:
            show_error(err)
        else:
            st.caption("Dry run of the knowledge (nothing encoded yet): " + md_escape(
                "; ".join(plan.lines())) + ". Serving needs no LLM call.")
    if missing:
        st.caption("Give the " + " and the ".join(
            {"model": "model" if encoder == "openai" else "model folder",
             "base_url": "base URL"}[m] for m in missing) + " to run it.")
    if st.button("Run the remedy", type="primary", icon=":material/play_arrow:",
                 key="rm_run", disabled=bool(missing)):
        title = f"{kind.replace('_', ' ')} for {run.dataset.name}"
        task = (msr_task(workspace(), run_id, encoder, config, target=target,
                         seed=int(run.summary.seed)) if kind == "msr_rescorer"
                else remedy_task(workspace(), run_id, kind, encoder, config, target=target,
                                 **options))
        st.session_state["remedy_job"] = jobs().submit("remedy", title, task)


@st.fragment(run_every=1.0)
def _progress() -> None:
    job_id = st.session_state.get("remedy_job")
    if not job_id:
        return
    status = jobs().get(job_id)
    if not status.active:
        st.session_state.pop("remedy_job", None)
        if status.state == "failed":
            st.session_state["remedy_flash"] = ("error", status.error or "The job failed.")
        elif status.state == "done" and status.run_id:
            st.session_state["remedy_flash"] = (
                "success", f"Saved: {run_info(status.run_id).label} (run {status.run_id}).")
        else:
            st.session_state["remedy_flash"] = ("info", f"The job was {status.state}.")
        st.rerun()  # the whole page: the comparison lists the new remedy
    job_progress(status)
    if st.button("Cancel", key="rm_cancel", icon=":material/cancel:",
                 help="Stops after the current stage (embedding, the remedy); nothing is "
                 "saved."):
        jobs().cancel(job_id)


@st.cache_data(max_entries=8, show_spinner="Comparing the remedies...")
def _comparison(ws_path: str, baseline_id: str, children: tuple, users: float,
                refreshes: float):
    """Every rerank and remedy of the run (``children`` keys the cache: a new run of either
    compares again)."""
    reranks, remedies = remedies_of_run(run_store(), baseline_id, run.dataset)
    notes = list(dict.fromkeys(n for r in remedies if (n := r.summary.unproven_note())))
    return compare_remedies(run, reranks=reranks, remedies=remedies, users_per_month=users,
                            refreshes_per_month=refreshes), notes


st.subheader("Run a remedy")
_launch_form()
_progress()
if flash := st.session_state.pop("remedy_flash", None):
    kind, text = flash
    {"error": st.error, "success": st.success, "info": st.info}[kind](
        md_escape(text), icon={"error": ":material/error:", "success": ":material/check_circle:",
                               "info": ":material/info:"}[kind])

st.subheader("Every remedy of this run")
cols = st.columns(3)
users = cols[0].number_input("Users a month", 0, 10**10, 100_000, step=10_000, key="rm_users",
                             help="Users served a month (the cost projection's N).")
refreshes = cols[1].number_input("Refreshes a month", 0.0, 1000.0, 4.0, key="rm_refresh",
                                 help="How often each user's list is recomputed a month.")
target_gain = cols[2].number_input("Target net NDCG gain", 0.0, 1.0, 0.01, step=0.005,
                                   format="%.3f", key="rm_goal",
                                   help="On the users a remedy serves; the verdict names the "
                                   "cheapest remedy reaching it.")
try:
    children = tuple(run_children(run_id))
    comparison, unproven = _comparison(workspace().path, run_id, children, float(users),
                                       float(refreshes))
except AnalysisError as err:
    show_error(err)
    st.stop()
st.info(md_escape(comparison.verdict(float(target_gain))), icon=":material/balance:")
for note in unproven:  # a validation choice without an established gain: the baseline kept
    st.caption(md_escape(note))
# one column per remedy: the figures read down, and a handful of remedies fits the width
figures = comparison.shown().set_index("remedy").T.rename_axis("figure")
st.dataframe(figures, width="stretch", height=35 * (len(figures) + 1) + 3)  # every row shown
st.caption(
    f"Test NDCG@{comparison.k}; the weak users are those of the rule "
    f"{md_escape(comparison.rule)}. **Net gain**: the gain minus the remedy's no-LLM control "
    "on the same users (an LLM rerank against reordering the same candidates without an LLM; "
    "SASRec with a text table against a random table; a blend of LLM vectors against the "
    "TF-IDF blend; the scenario re-scorer with LLM knowledge against the same head with "
    "learned ids); a remedy without an LLM is its own control. An LLM remedy whose control "
    "has not been run shows no net gain. Intervals are 95% t-intervals over the users served. "
    "**Weak users (test)**: at or below the rule's threshold on test, before and after "
    "(n/a: the remedy does not recompute the rule's metric). **Long tail**: the least popular "
    "80% of items by training interactions; exposure is their share of the top-k slots, hit "
    "rate the share of users with a long-tail test item who find one. **Costs**: one-off per "
    "catalogue (item embeddings), per user served per refresh (LLM calls), a month at the "
    "volume above. Definitions: docs/metrics.md.")
