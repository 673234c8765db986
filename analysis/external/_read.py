"""Read an external recommender's rankings with DuckDB and map them onto the dataset's indices.

Formats (one run per split):

* ``trec``: ``user Q0 item rank score tag``, whitespace separated, as trec_eval and ranx read
  it. The list order is the score's, descending (trec_eval and ranx ignore the rank column);
  ties by the rank column, then by ``item_idx``.
* ``csv`` / ``parquet`` (a file, or a folder of Parquet part files): columns ``user_id``,
  ``item_id`` and ``rank`` (1 = best) or ``score`` (higher = better), found by name as the
  interaction ingest finds them (``User ID`` = ``user_id`` = ``userId``) or mapped
  explicitly. With a rank column the order is the rank's, ascending; with only a score the
  score's, descending; ties by ``item_idx``.

Raw ids are compared as text with the dataset's (``17`` in the file is user ``17``). Rows
naming a user or item the dataset lacks are counted and reported in one line each, never
silently dropped; a (user, item) pair listed twice keeps its best position (counted too).
The raw file is never loaded into pandas: DuckDB reads, joins, orders and cuts it to the top C.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from analysis.dataset import Dataset
from analysis.errors import AnalysisError, surface_hints
from analysis.ingest._columns import ITEM_SYNONYMS, USER_SYNONYMS, find_column

__all__ = [
    "RANK_SYNONYMS",
    "RUN_FORMATS",
    "SCORE_SYNONYMS",
    "Rankings",
    "RunColumns",
    "read_pairs",
    "read_rankings",
    "run_format",
    "unknown_lines",
]

RUN_FORMATS = ("auto", "trec", "csv", "parquet")
RANK_SYNONYMS = ("rank", "position", "pos", "ranking", "rnk")
SCORE_SYNONYMS = ("score", "prediction", "pred", "predicted", "relevance", "similarity", "sim")

NO_SUCH_FILE = "{file}: no such file or folder; check the path."
BAD_FORMAT = "Unknown run format {fmt!r}; use one of trec, csv, parquet."
UNREADABLE = "{file}: could not be read as {fmt} ({detail}); check the file and its format."
BAD_TREC_LINE = (
    "{file}: {n:,} lines are not TREC run lines (user Q0 item rank score tag), e.g. {line!r}; "
    "give a TREC run or pick the csv/parquet format."
)
MISSING_RUN_COLUMN = surface_hints(
    "{file}: no {role} column among {columns}.",
    app="Name the {role} column in the import form.",
    cli="Pass --{role}-col NAME.",
)
NO_ORDER_COLUMN = surface_hints(
    "{file}: neither a rank nor a score column among {columns}; a run needs one to order "
    "each user's list.",
    app="Name the rank or score column in the import form.",
    cli="Pass --rank-col NAME or --score-col NAME.",
)
NOTHING_RANKED = (
    "{file}: none of its {n_rows:,} rows names a user and an item of the dataset {dataset!r}; "
    "is it a run of this dataset?"
)
#: the one-line reports of rows that name ids the dataset lacks
UNKNOWN_ROWS = "{n:,} rows name {what} not in dataset {dataset} ({file}, first: {first!r})"


@dataclass(frozen=True)
class RunColumns:
    """Column names of a CSV/Parquet run (None: found by name). Unused for TREC."""

    user: str | None = None
    item: str | None = None
    rank: str | None = None
    score: str | None = None


@dataclass(frozen=True)
class Rankings:
    """One split's imported top-C lists, aligned with the dataset's users.

    Attributes:
        file: the file's name.
        items: int32 (n_users, C) item_idx best first, -1 padded (users absent: all -1).
        scores: float32 (n_users, C) the file's score of each listed item (NaN without a
            score column, and in padding).
        order_by: ``rank`` or ``score``: what ordered each list.
        n_rows: rows in the file.
        n_unknown_user_rows / n_unknown_item_rows: rows naming a user / an item (of a known
            user) the dataset lacks; ``first_unknown_user`` / ``first_unknown_item``: the
            smallest such id (None when there is none).
        n_duplicates: rows repeating a (user, item) pair already listed (the best kept).
        n_cut: listed items past position C (not kept).
    """

    file: str
    items: np.ndarray
    scores: np.ndarray
    order_by: str
    n_rows: int
    n_unknown_user_rows: int = 0
    n_unknown_item_rows: int = 0
    first_unknown_user: str | None = None
    first_unknown_item: str | None = None
    n_duplicates: int = 0
    n_cut: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def n_users_ranked(self) -> int:
        return int((self.items[:, 0] >= 0).sum()) if self.items.size else 0


def run_format(path: str | Path, fmt: str = "auto") -> str:
    """The run format of ``path``: ``fmt`` when given, else by extension (``.parquet``/a
    folder: parquet, ``.csv``/``.tsv``: csv, anything else: trec).

    Raises:
        AnalysisError: an unknown format (:data:`BAD_FORMAT`).
    """
    if fmt not in RUN_FORMATS:
        raise AnalysisError(BAD_FORMAT.format(fmt=fmt))
    if fmt != "auto":
        return fmt
    p = Path(path)
    suffix = p.suffix.lower()
    if p.is_dir() or suffix in (".parquet", ".pq", ".parq"):
        return "parquet"
    return "csv" if suffix in (".csv", ".tsv", ".txt") and not _looks_trec(p) else "trec"


def _looks_trec(path: Path) -> bool:
    try:
        with path.open(encoding="utf-8", errors="replace") as f:
            first = f.readline().split()
    except OSError:
        return False
    return len(first) == 6 and first[1] == "Q0"


def _literal(text: str) -> str:
    """``text`` as a SQL string literal (a view's definition cannot bind parameters)."""
    return "'" + text.replace("'", "''") + "'"


def _source_sql(path: Path, fmt: str) -> str:
    """A DuckDB table expression over the file."""
    if fmt == "parquet":
        if path.is_dir():
            files = _literal(str(path) + "/**/*.parquet")
            return f"read_parquet({files}, hive_partitioning = true)"
        return f"read_parquet({_literal(str(path))})"
    if fmt == "csv":
        return f"read_csv({_literal(str(path))}, header = true)"
    raise AnalysisError(BAD_FORMAT.format(fmt=fmt))


def _trec_source(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """View ``src(user_id, item_id, rank, score)`` over a TREC run; raises on bad lines."""
    con.execute(
        "CREATE TEMP VIEW trec_lines AS SELECT regexp_split_to_array(trim(line), '\\s+') AS f "
        f"FROM read_csv({_literal(str(path))}, columns = {{'line': 'VARCHAR'}}, header = false, "
        "delim = '\x1f', quote = '', escape = '', auto_detect = false) WHERE trim(line) <> ''"
    )
    n_bad, line = con.execute(
        "SELECT count(*), any_value(array_to_string(f, ' ')) FROM trec_lines "
        "WHERE len(f) <> 6 OR TRY_CAST(f[4] AS DOUBLE) IS NULL "
        "OR TRY_CAST(f[5] AS DOUBLE) IS NULL"
    ).fetchone()
    if n_bad:
        raise AnalysisError(BAD_TREC_LINE.format(file=path.name, n=n_bad, line=line))
    con.execute(
        "CREATE TEMP VIEW src AS SELECT f[1] AS user_id, f[3] AS item_id, "
        "CAST(f[4] AS DOUBLE) AS rank, CAST(f[5] AS DOUBLE) AS score FROM trec_lines"
    )


def _pick(columns: list[str], given: str | None, synonyms: tuple[str, ...]) -> str | None:
    if given:
        return given if given in columns else None
    found = find_column(columns, synonyms)
    return found[0] if found else None


def _table_source(
    con: duckdb.DuckDBPyConnection, path: Path, fmt: str, cols: RunColumns, need_order: bool
) -> bool:
    """View ``src(user_id, item_id, rank, score)`` over a CSV/Parquet run; True when it has
    a rank column (else it is ordered by score)."""
    con.execute(f"CREATE TEMP VIEW raw_src AS SELECT * FROM {_source_sql(path, fmt)}")
    columns = [r[0] for r in con.execute("DESCRIBE raw_src").fetchall()]
    listed = ", ".join(columns)
    picked = {}
    for role, given, syn in (("user", cols.user, USER_SYNONYMS),
                             ("item", cols.item, ITEM_SYNONYMS)):
        picked[role] = _pick(columns, given, syn)
        if picked[role] is None:
            raise AnalysisError(MISSING_RUN_COLUMN.format(file=path.name, role=role,
                                                          columns=listed))
    rank = _pick(columns, cols.rank, RANK_SYNONYMS)
    score = _pick(columns, cols.score, SCORE_SYNONYMS)
    for role, given, got in (("rank", cols.rank, rank), ("score", cols.score, score)):
        if given and got is None:
            raise AnalysisError(MISSING_RUN_COLUMN.format(file=path.name, role=role,
                                                          columns=listed))
    if need_order and rank is None and score is None:
        raise AnalysisError(NO_ORDER_COLUMN.format(file=path.name, columns=listed))

    def q(c: str | None) -> str:
        return "NULL" if c is None else '"' + c.replace('"', '""') + '"'

    con.execute(
        f"CREATE TEMP VIEW src AS SELECT CAST({q(picked['user'])} AS VARCHAR) AS user_id, "
        f"CAST({q(picked['item'])} AS VARCHAR) AS item_id, "
        f"TRY_CAST({q(rank)} AS DOUBLE) AS rank, TRY_CAST({q(score)} AS DOUBLE) AS score "
        "FROM raw_src"
    )
    return rank is not None


def _register_ids(con: duckdb.DuckDBPyConnection, dataset: Dataset) -> None:
    """Tables ``du(user_id, user_idx)`` and ``di(item_id, item_idx)`` of the dataset's ids."""
    con.register("du_df", pd.DataFrame({
        "user_id": np.asarray(dataset.user_ids).astype(str),
        "user_idx": np.arange(dataset.n_users, dtype=np.int64)}))
    con.register("di_df", pd.DataFrame({
        "item_id": np.asarray(dataset.item_ids).astype(str),
        "item_idx": np.arange(dataset.n_items, dtype=np.int64)}))
    con.execute("CREATE TEMP TABLE du AS SELECT * FROM du_df")
    con.execute("CREATE TEMP TABLE di AS SELECT * FROM di_df")


def _open(con: duckdb.DuckDBPyConnection, path: Path, fmt: str, cols: RunColumns,
          need_order: bool) -> str:
    """Create ``src`` over the file; returns what orders its lists (``rank``/``score``)."""
    if not path.exists():
        raise AnalysisError(NO_SUCH_FILE.format(file=path.name))
    try:
        if fmt == "trec":
            _trec_source(con, path)
            return "score"
        return "rank" if _table_source(con, path, fmt, cols, need_order) else "score"
    except duckdb.Error as exc:
        detail = str(exc).splitlines()[0][:160]
        raise AnalysisError(UNREADABLE.format(file=path.name, fmt=fmt, detail=detail)) from exc


def _joined(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(
        "CREATE TEMP VIEW joined AS SELECT src.*, du.user_idx, di.item_idx FROM src "
        "LEFT JOIN du USING (user_id) LEFT JOIN di USING (item_id)"
    )


def _unknown(con: duckdb.DuckDBPyConnection) -> tuple[int, int, str | None, str | None, int]:
    return con.execute(
        "SELECT count(*) FILTER (WHERE user_idx IS NULL), "
        "count(*) FILTER (WHERE user_idx IS NOT NULL AND item_idx IS NULL), "
        "min(user_id) FILTER (WHERE user_idx IS NULL), "
        "min(item_id) FILTER (WHERE user_idx IS NOT NULL AND item_idx IS NULL), count(*) "
        "FROM joined"
    ).fetchone()


def unknown_lines(r: Rankings, dataset: str) -> list[str]:
    """The one-line reports of a run's rows naming ids the dataset lacks (none: empty)."""
    out = []
    if r.n_unknown_user_rows:
        out.append(UNKNOWN_ROWS.format(n=r.n_unknown_user_rows, what="users", dataset=dataset,
                                       file=r.file, first=r.first_unknown_user))
    if r.n_unknown_item_rows:
        out.append(UNKNOWN_ROWS.format(n=r.n_unknown_item_rows, what="items", dataset=dataset,
                                       file=r.file, first=r.first_unknown_item))
    return out


@contextmanager
def _reading(p: Path, fmt: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """A private in-memory DuckDB connection for reading file ``p``; a DuckDB error becomes
    the one-line :data:`UNREADABLE` naming the file; the connection is always closed."""
    con = duckdb.connect()
    try:
        yield con
    except duckdb.Error as exc:
        detail = str(exc).splitlines()[0][:160]
        raise AnalysisError(UNREADABLE.format(file=p.name, fmt=fmt, detail=detail)) from exc
    finally:
        con.close()


def read_rankings(
    path: str | Path,
    dataset: Dataset,
    n_candidates: int,
    *,
    fmt: str = "auto",
    columns: RunColumns = RunColumns(),
) -> Rankings:
    """Each user's top ``n_candidates`` of a run file, as dataset indices.

    Args:
        path: a TREC, CSV or Parquet run (file, or folder of Parquet files).
        dataset: the dataset the run ranked (its raw ids).
        n_candidates: C, the list length kept.
        fmt: ``auto`` (by extension), ``trec``, ``csv`` or ``parquet``.
        columns: CSV/Parquet column names (None: found by name).

    Returns:
        A :class:`Rankings`.

    Raises:
        AnalysisError: file missing or unreadable, bad TREC lines, a missing column, or no
            row naming a known user and item.
    """
    p = Path(path)
    fmt = run_format(p, fmt)
    c = int(n_candidates)
    with _reading(p, fmt) as con:
        order_by = _open(con, p, fmt, columns, need_order=True)
        _register_ids(con, dataset)
        _joined(con)
        n_u, n_i, first_u, first_i, n_rows = _unknown(con)
        if order_by == "rank":
            order = "rank ASC NULLS LAST, item_idx ASC"
        else:
            order = "score DESC NULLS LAST, rank ASC NULLS LAST, item_idx ASC"
        con.execute(
            f"CREATE TEMP TABLE ranked AS SELECT user_idx, item_idx, score, "
            f"row_number() OVER (PARTITION BY user_idx ORDER BY {order}) AS pos FROM ("
            f"SELECT * FROM joined WHERE user_idx IS NOT NULL AND item_idx IS NOT NULL "
            f"QUALIFY row_number() OVER (PARTITION BY user_idx, item_idx ORDER BY {order}) = 1)"
        )
        n_known = con.execute(
            "SELECT count(*) FROM joined WHERE user_idx IS NOT NULL AND item_idx IS NOT NULL"
        ).fetchone()[0]
        n_kept, n_listed = con.execute(
            "SELECT count(*) FILTER (WHERE pos <= ?), count(*) FROM ranked", [c]).fetchone()
        got = con.execute(
            "SELECT user_idx, item_idx, score, pos FROM ranked WHERE pos <= ?", [c]
        ).fetchnumpy()
    if n_known == 0:
        raise AnalysisError(NOTHING_RANKED.format(file=p.name, n_rows=n_rows,
                                                  dataset=dataset.name))
    items = np.full((dataset.n_users, c), -1, np.int32)
    scores = np.full((dataset.n_users, c), np.nan, np.float32)
    u = np.asarray(got["user_idx"], np.int64)
    pos = np.asarray(got["pos"], np.int64) - 1
    items[u, pos] = np.asarray(got["item_idx"], np.int32)
    sc = got["score"]
    scores[u, pos] = np.ma.filled(np.ma.asarray(sc, dtype=np.float64), np.nan)
    return Rankings(
        file=p.name, items=items, scores=scores, order_by=order_by, n_rows=int(n_rows),
        n_unknown_user_rows=int(n_u), n_unknown_item_rows=int(n_i),
        first_unknown_user=first_u, first_unknown_item=first_i,
        n_duplicates=int(n_known - n_listed), n_cut=int(n_listed - n_kept),
    )


def read_pairs(
    path: str | Path, dataset: Dataset, *, fmt: str = "auto", columns: RunColumns = RunColumns()
) -> tuple[np.ndarray, np.ndarray, Rankings]:
    """The (user_idx, item_idx) pairs of a held-out file (``user_id, item_id[, rating]``; a
    rating column, if any, is not read: relevance is the dataset's), with its unknown-id
    counts in a :class:`Rankings` holding no lists.

    Raises:
        AnalysisError: as :func:`read_rankings`.
    """
    p = Path(path)
    fmt = run_format(p, fmt)
    if fmt == "trec":
        fmt = "csv"
    with _reading(p, fmt) as con:
        _open(con, p, fmt, columns, need_order=False)
        _register_ids(con, dataset)
        _joined(con)
        n_u, n_i, first_u, first_i, n_rows = _unknown(con)
        got = con.execute(
            "SELECT DISTINCT user_idx, item_idx FROM joined "
            "WHERE user_idx IS NOT NULL AND item_idx IS NOT NULL"
        ).fetchnumpy()
    info = Rankings(
        file=p.name, items=np.empty((0, 0), np.int32), scores=np.empty((0, 0), np.float32),
        order_by="", n_rows=int(n_rows), n_unknown_user_rows=int(n_u),
        n_unknown_item_rows=int(n_i), first_unknown_user=first_u, first_unknown_item=first_i,
    )
    return (np.asarray(got["user_idx"], np.int64), np.asarray(got["item_idx"], np.int64), info)
