"""Baseline: pick a model, its hyperparameters and the split, train it (or import an external
recommender's run) in the background with live progress, and compare every baseline run of the
dataset. A finished run becomes the active run (``st.session_state["run_id"]``)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from analysis.errors import AnalysisError
from analysis.jobs.tasks import baseline_task, import_task
from analysis.runs.compare import (
    SPLIT_PARAMS,
    baseline_config,
    compare_baseline_runs,
    compare_weak_users,
)
from analysis.subgroups.sampling import SampleConfig
from models.baselines import MODEL_NAMES, describe_params
from pages._shared import (
    datasets,
    job_progress,
    jobs,
    md_escape,
    metric_help,
    run_store,
    show_error,
    sidebar,
    workspace,
)

MODEL_HELP = {
    "als": "Alternating least squares on implicit feedback (Hu, Koren & Volinsky).",
    "bpr": "Bayesian personalised ranking: pairwise SGD on sampled negatives.",
    "lmf": "Logistic matrix factorisation.",
    "itemknn": "Item-item nearest neighbours (cosine or BM25 weighted).",
    "pop": "Most popular items first: the non-personalised reference.",
    "sasrec": "SASRec: self-attention over each user's training items in time order "
              "(Kang & McAuley), trained in PyTorch.",
}
SPLIT_HELP = {
    "temporal": "Per user, the last interactions by time go to validation and test.",
    "random": "Per user, random fractions go to validation and test (Kaur & Shah's 80/10/10).",
    "global": "One time cut for everybody: the latest interactions overall are held out.",
}
#: the runs table: the figures to compare first, each narrow, so no sideways scrolling
RUN_TABLE_ORDER = ["model", "ndcg", "recall", "auc", "weak_share", "run_id", "k", "split",
                   "params", "fit_s", "created_at"]
SPLIT_PARAM_HELP = {
    "n_validation": "validation interactions per user (the latest before the test ones)",
    "n_test": "test interactions per user (the latest)",
    "validation_fraction": "share of each user's interactions held out for validation",
    "test_fraction": "share of each user's interactions held out for test",
    "validation_quantile": "validation starts at this quantile of all timestamps",
    "test_quantile": "test starts at this quantile of all timestamps",
}


def _adopt_finished_job() -> None:
    """When this session's job (a training or an import) is done, make its run the active run
    (before the sidebar); an import's flash carries its notes."""
    job_id = st.session_state.get("baseline_job")
    if not job_id:
        return
    try:
        status = jobs().get(job_id)
    except AnalysisError:
        st.session_state.pop("baseline_job", None)
        return
    if status.active:
        return
    st.session_state.pop("baseline_job", None)
    if status.state == "done" and status.run_id:
        st.session_state["run_id"] = status.run_id
        st.session_state["sidebar_run"] = status.run_id
        text = f"Run `{status.run_id}` is ready and is now the active run."
        if status.kind == "import":  # with the import's notes (unknown ids, AUC, selection)
            text = (f"Imported `{status.run_id}`; it is now the active run. "
                    + md_escape(" ".join(status.detail.get("notes", []))))
        st.session_state["baseline_flash"] = ("success", text)
    elif status.state == "failed":
        st.session_state["baseline_flash"] = ("error", status.error or "The job failed.")
    else:
        st.session_state["baseline_flash"] = ("info", f"The job was {md_escape(status.state)}.")


@st.fragment(run_every=1.0)
def _progress() -> None:
    job_id = st.session_state.get("baseline_job")
    if not job_id:
        return
    status = jobs().get(job_id)
    if not status.active:
        st.rerun()  # the whole page: adopt the run, refresh the table
    job_progress(status)  # the same stage and figure as the sidebar
    if st.button("Cancel", key="baseline_cancel", icon=":material/cancel:"):
        jobs().cancel(job_id)


@st.cache_data(max_entries=8, show_spinner="Comparing the runs' weak users...")
def _weak_comparison(ws_path: str, dataset: str, reference: str, run_ids: tuple[str, ...]):
    """Every run of ``dataset`` at the reference run's threshold (``run_ids`` keys the cache:
    a new or deleted run computes it again)."""
    return compare_weak_users(run_store(), dataset, reference)


def _id_list(ids: tuple, shown: int = 30) -> str:
    """User ids as one line of text: the first ``shown``, then how many more."""
    head = ", ".join(map(str, ids[:shown]))
    return head + (f" … (+{len(ids) - shown:,} more)" if len(ids) > shown else "")


