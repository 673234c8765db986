"""What every page shares: the workspace, cached loaders, the active dataset and run in the
sidebar, text escaping, number formatting and metric help texts.

Only Streamlit glue lives here (caching, session state, widgets); every computation is a call
into ``analysis/`` or ``models/``.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
import streamlit as st

from analysis.errors import AnalysisError
from analysis.jobs.manager import JobManager, get_job_manager
from analysis.jobs.tasks import ensure_demo_run
from analysis.runs.store import RunStore
from analysis.weak_users import WeakRule
from analysis.workspace import Workspace

#: what each metric means, shown as a help tooltip wherever the metric appears
METRIC_HELP = {
    "ndcg": "NDCG@k: how close the top k is to the ideal order of the user's held-out relevant "
    "items (1 = all of them first, 0 = none in the top k).",
    "ndcg_graded": "Graded NDCG@k: NDCG with the rating as gain, so loved items count more.",
    "recall": "Recall@k: share of the user's held-out relevant items found in the top k.",
    "precision": "Precision@k: share of the k recommended slots that hold a relevant item.",
    "hit": "HitRate@k: 1 if at least one relevant item is in the top k, else 0.",
    "mrr": "MRR@k: 1 / rank of the first relevant item (0 if none in the top k).",
    "ap": "AP@k: precision averaged over the ranks of the hits; rewards early hits.",
    "auc": "AUC: probability that a held-out relevant item is scored above an item the user "
    "never interacted with (0.5 = random). Kaur & Shah's weak-user metric.",
    "candidate_recall": "Candidate recall@C: is any relevant item in the top C at all? An LLM "
    "reranking the top C can only reorder what is there.",
    "auc@heldout": "Held-out AUC: probability that a held-out relevant item is scored above a "
    "held-out item the user rated below the relevance threshold (only the user's own held-out "
    "ratings; our reading of Kaur & Shah's query-level AUC). Undefined without both kinds.",
}


#: invisible U+2060 WORD JOINER: splits patterns Streamlit turns into links or emoji after parsing
_WJ = "\u2060"
#: what Streamlit rewrites in the parsed text, where backslash escapes no longer count:
#: ``:name:`` emoji and ``:material/icon:`` shortcodes, ``http://`` and ``www.`` autolinks,
#: ``user@host.tld`` email autolinks. A word joiner after the colon, the at sign or ``www``
#: breaks each of them.
_MD_TEXT_REWRITES = re.compile(r":(?=[\w/+\-])|@(?=[\w\-])|(?i:www)(?=\.)")
#: characters that start inline markup anywhere in a line: escapes, code, emphasis,
#: strikethrough, links/images/directive labels, HTML, entities, math, table cells; an
#: underscore between two letters or digits (``test_fraction``) cannot emphasise and is kept
_MD_INLINE = re.compile(r"[\\`*~\[\]<&$|]|(?<![^\W_])_|_(?![^\W_])")
#: block markers, which count only at the start of a line (headings, quotes, lists): the
#: backslash goes before the marker character
_MD_BLOCK = re.compile(r"^(\s*(?:\d+(?=[.)]))?)((?<=\d)[.)]|[#>+\-])")


def md_escape(value: object) -> str:
    """``value`` as text that Streamlit's Markdown shows literally.

    For user data (ids, titles, names, model names, error messages quoting a file) put into
    anything Streamlit renders as Markdown: ``st.markdown``, captions, headers, alerts,
    metric labels and values, widget labels and help, progress text. Newlines become spaces;
    a backslash goes before every character that starts inline markup and before a leading
    block marker, so no link, image, HTML, emphasis, code or math can form; an invisible word
    joiner breaks what Streamlit rewrites after parsing (emoji and icon shortcodes, bare URLs
    and emails). Not for the inside of a backtick code span, which is literal already.
    """
    text = re.sub(r"\r\n|[\r\n]", " ", str(value))
    text = _MD_TEXT_REWRITES.sub(lambda m: m.group(0) + _WJ, text)
    text = _MD_INLINE.sub(lambda m: "\\" + m.group(0), text)
    return _MD_BLOCK.sub(r"\1\\\2", text)


def metric_help(column: str) -> str:
    """Help text of a metric column such as ``ndcg@10`` or ``val_auc``."""
    name = column.removeprefix("val_")
    text = METRIC_HELP.get(name) or METRIC_HELP.get(name.split("@")[0], "")
    if column.startswith("val_"):
        text += " (validation split)"
    return text


def fmt_usd(amount: float | None) -> str:
    if amount is None or pd.isna(amount):
        return "n/a"
    return f"${amount:,.2f}" if abs(amount) >= 1 else f"${amount:,.4f}"


def fmt_share(share: float | None) -> str:
    return "n/a" if share is None or pd.isna(share) else f"{share:.1%}"


@st.cache_resource
def _workspace(path: str | None) -> Workspace:
    return Workspace(path)


def workspace() -> Workspace:
    """The app's workspace (``WEAKSPOT_WORKSPACE`` or ``data/workspace.duckdb``)."""
    return _workspace(os.environ.get("WEAKSPOT_WORKSPACE") or None)


