"""Data: the workspace's datasets (statistics, rename, delete), uploading a new one with a
column mapping, and generating a synthetic one. The dataset chosen here is the active one
(``st.session_state["dataset"]``) that the Baseline page trains on."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime
from pathlib import Path

import plotly.express as px
import streamlit as st

from analysis.errors import AnalysisError
from analysis.ingest import ColumnMapping, detect_columns, ingest
from analysis.ingest.stats import dataset_stats
from analysis.ingest.uploads import (
    clean_stale_uploads,
    describe_input,
    discard_upload,
    ingest_synthetic,
    stage_upload,
    upload_message,
)
from analysis.runs.compare import delete_dataset, rename_dataset
from pages._shared import (
    fmt_share,
    md_escape,
    page_guard,
    run_store,
    show_error,
    sidebar,
    workspace,
)

UPLOAD_ROOT = Path(tempfile.gettempdir()) / "weakspot-uploads"
MAP_KEYS = ("data_map_user", "data_map_item", "data_map_rating", "data_map_timestamp",
            "data_map_kind")
NONE = "(none)"


@st.cache_data(show_spinner="Computing statistics...")
def _stats(ws_path: str, name: str, created_at):
    return dataset_stats(workspace(), name)


def _staged(upload) -> tuple[Path, Path]:
    """Write an upload to disk once per upload (DuckDB ingests it from the path)."""
    folder = UPLOAD_ROOT / upload.file_id
    return stage_upload(upload.name, upload, folder), folder


def _rerun_with(message: str, dataset: str | None) -> None:
    """Show ``message`` (Markdown: escape the user data in it) after a rerun on ``dataset``."""
    st.session_state["data_flash"] = message
    if dataset is None:
        st.session_state.pop("dataset", None)
    else:
        st.session_state["dataset"] = dataset
    st.rerun()


# -- the datasets in the workspace -----------------------------------------------------------


def _choose_dataset() -> None:
    """The user picked another active dataset: it becomes the app's (before the script runs,
    so the line that follows the app's choice keeps this one)."""
    st.session_state["dataset"] = st.session_state["data_active"]


