"""Staging SQL for ingest: open inputs, typed expressions, row problems, side tables."""

from __future__ import annotations

from contextlib import ExitStack
from os import PathLike
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from analysis.errors import AnalysisError, surface_hints
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
    duckdb_path,
    find_text_row,
    frame_source,
    parquet_source,
    resolve_format,
    sql_ident,
    sql_str,
    text_source,
)
from analysis.ingest._movielens import ml100k_items_select, movielens_folder, movielens_sources
from analysis.ingest._sniff import ML100K_ITEMS

InputSpec = str | PathLike | pd.DataFrame

NULL_ID = "{file}: row {row} has no {role} id in column {column!r}; fill it or drop the row."
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
NEGATIVE_RATING = (
    "{file}: row {row}, column {column!r}: rating {value} is negative; explicit ratings must be "
    ">= 0 (they are the relevance gains): shift the scale (e.g. -10..10 to 0..20) and the "
    "threshold with it."
)
TIMESTAMP_RANGE = (
    "{file}: row {row}, column {column!r}: {value} is not a timestamp between the years 1 and "
    "9999 ({how}); fix or drop that row."
)
MIXED_TIMESTAMP_UNITS = (
    "{file}: column {column!r} mixes timestamp units: row {row} holds {value} ({unit}) but row "
    "{row2} holds {value2} ({unit2}); give every timestamp in the same unit."
)
NON_SCALAR_COLUMN = (
    "{file}: the {role} column {column!r} holds {type} values, not single values; map a column "
    "of plain values or flatten this one first."
)
BOOLEAN_RATING = surface_hints(
    "{file}: the rating column {column!r} holds true/false values, not ratings.",
    app="Choose count Feedback on the Data page (true is relevant, false is not).",
    cli="Pass --value-kind count (true is relevant, false is not).",
)
NO_RELEVANT_RATING = surface_hints(
    "{file}: no interaction is relevant: the ratings in column {column!r} range from {low:g} to "
    "{high:g}, none at or above the relevance threshold {threshold:g}.",
    app="Lower 'Relevant if rating >=' or pick the right column under Rating / count on the "
    "Data page.",
    cli="Lower --threshold or map the right rating column with --rating-col NAME.",
)
NO_RELEVANT_COUNT = surface_hints(
    "{file}: no interaction is relevant: every count in column {column!r} is 0.",
    app="Pick the right column under Rating / count, or choose implicit Feedback, on the Data "
    "page.",
    cli="Map the right count column with --rating-col NAME, or pass --value-kind implicit.",
)
BAD_KCORE = "kcore must be a whole number >= 0, got {k!r}."
BAD_THRESHOLD = "relevance_threshold must be a finite number, got {t!r}."
BAD_INPUT_TYPE = "Cannot ingest a {type}; give a file path, a MovieLens folder/zip or a DataFrame."
SIDE_FOLDER = "{file}: a {role}s table must be a .csv, .tsv or .parquet file or a DataFrame."

_INT_TYPES = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER"}
_FLOAT_TYPES = {"FLOAT", "DOUBLE", "REAL"}
_TIME_PREFIXES = ("TIMESTAMP", "DATE")
_NESTED_PREFIXES = ("STRUCT", "MAP", "UNION")
#: Unix seconds of 0001-01-01 and 9999-12-31 23:59:59, the range a timestamp may take
MIN_TS_SECONDS = -62135596800
MAX_TS_SECONDS = 253402300799
#: Unix seconds of 1973-03-03: a number at least this big, in some unit, reads as a real date
TS_PLAUSIBLE_SECONDS = 1e8
#: (upper bound of a unit's magnitude band, scale to seconds, unit) from seconds up
_TS_BANDS = ((1e11, 1.0, "seconds"), (1e14, 1e3, "milliseconds"), (1e17, 1e6, "microseconds"),
             (float("inf"), 1e9, "nanoseconds"))  # fmt: skip
