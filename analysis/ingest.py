"""Step 1: ingest an interaction log (plus optional users/items tables) into the workspace.

Everything runs in DuckDB, in one transaction per :func:`ingest` call, so a bad file leaves
the workspace exactly as it was and big files never pass whole through pandas:

1. open the input (CSV/TSV/Parquet/DataFrame, or a MovieLens folder/zip: see
   :mod:`analysis.ingest_formats`) and resolve the column roles
   (:mod:`analysis.ingest_columns`);
2. stage every row with typed columns and a ``problem`` code (null id, non-numeric value,
   negative count, unparsable timestamp); the first problem is reported with its row;
3. ids: integers stay ``BIGINT``, strings stay ``VARCHAR`` (CSV text ids become ``BIGINT``
   only when every value is a plain integer, so ``"007"`` stays text); timestamps become
   Unix seconds (integers above 1e11 are taken as milliseconds, 1e14 microseconds, 1e17
   nanoseconds; date/datetime strings are parsed as UTC);
4. merge duplicate (user, item) rows: explicit ratings keep the latest rating by timestamp
   (ties: the higher rating; no timestamps: the mean), counts are summed, the timestamp is
   the latest;
5. optional k-core filter, repeated until every user and item has >= k interactions;
6. users/items tables keyed by the same ids; a side table whose ids match nothing fails.
"""

from __future__ import annotations

import json
import math
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from os import PathLike
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from analysis.dataset import Dataset, FeedbackKind, compute_gain
from analysis.errors import AnalysisError
from analysis.ingest_columns import (
    GENRE_SYNONYMS,
    ID_SYNONYMS,
    ITEM_SYNONYMS,
    TITLE_SYNONYMS,
    USER_SYNONYMS,
    ColumnMapping,
    find_column,
    resolve_mapping,
)
from analysis.ingest_formats import (
    NO_DATA_ROWS,
    Format,
    Source,
    diagnose_text_failure,
    find_text_row,
    frame_source,
    movielens_folder,
    movielens_sources,
    parquet_source,
    resolve_format,
    sql_ident,
    sql_str,
    text_source,
)
from analysis.workspace import NAME_TAKEN, Workspace, validate_dataset_name

__all__ = [
    "ColumnMapping",
    "IngestReport",
    "dataset_from_frames",
    "detect_columns",
    "ingest",
    "load_dataset",
]

InputSpec = str | PathLike | pd.DataFrame

NULL_ID = "{file}: row {row} has no {role} id in column {column!r}; fill it or drop the row."
NOT_A_NUMBER = (
    "{file}: row {row}, column {column!r}: {value} is not a number; ratings and counts must "
    "be numeric: fix or drop that row, or map another column (CLI --rating-col)."
)
NEGATIVE_COUNT = (
    "{file}: row {row}, column {column!r}: count {value} is negative; counts must be >= 0 "
    "(use value_kind='explicit' if this column holds ratings)."
)
BAD_TIMESTAMP = (
    "{file}: row {row}, column {column!r}: {value} is not a timestamp; use Unix seconds or "
    "milliseconds, or dates like 2024-01-31 / 2024-01-31 13:45:00."
)
KCORE_EMPTY = (
    "{file}: the {k}-core filter removed all {n} interactions (no set of users and items has "
    "{k} interactions each); lower kcore or use 0 to switch it off."
)
SIDE_NO_MATCH = (
    "{file}: none of the {n} ids in its column {column!r} matches a {role} id of the "
    "interactions (e.g. {example!r} vs {other!r}); check that this {role}s file belongs to "
    "this dataset and that {column!r} is its id column."
)
SIDE_PARTIAL = (
    "{file}: {share_rows:.1%} of its {n_rows} rows match a {role} of the interactions; "
    "{share_cov:.1%} of the {n_cov} {role}s have attributes"
)
BAD_KCORE = "kcore must be a whole number >= 0, got {k!r}."
BAD_THRESHOLD = "relevance_threshold must be a finite number, got {t!r}."
BAD_INPUT_TYPE = "Cannot ingest a {type}; give a file path, a MovieLens folder/zip or a DataFrame."
SIDE_FOLDER = "{file}: a {role}s table must be a .csv, .tsv or .parquet file or a DataFrame."

_INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}
_TIME_PREFIXES = ("TIMESTAMP", "DATE")


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


class _Opened:
    """The resolved sources of one ingest call."""

    def __init__(self) -> None:
        self.interactions: Source | None = None
        self.users: Source | None = None
        self.items: Source | None = None
        self.source_text = ""


def _side_sql_source(label: str, sql: str, columns: list[str]) -> Source:
    return Source(label=label, from_sql=f"({sql})", kind="parquet", columns=columns)


def _open_main(
    con: duckdb.DuckDBPyConnection,
    stack: ExitStack,
    spec: InputSpec,
    fmt: Format,
    delimiter: str | None,
) -> _Opened:
    out = _Opened()
    if isinstance(spec, pd.DataFrame):
        out.interactions = frame_source(con, spec, "_ws_src_interactions")
        out.source_text = "DataFrame"
        return out
    if not isinstance(spec, (str, PathLike)):
        raise AnalysisError(BAD_INPUT_TYPE.format(type=type(spec).__name__))
    path = Path(spec).expanduser()
    out.source_text = str(path)
    kind = resolve_format(path, fmt)
    if kind == "movielens":
        folder, variant, prefix = stack.enter_context(movielens_folder(path))
        ratings, items_sql, users_sql = movielens_sources(folder, variant, prefix)
        out.interactions = ratings
        if items_sql:
            out.items = _side_sql_source(
                ratings.label.rsplit("/", 1)[0] + "/items",
                items_sql,
                ["item_id", "title", "genres"],
            )
        if users_sql:
            out.users = _side_sql_source(
                ratings.label.rsplit("/", 1)[0] + "/users", users_sql, ["user_id"]
            )
    elif kind == "parquet":
        out.interactions = parquet_source(path)
    else:
        out.interactions = text_source(path, kind, delimiter=delimiter)
    return out


def _open_side(
    con: duckdb.DuckDBPyConnection, spec: InputSpec, role: str, synonyms: tuple[str, ...]
) -> Source:
    if isinstance(spec, pd.DataFrame):
        return frame_source(con, spec, f"_ws_src_{role}s")
    if not isinstance(spec, (str, PathLike)):
        raise AnalysisError(BAD_INPUT_TYPE.format(type=type(spec).__name__))
    path = Path(spec).expanduser()
    kind = resolve_format(path, "auto")
    if kind == "movielens":
        raise AnalysisError(SIDE_FOLDER.format(file=path, role=role))
    if kind == "parquet":
        return parquet_source(path)

    def hint(names: list[str]) -> str | None:
        found = find_column(names, synonyms + ID_SYNONYMS)
        return found[0] if found else (names[0] if names else None)

    return text_source(path, kind, all_varchar=False, id_column_hint=hint)


def _column_types(con: duckdb.DuckDBPyConnection, src: Source) -> dict[str, str]:
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {src.from_sql}").fetchall()
    except duckdb.Error as exc:
        raise diagnose_text_failure(src, exc) from exc
    return {r[0]: r[1] for r in rows}


# -- staging -------------------------------------------------------------------------------


def _id_expr(col: str, typ: str) -> str:
    c = sql_ident(col)
    if typ in _INT_TYPES or typ in _FLOAT_TYPES or typ == "VARCHAR":
        return f"CAST({c} AS BIGINT)" if typ in _INT_TYPES else c
    if typ.startswith("DECIMAL"):
        return f"CAST({c} AS DOUBLE)"
    return f"CAST({c} AS VARCHAR)"


def _value_expr(col: str, typ: str) -> str:
    c = sql_ident(col)
    if typ == "VARCHAR":
        return f"TRY_CAST(trim({c}) AS DOUBLE)"
    if typ == "BOOLEAN":
        return f"CAST(CAST({c} AS INTEGER) AS DOUBLE)"
    return f"TRY_CAST({c} AS DOUBLE)"