def _param_input(param, model: str):
    key = f"baseline_param_{model}_{param.name}"
    if param.choices:
        return st.selectbox(param.name, param.choices, index=param.choices.index(param.default),
                            help=param.help, key=key)
    if isinstance(param.default, bool):
        return st.checkbox(param.name, value=param.default, help=param.help, key=key)
    if isinstance(param.default, int):
        return st.number_input(param.name, value=param.default, step=1, help=param.help, key=key)
    return st.number_input(param.name, value=float(param.default), format="%g", help=param.help,
                           key=key)


_adopt_finished_job()
sidebar()
st.title("Baseline")
if flash := st.session_state.pop("baseline_flash", None):
    kind, text = flash
    if kind == "error":
        show_error(AnalysisError(text))
    else:
        getattr(st, kind)(text)

ws = workspace()
try:
    names = datasets()["name"].tolist()
except AnalysisError as err:
    show_error(err)
    st.stop()
if not names:
    st.info("No dataset yet: add one on the Data page.")
    st.page_link("pages/1_data.py", label="Go to the Data page", icon=":material/database:")
    st.stop()
active = st.session_state.get("dataset")
if active not in names:
    active = names[0]
dataset = st.selectbox("Dataset", names, index=names.index(active), key="baseline_dataset",
                       help="The active dataset of the Data page.")
st.session_state["dataset"] = dataset

# -- settings ----------------------------------------------------------------------------------
left, right = st.columns(2)
with left:
    st.markdown("**Model**")
    model = st.selectbox("Model", MODEL_NAMES, key="baseline_model",
                         format_func=lambda m: f"{m}: {MODEL_HELP[m]}")
    params = {p.name: _param_input(p, model) for p in describe_params(model)}
    if not params:
        st.caption("This model has no hyperparameters.")
with right:
    st.markdown("**Split and evaluation**")
    split = st.selectbox("Split", list(SPLIT_PARAMS), key="baseline_split",
                         format_func=lambda s: f"{s}: {SPLIT_HELP[s]}")
    split_params = {}
    for name, default in SPLIT_PARAMS[split].items():
        key = f"baseline_split_{name}"
        if isinstance(default, int):
            split_params[name] = st.number_input(name, value=default, step=1, key=key,
                                                 help=SPLIT_PARAM_HELP[name])
        else:
            split_params[name] = st.number_input(name, value=float(default), step=0.05,
                                                 format="%.2f", key=key,
                                                 help=SPLIT_PARAM_HELP[name])
    cols = st.columns(3)
    k = cols[0].number_input("k", value=10, step=1, key="baseline_k",
                             help="Length of the recommendation list the metrics judge.")
    n_candidates = cols[1].number_input(
        "Candidates C", value=20, step=5, key="baseline_candidates",
        help="Length of the stored ranking an LLM may rerank later (>= k).")
    seed = cols[2].number_input("Seed", value=0, step=1, key="baseline_seed",
                                help="One seed for the split, the model and the bootstrap.")

with st.expander("Sample users: evaluate a stratified sample (very large datasets)"):
    st.caption("Evaluate a seeded stratified random sample of the users: every subgroup "
               "figure then carries the sampling error in its interval, and the weak users "
               "and the LLM cost are projected to every user with their intervals "
               "(docs/metrics.md, Sampled users). The model still trains on every user.")
    sample = None
    if st.toggle("Sample the users", key="baseline_sample"):
        c1, c2 = st.columns(2)
        fraction = c1.slider("Share of users", 0.01, 1.0, 0.1, 0.01, key="baseline_sample_f")
        by = c2.multiselect("Strata", ["activity", "inactive", "mainstream"],
                            default=["activity"], key="baseline_sample_by",
                            help="Subgroup dimensions whose crossed levels are the strata "
                            "(proportional allocation, at least 2 users each).")
        sample = SampleConfig(fraction=float(fraction), by=tuple(by) or ("activity",),
                              seed=int(seed))

running = bool(st.session_state.get("baseline_job"))
clicked = st.button("Train", key="baseline_train", type="primary",
                    icon=":material/play_arrow:", disabled=running)
