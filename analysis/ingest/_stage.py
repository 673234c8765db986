"""Staging SQL for ingest: open inputs, typed expressions, row problems, side tables."""

from __future__ import annotations

from contextlib import ExitStack
from os import PathLike
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.ingest._columns import (
    GENRE_SYNONYMS,
    ID_SYNONYMS,
    ITEM_SYNONYMS,
    TITLE_SYNONYMS,
    USER_SYNONYMS,
    ColumnMapping,
    find_column,
)
from analysis.ingest._formats import (
    Format,
    Source,
    diagnose_text_failure,
    find_text_row,
    frame_source,
    parquet_source,
    resolve_format,
    sql_ident,
    sql_str,
    text_source,
)
from analysis.ingest._movielens import movielens_folder, movielens_sources

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