def _ts_exprs(col: str, typ: str) -> tuple[str, str]:
    c = sql_ident(col)
    if typ == "VARCHAR":
        return (
            f"TRY_CAST(trim({c}) AS DOUBLE)",
            f"CAST(floor(epoch(TRY_CAST(trim({c}) AS TIMESTAMPTZ))) AS BIGINT)",
        )
    if typ.startswith(_TIME_PREFIXES):
        return "CAST(NULL AS DOUBLE)", f"CAST(floor(epoch({c})) AS BIGINT)"
    return f"TRY_CAST({c} AS DOUBLE)", "CAST(NULL AS BIGINT)"


def _staged_select(src_sql: str, m: ColumnMapping, types: dict[str, str], extra: str = "") -> str:
    """SELECT producing typed columns plus the ``problem`` code (0 = fine)."""
    u = _id_expr(m.user, types[m.user])
    i = _id_expr(m.item, types[m.item])
    v = _value_expr(m.rating, types[m.rating]) if m.rating else "CAST(NULL AS DOUBLE)"
    tn, td = (
        _ts_exprs(m.timestamp, types[m.timestamp])
        if m.timestamp
        else ("CAST(NULL AS DOUBLE)", "CAST(NULL AS BIGINT)")
    )
    checks = ["WHEN user_id IS NULL THEN 1", "WHEN item_id IS NULL THEN 2"]
    if m.rating:
        checks.append("WHEN value IS NULL OR NOT isfinite(value) THEN 3")
    if m.value_kind == "count":
        checks.append("WHEN value < 0 THEN 4")
    if m.timestamp:
        checks.append("WHEN (ts_num IS NULL OR NOT isfinite(ts_num)) AND ts_dt IS NULL THEN 5")
    return (
        f"SELECT *, CAST(CASE {' '.join(checks)} ELSE 0 END AS UTINYINT) AS problem FROM ("
        f"SELECT {u} AS user_id, {i} AS item_id, {v} AS value, {tn} AS ts_num, {td} AS ts_dt"
        f"{extra} FROM {src_sql})"
    )


def _raise_problem(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    m: ColumnMapping,
    types: dict[str, str],
    code: int,
) -> None:
    column = {1: m.user, 2: m.item, 3: m.rating, 4: m.rating, 5: m.timestamp}[code]
    raw = f", CAST({sql_ident(column)} AS VARCHAR) AS raw"
    row: str = "?"
    value: str | None = None
    if src.kind == "csv":
        bad = con.execute(
            f"SELECT DISTINCT raw FROM ({_staged_select(src.from_sql, m, types, raw)}) "
            f"WHERE problem = ? LIMIT 100",
            [code],
        ).fetchall()
        bad_set = {b[0] for b in bad}
        hit = find_text_row(src, column, lambda v: v in bad_set)
        if hit is not None:
            row, value = str(hit[0]), hit[1]
        elif bad:
            value = bad[0][0]
    else:
        if src.kind == "parquet" and src.path is not None:
            from_sql = f"read_parquet({sql_str(src.path)}, file_row_number=true)"
            rownum = ", file_row_number AS _row"
        else:
            con.register("_ws_src_rows", src.frame.assign(_ws_row=np.arange(len(src.frame))))
            from_sql, rownum = "_ws_src_rows", ", _ws_row AS _row"
        hit = con.execute(
            f"SELECT _row, raw FROM ({_staged_select(from_sql, m, types, raw + rownum)}) "
            f"WHERE problem = ? ORDER BY _row LIMIT 1",
            [code],
        ).fetchall()
        hit = hit[0] if hit else None
        if hit is not None:
            row, value = src.row_label(int(hit[0])), hit[1]
    shown = "an empty value" if value is None or value == "" else repr(value)
    if code in (1, 2):
        role = "user" if code == 1 else "item"
        raise AnalysisError(NULL_ID.format(file=src.label, row=row, role=role, column=column))
    if code == 3:
        raise AnalysisError(
            NOT_A_NUMBER.format(file=src.label, row=row, column=column, value=shown)
        )
    if code == 4:
        raise AnalysisError(
            NEGATIVE_COUNT.format(file=src.label, row=row, column=column, value=value)
        )
    raise AnalysisError(BAD_TIMESTAMP.format(file=src.label, row=row, column=column, value=shown))


