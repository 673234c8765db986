"""Subgroup dimensions of an export analysed at scale, as SQL over the per-user table.

Each dimension is a ``code`` column computed by DuckDB and the labels of its codes, built
from a small histogram (distinct values and their counts), never from the users themselves:

* ``activity``: quantile bins of ``n_train`` (the user's rows in the history table, 0 when
  absent), ``inverted_cdf`` edges, right-closed, tied edges merged, labelled by the members'
  range: the definition of :func:`analysis.subgroups.compute_user_features` (``Q1 (0-3)``).
* ``inactive``: ``n_train`` below its mean over the per-user table's users (Kaur & Shah's
  definition), labels ``False``/``True`` as the in-memory table shows its bool column.
* each column of the user attributes table: numeric with more distinct values than bins ->
  ``<col>_bin`` quantile bins (same rule); otherwise categorical, its values as text in sorted
  order, NULL -> ``unknown`` (last).
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np

from analysis.subgroups._binning import UNKNOWN, _range_label
from analysis.subgroups.counted import counted_quantile_edges

__all__ = ["Dimension", "dimensions_sql"]

_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
            "UINTEGER", "UBIGINT", "FLOAT", "DOUBLE", "DECIMAL")


@dataclass(frozen=True)
class Dimension:
    """One subgroup dimension: ``sql`` gives each user's code, ``labels[code]`` its name."""

    name: str
    sql: str
    labels: list[str]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _binned(con: duckdb.DuckDBPyConnection, view: str, column: str, name: str,
            n_bins: int) -> Dimension:
    """Quantile bins of a numeric column (NULL -> ``unknown``, the last code)."""
    col = _quote(column)
    hist = con.execute(f"SELECT CAST({col} AS DOUBLE) v, count(*) FROM {view} "
                       f"WHERE {col} IS NOT NULL GROUP BY 1 ORDER BY 1").fetchnumpy()
    v = np.asarray(hist["v"], dtype=np.float64)
    c = np.asarray(hist["count_star()"], dtype=np.int64)
    edges = counted_quantile_edges(v, c, n_bins)
    codes = np.searchsorted(edges[1:-1], v, side="left") if len(v) else np.empty(0, np.int64)
    m = int(codes.max()) + 1 if len(codes) else 0
    labels = [f"Q{j + 1} ({_range_label(v[codes == j].min(), v[codes == j].max())})"
              for j in range(m)]
    # code = number of inner edges strictly below the value (searchsorted, side="left")
    below = " + ".join(f"CAST(CAST({col} AS DOUBLE) > {float(e)!r} AS INTEGER)"
                       for e in edges[1:-1]) or "0"
    sql = f"CASE WHEN {col} IS NULL THEN {m} ELSE {below} END"
    return Dimension(name, sql, labels + [UNKNOWN])


def _categorical(con: duckdb.DuckDBPyConnection, view: str, column: str) -> Dimension:
    col = _quote(column)
    values = [r[0] for r in con.execute(
        f"SELECT DISTINCT CAST({col} AS VARCHAR) FROM {view} WHERE {col} IS NOT NULL "
        f"ORDER BY 1").fetchall()]
    listed = "[" + ", ".join("'" + v.replace("'", "''") + "'" for v in values) + "]"
    sql = (f"CASE WHEN {col} IS NULL THEN {len(values)} "
           f"ELSE list_position({listed}, CAST({col} AS VARCHAR)) - 1 END")
    return Dimension(column, sql, values + [UNKNOWN])


def dimensions_sql(con: duckdb.DuckDBPyConnection, view: str, attributes: list[str], *,
                   activity_bins: int = 4, attribute_bins: int = 4) -> list[Dimension]:
    """The dimensions of the per-user view ``view`` (columns ``n_train`` and the
    ``attributes``)."""
    dims = [_binned(con, view, "n_train", "activity", activity_bins)]
    dims[0] = Dimension("activity", dims[0].sql, dims[0].labels[:-1])  # n_train is never NULL
    mean = con.execute(f"SELECT avg(n_train) FROM {view}").fetchone()[0] or 0.0
    dims.append(Dimension("inactive", f"CAST(n_train < {float(mean)!r} AS INTEGER)",
                          ["False", "True"]))
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE {view})")
                 .fetchall())
    for column in attributes:
        kind = types[column].split("(")[0]
        n_distinct = con.execute(
            f"SELECT count(DISTINCT {_quote(column)}) FROM {view}").fetchone()[0]
        if kind in _NUMERIC and n_distinct > attribute_bins:
            dims.append(_binned(con, view, column, f"{column}_bin", attribute_bins))
        else:
            dims.append(_categorical(con, view, column))
    return dims