def _datasets_section(catalog) -> None:
    """The workspace's datasets: the table, the active one, rename, delete, statistics."""
    st.subheader("Datasets in the workspace")
    names = catalog["name"].tolist()
    if not names:
        st.info("No dataset yet: upload one or create a synthetic one below.")
        return
    if st.session_state.get("dataset") in names:
        st.session_state["data_active"] = st.session_state["dataset"]
    shown = catalog.assign(source=catalog["source"].map(lambda s: Path(str(s)).name))
    st.dataframe(
        shown, hide_index=True, key="data_catalog",
        column_config={
            "name": "Dataset",
            "n_users": st.column_config.NumberColumn("Users", format="localized"),
            "n_items": st.column_config.NumberColumn("Items", format="localized"),
            "n_interactions": st.column_config.NumberColumn("Interactions", format="localized"),
            "kind": "Feedback",
            "created_at": st.column_config.DatetimeColumn("Added (UTC)", format="YYYY-MM-DD HH:mm"),
            "source": "Source file",
            "relevance_threshold": st.column_config.NumberColumn(
                "Relevant if rating >=", format="%.1f"),
        },
    )
    active = st.selectbox("Active dataset (the Baseline page trains on it)", names,
                          key="data_active", on_change=_choose_dataset)
    st.session_state["dataset"] = active

    name_col, rename_col, delete_col = st.columns([3, 1, 1], vertical_alignment="bottom")
    if st.session_state.get("data_rename_for") != active:  # never a stale name of another dataset
        st.session_state["data_rename_to"] = active
        st.session_state["data_rename_for"] = active
    new_name = name_col.text_input("New name", key="data_rename_to")
    if rename_col.button("Rename", key="data_rename", icon=":material/edit:"):
        renamed = new_name.strip()
        request = (active, renamed)
        if renamed != active and not _done_before("rename", request, renamed):
            try:
                rename_dataset(ws, run_store(), active, renamed)
                _record("rename", request, f"Renamed {md_escape(repr(active))} to "
                                           f"{md_escape(repr(renamed))}.")
            except AnalysisError as err:
                show_error(err)
            else:
                st.session_state.pop("data_rename_for", None)
                _rerun_with(st.session_state["data_done"]["rename"][1], renamed)
    if delete_col.button("Delete", key="data_delete", icon=":material/delete:"):
        st.session_state["data_pending_delete"] = active
    pending = st.session_state.get("data_pending_delete")
    if pending in names:
        n_runs = len(run_store().list_runs(dataset=pending))
        st.warning(f"Delete dataset **{md_escape(pending)}** and its {n_runs} saved run(s)? "
                   "This cannot be undone.", icon=":material/warning:")
        yes_col, no_col = st.columns(2)
        if yes_col.button("Yes, delete it", key="data_delete_confirm", type="primary"):
            st.session_state.pop("data_pending_delete", None)
            try:
                n_runs = delete_dataset(ws, run_store(), pending)
            except AnalysisError as err:
                show_error(err)
            else:
                for key in ("run_id", "sidebar_run", "data_active"):
                    st.session_state.pop(key, None)
                _rerun_with(f"Deleted {md_escape(repr(pending))} and {n_runs} run(s).", None)
        if no_col.button("Cancel", key="data_delete_cancel"):
            st.session_state.pop("data_pending_delete", None)
            st.rerun()

    # -- statistics of the active dataset ---------------------------------------------------
    row = catalog[catalog["name"] == active].iloc[0]
    stats = _stats(ws.path, active, row["created_at"])  # an error: shown by the page guard
    cards = st.columns(5)
    cards[0].metric("Users", f"{stats.n_users:,}")
    cards[1].metric("Items", f"{stats.n_items:,}")
    cards[2].metric("Interactions", f"{stats.n_interactions:,}")
    cards[3].metric("Sparsity", f"{stats.sparsity:.2%}",
                    help="1 - interactions / (users x items): share of empty user-item cells.")
    cards[4].metric("Relevant share", fmt_share(stats.relevant_share),
                    help=f"Share of interactions that count as relevant (gain > 0): rating >= "
                         f"{stats.relevance_threshold:g} for explicit ratings, every interaction "
                         "for implicit feedback.")
    st.caption(f"{stats.kind} feedback · timestamps: {'yes' if stats.has_timestamps else 'no'}"
               f" · user attributes: {'yes' if stats.has_users else 'no'}"
               f" · item table: {'yes' if stats.has_items else 'no'}"
               + (f" · scenarios: {stats.n_scenarios:,} ({stats.pairs_in_several_scenarios:,} "
                  "pairs seen in several keep their latest)" if stats.n_scenarios else ""))
    left, right = st.columns(2)
    fig = px.bar(stats.activity, x="label", y="n_users",
                 labels={"label": "interactions per user (log-spaced bins)",
                         "n_users": "users"},
                 title="Activity: interactions per user")
    fig.update_yaxes(type="log")
    left.plotly_chart(fig, key="data_activity_chart")
    fig = px.line(stats.popularity, x="rank", y="n_interactions", log_x=True, log_y=True,
                  labels={"rank": "item popularity rank", "n_interactions": "interactions"},
                  title=f"Item popularity: the top 20% of items get "
                        f"{stats.top20_share:.0%} of interactions")
    right.plotly_chart(fig, key="data_popularity_chart")


# -- add a dataset ---------------------------------------------------------------------------


def _written_since(action: str, dataset: str, since: datetime) -> bool:
    """Whether ``dataset`` is there, and (for a new dataset) was created at or after ``since``:
    by this session's submit, not by someone before it (a real name clash)."""
    if not ws.has_dataset(dataset):
        return False
    return action == "rename" or ws.dataset_info(dataset)["created_at"] >= since


def _done_before(action: str, request: tuple, dataset: str) -> bool:
    """Whether this exact write already succeeded in this session and its dataset is there:
    a double submit (Enter in a field, then the button; two clicks) then repeats the success
    message instead of writing again. Shows that message (and reruns) when it did.

    Called again when a write fails on a taken name: on a busy machine the second submit's
    run can find the first one's write not yet landed, write again and meet it."""
    done = st.session_state.get("data_done", {}).get(action)
    if done is not None and done[0] == request and ws.has_dataset(dataset):
        _rerun_with(done[1], dataset)
        return True
    # the first submit's run was stopped by the second after its write, before it could
    # record it (Streamlit stops a run at its next call when a new event arrives)
    pending = st.session_state.get("data_pending", {}).get(action)
    if pending is not None and pending[0] == request and _written_since(action, dataset,
                                                                       pending[1]):
        info = ws.dataset_info(dataset)
        done_words = {"ingest": "Ingested", "synthetic": "Created", "rename": "Renamed to"}
        _rerun_with(f"{done_words[action]} {md_escape(repr(dataset))}: {info['n_users']:,} "
                    f"users, {info['n_items']:,} items, {info['n_interactions']:,} "
                    "interactions.", dataset)
        return True
    if pending is None or pending[0] != request:  # the first submit of this request: when
        now = datetime.now(UTC).replace(tzinfo=None)  # the catalog's clock (naive UTC)
        st.session_state.setdefault("data_pending", {})[action] = (request, now)
    return False