def _decide_id_type(con: duckdb.DuckDBPyConnection, col: str, src: Source) -> tuple[str, str]:
    """``(final type, cast expression)`` for a staged id column."""
    typ = con.execute(f"SELECT typeof({col}) FROM _ws_stage LIMIT 1").fetchall()[0][0]
    if typ == "BIGINT":
        return "BIGINT", col
    if typ == "DOUBLE":
        integral = con.execute(
            f"SELECT bool_and({col} = trunc({col}) AND abs({col}) < 9e15) FROM _ws_stage"
        ).fetchall()[0][0]
        if integral:
            return "BIGINT", f"CAST({col} AS BIGINT)"
        return "VARCHAR", f"CAST({col} AS VARCHAR)"
    if src.kind == "csv":
        plain_int = con.execute(
            f"SELECT bool_and(CAST(TRY_CAST({col} AS BIGINT) AS VARCHAR) IS NOT DISTINCT FROM "
            f"{col}) FROM _ws_stage"
        ).fetchall()[0][0]
        if plain_int:
            return "BIGINT", f"CAST({col} AS BIGINT)"
    return "VARCHAR", f"CAST({col} AS VARCHAR)"


def _ts_scale(max_abs: float | None) -> float:
    if max_abs is None:
        return 1.0
    for limit, scale in ((1e17, 1e9), (1e14, 1e6), (1e11, 1e3)):
        if max_abs > limit:
            return scale
    return 1.0


# -- side tables ---------------------------------------------------------------------------


def _store_side(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    role: str,
    id_type: str,
    table: str,
    warnings: list[str],
) -> None:
    synonyms = USER_SYNONYMS if role == "user" else ITEM_SYNONYMS
    types = _column_types(con, src)
    cols = list(types)
    cands = find_column(cols, synonyms + ID_SYNONYMS)
    id_col = cands[0] if cands else cols[0]
    if not cands:
        warnings.append(
            f"{src.label}: no {role} id column recognised; using the first column {id_col!r}"
        )
    key = f"{role}_id"
    cast = "TRY_CAST" if id_type == "BIGINT" else "CAST"
    id_sql = f"{cast}({sql_ident(id_col)} AS {id_type})"
    select = [f"{id_sql} AS {key}"]
    exclude = [id_col]
    if role == "item":
        title = [c for c in find_column(cols, TITLE_SYNONYMS) if c != id_col]
        genre = [c for c in find_column(cols, GENRE_SYNONYMS) if c != id_col]
        if title:
            select.append(f"CAST({sql_ident(title[0])} AS VARCHAR) AS title")
            exclude.append(title[0])
        else:
            select.append("CAST(NULL AS VARCHAR) AS title")
        if genre:
            g = sql_ident(genre[0])
            if types[genre[0]].endswith("[]"):
                gexpr = f"array_to_string({g}, '|')"
            else:
                gexpr = (
                    f"CASE WHEN contains(CAST({g} AS VARCHAR), '|') THEN CAST({g} AS VARCHAR) "
                    f"ELSE regexp_replace(CAST({g} AS VARCHAR), '\\s*[,;]\\s*', '|', 'g') END"
                )
            select.append(f"{gexpr} AS genres")
            exclude.append(genre[0])
        else:
            select.append("CAST(NULL AS VARCHAR) AS genres")
    reserved = {key, "title", "genres"} if role == "item" else {key}
    rest = [c for c in cols if c not in exclude and c.lower() not in reserved]
    select += [sql_ident(c) for c in rest]
    try:
        con.execute(
            f"CREATE TEMP TABLE _ws_side AS SELECT * FROM (SELECT {', '.join(select)} "
            f"FROM {src.from_sql}) WHERE {key} IS NOT NULL "
            f"QUALIFY row_number() OVER (PARTITION BY {key}) = 1"
        )
    except duckdb.Error as exc:
        raise diagnose_text_failure(src, exc) from exc
    n_rows, n_match = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {key} IN (SELECT {key} FROM _ws_agg)) "
        f"FROM _ws_side"
    ).fetchall()[0]
    n_cov = con.execute(f"SELECT count(DISTINCT {key}) FROM _ws_agg").fetchall()[0][0]
    if n_match == 0:
        example = con.execute(
            f"SELECT CAST({sql_ident(id_col)} AS VARCHAR) FROM {src.from_sql} LIMIT 1"
        ).fetchall()
        other = con.execute(f"SELECT CAST(min({key}) AS VARCHAR) FROM _ws_agg").fetchall()[0][0]
        raise AnalysisError(
            SIDE_NO_MATCH.format(
                file=src.label,
                n=n_rows,
                column=id_col,
                role=role,
                example=example[0][0] if example else None,
                other=other,
            )
        )
    if n_match < n_rows or n_match < n_cov:
        warnings.append(
            SIDE_PARTIAL.format(
                file=src.label,
                share_rows=n_match / n_rows,
                n_rows=n_rows,
                role=role,
                share_cov=n_match / n_cov,
                n_cov=n_cov,
            )
        )
    con.execute(f"CREATE TABLE {table} AS SELECT * FROM _ws_side ORDER BY {key}")
    con.execute("DROP TABLE _ws_side")


