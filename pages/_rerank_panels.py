"""The LLM rerank page's panels: the backend and model picker (with prices the table lacks),
the taste option, a dry run's figures, and a rerank job's live progress. Display only: the
settings they read become a backend and a job in :mod:`analysis.rerank.settings`."""

from __future__ import annotations

import os
from dataclasses import dataclass

import streamlit as st

from analysis.gains.controls import bracket
from analysis.gains.cost import PriceTable, entered_price
from analysis.rerank.config import TASTE_MODES
from analysis.rerank.explain import KeyStatus, key_status, resolve_api_key
from analysis.rerank.settings import BackendChoice, key_source_text
from analysis.rerank.tokens import ApproxTokenCounter
from models.llm import BACKEND_NAMES
from pages._shared import app_secrets, fmt_usd, job_progress, jobs, md_escape

OTHER_MODEL = "other (type a model id)"
#: what each taste setting does (:attr:`analysis.rerank.config.RerankConfig.taste`)
TASTE_HELP = (
    "off: the prompt is unchanged. beside: one more line after the history, the user's top 3 "
    "taste categories with their shares (\"Preferred kinds of items: 60% like ...\"; "
    "k-means over the items' TF-IDF text vectors, on the training fold). instead: the same "
    "line replaces the older half of the history. The line's tokens (and the shorter history "
    "of instead) show in the dry run's input tokens: estimate again after changing it."
)
DEFAULT_MODEL = "claude-haiku-4-5"


@dataclass(frozen=True)
class BackendPick:
    """What the backend panel shows.

    Attributes:
        choice: the backend, model and options (with the key, never shown).
        prices: the price table, with the price entered for a model it lacks.
        key: where the backend's key comes from (no key itself).
        mode: ``generate`` or ``likelihood`` (a local model only).
    """

    choice: BackendChoice
    prices: PriceTable
    key: KeyStatus
    mode: str


def _entered_prices(model: str) -> None:
    """The price inputs show what was entered for this model: each model keeps its own, in
    ``rr_prices`` (model -> input and output dollars per million tokens)."""
    state = st.session_state
    state["rr_price_in"], state["rr_price_out"] = state.setdefault("rr_prices", {}).get(
        model, (0.0, 0.0))


def _price_entered(model: str) -> None:
    st.session_state["rr_prices"][model] = (st.session_state["rr_price_in"],
                                            st.session_state["rr_price_out"])


def _price_inputs(prices: PriceTable, model: str) -> PriceTable:
    """Inputs for the prices of a model the table lacks; the table with them, once entered."""
    _entered_prices(model)
    price_in_col, price_out_col, note_col = st.columns([1, 1, 2], vertical_alignment="bottom")
    price_in = price_in_col.number_input(
        "Input $ per million tokens", 0.0, 10_000.0, step=0.1, key="rr_price_in",
        on_change=_price_entered, args=(model,),
        help="Not in the price table: what this model bills per million prompt tokens.")
    price_out = price_out_col.number_input(
        "Output $ per million tokens", 0.0, 10_000.0, step=0.1, key="rr_price_out",
        on_change=_price_entered, args=(model,), help="What it bills per million answer tokens.")
    if price_in or price_out:
        prices = prices.with_model(model, entered_price(price_in, price_out))
    note_col.caption(md_escape(f"{model} is not in the price table of {prices.taken_on}: enter "
                               f"its prices to estimate and launch (cache and batch at "
                               f"Anthropic's ratios)."))
    return prices


def _model_inputs(backend: str, prices: PriceTable, model_col, option_col):
    """The model (and server, or GPU price) inputs of ``backend``: ``(model, base_url,
    gpu_usd_per_hour)``."""
    if backend == "anthropic":
        listed = sorted(prices.prices)
        choice = model_col.selectbox("Model", [*listed, OTHER_MODEL], key="rr_model_choice",
                                     index=listed.index(DEFAULT_MODEL),
                                     help=f"List prices of {prices.taken_on} ($/million tokens).")
        model = (option_col.text_input("Model id", key="rr_model_other",
                                       placeholder="claude-...").strip()
                 if choice == OTHER_MODEL else choice)
        return model, os.environ.get("ANTHROPIC_BASE_URL") or None, 0.0
    if backend == "openai":
        base_url = model_col.text_input("Base URL", "http://localhost:8000/v1",
                                        key="rr_base_url").strip()
        model = option_col.text_input("Model", "meta-llama/Llama-3.1-8B-Instruct",
                                      key="rr_model_openai").strip()
        return model, base_url, 0.0
    model = model_col.text_input("Local model folder", key="rr_model_path",
                                 placeholder="/models/llama-3.1-8b-instruct").strip()
    gpu_usd = option_col.number_input("GPU $/hour", 0.0, 1000.0, 0.0, 0.1, key="rr_gpu_usd",
                                      help="Price of this machine's GPU time; cost = $/hour x "
                                           "seconds.")
    return model, None, float(gpu_usd)