def _record(action: str, request: tuple, message: str) -> None:
    """Remember a write that succeeded (right after it, before any other Streamlit call: a
    second submit may stop this script run at its next one)."""
    st.session_state.setdefault("data_done", {})[action] = (request, message)


def _upload_tab() -> None:
    clean_stale_uploads(UPLOAD_ROOT)  # uploads abandoned hours ago
    upload = st.file_uploader(
            "Interactions: CSV, TSV, Parquet, MovieLens files (u.data, ratings.dat) or a zip",
            key="data_upload_interactions",
            help="One row per user-item interaction, with or without a header line. Any file name "
                 "is accepted: the format, delimiter and header are read from the content.",
    )
    users_col, items_col = st.columns(2)
    up_users = users_col.file_uploader("Users (optional): user id + attributes, e.g. u.user",
                                       key="data_upload_users")
    up_items = items_col.file_uploader("Items (optional): item id, title, genres, e.g. u.item",
                                       key="data_upload_items")
    if upload is None:
        st.info("Upload an interactions file to preview it and map its columns.")
        return
    if st.session_state.get("data_upload_id") != upload.file_id:
        st.session_state["data_upload_id"] = upload.file_id
        for key in (*MAP_KEYS, "data_name", "data_header", "data_header_was"):
            st.session_state.pop(key, None)
    folders: list[Path] = []
    try:
        path, folder = _staged(upload)
        folders.append(folder)
        head = describe_input(path, n_rows=10)
        header = head.header
        if head.header is not None:
            header = st.checkbox(
                "First row is a header", value=head.header, key="data_header",
                help="Detected from the content: a first row of numbers over rows of the same "
                     "kinds is data. Untick it when the first row is data; every row is then "
                     "ingested and the columns are named column0, column1, ... (or MovieLens's "
                     "names when the file is one of its files).")
            if st.session_state.get("data_header_was", header) != header:
                for key in MAP_KEYS:  # the column names changed
                    st.session_state.pop(key, None)
            st.session_state["data_header_was"] = header
            if header != head.header:
                head = describe_input(path, n_rows=10, header=header)
    except AnalysisError as err:
        show_error(upload_message(err, *folders))
        return
    preview = head.rows
    layout = f" (read as MovieLens's {head.layout})" if head.layout else ""
    st.caption(f"First {len(preview)} rows of {md_escape(upload.name)}{layout}")
    st.dataframe(preview, hide_index=True, key="data_preview")
    is_movielens = head.fmt == "movielens"
    cols = [str(c) for c in preview.columns]
    try:
        guess = detect_columns(path, header=header)
    except AnalysisError as err:
        st.warning(md_escape(upload_message(err, *folders)), icon=":material/help:")
        guess = ColumnMapping(cols[0], cols[1] if len(cols) > 1 else cols[0])
    with st.form("data_ingest_form", border=True):
        name = st.text_input("Dataset name", value=Path(upload.name).name.split(".")[0][:64],
                             key="data_name")
        if is_movielens:
            st.caption("MovieLens layout: the columns are known.")
            mapping = ColumnMapping()
        else:
            st.caption("Columns as detected; change any that are wrong.")
            fields = st.columns(6)

            def pick(col, label, value, key, optional):
                # ingest detects an unmapped (None) role itself, so "(none)" is offered
                # only where detection found nothing
                opts = ([NONE] if optional and value is None else []) + cols
                idx = opts.index(value) if value in opts else 0
                return col.selectbox(label, opts, index=idx, key=key)

            user = pick(fields[0], "User id", guess.user, "data_map_user", False)
            item = pick(fields[1], "Item id", guess.item, "data_map_item", False)
            rating = pick(fields[2], "Rating / count", guess.rating, "data_map_rating", True)
            timestamp = pick(fields[3], "Timestamp", guess.timestamp, "data_map_timestamp", True)
            scen_opts = [NONE] + cols  # (none) always: no scenario column is a real choice
            scenario = fields[5].selectbox(
                "Scenario", scen_opts, key="data_map_scenario",
                index=scen_opts.index(guess.scenario) if guess.scenario in scen_opts else 0,
                help="The surface, domain or category each interaction happened in (optional): "
                     "the analysis then reports each scenario.")  # fmt: skip
            kinds = ["explicit", "count", "implicit"]
            kind = fields[4].selectbox(
                "Feedback", kinds, key="data_map_kind",
                index=kinds.index(guess.value_kind) if guess.value_kind in kinds else 0,
                help="explicit: ratings (relevant at or above the threshold); count: plays "
                          "or clicks (relevant when > 0); implicit: every row is relevant.")
            mapping = ColumnMapping(user, item, None if rating == NONE else rating,
                                    None if timestamp == NONE else timestamp, kind,
                                    "" if scenario == NONE else scenario)
        threshold_col, kcore_col = st.columns(2)
        threshold = threshold_col.number_input("Relevant if rating >=", value=4.0, step=0.5,
                                               key="data_threshold",
                                               help="Explicit ratings at or above it are relevant.")
        kcore = kcore_col.number_input("k-core (0 = off)", min_value=0, value=0, step=1,
                                       key="data_kcore", help="Keep only users and items with "
                                                              "at least k interactions.")
        submitted = st.form_submit_button("Ingest", type="primary", key="data_ingest",
                                          icon=":material/upload:")
    if not submitted:
        return
    name = name.strip()
    request = (upload.file_id, name, header, mapping, float(threshold), int(kcore),
               *(f.file_id if f is not None else None for f in (up_users, up_items)))
    if _done_before("ingest", request, name):
        return
    try:
        side = {}
        for role, f_up in (("users", up_users), ("items", up_items)):
            if f_up is not None:
                side[role], side_folder = _staged(f_up)
                folders.append(side_folder)
        with st.spinner("Ingesting..."):
            report = ingest(ws, name, path, mapping=mapping, header=header,
                            relevance_threshold=threshold, kcore=int(kcore), **side)
            note = "; ".join(upload_message(AnalysisError(w), *folders).args[0]
                             for w in report.warnings)
            message = (f"Ingested {md_escape(repr(report.name))}: {report.n_users:,} users, "
                       f"{report.n_items:,} items, {report.n_interactions:,} interactions "
                       f"({report.n_rows_read:,} rows read) in {report.seconds:.1f} s."
                       + (f" Note: {md_escape(note)}" if note else ""))
            _record("ingest", request, message)
    except AnalysisError as err:
        discard_upload(*folders)  # staged again from the uploader on a retry
        if not _done_before("ingest", request, name):  # a double submit's first write landed
            show_error(upload_message(err, *folders))
    else:
        discard_upload(*folders)  # the data is in the workspace now
        _rerun_with(message, report.name)


