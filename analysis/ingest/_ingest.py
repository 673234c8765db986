"""The ingest and its report; column detection; the in-memory path.

An ingest does its heavy work (reading the input, staging, checks, merging duplicates, the
k-core, the side tables) in a private temporary DuckDB file that no other process sees, and
touches the workspace only at the end, in one short transaction that copies the finished
tables in and adds the catalog row. So the workspace stays free for the app and other
commands while a large file is read (DuckDB lets one process write a file at a time), and it
is unchanged whenever the ingest refuses.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from analysis.dataset import Dataset, FeedbackKind
from analysis.errors import AnalysisError
from analysis.ingest._columns import (
    ITEM_SYNONYMS,
    USER_SYNONYMS,
    ColumnMapping,
    resolve_mapping,
)
from analysis.ingest._formats import (
    NO_DATA_ROWS,
    Format,
    Source,
    diagnose_text_failure,
    library_errors,
    sql_str,
)
from analysis.ingest._load import load_dataset
from analysis.ingest._stage import (
    BAD_KCORE,
    BAD_THRESHOLD,
    KCORE_EMPTY,
    InputSpec,
    _check_relevant,
    _checked_ts_scale,
    _column_types,
    _decide_id_type,
    _open_main,
    _open_side,
    _raise_problem,
    _staged_select,
    _store_side,
)
from analysis.workspace import NAME_TAKEN, Workspace, validate_dataset_name

#: commits of this process take turns: two at once on one name would otherwise both pass
#: the name check and one fail on the catalog's UNIQUE constraint
_COMMIT_LOCK = threading.Lock()


@dataclass(frozen=True)
class IngestReport:
    """What :func:`ingest` stored.

    Attributes:
        name: dataset name in the workspace.
        source: the input path (or ``"DataFrame"``).
        n_rows_read: data rows in the interactions input.
        n_users, n_items, n_interactions: after merging duplicates and k-core.
        n_duplicates_merged: rows folded into another row of the same (user, item).
        n_removed_kcore: interactions removed by the k-core filter.
        n_relevant: interactions with gain > 0 (rating >= threshold for explicit feedback).
        kind: ``"explicit"``, ``"count"`` or ``"implicit"``.
        relevance_threshold: the rating threshold for relevance.
        mapping: the resolved column roles (``value_kind`` never ``"auto"``).
        has_timestamps, has_users, has_items: which optional parts were stored.
        user_id_type, item_id_type: ``"BIGINT"`` or ``"VARCHAR"``.
        seconds: wall time of the ingest.
        warnings: notes for the user (ambiguous columns, partial attribute coverage, ...).
    """

    name: str
    source: str
    n_rows_read: int
    n_users: int
    n_items: int
    n_interactions: int
    n_duplicates_merged: int
    n_removed_kcore: int
    n_relevant: int
    kind: FeedbackKind
    relevance_threshold: float
    mapping: ColumnMapping
    has_timestamps: bool
    has_users: bool
    has_items: bool
    user_id_type: str
    item_id_type: str
    seconds: float
    warnings: tuple[str, ...]


# -- opening inputs ------------------------------------------------------------------------


@library_errors("interactions")
def ingest(
    workspace: Workspace,
    name: str,
    interactions: InputSpec,
    *,
    users: InputSpec | None = None,
    items: InputSpec | None = None,
    fmt: Format = "auto",
    mapping: ColumnMapping = ColumnMapping(),
    relevance_threshold: float = 4.0,
    kcore: int = 0,
    replace: bool = False,
    delimiter: str | None = None,
    header: bool | None = None,
    quoting: bool | None = None,
) -> IngestReport:
    """Read an interaction log (and optional side tables) into the workspace as ``name``.

    Args:
        workspace: where to store it.
        name: dataset name (see :func:`analysis.workspace.validate_dataset_name`).
        interactions: CSV/TSV/Parquet path, MovieLens 100K/1M folder or zip, or a DataFrame.
        users: optional users table (path or DataFrame), one row per user, any attributes;
            MovieLens brings its own.
        items: optional items table with title and genres/categories columns.
        fmt: ``"auto"`` (extension, then sniffing), ``"csv"``, ``"tsv"``, ``"parquet"``
            or ``"movielens"``.
        mapping: explicit column roles; ``None`` fields are auto-detected.
        relevance_threshold: ratings at or above it are relevant (explicit feedback).
        kcore: keep only the k-core (every user and item with >= kcore interactions); 0 = off.
        replace: overwrite an existing dataset of the same name.
        delimiter: field separator of a text file (default: by extension / sniffed).
        header: whether a text file's first line names its columns; ``None`` detects it (a
            headerless file keeps every row; its columns are named by its MovieLens layout,
            else ``column0``, ``column1``, ... and mapped by position).
        quoting: process CSV quotes in a text file; ``None``: for comma and semicolon files
            only (tab, pipe and ``::`` files are read literally).

    Returns:
        The :class:`IngestReport`.

    Raises:
        AnalysisError: any problem with the name or the input; the workspace is unchanged.
    """
    t0 = time.perf_counter()
    validate_dataset_name(name)
    if isinstance(kcore, bool) or not isinstance(kcore, (int, np.integer)) or kcore < 0:
        raise AnalysisError(BAD_KCORE.format(k=kcore))
    try:
        threshold = float(relevance_threshold)
    except (TypeError, ValueError):
        threshold = math.nan
    if not math.isfinite(threshold):
        raise AnalysisError(BAD_THRESHOLD.format(t=relevance_threshold))
    with tempfile.TemporaryDirectory(prefix="weakspot-ingest-") as stage_dir:
        stage_path = Path(stage_dir) / "stage.duckdb"
        report = _stage_dataset(
            workspace, stage_path, name, interactions, users, items, fmt, mapping, threshold,
            kcore, replace, delimiter, header, quoting, t0,
        )  # fmt: skip
        return _commit_dataset(workspace, stage_path, report, kcore, replace, t0)


def _stage_dataset(
    workspace: Workspace,
    stage_path: Path,
    name: str,
    interactions: InputSpec,
    users: InputSpec | None,
    items: InputSpec | None,
    fmt: Format,
    mapping: ColumnMapping,
    threshold: float,
    kcore: int,
    replace: bool,
    delimiter: str | None,
    header: bool | None,
    quoting: bool | None,
    t0: float,
) -> IngestReport:
    """Build the dataset's tables (``interactions``, ``users``, ``items``) in the private
    database at ``stage_path``; the workspace is only read, to refuse a taken name early."""
    with ExitStack() as stack:
        con = stack.enter_context(duckdb.connect(str(stage_path)))
        con.execute("SET TimeZone = 'UTC'")
        opened = _open_main(con, stack, interactions, fmt, delimiter, header, quoting)
        src = opened.interactions
        if src.fixed_mapping:
            kind = mapping.value_kind
            m = ColumnMapping(**src.fixed_mapping)
            if kind == "implicit":
                m = ColumnMapping(m.user, m.item, None, m.timestamp, "implicit")
            else:
                m = ColumnMapping(m.user, m.item, m.rating, m.timestamp,
                                  "count" if kind == "count" else "explicit")  # fmt: skip
            warnings: list[str] = []
        else:
            m, warns = resolve_mapping(src.columns, mapping, src.label)
            warnings = list(warns)
        side_users = (
            _open_side(con, users, "user", USER_SYNONYMS) if users is not None else opened.users
        )
        side_items = (
            _open_side(con, items, "item", ITEM_SYNONYMS) if items is not None else opened.items
        )
        types = _column_types(con, src, m)
        if not replace and workspace.has_dataset(name):  # checked again when committing
            raise AnalysisError(NAME_TAKEN.format(name=name, path=workspace.path))
        return _build_tables(
            con, name, src, m, types, threshold, kcore, side_users, side_items,
            opened.source_text, warnings, t0,
        )  # fmt: skip


def _commit_dataset(
    workspace: Workspace,
    stage_path: Path,
    report: IngestReport,
    kcore: int,
    replace: bool,
    t0: float,
) -> IngestReport:
    """The one short workspace transaction: check the name (drop the old dataset on
    replace), copy the staged tables in under a new prefix, add the catalog row.

    Commits of one process take turns (:data:`_COMMIT_LOCK`), so two ingests of one name at
    once (a double submit in the app) end in one dataset and :data:`NAME_TAKEN` for the
    other; one that loses the name to another process the same way gets the same message.
    """
    alias = f"weakspot_stage_{uuid.uuid4().hex[:12]}"  # attachments are process-wide
    parts = ["interactions"] + ["users"] * report.has_users + ["items"] * report.has_items
    with _COMMIT_LOCK, workspace.connect() as con:
        con.execute(f"ATTACH {sql_str(str(stage_path))} AS {alias} (READ_ONLY)")
        try:
            con.execute("BEGIN TRANSACTION")
            try:
                report = _commit_in_transaction(
                    workspace, con, alias, parts, report, kcore, replace, t0
                )
                con.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(duckdb.Error):  # a failed COMMIT has rolled back
                    con.execute("ROLLBACK")
                if isinstance(exc, (duckdb.ConstraintException, duckdb.TransactionException)):
                    raise AnalysisError(
                        NAME_TAKEN.format(name=report.name, path=workspace.path)
                    ) from exc
                raise
        finally:
            con.execute(f"DETACH {alias}")
    return report


def _commit_in_transaction(
    workspace: Workspace,
    con: duckdb.DuckDBPyConnection,
    alias: str,
    parts: list[str],
    report: IngestReport,
    kcore: int,
    replace: bool,
    t0: float,
) -> IngestReport:
    name = report.name
    if con.execute("SELECT count(*) FROM datasets WHERE name = ?", [name]).fetchall()[0][0]:
        if not replace:
            raise AnalysisError(NAME_TAKEN.format(name=name, path=workspace.path))
        workspace.drop_dataset_tables(con, name)
    ds_id = con.execute("SELECT nextval('dataset_id_seq')").fetchall()[0][0]
    prefix = f"ds_{ds_id:06d}"
    for part in parts:
        con.execute(f"CREATE TABLE {prefix}_{part} AS SELECT * FROM {alias}.{part}")
    report = dataclasses.replace(report, seconds=round(time.perf_counter() - t0, 3))
    stats = asdict(report)
    stats["kcore"] = int(kcore)
    con.execute(
        "INSERT INTO datasets (id, name, table_prefix, created_at, source, kind, "
        "relevance_threshold, n_users, n_items, n_interactions, has_users, has_items, stats) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ds_id, name, prefix, datetime.now(UTC).replace(tzinfo=None), report.source,
            report.kind, report.relevance_threshold, report.n_users, report.n_items,
            report.n_interactions, report.has_users, report.has_items, json.dumps(stats),
        ],
    )  # fmt: skip
    return report


def _build_tables(
    con: duckdb.DuckDBPyConnection,
    name: str,
    src: Source,
    m: ColumnMapping,
    types: dict[str, str],
    threshold: float,
    kcore: int,
    side_users: Source | None,
    side_items: Source | None,
    source_text: str,
    warnings: list[str],
    t0: float,
) -> IngestReport:
    """Stage, check, merge and filter the input on ``con`` (the private database) into the
    tables ``interactions``, ``users`` and ``items``; the report of what they hold."""
    try:
        con.execute(f"CREATE TEMP TABLE _ws_stage AS {_staged_select(src.from_sql, m, types)}")
    except duckdb.Error as exc:
        raise diagnose_text_failure(src, exc) from exc
    n_read, problem, max_ts = con.execute(
        "SELECT count(*), min(problem) FILTER (WHERE problem > 0), "
        "max(abs(ts_num)) FILTER (WHERE isfinite(ts_num)) FROM _ws_stage"
    ).fetchall()[0]
    if n_read == 0:
        raise AnalysisError(NO_DATA_ROWS.format(file=src.label))
    if problem:
        _raise_problem(con, src, m, types, int(problem))
    user_type, ucast = _decide_id_type(con, "user_id", src)
    item_type, icast = _decide_id_type(con, "item_id", src)
    scale = _checked_ts_scale(con, src, m, types, max_ts)
    if scale != 1.0:
        unit = {1e3: "milliseconds", 1e6: "microseconds", 1e9: "nanoseconds"}[scale]
        warnings.append(f"{src.label}: timestamps in {m.timestamp!r} read as {unit}")
    kind: FeedbackKind = m.value_kind  # type: ignore[assignment]
    if kind == "explicit" and m.timestamp:
        value_agg = "arg_max(value, (ts, value))"
    elif kind == "explicit":
        value_agg = "avg(value)"
    elif kind == "count":
        value_agg = "sum(value)"
    else:
        value_agg = "CAST(NULL AS DOUBLE)"
    ts_sql = (
        f"coalesce(CAST(floor(ts_num / {scale!r}) AS BIGINT), ts_dt)"
        if m.timestamp
        else "CAST(NULL AS BIGINT)"
    )
    con.execute(
        f"CREATE TEMP TABLE _ws_agg AS SELECT user_id, item_id, {value_agg} AS rating, "
        f"max(ts) AS ts FROM (SELECT {ucast} AS user_id, {icast} AS item_id, value, "
        f"{ts_sql} AS ts FROM _ws_stage) GROUP BY user_id, item_id"
    )
    con.execute("DROP TABLE _ws_stage")
    n_groups = con.execute("SELECT count(*) FROM _ws_agg").fetchall()[0][0]
    n_removed = 0
    if kcore > 1:
        while True:
            deleted = con.execute(
                "DELETE FROM _ws_agg WHERE "
                "user_id IN (SELECT user_id FROM _ws_agg GROUP BY user_id HAVING count(*) < ?) "
                "OR item_id IN (SELECT item_id FROM _ws_agg GROUP BY item_id HAVING count(*) < ?)",
                [kcore, kcore],
            ).fetchall()[0][0]
            n_removed += deleted
            if deleted == 0:
                break
        if n_removed == n_groups:
            raise AnalysisError(KCORE_EMPTY.format(file=src.label, k=kcore, n=n_groups))
    relevant = {
        "explicit": "count(*) FILTER (WHERE rating >= ?)",
        "count": "count(*) FILTER (WHERE rating > 0 OR ? IS NULL)",
        "implicit": "count(*) FILTER (WHERE ? IS NOT NULL)",
    }[kind]
    n_users, n_items, n_inter, n_relevant = con.execute(
        f"SELECT count(DISTINCT user_id), count(DISTINCT item_id), count(*), {relevant} "
        f"FROM _ws_agg",
        [threshold],
    ).fetchall()[0]
    _check_relevant(con, src, m, threshold, n_relevant)
    con.execute(
        "CREATE TABLE interactions AS SELECT user_id, item_id, "
        "CAST(rating AS DOUBLE) AS rating, CAST(ts AS BIGINT) AS ts FROM _ws_agg"
    )
    if side_users is not None:
        _store_side(con, side_users, "user", user_type, "users", warnings)
    if side_items is not None:
        _store_side(con, side_items, "item", item_type, "items", warnings)
    con.execute("DROP TABLE _ws_agg")
    return IngestReport(
        name=name,
        source=source_text,
        n_rows_read=int(n_read),
        n_users=int(n_users),
        n_items=int(n_items),
        n_interactions=int(n_inter),
        n_duplicates_merged=int(n_read - n_groups),
        n_removed_kcore=int(n_removed),
        n_relevant=int(n_relevant),
        kind=kind,
        relevance_threshold=threshold,
        mapping=m,
        has_timestamps=m.timestamp is not None,
        has_users=side_users is not None,
        has_items=side_items is not None,
        user_id_type=user_type,
        item_id_type=item_type,
        seconds=round(time.perf_counter() - t0, 3),
        warnings=tuple(warnings),
    )


@library_errors("path_or_frame")
def detect_columns(
    path_or_frame: InputSpec,
    fmt: Format = "auto",
    *,
    delimiter: str | None = None,
    header: bool | None = None,
    quoting: bool | None = None,
) -> ColumnMapping:
    """The auto-detected column roles of an input, as :func:`ingest` would resolve them.

    Args:
        path_or_frame: a file, MovieLens folder/zip, or DataFrame.
        fmt: as for :func:`ingest`.
        delimiter, header, quoting: as for :func:`ingest`.

    Returns:
        The resolved :class:`ColumnMapping` (``value_kind`` never ``"auto"``).

    Raises:
        AnalysisError: unreadable input, or no user / item column.
    """
    with ExitStack() as stack:
        con = stack.enter_context(duckdb.connect())
        opened = _open_main(con, stack, path_or_frame, fmt, delimiter, header, quoting)
        src = opened.interactions
        if src.fixed_mapping:
            return ColumnMapping(**src.fixed_mapping, value_kind="explicit")
        return resolve_mapping(src.columns, ColumnMapping(), src.label)[0]


def dataset_from_frames(
    interactions: pd.DataFrame,
    users: pd.DataFrame | None = None,
    items: pd.DataFrame | None = None,
    *,
    name: str = "frames",
    mapping: ColumnMapping = ColumnMapping(),
    relevance_threshold: float = 4.0,
    kcore: int = 0,
) -> Dataset:
    """A :class:`Dataset` straight from DataFrames, by the same rules as :func:`ingest`.

    Runs :func:`ingest` into a private in-memory workspace, then :func:`load_dataset`.

    Raises:
        AnalysisError: as :func:`ingest`.
    """
    ws = Workspace(":memory:")
    ingest(
        ws, name, interactions, users=users, items=items, mapping=mapping,
        relevance_threshold=relevance_threshold, kcore=kcore,
    )  # fmt: skip
    return load_dataset(ws, name)