# -- public API ----------------------------------------------------------------------------


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
    with ExitStack() as stack:
        con = stack.enter_context(workspace.connect())
        con.execute("SET TimeZone = 'UTC'")
        opened = _open_main(con, stack, interactions, fmt, delimiter)
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
        types = _column_types(con, src)
        con.execute("BEGIN TRANSACTION")
        try:
            report = _ingest_in_transaction(
                workspace, con, name, src, m, types, threshold, kcore, replace,
                side_users, side_items, opened.source_text, warnings, t0,
            )  # fmt: skip
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return report


def _ingest_in_transaction(
    workspace: Workspace,
    con: duckdb.DuckDBPyConnection,
    name: str,
    src: Source,
    m: ColumnMapping,
    types: dict[str, str],
    threshold: float,
    kcore: int,
    replace: bool,
    side_users: Source | None,
    side_items: Source | None,
    source_text: str,
    warnings: list[str],
    t0: float,
) -> IngestReport:
    if con.execute("SELECT count(*) FROM datasets WHERE name = ?", [name]).fetchall()[0][0]:
        if not replace:
            raise AnalysisError(NAME_TAKEN.format(name=name, path=workspace.path))
        workspace.drop_dataset_tables(con, name)
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
    scale = _ts_scale(max_ts)
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
    ds_id = con.execute("SELECT nextval('dataset_id_seq')").fetchall()[0][0]
    prefix = f"ds_{ds_id:06d}"
    con.execute(
        f"CREATE TABLE {prefix}_interactions AS SELECT user_id, item_id, "
        f"CAST(rating AS DOUBLE) AS rating, CAST(ts AS BIGINT) AS ts FROM _ws_agg"
    )
    if side_users is not None:
        _store_side(con, side_users, "user", user_type, f"{prefix}_users", warnings)
    if side_items is not None:
        _store_side(con, side_items, "item", item_type, f"{prefix}_items", warnings)
    con.execute("DROP TABLE _ws_agg")
    report = IngestReport(
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
    stats = asdict(report)
    stats["kcore"] = int(kcore)
    con.execute(
        "INSERT INTO datasets (id, name, table_prefix, created_at, source, kind, "
        "relevance_threshold, n_users, n_items, n_interactions, has_users, has_items, stats) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            ds_id, name, prefix, datetime.now(UTC).replace(tzinfo=None), source_text, kind,
            threshold, n_users, n_items, n_inter, report.has_users, report.has_items,
            json.dumps(stats),
        ],
    )  # fmt: skip
    return report