@st.cache_resource
def _run_store(ws_path: str) -> RunStore:
    return RunStore(workspace())


def run_store() -> RunStore:
    """The workspace's RunStore, built once per workspace: its constructor writes (CREATE IF
    NOT EXISTS), which fails while a background job holds a read-only connection."""
    return _run_store(workspace().path)


def jobs() -> JobManager:
    return get_job_manager(workspace())


@st.cache_resource(show_spinner="Preparing the demo dataset and its baseline (first start only)...")
def _demo_run_id(ws_path: str) -> str:
    return ensure_demo_run(workspace()).run_id


def demo_run_id() -> str:
    return _demo_run_id(workspace().path)


@st.cache_resource(max_entries=8)
def _loaded_run(ws_path: str, run_id: str):
    return run_store().load_baseline(run_id)


def loaded_run(run_id: str):
    """A baseline run read back (dataset, split, per-user table): cached per run id."""
    return _loaded_run(workspace().path, run_id)


def active_run_id() -> str:
    """The run picked in the sidebar (defaults to the demo run)."""
    if "run_id" not in st.session_state:
        st.session_state["run_id"] = demo_run_id()
    return st.session_state["run_id"]


@st.cache_data(ttl=10, show_spinner=False)
def _baseline_runs(ws_path: str) -> pd.DataFrame:
    return run_store().list_runs(kind="baseline")[["run_id", "dataset", "label"]]


def baseline_runs(fresh: bool = False) -> pd.DataFrame:
    """Baseline runs (run_id, dataset, label), newest first; cached briefly (every rerun of
    every page shows them), refreshed when ``fresh`` or when the active run is not listed."""
    if fresh:
        _baseline_runs.clear()
    runs = _baseline_runs(workspace().path)
    if "run_id" in st.session_state and st.session_state["run_id"] not in set(runs["run_id"]):
        _baseline_runs.clear()
        runs = _baseline_runs(workspace().path)
    return runs


@st.cache_data(max_entries=4, show_spinner=False)
def _rerank_runs(ws_path: str, runs_stamp: int) -> pd.DataFrame:
    return run_store().list_runs(kind="rerank")


def rerank_runs() -> pd.DataFrame:
    """Rerank runs (``RunStore.list_runs`` columns), newest first. Read once per change of
    the runs folder (its modification time moves when a run is saved or deleted), instead of
    opening the workspace on every rerun (~20 ms each on a busy machine)."""
    root = run_store().root
    stamp = root.stat().st_mtime_ns if root.is_dir() else 0
    return _rerank_runs(workspace().path, stamp)


@st.cache_data(max_entries=4, show_spinner=False)
def _child_runs(ws_path: str, runs_stamp: int) -> pd.DataFrame:
    return run_store().list_runs().query("kind != 'baseline'")[["run_id", "kind",
                                                                   "parent_run_id"]]


def run_children(run_id: str) -> list[tuple[str, str]]:
    """``(run_id, kind)`` of the reranks and remedies made from baseline run ``run_id``,
    newest first; read once per change of the runs folder, like :func:`rerank_runs`."""
    root = run_store().root
    stamp = root.stat().st_mtime_ns if root.is_dir() else 0
    runs = _child_runs(workspace().path, stamp)
    runs = runs[runs["parent_run_id"] == run_id]
    return list(zip(runs["run_id"], runs["kind"], strict=True))


def _workspace_stamp() -> tuple[int, int]:
    """Changes whenever the workspace file (or its write-ahead log) is written: a cache key
    for what only a write can change, read without opening DuckDB."""
    path = Path(workspace().path)
    stamps = []
    for candidate in (path, path.with_name(path.name + ".wal")):
        try:
            st_ = candidate.stat()
            stamps.append(st_.st_mtime_ns ^ st_.st_size)
        except OSError:
            stamps.append(0)
    return stamps[0], stamps[1]


@st.cache_data(max_entries=4, show_spinner=False)
def _datasets(ws_path: str, stamp: tuple[int, int]) -> pd.DataFrame:
    return workspace().list_datasets()


def datasets() -> pd.DataFrame:
    """The workspace's datasets (:meth:`Workspace.list_datasets`), read again only after the
    workspace was written; each read opens DuckDB (~40 ms on a busy machine)."""
    return _datasets(workspace().path, _workspace_stamp())


@st.cache_resource(max_entries=64, ttl=60, show_spinner=False)
def _run_info(ws_path: str, run_id: str):
    return run_store().get(run_id)


