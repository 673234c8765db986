"""Side tables at ingest: a users or items table keyed by the interactions' ids.

Private helper of :mod:`analysis.ingest`. The id column is found by name (else the first
column) and cast to the interactions' id type; an items table's title and genres columns
become ``title`` and ``genres`` (``|``-separated); the first row of each id is kept. A side
table whose ids match nothing fails; one that matches in part is stored with a warning.
"""

from __future__ import annotations

import duckdb

from analysis.errors import AnalysisError
from analysis.ingest._columns import (
    GENRE_SYNONYMS,
    ID_SYNONYMS,
    ITEM_SYNONYMS,
    TITLE_SYNONYMS,
    USER_SYNONYMS,
    find_column,
)
from analysis.ingest._formats import Source
from analysis.ingest._open import column_types
from analysis.ingest._sql import sql_ident
from analysis.ingest._text_rows import diagnose_text_failure

SIDE_NO_MATCH = (
    "{file}: none of the {n} ids in its column {column!r} matches a {role} id of the "
    "interactions (e.g. {example!r} vs {other!r}); check that this {role}s file belongs to "
    "this dataset and that {column!r} is its id column."
)
SIDE_PARTIAL = (
    "{file}: {share_rows:.1%} of its {n_rows} rows match a {role} of the interactions; "
    "{share_cov:.1%} of the {n_cov} {role}s have attributes"
)


def _item_columns(cols: list[str], types: dict[str, str], id_col: str) -> tuple[list[str], list[str]]:
    """``(select, used)``: the ``title`` and ``genres`` expressions of an items table (NULL
    where it has no such column) and the source columns they use."""
    select, used = [], []
    title = [c for c in find_column(cols, TITLE_SYNONYMS) if c != id_col]
    genre = [c for c in find_column(cols, GENRE_SYNONYMS) if c != id_col]
    if title:
        select.append(f"CAST({sql_ident(title[0])} AS VARCHAR) AS title")
        used.append(title[0])
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
        used.append(genre[0])
    else:
        select.append("CAST(NULL AS VARCHAR) AS genres")
    return select, used


def _check_match(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    role: str,
    key: str,
    id_col: str,
    warnings: list[str],
) -> None:
    """Refuse a staged side table (``_ws_side``) whose ids match no interaction (``_ws_agg``);
    warn when only some match.

    Raises:
        AnalysisError: no id matches (:data:`SIDE_NO_MATCH`).
    """
    n_rows, n_match = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {key} IN (SELECT {key} FROM _ws_agg)) "
        f"FROM _ws_side"
    ).fetchall()[0]
    n_cov = con.execute(f"SELECT count(DISTINCT {key}) FROM _ws_agg").fetchall()[0][0]
    if n_match == 0:
        example = con.execute(
            f"SELECT min(CAST({sql_ident(id_col)} AS VARCHAR)) FROM {src.from_sql}"
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


def store_side(
    con: duckdb.DuckDBPyConnection,
    src: Source,
    role: str,
    id_type: str,
    table: str,
    warnings: list[str],
) -> None:
    """Store the ``role`` (``"user"``/``"item"``) table ``src`` as ``table``, keyed by
    ``<role>_id`` of type ``id_type``; reads the merged interactions ``_ws_agg``.

    Raises:
        AnalysisError: the file cannot be read, or no id matches an interaction.
    """
    synonyms = USER_SYNONYMS if role == "user" else ITEM_SYNONYMS
    types = column_types(con, src)
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
        item_select, used = _item_columns(cols, types, id_col)
        select += item_select
        exclude += used
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
    _check_match(con, src, role, key, id_col, warnings)
    con.execute(f"CREATE TABLE {table} AS SELECT * FROM _ws_side ORDER BY {key}")
    con.execute("DROP TABLE _ws_side")