def load_dataset(workspace: Workspace, name: str) -> Dataset:
    """Load a stored dataset as an in-memory :class:`~analysis.dataset.Dataset`.

    Dense indices follow the sorted raw ids (``user_idx = dense_rank() over (order by
    user_id) - 1``, likewise items); interactions come sorted by ``(user_idx, item_idx)``.

    Args:
        workspace: the workspace holding it.
        name: the dataset name.

    Returns:
        The dataset; ``users`` / ``items`` frames aligned with ``user_idx`` / ``item_idx``
        (nulls for ids absent from the side table), ``meta`` with the catalog entry.

    Raises:
        AnalysisError: no such dataset.
    """
    with workspace.connect(read_only=True) as con:
        info = workspace._catalog_row(con, name)
        stats = json.loads(info["stats"]) if info.get("stats") else {}
        p = info["table_prefix"]
        vocab = (
            f"WITH u AS (SELECT user_id, CAST(row_number() OVER (ORDER BY user_id) - 1 AS "
            f"INTEGER) AS user_idx FROM (SELECT DISTINCT user_id FROM {p}_interactions)), "
            f"i AS (SELECT item_id, CAST(row_number() OVER (ORDER BY item_id) - 1 AS INTEGER) "
            f"AS item_idx FROM (SELECT DISTINCT item_id FROM {p}_interactions)) "
        )
        arrays = con.execute(
            f"{vocab} SELECT u.user_idx, i.item_idx, CAST(t.rating AS FLOAT) AS value, t.ts "
            f"FROM {p}_interactions t JOIN u USING (user_id) JOIN i USING (item_id) "
            f"ORDER BY u.user_idx, i.item_idx"
        ).fetchnumpy()
        user_ids = con.execute(
            f"SELECT DISTINCT user_id FROM {p}_interactions ORDER BY user_id"
        ).fetchnumpy()["user_id"]
        item_ids = con.execute(
            f"SELECT DISTINCT item_id FROM {p}_interactions ORDER BY item_id"
        ).fetchnumpy()["item_id"]
        users = items = None
        if info["has_users"]:
            users = con.execute(
                f"{vocab} SELECT u.user_id, s.* EXCLUDE (user_id) FROM u "
                f"LEFT JOIN {p}_users s USING (user_id) ORDER BY u.user_idx"
            ).df()
        if info["has_items"]:
            items = con.execute(
                f"{vocab} SELECT i.item_id, s.* EXCLUDE (item_id) FROM i "
                f"LEFT JOIN {p}_items s USING (item_id) ORDER BY i.item_idx"
            ).df()
    kind: FeedbackKind = info["kind"]
    value = None if kind == "implicit" else np.asarray(arrays["value"], dtype=np.float32)
    ts = (
        np.asarray(arrays["ts"], dtype=np.int64) if stats.get("has_timestamps") else None
    )
    threshold = float(info["relevance_threshold"])
    n = len(arrays["user_idx"])
    gain = compute_gain(value, kind, threshold) if value is not None else np.ones(n, np.float32)
    return Dataset(
        name=info["name"],
        user_idx=np.asarray(arrays["user_idx"], dtype=np.int32),
        item_idx=np.asarray(arrays["item_idx"], dtype=np.int32),
        value=value,
        timestamp=ts,
        gain=gain,
        user_ids=np.asarray(user_ids),
        item_ids=np.asarray(item_ids),
        users=users,
        items=items,
        kind=kind,
        relevance_threshold=threshold,
        meta={
            "source": info["source"],
            "created_at": str(info["created_at"]),
            "workspace": workspace.path,
            "ingest": stats,
        },
    )


def detect_columns(
    path_or_frame: InputSpec, fmt: Format = "auto", *, delimiter: str | None = None
) -> ColumnMapping:
    """The auto-detected column roles of an input, as :func:`ingest` would resolve them.

    Args:
        path_or_frame: a file, MovieLens folder/zip, or DataFrame.
        fmt: as for :func:`ingest`.
        delimiter: as for :func:`ingest`.

    Returns:
        The resolved :class:`ColumnMapping` (``value_kind`` never ``"auto"``).

    Raises:
        AnalysisError: unreadable input, or no user / item column.
    """
    with ExitStack() as stack:
        con = stack.enter_context(duckdb.connect())
        opened = _open_main(con, stack, path_or_frame, fmt, delimiter)
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