def run_info(run_id: str):
    """A run's record (:meth:`RunStore.get`), cached per run id: a saved run's record never
    changes; a run deleted meanwhile fails on its files, with their own one-line error."""
    return _run_info(workspace().path, run_id)


def sidebar() -> None:
    """Active dataset and run, and every live job, on every page."""
    with st.sidebar:
        _run_picker()
        for job in jobs().active():  # also before the first run exists: its training job
            job_progress(job)


def _run_picker() -> None:
    try:
        runs = baseline_runs()
    except AnalysisError as err:
        st.error(md_escape(err))
        return
    if not len(runs):
        st.info("No run yet: train a baseline on the Baseline page.")
        return
    current = active_run_id()
    ids = runs["run_id"].tolist()
    if current not in ids:
        current = ids[0]
    labels = dict(zip(runs["run_id"], runs["dataset"] + " · " + runs["label"], strict=True))
    chosen = st.selectbox(
        "Active run",
        ids,
        index=ids.index(current),
        format_func=lambda r: labels[r],
        key="sidebar_run",
    )
    st.session_state["run_id"] = chosen
    row = runs[runs["run_id"] == chosen].iloc[0]
    st.caption(f"Dataset **{md_escape(row['dataset'])}** · run `{chosen}`")


def job_progress_text(job) -> str:
    """A job's progress line, the same in the sidebar and on the page that follows the job:
    its title, its stage (:attr:`analysis.jobs.manager.JobStatus.stage`) and how far it is."""
    return f"{job.title}: {job.stage} ({job.progress:.0%})"


def job_progress(job) -> None:
    """A job's progress bar with :func:`job_progress_text` (titles and stages quote dataset
    and model names: escaped)."""
    st.progress(job.progress, text=md_escape(job_progress_text(job)))


def current_weak_rule(run) -> WeakRule:
    """The weak-user rule every page uses: the one object the Weak users page keeps in
    ``st.session_state["weak_rule"]`` (all its fields, exactly), else the run's own rule."""
    rule = st.session_state.get("weak_rule")
    if isinstance(rule, dict):
        rule = WeakRule(**rule)
    return rule if isinstance(rule, WeakRule) else run.summary.weak_users.rule


def show_error(err: AnalysisError) -> None:
    """An error's one line, literally: messages quote file names, columns and values."""
    st.error(md_escape(err), icon=":material/error:")


#: what a page shows for an unexpected exception (a bug); its traceback goes to the server log
UNEXPECTED_ERROR = (
    "Something went wrong here ({kind}); the details are in the server log. Reload the page "
    "to try again, and report it if it happens again."
)
_page_log = logging.getLogger("weakspot.pages")


#: set to "1" (the test suite does) to let unexpected exceptions through the page guard
RAISE_ENV = "WEAKSPOT_RAISE_PAGE_ERRORS"


@contextmanager
def page_guard() -> Iterator[None]:
    """Run a page (or a part of it) so that no traceback reaches the user.

    An :class:`AnalysisError` shows its one line (:func:`show_error`); any other exception is
    logged with its traceback on the server and shown as :data:`UNEXPECTED_ERROR`, one line.
    Streamlit's own control flow (``st.rerun``, ``st.stop``, ``st.switch_page``) raises
    ``BaseException`` subclasses, which pass through.
    """
    try:
        yield
    except AnalysisError as err:
        show_error(err)
    except Exception as exc:
        if os.environ.get(RAISE_ENV) == "1":  # the test suite: a bug must fail its test
            raise
        _page_log.exception("Unexpected error on a page")
        st.error(UNEXPECTED_ERROR.format(kind=type(exc).__name__), icon=":material/error:")


def repo_root() -> Path:
    return Path(__file__).resolve().parents[1]


def app_secrets() -> dict:
    """The app's secrets as a plain dict; empty when there is no secrets file (never raises)."""
    try:
        return st.secrets.to_dict() if st.secrets.load_if_toml_exists() else {}
    except Exception:  # an unreadable secrets file reads as no secrets
        return {}


@st.cache_resource(max_entries=8)
def _rerank_run(path: str):
    from analysis.runs.rerank import load_rerank_run

    return load_rerank_run(path)


def rerank_run(run_id: str):
    """A rerank run read back (summary, per-user, calls, by group, curve): cached per run."""
    return _rerank_run(str(run_info(run_id).path))


def page_start(title: str, caption: str):
    """Sidebar, title and caption, then the active baseline run: ``(run_id, run)``.

    A run that cannot be loaded shows its one-line error and stops the page.
    """
    sidebar()
    st.title(title)
    st.caption(caption)
    try:
        run_id = active_run_id()
        return run_id, loaded_run(run_id)
    except AnalysisError as err:
        show_error(err)
        st.stop()