if clicked and not running:  # a second click queued before the button went grey: ignored
    try:
        config = baseline_config(ws, dataset, model=model, model_params=params, split=split,
                                 split_params=split_params, k=k, n_candidates=n_candidates,
                                 seed=seed, sample=sample)
    except AnalysisError as err:
        show_error(err)
    else:
        title = f"{dataset}: {config.model}, {config.split} split, k={config.k}" + (
            f", {sample.fraction:.0%} sample" if sample is not None else "")
        # the same training already running (another tab, a double submit): follow it
        same = [j for j in jobs().active() if j.kind == "baseline" and j.title == title]
        st.session_state["baseline_job"] = same[0].job_id if same else jobs().submit(
            "baseline", title, baseline_task(ws, dataset, config))
        st.rerun()
_progress()

with st.expander("Import rankings: analyse your own recommender's run"):
    st.caption("TREC (`user Q0 item rank score tag`), CSV or Parquet (`user_id, item_id, rank` "
               "or `score`), uploaded or a file or folder of Parquet files on this server, "
               "judged on the split, k, C and seed above. AUC over all items: not available "
               "for an imported run. An export bigger than this machine's memory (billions "
               "of rows) is analysed in place from the command line: `python -m analysis "
               "analyse-export` (README, \"Your own recommender, at your scale\").")
    c1, c2 = st.columns(2)
    RUN_TYPES = ["trec", "txt", "run", "csv", "tsv", "parquet"]
    up_test = c1.file_uploader("Test run", type=RUN_TYPES, key="import_test_upload")
    up_val = c2.file_uploader("Validation run (optional)", type=RUN_TYPES,
                              key="import_validation_upload")
    imp_test = c1.text_input("or a test run path on this server", key="import_test")
    imp_val = c2.text_input("or a validation run path on this server", key="import_validation")
    imp_name = c1.text_input("Model name", value="imported", key="import_name")
    imp_half = c2.checkbox("Select on a random half of the users", key="import_half",
                           help="Only a test run: the weak-user threshold is chosen on a seeded "
                           "random half of the users; the other half is judged.")
    if st.button("Import", key="import_run", icon=":material/upload:",
                 disabled=running or not (up_test or imp_test.strip())) and not running:
        from analysis.external import ImportConfig

        imp_config = ImportConfig(
            name=imp_name.strip() or "imported", k=int(k), n_candidates=int(n_candidates),
            split=split, split_params=split_params, seed=int(seed),
            selection="random_half" if imp_half else "validation")
        shown = up_test.name if up_test is not None else imp_test.strip()  # no server path
        title = f"{dataset}: import {imp_config.name} from {Path(shown).name}, k={imp_config.k}"
        # the same import already running (another tab, a double submit): follow it
        same = [j for j in jobs().active() if j.kind == "import" and j.title == title]
        if same:
            st.session_state["baseline_job"] = same[0].job_id
        else:  # uploads go to a folder the job owns and removes when it ends
            owned = tempfile.mkdtemp(prefix="weakspot-import-") if up_test or up_val else None

            def _file(upload, path: str, role: str) -> str:  # an upload keeps its own name
                if upload is None:
                    return path.strip()
                target = Path(owned) / role / Path(upload.name).name
                target.parent.mkdir()
                target.write_bytes(upload.getvalue())
                return str(target)

            st.session_state["baseline_job"] = jobs().submit("import", title, import_task(
                ws, dataset, _file(up_test, imp_test, "test"),
                _file(up_val, imp_val, "validation") or None, imp_config, owned_dir=owned))
        st.rerun()

# -- the runs of this dataset ------------------------------------------------------------------
st.subheader(f"Baseline runs of {md_escape(dataset)}")
store = run_store()
try:
    table = compare_baseline_runs(store, dataset)
except AnalysisError as err:
    show_error(err)
    st.stop()
if table.empty:
    st.info("No run of this dataset yet: choose a model and press Train.")
    st.stop()
