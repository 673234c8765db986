"""Staging SQL for ingest: the typed expressions, the ``problem`` code of every row, where
a bad row is and what it holds, and the final type of the id columns.

Private helper of :mod:`analysis.ingest`. The interactions are staged once into the temporary
table ``_ws_stage`` with columns ``user_id``, ``item_id``, ``value``, ``ts_num``, ``ts_dt``,
``scenario`` (only with a scenario column: its text, trimmed; a NULL or blank value reads as
:data:`UNKNOWN_SCENARIO`) and ``problem`` (0 fine, 1 null user id, 2 null item id, 3 not a number, 4 negative count,
5 not a timestamp, 7 negative rating); the first problem is reported with its row.
"""

from __future__ import annotations

import duckdb
import numpy as np

from analysis.errors import AnalysisError, surface_hints
from analysis.ingest._columns import ColumnMapping
from analysis.ingest._formats import Source
from analysis.ingest._sql import duckdb_path, sql_ident, sql_str
from analysis.ingest._text_rows import find_text_row

NULL_ID = "{file}: row {row} has no {role} id in column {column!r}; fill it or drop the row."
# what to do is said per surface: the Data page's controls, or the CLI's flags
# what to do is said per surface: the Data page's controls, or the CLI's flags
NOT_A_NUMBER = surface_hints(
    "{file}: row {row}, column {column!r}: {value} is not a number; ratings and counts must "
    "be numeric.",
    app="Fix or drop that row, or pick another column under Rating / count on the Data page.",
    cli="Fix or drop that row, or map another column with --rating-col NAME.",
)
NEGATIVE_COUNT = surface_hints(
    "{file}: row {row}, column {column!r}: count {value} is negative; counts must be >= 0.",
    app="If this column holds ratings, choose explicit Feedback on the Data page.",
    cli="If this column holds ratings, pass --value-kind explicit.",
)
BAD_TIMESTAMP = (
    "{file}: row {row}, column {column!r}: {value} is not a timestamp; use Unix seconds or "
    "milliseconds, or dates like 2024-01-31 / 2024-01-31 13:45:00."
)
NEGATIVE_RATING = (
    "{file}: row {row}, column {column!r}: rating {value} is negative; explicit ratings must be "
    ">= 0 (they are the relevance gains): shift the scale (e.g. -10..10 to 0..20) and the "
    "threshold with it."
)

#: the scenario of a row whose scenario value is NULL or blank
UNKNOWN_SCENARIO = "unknown"

_INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}
_TIME_PREFIXES = ("TIMESTAMP", "DATE")


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


def staged_select(src_sql: str, m: ColumnMapping, types: dict[str, str], extra: str = "") -> str:
    """SELECT producing typed columns plus the ``problem`` code (0 = fine)."""
    u = _id_expr(m.user, types[m.user])
    i = _id_expr(m.item, types[m.item])
    v = _value_expr(m.rating, types[m.rating]) if m.rating else "CAST(NULL AS DOUBLE)"
    tn, td = (
        _ts_exprs(m.timestamp, types[m.timestamp])
        if m.timestamp
        else ("CAST(NULL AS DOUBLE)", "CAST(NULL AS BIGINT)")
    )
    scen = ""
    if m.scenario:
        text = f"NULLIF(trim(CAST({sql_ident(m.scenario)} AS VARCHAR)), '')"
        scen = f", coalesce({text}, {sql_str(UNKNOWN_SCENARIO)}) AS scenario"
    checks = ["WHEN user_id IS NULL THEN 1", "WHEN item_id IS NULL THEN 2"]
    if m.rating:
        checks.append("WHEN value IS NULL OR NOT isfinite(value) THEN 3")
    if m.value_kind == "count":
        checks.append("WHEN value < 0 THEN 4")
    if m.timestamp:
        checks.append("WHEN (ts_num IS NULL OR NOT isfinite(ts_num)) AND ts_dt IS NULL THEN 5")
    if m.value_kind == "explicit":
        checks.append("WHEN value < 0 THEN 7")
    return (
        f"SELECT *, CAST(CASE {' '.join(checks)} ELSE 0 END AS UTINYINT) AS problem FROM ("
        f"SELECT {u} AS user_id, {i} AS item_id, {v} AS value, {tn} AS ts_num, {td} AS ts_dt"
        f"{scen}{extra} FROM {src_sql})"
    )


def locate(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    m: ColumnMapping,
    types: dict[str, str],
    column: str,
    condition: str,
) -> tuple[str, str | None]:
    """``(row as the user sees it, raw value of column)`` of a staged row matching ``condition``.

    ``condition`` is SQL over the staged columns (``user_id``, ``item_id``, ``value``,
    ``ts_num``, ``ts_dt``, ``problem``); text files give the first such row of the file,
    Parquet files and frames the first by position. ``("?", None)`` when none is found.
    """
    raw = f", CAST({sql_ident(column)} AS VARCHAR) AS raw"
    if src.kind == "csv":
        bad = con.execute(
            f"SELECT DISTINCT raw FROM ({staged_select(src.from_sql, m, types, raw)}) "
            f"WHERE {condition} ORDER BY raw LIMIT 100"
        ).fetchall()
        bad_set = {b[0] for b in bad}
        hit = find_text_row(src, column, lambda v: v in bad_set)
        if hit is not None:
            return str(hit[0]), hit[1]
        return "?", bad[0][0] if bad else None
    if src.parts is not None:  # a Parquet folder or glob: the first bad row of the first file
        from_sql = src.parts.sql(row_numbers=True)
        rownum = ", filename AS _file, file_row_number AS _row"
    elif src.kind == "parquet" and src.path is not None:
        from_sql = f"read_parquet({sql_str(duckdb_path(src.path))}, file_row_number=true)"
        rownum = ", NULL AS _file, file_row_number AS _row"
    elif src.frame is not None:
        con.register("_ws_src_rows", src.frame.assign(_ws_row=np.arange(len(src.frame))))
        from_sql, rownum = "_ws_src_rows", ", NULL AS _file, _ws_row AS _row"
    else:  # a side query (MovieLens): no row numbers to give
        from_sql, rownum = src.from_sql, ", NULL AS _file, NULL AS _row"
    hit = con.execute(
        f"SELECT _row, raw, _file FROM ({staged_select(from_sql, m, types, raw + rownum)}) "
        f"WHERE {condition} ORDER BY _file, _row LIMIT 1"
    ).fetchall()
    if not hit:
        return "?", None
    row = "?" if hit[0][0] is None else src.row_label(int(hit[0][0]))
    if hit[0][2] is not None and src.parts is not None:
        row = f"{row} of {src.parts.relative(hit[0][2])}"
    return row, hit[0][1]


def raise_problem(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    m: ColumnMapping,
    types: dict[str, str],
    code: int,
) -> None:
    """Raise the error of problem ``code`` (see the module docstring), naming its first row.

    Raises:
        AnalysisError: always.
    """
    column = {1: m.user, 2: m.item, 3: m.rating, 4: m.rating, 5: m.timestamp, 7: m.rating}[code]
    row, value = locate(con, src, m, types, column, f"problem = {int(code)}")
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
    if code == 7:
        raise AnalysisError(
            NEGATIVE_RATING.format(file=src.label, row=row, column=column, value=value)
        )
    raise AnalysisError(BAD_TIMESTAMP.format(file=src.label, row=row, column=column, value=shown))


def decide_id_type(con: duckdb.DuckDBPyConnection, col: str, src: Source) -> tuple[str, str]:
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
