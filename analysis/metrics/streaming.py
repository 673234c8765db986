"""Step 4 at scale: per-user list metrics of an exported run, streamed in blocks of users.

For runs bigger than memory (an external recommender's top-100 for ten million users is a
billion rows). DuckDB reads the rankings ``(user_id, item_id, rank)`` and the held-out
interactions ``(user_id, item_id, gain)`` in place (a Parquet file, a folder of Parquet part
files as Spark/Hive export them, a glob, a CSV/TSV file, or a table of a DuckDB database),
keeps the ranking rows with ``rank <= k`` and the relevant held-out rows (``gain > 0``),
and returns them in one stream ordered by user (``ORDER BY user_id``: DuckDB sorts out of
core, spilling to disk past its ``memory_limit``). Python fetches Arrow record batches of
that stream, cuts it into blocks of ``block_users`` whole users, and measures each block
with :func:`~analysis.metrics.compute_user_metrics` (the same definitions, hence the same
numbers as the in-memory path): a block's items get block-local item_idx, its lists become
an ``(n, k)`` array and its held-out gains a CSR matrix. Each block's per-user rows are
written to their own Parquet file at once and only running sums are kept, so memory is
bounded by DuckDB's limit plus one block, whatever the number of users.

Conventions: a user's list is their ranking rows with ``rank <= k`` ordered by ``(rank,
item_id)``, placed from position 1 (ranks need not be dense; rows past ``k`` after equal
ranks are dropped); a held-out ``(user, item)`` given twice keeps its largest gain; held-out
rows with ``gain <= 0`` or NULL are not relevant and dropped; rows with a NULL id are
skipped. A user with held-out relevant items but no ranking is evaluated with an empty list
(every metric 0); a user with a ranking but no relevant held-out item is not evaluated (NaN
metrics, left out of the means). Only list metrics are computed: AUC needs the model's
scores of every item, which an exported top-k run does not hold.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from os import PathLike
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import scipy.sparse as sp

from analysis.errors import AnalysisError
from analysis.ingest import table_sql
from analysis.metrics._ranking import METRIC_NAMES, compute_user_metrics
from analysis.metrics._validate import check_k

__all__ = ["DuckTable", "StreamedMetrics", "evaluate_streaming"]

MISSING_COLUMNS = (
    "{what} ({source}) has no column(s) {missing}; it needs {needed}; rename the columns "
    "when exporting."
)
NOT_EMPTY = "{folder}: the output folder is not empty; give a new or empty folder."
BAD_BLOCK = "block_users must be a positive integer, got {value!r}."
NO_USERS = "{source}: neither the rankings nor the held-out interactions hold any row."
UNREADABLE = "{what} ({source}) could not be read: {detail}."

_RANK_COLS = ("user_id", "item_id", "rank")
_HELDOUT_COLS = ("user_id", "item_id", "gain")


@dataclass(frozen=True)
class DuckTable:
    """A table (or view) of a DuckDB database file, read-only.

    Attributes:
        database: the ``.duckdb`` file.
        table: the table's name in it.
    """

    database: Path
    table: str


RunInput = str | PathLike | DuckTable


@dataclass(frozen=True)
class StreamedMetrics:
    """What a streamed evaluation produced.

    Attributes:
        k: list length.
        output: folder of the per-user Parquet files ``part-00000.parquet``, ... (one per
            block, users in ascending ``user_id``), columns ``user_id``, ``n_ranked`` (list
            entries, <= k), ``n_relevant``, ``evaluated`` and the metrics ``ndcg@k``,
            ``ndcg_graded@k``, ``recall@k``, ``precision@k``, ``hit@k``, ``mrr@k``, ``ap@k``
            (float64, NaN where not evaluated).
        n_users: users with a ranking or a relevant held-out item.
        n_evaluated: users with at least one relevant held-out item.
        n_blocks: blocks (= part files) written.
        sums: metric -> sum over evaluated users (each block summed, then blocks in order).
        sums_sq: metric -> sum of squares over evaluated users.
        seconds: wall time.
    """

    k: int
    output: Path
    n_users: int
    n_evaluated: int
    n_blocks: int
    sums: dict[str, float]
    sums_sq: dict[str, float]
    seconds: float

    @property
    def n_excluded(self) -> int:
        """Users without a relevant held-out item (not in the means)."""
        return self.n_users - self.n_evaluated

    @property
    def means(self) -> dict[str, float]:
        """Mean of every metric over evaluated users (NaN when none is)."""
        n = self.n_evaluated
        return {m: (s / n if n else float("nan")) for m, s in self.sums.items()}

    @property
    def std_errors(self) -> dict[str, float]:
        """Standard error of each mean, ``sqrt(s2 / (n (n - 1)))`` with ``s2`` the sum of
        squared deviations (``sums_sq - sums^2 / n``); NaN below two users."""
        n = self.n_evaluated
        if n < 2:
            return {m: float("nan") for m in self.sums}
        out = {}
        for m, s in self.sums.items():
            dev = max(self.sums_sq[m] - s * s / n, 0.0)
            out[m] = float(np.sqrt(dev / (n * (n - 1))))
        return out


def _source_sql(con: duckdb.DuckDBPyConnection, spec: RunInput, alias: str) -> str:
    if isinstance(spec, DuckTable):
        db = str(Path(spec.database).resolve()).replace("'", "''")
        con.execute(f"ATTACH '{db}' AS {alias} (READ_ONLY)")
        table = spec.table.replace('"', '""')
        return f'{alias}."{table}"'
    return table_sql(Path(spec).expanduser())


def _check_columns(
    con: duckdb.DuckDBPyConnection, sql: str, needed: tuple, what: str, source: str
) -> None:
    try:
        cols = {r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()}
    except duckdb.Error as exc:
        detail = str(exc).splitlines()[0]
        raise AnalysisError(UNREADABLE.format(what=what, source=source, detail=detail)) from exc
    missing = [c for c in needed if c not in cols]
    if missing:
        raise AnalysisError(
            MISSING_COLUMNS.format(
                what=what, source=source, missing=", ".join(missing), needed=", ".join(needed)
            )
        )


class _Totals:
    """Running counts and sums over the blocks."""

    def __init__(self, k: int) -> None:
        self.names = [f"{m}@{k}" for m in METRIC_NAMES]
        self.sums = dict.fromkeys(self.names, 0.0)
        self.sums_sq = dict.fromkeys(self.names, 0.0)
        self.n_users = self.n_evaluated = self.n_blocks = 0

    def add(self, values: dict[str, np.ndarray], evaluated: np.ndarray) -> None:
        self.n_users += int(evaluated.size)
        self.n_evaluated += int(evaluated.sum())
        self.n_blocks += 1
        for m in self.names:
            v = values[m][evaluated]
            self.sums[m] += float(v.sum())
            self.sums_sq[m] += float(v @ v)


def _measure_block(cols: dict[str, np.ndarray], k: int) -> tuple[pa.Table, dict, np.ndarray]:
    """Per-user metrics of one block of whole users (rows sorted by user, kind, rank, item)."""
    user, item, kind, gain = cols["user_id"], cols["item_id"], cols["kind"], cols["gain"]
    n = user.size
    new_user = np.ones(n, dtype=bool)
    new_user[1:] = user[1:] != user[:-1]
    starts = np.flatnonzero(new_user)
    uidx = np.cumsum(new_user) - 1
    items, iidx = np.unique(item, return_inverse=True)
    ranked = kind == 0
    pos = np.arange(n) - starts[uidx]  # a user's ranking rows come first, in list order
    keep = ranked & (pos < k)
    recs = np.full((starts.size, k), -1, dtype=np.int64)
    recs[uidx[keep], pos[keep]] = iidx[keep]
    held = ~ranked
    truth = sp.csr_matrix(
        (gain[held], (uidx[held], iidx[held])), shape=(starts.size, max(items.size, 1))
    )
    metrics = compute_user_metrics(recs, truth, k)
    table = {
        "user_id": user[starts],
        "n_ranked": np.bincount(uidx[keep], minlength=starts.size).astype(np.int64),
        "n_relevant": metrics.values["n_relevant"].astype(np.int64),
        "evaluated": metrics.evaluated,
    }
    table.update({f"{m}@{k}": metrics.values[f"{m}@{k}"] for m in METRIC_NAMES})
    return pa.table(table), metrics.values, metrics.evaluated


def evaluate_streaming(
    rankings: RunInput,
    heldout: RunInput,
    output: str | PathLike,
    *,
    k: int = 10,
    block_users: int = 100_000,
    memory_limit: str = "2GB",
    threads: int | None = None,
    spill_dir: str | PathLike | None = None,
    batch_rows: int = 1 << 20,
) -> StreamedMetrics:
    """Per-user list metrics of a run of any size, written block by block to ``output``.

    Args:
        rankings: ``(user_id, item_id, rank)`` rows, rank 1 = best: a Parquet file, a folder
            of Parquet part files, a glob, a CSV/TSV file or a :class:`DuckTable`.
        heldout: ``(user_id, item_id, gain)`` held-out interactions, same kinds of input.
        output: a new or empty folder for the per-user part files.
        k: list length of the metrics.
        block_users: users per block (a block's rows are held in memory at once).
        memory_limit: DuckDB's memory limit (the sort spills to disk beyond it).
        threads: DuckDB threads (default: DuckDB's, one per core).
        spill_dir: where the sort spills (default: a temporary folder, removed at the end).
        batch_rows: rows per fetched Arrow batch.

    Returns:
        A :class:`StreamedMetrics` with the counts and running sums.

    Raises:
        AnalysisError: bad ``k``/``block_users``, an unreadable input, a missing column, a
            non-empty output folder, or no rows at all.
    """
    t0 = time.perf_counter()
    k = check_k(k)
    if isinstance(block_users, bool) or not isinstance(block_users, int) or block_users < 1:
        raise AnalysisError(BAD_BLOCK.format(value=block_users))
    out = Path(output)
    if out.exists() and any(out.iterdir()):
        raise AnalysisError(NOT_EMPTY.format(folder=out))
    out.mkdir(parents=True, exist_ok=True)
    totals = _Totals(k)
    with (
        tempfile.TemporaryDirectory(prefix="weakspot-spill-", dir=spill_dir) as spill,
        duckdb.connect() as con,
    ):
        con.execute("SET memory_limit = ?", [memory_limit])
        con.execute("SET temp_directory = ?", [spill])
        con.execute("SET preserve_insertion_order = false")
        con.execute("SET enable_progress_bar = false")
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        r_sql = _source_sql(con, rankings, "_ws_rankings")
        h_sql = _source_sql(con, heldout, "_ws_heldout")
        _check_columns(con, r_sql, _RANK_COLS, "the rankings", str(rankings))
        _check_columns(con, h_sql, _HELDOUT_COLS, "the held-out interactions", str(heldout))
        ids = "user_id IS NOT NULL AND item_id IS NOT NULL"
        sql = (
            f"SELECT user_id, item_id, 0 AS kind, CAST(rank AS DOUBLE) AS rank, "
            f"0.0 AS gain FROM {r_sql} WHERE rank <= {k} AND {ids} "
            f"UNION ALL SELECT user_id, item_id, 1, 0.0, max(CAST(gain AS DOUBLE)) "
            f"FROM {h_sql} WHERE gain > 0 AND {ids} GROUP BY user_id, item_id "
            f"ORDER BY user_id, kind, rank, item_id"
        )
        try:
            reader = con.sql(sql).to_arrow_reader(batch_rows)
            _stream_blocks(reader, k, block_users, out, totals)
        except duckdb.Error as exc:
            detail = str(exc).splitlines()[0]
            source = f"{rankings}, {heldout}"
            raise AnalysisError(
                UNREADABLE.format(what="the run", source=source, detail=detail)
            ) from exc
    if totals.n_users == 0:
        raise AnalysisError(NO_USERS.format(source=f"{rankings}, {heldout}"))
    return StreamedMetrics(
        k=k, output=out, n_users=totals.n_users, n_evaluated=totals.n_evaluated,
        n_blocks=totals.n_blocks, sums=totals.sums, sums_sq=totals.sums_sq,
        seconds=time.perf_counter() - t0,
    )  # fmt: skip


def _stream_blocks(
    reader: pa.RecordBatchReader, k: int, block_users: int, out: Path, totals: _Totals
) -> None:
    """Cut the user-ordered stream into blocks of ``block_users`` whole users and measure
    each as it completes; the last user of a batch may continue in the next one."""
    names = ("user_id", "item_id", "kind", "gain")
    pending: dict[str, list[np.ndarray]] = {c: [] for c in names}

    def flush(cols: dict[str, np.ndarray]) -> None:
        table, values, evaluated = _measure_block(cols, k)
        pq.write_table(table, out / f"part-{totals.n_blocks:05d}.parquet")
        totals.add(values, evaluated)

    for batch in reader:
        for c in names:
            pending[c].append(batch.column(c).to_numpy(zero_copy_only=False))
        cols = {c: np.concatenate(v) if len(v) > 1 else v[0] for c, v in pending.items()}
        user = cols["user_id"]
        starts = np.flatnonzero(np.r_[True, user[1:] != user[:-1]])
        lo = 0
        # a block is complete when a later user starts after its block_users users
        while starts.size - lo > block_users:
            cut = starts[lo + block_users]
            flush({c: v[starts[lo] : cut] for c, v in cols.items()})
            lo += block_users
        rest = starts[lo] if lo < starts.size else user.size
        pending = {c: [v[rest:]] for c, v in cols.items()}
    cols = {c: np.concatenate(v) if v else np.empty(0) for c, v in pending.items()}
    if cols["user_id"].size:
        flush(cols)