st.dataframe(
    table, hide_index=True, key="baseline_runs",
    column_order=RUN_TABLE_ORDER,
    column_config={
        "run_id": st.column_config.TextColumn("Run", width="medium"),
        "model": st.column_config.TextColumn("Model", width="small"),
        "params": st.column_config.TextColumn("Hyperparameters", width="medium"),
        "split": st.column_config.TextColumn("Split", width="medium"),
        "k": st.column_config.NumberColumn("k", format="%d", width="small"),
        "ndcg": st.column_config.NumberColumn("NDCG@k", format="%.4f", width="small",
                                              help=metric_help("ndcg")),
        "recall": st.column_config.NumberColumn("Recall@k", format="%.4f", width="small",
                                                help=metric_help("recall")),
        "auc": st.column_config.NumberColumn("AUC", format="%.4f", width="small",
                                             help=metric_help("auc")),
        "weak_share": st.column_config.NumberColumn(
            "Weak users", format="percent", width="small",
            help="Share of users at or below the run's own weak-user threshold on validation: "
                 "20% by construction under a percentile rule, so compare models below, at "
                 "one threshold."),
        "fit_s": st.column_config.NumberColumn("Fit time (s)", format="%.2f",
                                               help="Seconds to fit the model."),
        "created_at": st.column_config.DatetimeColumn("Created (UTC)",
                                                      format="YYYY-MM-DD HH:mm:ss"),
    },
)
pick_col, button_col = st.columns([3, 1], vertical_alignment="bottom")
to_delete = pick_col.selectbox("Run to delete", table["run_id"].tolist(), key="baseline_delete_run")
if button_col.button("Delete run", key="baseline_delete", icon=":material/delete:"):
    st.session_state["baseline_pending_delete"] = to_delete
pending = st.session_state.get("baseline_pending_delete")
if pending in table["run_id"].tolist():
    st.warning(f"Delete run `{pending}` and the LLM reranks made from it?",
               icon=":material/warning:")
    left, right = st.columns(2)
    if left.button("Yes, delete it", key="baseline_delete_confirm", type="primary"):
        st.session_state.pop("baseline_pending_delete", None)
        try:
            store.delete(pending)
        except AnalysisError as err:
            show_error(err)
        else:
            if st.session_state.get("run_id") == pending:
                for key in ("run_id", "sidebar_run"):
                    st.session_state.pop(key, None)
            st.session_state["baseline_flash"] = ("success", f"Deleted run `{pending}`.")
            st.rerun()
    if right.button("Cancel", key="baseline_delete_cancel"):
        st.session_state.pop("baseline_pending_delete", None)
        st.rerun()

# -- weak users at one threshold ---------------------------------------------------------------
if len(table) >= 2:
    st.subheader("Weak users at one threshold")
    ids = table["run_id"].tolist()
    models = dict(zip(table["run_id"], table["model"], strict=True))
    active_run = st.session_state.get("run_id")
    ref = st.selectbox(
        "Reference run", ids, index=ids.index(active_run) if active_run in ids else 0,
        key="baseline_weak_reference", format_func=lambda r: f"{r} ({models[r]})",
        help="The run whose weak-user threshold (resolved on its validation split) is "
             "applied to every run.")
    try:
        cmp = _weak_comparison(ws.path, dataset, ref, tuple(ids))
    except AnalysisError as err:
        show_error(err)
        st.stop()
    rule = (f"val_{cmp.metric} ≤ {cmp.threshold:.4f}"
            + (" and inactive" if cmp.require_inactive else ""))
    st.caption(
        f"Each run's own percentile rule makes the same share of its users weak by "
        f"construction, so that share cannot tell models apart. Here every run is judged at "
        f"one absolute threshold, {md_escape(rule)}, the one the reference run's rule chose: "
        "a model that leaves fewer users weak serves more of them acceptably.")
    st.dataframe(
        cmp.counts, hide_index=True, key="baseline_weak_counts",
        column_config={
            "run_id": st.column_config.TextColumn("Run", width="medium"),
            "model": st.column_config.TextColumn("Model", width="small"),
            "n_users": st.column_config.NumberColumn(
                "Users", format="%d", width="small",
                help="Users with a validation value (only they can be weak)."),
            "n_weak": st.column_config.NumberColumn("Weak users", format="%d", width="small"),
            "share": st.column_config.NumberColumn("Share", format="percent", width="small"),
        },
    )
    pairs = cmp.pairs.assign(user_ids=cmp.pairs["user_ids"].map(_id_list))
    st.markdown("**Weak under one model, not under another**")
    st.dataframe(
        pairs, hide_index=True, key="baseline_weak_pairs",
        column_config={
            "weak_under": st.column_config.TextColumn("Weak under", width="medium"),
            "not_weak_under": st.column_config.TextColumn("Not weak under", width="medium"),
            "n_users": st.column_config.NumberColumn(
                "Users", format="%d", width="small",
                help="Users weak under the first run and above the threshold under the second "
                     "(users with a validation value in both)."),
            "user_ids": st.column_config.TextColumn("User ids", width="large"),
        },
    )
    if cmp.skipped:
        st.caption(f"Left out (no val_{md_escape(cmp.metric)} column): "
                   f"{md_escape(', '.join(cmp.skipped))}.")