def backend_panel(prices: PriceTable) -> BackendPick:
    """Backend, model, its options and prices, and whether its key is found."""
    backend_col, model_col, option_col = st.columns([1, 2, 2])
    backend = backend_col.selectbox(
        "Backend", BACKEND_NAMES, key="rr_backend",
        help="anthropic: Claude API; openai: any OpenAI-compatible server (vLLM, TGI, Ollama); "
             "transformers: a local model on this machine.")
    model, base_url, gpu_usd = _model_inputs(backend, prices, model_col, option_col)
    batch = prompt_cache = False
    mode = "generate"
    if backend == "anthropic":
        batch_col, cache_col, _ = st.columns([1, 1, 2])
        batch = batch_col.toggle("Batch API (half price)", key="rr_batch",
                                 help="Message Batches: half price; answers arrive when the "
                                      "batch ends.")
        prompt_cache = cache_col.toggle("Prompt caching", key="rr_prompt_cache",
                                        help="Cache the shared instructions: later calls read "
                                             "them at a tenth of the input price.")
    elif backend == "transformers":
        mode = st.segmented_control(
            "Mode", ["generate", "likelihood"], default="generate", key="rr_mode",
            help="generate: the model writes a ranking that is parsed; likelihood: each "
                 "candidate is scored by its log-probability after the prompt (no parsing, "
                 "deterministic).",
        ) or "generate"
    if backend != "transformers" and model and not prices.has(model):
        prices = _price_inputs(prices, model)
    secrets = app_secrets()
    status = key_status(backend, os.environ, secrets)
    (st.success if status.found else st.warning)(status.message, icon=":material/key:")
    choice = BackendChoice(
        backend, model, base_url=base_url, batch=bool(batch), prompt_cache=bool(prompt_cache),
        api_key=resolve_api_key(backend, os.environ, secrets),  # in memory, never shown
        key_source=key_source_text(status.source, status.env_var), gpu_usd_per_hour=gpu_usd)
    return BackendPick(choice, prices, status, mode)


def taste_inputs(mode_col, count_col) -> tuple[str, dict]:
    """The taste option: ``(taste, taste_params)`` of the job's config (no parameters while
    it is off, so the number of categories alone never makes a dry run stale)."""
    taste = mode_col.selectbox("Taste in the prompt", TASTE_MODES, key="rr_taste",
                               help=TASTE_HELP)
    n = count_col.number_input("Taste categories", 2, 30, 8, 1, key="rr_taste_k",
                               disabled=taste == "off",
                               help="How many latent item categories the items are clustered "
                                    "into (k-means); the line names the user's top 3.")
    return taste, ({} if taste == "off" else {"n_categories": int(n)})


def dry_run_figures(plan, counter) -> dict:
    """What the dry-run panel shows of a plan (``counter``: what counted its tokens)."""
    return {
        "users": len(plan.users), "without_test": plan.n_weak_without_test,
        "weak_all": plan.n_weak_all, "deployment_usd": plan.deployment_usd,
        "population": plan.n_population, "bracket": bracket(plan.controls),
        "threshold": plan.weak.threshold_value, "estimate": plan.estimate,
        "history": plan.history_tokens, "approximate": isinstance(counter, ApproxTokenCounter),
        "calibration": None if plan.calibration is None else plan.calibration.describe(),
    }