def _synthetic_tab() -> None:
    st.caption("A synthetic log with planted structure: Zipf popularity, genres, heavy-tailed "
               "activity and a niche-taste group that collaborative filtering serves badly.")
    fields = st.columns(6)
    synth_name = fields[0].text_input("Dataset name", value="synthetic", key="data_synth_name")
    n_users = fields[1].number_input("Users", min_value=10, max_value=2_000_000, value=2000,
                                     step=500, key="data_synth_users")
    n_items = fields[2].number_input("Items", min_value=10, max_value=500_000, value=1000, step=500,
                                     key="data_synth_items")
    mean_inter = fields[3].number_input("Mean interactions per user", min_value=3.0, value=20.0,
                                        step=5.0, key="data_synth_mean")
    seed = fields[4].number_input("Seed", min_value=0, value=0, step=1, key="data_synth_seed")
    n_scen = fields[5].number_input(
        "Scenarios", min_value=0, max_value=8, value=0, step=1, key="data_synth_scenarios",
        help="0: none. Otherwise surfaces such as home, search, email in a scenario column; "
             "users active in one or several, the last scenario planted hard for a shared "
             "model (its items follow a taste unrelated to the user's elsewhere).")
    if not st.button("Create synthetic dataset", key="data_synth_create", type="primary",
                     icon=":material/science:"):
        return
    name = synth_name.strip()
    request = (name, int(n_users), int(n_items), float(mean_inter), int(seed), int(n_scen))
    if _done_before("synthetic", request, name):
        return
    try:
        with st.spinner("Generating and ingesting..."):
            report = ingest_synthetic(ws, name, n_users=int(n_users), n_items=int(n_items),
                                      mean_interactions=mean_inter, seed=int(seed),
                                      n_scenarios=int(n_scen))
            message = (f"Created {md_escape(repr(report.name))}: {report.n_users:,} users, "
                       f"{report.n_items:,} items, {report.n_interactions:,} interactions.")
            _record("synthetic", request, message)
    except AnalysisError as err:
        if not _done_before("synthetic", request, name):  # a double submit's first write landed
            show_error(err)
    else:
        _rerun_with(message, report.name)


# -- the page: each part under a guard, so an error in one leaves the other usable -----------

sidebar()
st.title("Data")
if msg := st.session_state.pop("data_flash", None):
    st.success(msg, icon=":material/check_circle:")
ws = workspace()
with page_guard():
    _datasets_section(ws.list_datasets())
st.subheader("Add a dataset")
tab_upload, tab_synth = st.tabs(["Upload files", "Synthetic dataset"])
with tab_upload, page_guard():
    _upload_tab()
with tab_synth, page_guard():
    _synthetic_tab()