_TS_UNIT = {scale: unit for _, scale, unit in _TS_BANDS}


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
    header: bool | None = None,
    quoting: bool | None = None,
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
        out.interactions = text_source(
            path, kind, delimiter=delimiter, header=header, quoting=quoting
        )
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

    src = text_source(path, kind, all_varchar=False, id_column_hint=hint)
    if src.layout == ML100K_ITEMS:  # a u.item on its own: its genre flags become genres
        return _side_sql_source(
            src.label, ml100k_items_select(src.from_sql), ["item_id", "title", "genres"]
        )
    return src


def _column_types(
    con: duckdb.DuckDBPyConnection, src: Source, m: ColumnMapping | None = None
) -> dict[str, str]:
    """The DuckDB type of every column; with ``m``, checks the mapped columns' types.

    Raises:
        AnalysisError: the file cannot be read; a mapped column holds nested values (a
            struct, list or map) or an explicit rating column holds booleans.
    """
    try:
        rows = con.execute(f"DESCRIBE SELECT * FROM {src.from_sql}").fetchall()
    except duckdb.Error as exc:
        raise diagnose_text_failure(src, exc) from exc
    types = {r[0]: r[1] for r in rows}
    if m is not None:
        roles = (("user id", m.user), ("item id", m.item), ("rating", m.rating),
                 ("timestamp", m.timestamp))  # fmt: skip
        for role, col in roles:
            typ = types.get(col) if col else None
            if typ and (typ.startswith(_NESTED_PREFIXES) or typ.endswith("]")):
                kind = typ.split("(")[0] if not typ.endswith("]") else f"list ({typ})"
                raise AnalysisError(
                    NON_SCALAR_COLUMN.format(file=src.label, role=role, column=col, type=kind)
                )
        if m.rating and m.value_kind == "explicit" and types.get(m.rating) == "BOOLEAN":
            raise AnalysisError(BOOLEAN_RATING.format(file=src.label, column=m.rating))
    return types


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
    if m.value_kind == "explicit":
        checks.append("WHEN value < 0 THEN 7")
    return (
        f"SELECT *, CAST(CASE {' '.join(checks)} ELSE 0 END AS UTINYINT) AS problem FROM ("
        f"SELECT {u} AS user_id, {i} AS item_id, {v} AS value, {tn} AS ts_num, {td} AS ts_dt"
        f"{extra} FROM {src_sql})"
    )


def _locate(
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
            f"SELECT DISTINCT raw FROM ({_staged_select(src.from_sql, m, types, raw)}) "
            f"WHERE {condition} LIMIT 100"
        ).fetchall()
        bad_set = {b[0] for b in bad}
        hit = find_text_row(src, column, lambda v: v in bad_set)
        if hit is not None:
            return str(hit[0]), hit[1]
        return "?", bad[0][0] if bad else None
    if src.kind == "parquet" and src.path is not None:
        from_sql = f"read_parquet({sql_str(duckdb_path(src.path))}, file_row_number=true)"
        rownum = ", file_row_number AS _row"
    elif src.frame is not None:
        con.register("_ws_src_rows", src.frame.assign(_ws_row=np.arange(len(src.frame))))
        from_sql, rownum = "_ws_src_rows", ", _ws_row AS _row"
    else:  # a side query (MovieLens): no row numbers to give
        from_sql, rownum = src.from_sql, ", NULL AS _row"
    hit = con.execute(
        f"SELECT _row, raw FROM ({_staged_select(from_sql, m, types, raw + rownum)}) "
        f"WHERE {condition} ORDER BY _row LIMIT 1"
    ).fetchall()
    if not hit:
        return "?", None
    row = "?" if hit[0][0] is None else src.row_label(int(hit[0][0]))
    return row, hit[0][1]