def dry_run_panel(dry: dict) -> None:
    """A dry run's figures: who is sent, the free gain bracket, tokens and dollars."""
    estimate = dry["estimate"]
    cols = st.columns(3)
    cols[0].metric("Weak users", f"{dry['weak_all']:,}",
                   help=md_escape(f"Weak on validation (threshold {dry['threshold']:.4f}). "
                                  f"Sending all of them would cost about "
                                  f"{fmt_usd(dry['deployment_usd'])} at this plan's expected "
                                  f"cost per prompt."))
    cols[1].metric("Sent & evaluated", f"{dry['users']:,}",
                   help=f"{dry['population']:,} weak users have test items (the evaluation "
                        f"needs them; {dry['without_test']:,} do not)"
                        + ("; a pilot sends a random sample of them." if dry["users"]
                           < dry["population"] else "."))
    gain = dry["bracket"]
    cols[2].metric("Gain bracket", f"{gain['best_value']:.3f}–{gain['ceiling']:.3f}",
                   help=f"On these candidates, before any call: the best no-LLM control "
                        f"({gain['best']}) reaches {gain['best_value']:.4f} (baseline order "
                        f"{gain['baseline']:.4f}); a perfect order of the top C reaches "
                        f"{gain['ceiling']:.4f}. An LLM is worth paying for only above the "
                        f"first.")
    cols = st.columns(4)
    cols[0].metric("Answers already cached", f"{estimate.n_cached:,}",
                   help="Stored in the workspace from earlier runs: free.")
    cols[1].metric("Input tokens", f"{estimate.input_tokens:,}",
                   help="Exact (provider tokenizer)" if estimate.exact_tokens else
                        md_escape("Approximate: " + (dry.get("calibration") or
                                                     "~3.5 characters per token (no key).")))
    cols[2].metric("Expected cost", fmt_usd(estimate.expected_usd),
                   help=f"At ~{estimate.expected_output_tokens:,} output tokens; "
                        f"{estimate.note}.")
    cols[3].metric("Upper bound", fmt_usd(estimate.upper_bound_usd),
                   help=f"If every answer ran to max_tokens ({estimate.max_output_tokens:,} "
                        f"tokens).")
    if dry["approximate"]:
        st.caption("Approximate token counts: no key for this backend, so the prompts were "
                   "counted offline (about 3.5 characters per token).")
    st.dataframe(dry["history"], hide_index=True, key="rr_history_tokens", column_config={
        "strategy": "History strategy",
        "history_items": st.column_config.NumberColumn("Items shown", format="%.1f"),
        "prompt_tokens": st.column_config.NumberColumn("Prompt tokens per user", format="%.0f"),
        "total_tokens": st.column_config.NumberColumn("Total prompt tokens", format="%d"),
        "chosen": "Chosen"})


def job_panel(job_id: str | None) -> None:
    """A rerank job's live figures, its Cancel button, its failure; when it is done, the
    whole page once more so its results show."""
    if job_id is None:
        st.caption("No rerank job running for this run.")
        return
    job = jobs().get(job_id)
    detail = job.detail
    job_progress(job)  # the same line as the sidebar's
    cols = st.columns(6)
    cols[0].metric("Users done", f"{detail.get('done', 0):,} / {detail.get('total', 0):,}")
    cols[1].metric("Fell back", f"{detail.get('fallen_back', 0):,}",
                   help="Kept the baseline ranking: error, unparsable answer, budget or cancel.")
    cols[2].metric("Tokens",
                   f"{detail.get('input_tokens', 0) + detail.get('output_tokens', 0):,}",
                   help="Input plus output tokens billed so far.")
    cols[3].metric("Spent", fmt_usd(detail.get("usd", 0.0)))
    cols[4].metric("Elapsed", f"{detail.get('elapsed_s', 0.0):,.0f} s")
    eta = detail.get("eta_s")
    cols[5].metric("Remaining", "n/a" if eta is None else f"~{eta:,.0f} s")
    if detail.get("batches_submitted"):  # batch mode: the API's batches, as they end
        st.caption(f"{detail.get('batches_ended', 0):,} of {detail['batches_submitted']:,} "
                   "message batches ended.")
    if job.active:
        if st.button("Cancel", key="rr_cancel", icon=":material/cancel:",
                     help="Stops after the calls in flight; paid answers are kept."):
            jobs().cancel(job_id)
    elif job.state == "failed":
        st.error(md_escape(job.error or "The job failed."), icon=":material/error:")
    elif job.run_id and st.session_state.get("rr_shown_run") != job.run_id:
        st.session_state["rr_shown_run"] = job.run_id
        st.session_state["rr_pending_result"] = job.run_id
        st.rerun(scope="app")  # show the new results below