def _raise_problem(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    m: ColumnMapping,
    types: dict[str, str],
    code: int,
) -> None:
    column = {1: m.user, 2: m.item, 3: m.rating, 4: m.rating, 5: m.timestamp, 7: m.rating}[code]
    row, value = _locate(con, src, m, types, column, f"problem = {int(code)}")
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


def _checked_ts_scale(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    m: ColumnMapping,
    types: dict[str, str],
    max_abs: float | None,
) -> float:
    """The scale of the staged numeric timestamps to seconds, once they are known to be sane.

    The unit follows the largest magnitude in the column (see :func:`_ts_scale`). No other
    value may read as a date from 1973 on in a smaller unit (seconds among milliseconds),
    and every timestamp, in seconds, must lie between the years 1 and 9999. Reads
    ``_ws_stage``.

    Raises:
        AnalysisError: a timestamp out of range in any unit (``1e300``) or once scaled (far
            before year 1, dates past 9999), or seconds mixed with milliseconds (etc.).
    """
    if not m.timestamp:
        return 1.0
    col = m.timestamp
    lo, hi = MIN_TS_SECONDS, MAX_TS_SECONDS

    def out_of_range(condition: str, how: str) -> None:
        (found,) = con.execute(f"SELECT count(*) FROM _ws_stage WHERE {condition}").fetchall()[0]
        if found:
            row, value = _locate(con, src, m, types, col, condition)
            raise AnalysisError(
                TIMESTAMP_RANGE.format(
                    file=src.label, row=row, column=col, value=repr(value), how=how
                )
            )

    out_of_range(f"abs(ts_num) > {float(hi) * 1e9!r}", "in any unit")
    scale = _ts_scale(max_abs)
    if scale != 1.0:
        # a value below the column's unit band that is a real date (1973 on) in a smaller
        # unit: seconds among milliseconds; tiny values (5000) stay in the column's unit
        below = {1e3: 1e11, 1e6: 1e14, 1e9: 1e17}[scale]
        smaller = f"abs(ts_num) BETWEEN {TS_PLAUSIBLE_SECONDS!r} AND {below!r}"
        (mixed,) = con.execute(f"SELECT count(*) FROM _ws_stage WHERE {smaller}").fetchall()[0]
        if mixed:
            row, value = _locate(con, src, m, types, col, smaller)
            row2, value2 = _locate(con, src, m, types, col, f"abs(ts_num) > {below!r}")
            (small,) = con.execute(
                f"SELECT abs(ts_num) FROM _ws_stage WHERE {smaller} LIMIT 1"
            ).fetchall()[0]
            unit = next(u for limit, _, u in _TS_BANDS if small <= limit)
            raise AnalysisError(
                MIXED_TIMESTAMP_UNITS.format(
                    file=src.label, column=col, row=row, value=value, unit=unit, row2=row2,
                    value2=value2, unit2=_TS_UNIT[scale],
                )
            )  # fmt: skip
    out_of_range(f"ts_num / {scale!r} NOT BETWEEN {lo} AND {hi}", f"read as {_TS_UNIT[scale]}")
    out_of_range(f"ts_dt NOT BETWEEN {lo} AND {hi}", "as a date")
    return scale


def _check_relevant(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    m: ColumnMapping,
    threshold: float,
    n_relevant: int,
) -> None:
    """Refuse a dataset in which no interaction is relevant (reads ``_ws_agg``).

    Raises:
        AnalysisError: no explicit rating reaches ``threshold``, or every count is 0.
    """
    if n_relevant or m.value_kind == "implicit":
        return
    if m.value_kind == "count":
        raise AnalysisError(NO_RELEVANT_COUNT.format(file=src.label, column=m.rating))
    low, high = con.execute("SELECT min(rating), max(rating) FROM _ws_agg").fetchall()[0]
    raise AnalysisError(
        NO_RELEVANT_RATING.format(
            file=src.label, column=m.rating, low=low, high=high, threshold=threshold
        )
    )


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
