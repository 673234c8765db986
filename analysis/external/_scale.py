"""An external recommender's export analysed end to end without loading it: per-user metrics,
subgroups, weak users and the LLM bill for ten million users in bounded memory.

The in-memory import (:func:`analysis.external.import_run`) needs the dataset in a workspace
and every user's lists as arrays. This path reads everything in place with DuckDB (Parquet
files or partitioned folders, CSV/TSV; ``analysis.ingest.table_sql``), under one memory limit:

1. **per-user metrics** of the test run (and the validation run) streamed in blocks of users
   (:func:`analysis.metrics.streaming.evaluate_streaming`, one Parquet part per block);
2. **the per-user table**: those joined on ``user_id`` (validation columns ``val_``), with
   ``n_train`` (the user's rows in the history table) and the user attributes; the subgroup
   dimensions' codes (:mod:`._scale_features`); written as Parquet;
3. **weak users**: ``val_<metric>`` at or below a threshold or its percentile over the users
   who have it (numpy's linear percentile = DuckDB's ``quantile_cont``), chosen on
   validation and judged on the test lists. Without a validation run: the threshold is the
   percentile of the test metric over a seeded random half of the users (``md5`` of
   ``"<user_id>:<seed>"``, lower 64 bits, even), the other half is judged and its weak users
   are those at or below it, on the same test lists (stated);
4. **subgroups**: every dimension and every pair reduced to counts of the test metric's values
   per group (and of weak users) and summarised by :func:`analysis.subgroups.counted.
   counted_report` (the in-memory report's definitions), the Kruskal-Wallis tests adjusted as
   one family (Holm, BH);
5. **the LLM bill** of one prompt per weak user (:mod:`._scale_bill`).

Everything is written to a new folder, first under a temporary name renamed at the end, so a
failure leaves nothing half-written.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from itertools import combinations
from os import PathLike
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.external._scale_bill import ScaleBill, weak_user_bill
from analysis.external._scale_features import Dimension, _quote, dimensions_sql
from analysis.external._scale_report import export_report
from analysis.gains.cost import PriceTable
from analysis.ingest import table_sql
from analysis.metrics._ranking import METRIC_NAMES
from analysis.metrics.streaming import StreamedMetrics, evaluate_streaming
from analysis.subgroups import MIN_GROUP_SIZE, SubgroupReport
from analysis.subgroups._grouping import INTERSECTION
from analysis.subgroups.counted import counted_family, counted_report
from analysis.weak_users import ties_note

__all__ = ["ExportFiles", "ScaleAnalysis", "ScaleConfig", "analyse_export"]

NOT_EMPTY = "{folder}: the output folder is not empty; give a new or empty folder."
BAD_METRIC = "The weak-user metric must be one of {names} (list metrics), got {value!r}."
BAD_RULE = ("A weak-user rule needs exactly one of a threshold or a percentile in [0, 100]; "
            "got threshold {threshold!r} and percentile {percentile!r}.")
NO_SELECTION = ("No user has a {metric} to choose the weak-user threshold on; check the "
                "held-out interactions match the run's users.")
MISSING_USER_ID = "{what} ({source}) has no user_id column; rename the column when exporting."
HALF_NOTE = ("Only a test run: the weak-user threshold was chosen on the test {metric} of a "
             "seeded random half of the users ({n_selection:,}, not judged); the other half "
             "({n_judged:,}) is judged, its weak users selected and measured on the same test "
             "lists, so their low test figures are partly by construction.")
AUC_NOTE = ("AUC: not computed (an exported top-k run has no score for every item); weak "
            "users are selected on a list metric.")


@dataclass(frozen=True)
class ExportFiles:
    """Where the export lies (a Parquet file, a folder of Parquet parts, a glob, CSV/TSV).

    Attributes:
        test_run: ``(user_id, item_id, rank)`` rows of the test period, rank 1 = best.
        test_heldout: ``(user_id, item_id, gain)`` held-out test interactions.
        validation_run, validation_heldout: the same for validation (both or neither).
        history: the users' earlier interactions ``(user_id, item_id[, rating][, timestamp])``
            (activity, inactivity and the prompts' history), optional.
        users: user attributes ``(user_id, <attribute>...)``, optional.
        items: ``(item_id, title[, genres])`` for the prompts' texts, optional.
    """

    test_run: str | PathLike
    test_heldout: str | PathLike
    validation_run: str | PathLike | None = None
    validation_heldout: str | PathLike | None = None
    history: str | PathLike | None = None
    users: str | PathLike | None = None
    items: str | PathLike | None = None


@dataclass(frozen=True)
class ScaleConfig:
    """How the export is judged (defaults as the in-memory import's)."""

    name: str = "imported"
    k: int = 10
    n_candidates: int = 20
    weak_metric: str = "ndcg"
    weak_percentile: float | None = 20.0
    weak_threshold: float | None = None
    seed: int = 0
    activity_bins: int = 4
    attribute_bins: int = 4
    min_group_size: int = MIN_GROUP_SIZE
    n_boot: int = 1000
    ci: float = 0.95
    model: str = "claude-haiku-4-5"
    n_recent: int = 10
    template: str = "paper"
    batch: bool = False
    block_users: int = 100_000
    memory_limit: str = "2GB"
    threads: int | None = None

    def metric_column(self) -> str:
        if self.weak_metric not in METRIC_NAMES:
            raise AnalysisError(BAD_METRIC.format(names=", ".join(METRIC_NAMES),
                                                  value=self.weak_metric))
        return f"{self.weak_metric}@{self.k}"


@dataclass(frozen=True)
class ScaleAnalysis:
    """What :func:`analyse_export` found (also written to ``output``).

    Attributes:
        output: the run folder: ``per_user/`` (Parquet parts), ``weak_users.parquet``,
            ``subgroups.csv``, ``tests.csv``, ``summary.json`` and ``report.html``.
        test, validation: the streamed metrics (validation None without a validation run).
        threshold: the weak-user threshold on the selection metric.
        n_weak: weak users; ``n_judged`` users who could be weak (those with the selection
            metric: every one of them, or the judged half).
        weak_vs_rest: the test metric of weak users and of the rest (:class:`SubgroupReport`
            over the dimension ``weak``).
        subgroups: one report per dimension and pair; ``tests`` their family of tests.
        bill: the LLM dry run of the weak users.
        notes: what the analyst must know to read the figures.
        seconds: wall time per step.
    """

    output: Path
    config: ScaleConfig
    test: StreamedMetrics
    validation: StreamedMetrics | None
    threshold: float
    n_weak: int
    n_judged: int
    weak_vs_rest: SubgroupReport
    subgroups: list[SubgroupReport]
    tests: pd.DataFrame
    bill: ScaleBill
    notes: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)


def _connect(config: ScaleConfig, spill: str) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute("SET memory_limit = ?", [config.memory_limit])
    con.execute("SET temp_directory = ?", [spill])
    con.execute("SET preserve_insertion_order = false")
    con.execute("SET enable_progress_bar = false")
    if config.threads:
        con.execute(f"SET threads = {int(config.threads)}")
    return con


def _side_table(con: duckdb.DuckDBPyConnection, path, what: str, view: str) -> list[str]:
    """A view ``view`` of one row per user of a side table; its columns other than user_id."""
    sql = table_sql(Path(path).expanduser())
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {sql}").fetchall()]
    if "user_id" not in cols:
        raise AnalysisError(MISSING_USER_ID.format(what=what, source=path))
    con.execute(f"CREATE VIEW {view} AS SELECT * FROM {sql} "
                f"QUALIFY row_number() OVER (PARTITION BY user_id) = 1")
    return [c for c in cols if c != "user_id"]


def _metric_columns(con, parquet: str, alias: str, prefix: str) -> list[str]:
    """``alias.col AS prefix col`` for every column but user_id; NaN metrics become NULL."""
    desc = con.execute(f"DESCRIBE SELECT * FROM {parquet}").fetchall()
    out = []
    for name, kind, *_ in desc:
        if name == "user_id":
            continue
        col = f"{alias}.{_quote(name)}"
        value = f"CASE WHEN isnan({col}) THEN NULL ELSE {col} END" if kind == "DOUBLE" else col
        out.append(f"{value} AS {_quote(prefix + name)}")
    return out


def _per_user(con, out: Path, files: ExportFiles, val_dir: Path | None, spill: str) -> list[str]:
    """View ``_ws_base``: the per-user metrics joined with validation (``val_``), ``n_train``
    and the attributes, a metric NULL where the user is not evaluated (written once to a
    Parquet file in ``spill``, read by every later query)."""
    test = f"read_parquet('{out / 'test_metrics'}/*.parquet')"
    cols = _metric_columns(con, test, "t", "")
    base = f"SELECT t.user_id, {', '.join(cols)} FROM {test} t"
    if val_dir is not None:
        val = f"read_parquet('{val_dir}/*.parquet')"
        cols += _metric_columns(con, val, "v", "val_")
        base = (f"SELECT coalesce(t.user_id, v.user_id) AS user_id, {', '.join(cols)} "
                f"FROM {test} t FULL JOIN {val} v ON t.user_id = v.user_id")
    if files.history is not None:
        con.execute(f"CREATE VIEW _ws_history AS SELECT * FROM "
                    f"{table_sql(Path(files.history).expanduser())}")
        con.execute("CREATE TEMP TABLE _ws_ntrain AS SELECT user_id, count(*) AS n "
                    "FROM _ws_history WHERE user_id IS NOT NULL GROUP BY user_id")
        base = (f"SELECT b.*, coalesce(h.n, 0) AS n_train FROM ({base}) b "
                f"LEFT JOIN _ws_ntrain h USING (user_id)")
    else:
        base = f"SELECT b.*, 0 AS n_train FROM ({base}) b"
    attrs: list[str] = []
    if files.users is not None:
        attrs = _side_table(con, files.users, "the user attributes", "_ws_users")
        picked = ", ".join(f"a.{_quote(c)}" for c in attrs)
        base = f"SELECT b.*, {picked} FROM ({base}) b LEFT JOIN _ws_users a USING (user_id)"
    path = Path(spill) / "base.parquet"
    con.execute(f"COPY ({base}) TO '{path}' (FORMAT parquet)")
    con.execute(f"CREATE VIEW _ws_base AS SELECT * FROM read_parquet('{path}')")
    return attrs


def analyse_export(files: ExportFiles, output: str | PathLike, config: ScaleConfig = ScaleConfig(),
                   *, prices: PriceTable | None = None, spill_dir=None) -> ScaleAnalysis:
    """Analyse an export end to end in bounded memory (module docstring); write ``output``.

    Raises:
        AnalysisError: a bad rule or metric, unreadable or malformed inputs, a non-empty
            output folder, or no user to choose the threshold on.
    """
    metric = config.metric_column()
    if (config.weak_threshold is None) == (config.weak_percentile is None) or (
            config.weak_percentile is not None and not 0 <= config.weak_percentile <= 100):
        raise AnalysisError(BAD_RULE.format(threshold=config.weak_threshold,
                                            percentile=config.weak_percentile))
    final = Path(output)
    if final.exists() and any(final.iterdir()):
        raise AnalysisError(NOT_EMPTY.format(folder=final))
    final.parent.mkdir(parents=True, exist_ok=True)
    out = Path(tempfile.mkdtemp(prefix=f".{final.name}-", dir=final.parent))
    try:
        result = _analyse(files, out, final, config, metric, prices or PriceTable(), spill_dir)
        if final.exists():
            final.rmdir()
        out.rename(final)
        return result
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _analyse(files, out, final, config, metric, prices, spill_dir) -> ScaleAnalysis:
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    stream = dict(k=config.k, block_users=config.block_users, memory_limit=config.memory_limit,
                  threads=config.threads, spill_dir=spill_dir)
    test = evaluate_streaming(files.test_run, files.test_heldout, out / "test_metrics", **stream)
    validation = None
    if files.validation_run is not None:
        validation = evaluate_streaming(files.validation_run, files.validation_heldout,
                                        out / "validation_metrics", **stream)
    seconds["metrics"] = time.perf_counter() - t
    notes = [AUC_NOTE]
    with tempfile.TemporaryDirectory(prefix="weakspot-spill-", dir=spill_dir) as spill, \
            _connect(config, spill) as con:
        t = time.perf_counter()
        attrs = _per_user(con, out, files,
                          out / "validation_metrics" if validation is not None else None, spill)
        dims = dimensions_sql(con, "_ws_base", attrs, activity_bins=config.activity_bins,
                              attribute_bins=config.attribute_bins)
        threshold, n_judged, judged = _threshold(con, config, metric, validation is not None,
                                                 notes)
        sel = f"val_{metric}" if validation is not None else metric
        codes = ", ".join(f"{d.sql} AS {_quote('code_' + d.name)}" for d in dims)
        con.execute(
            f"COPY (SELECT *, {codes}, coalesce(({judged}) AND {_quote(sel)} <= {threshold!r}, "
            f"false) AS weak "
            f"FROM _ws_base) TO '{out / 'per_user'}' (FORMAT parquet, PER_THREAD_OUTPUT)")
        con.execute(f"CREATE VIEW _ws_pu AS SELECT * FROM read_parquet('{out}/per_user/*')")
        n_weak = con.execute("SELECT count_if(weak) FROM _ws_pu").fetchone()[0]
        tied = ties_note(n_weak / n_judged if n_judged else float("nan"),
                         config.weak_percentile, threshold)
        if tied:
            notes.append(tied)
        con.execute(f"COPY (SELECT user_id, {_quote(sel)}, {_quote(metric)} FROM _ws_pu "
                    f"WHERE weak ORDER BY user_id) TO '{out / 'weak_users.parquet'}' "
                    f"(FORMAT parquet)")
        seconds["per_user"] = time.perf_counter() - t
        t = time.perf_counter()
        weak_dim = Dimension("weak", "CAST(weak AS INTEGER)", ["rest", "weak"])
        weak_vs_rest = _report(con, config, metric, [weak_dim], f"({judged})")
        reports = [_report(con, config, metric, [d]) for d in dims]
        reports += [_report(con, config, metric, [a, b]) for a, b in combinations(dims, 2)]
        tests = counted_family(reports)
        seconds["subgroups"] = time.perf_counter() - t
        t = time.perf_counter()
        history = "_ws_history" if files.history is not None else None
        items = table_sql(Path(files.items).expanduser()) if files.items else None
        bill = weak_user_bill(con, "SELECT user_id FROM _ws_pu WHERE weak",
                              table_sql(Path(files.test_run).expanduser()), history, items,
                              prices, model=config.model, n_candidates=config.n_candidates,
                              n_recent=config.n_recent, template=config.template,
                              batch=config.batch)
        seconds["bill"] = time.perf_counter() - t
    result = ScaleAnalysis(
        output=final, config=config, test=test, validation=validation, threshold=threshold,
        n_weak=int(n_weak), n_judged=n_judged, weak_vs_rest=weak_vs_rest, subgroups=reports,
        tests=tests, bill=bill, notes=notes, seconds=seconds)
    _write(result, out)
    return result


def _threshold(con, config: ScaleConfig, metric: str, has_validation: bool,
               notes: list[str]) -> tuple[float, int, str]:
    """The threshold, how many users can be weak, and the SQL condition for them."""
    half = f"md5_number_lower(CAST(user_id AS VARCHAR) || ':{int(config.seed)}') % 2"
    if has_validation:
        col, where, judged = _quote(f"val_{metric}"), "TRUE", "TRUE"
    else:
        col, where, judged = _quote(metric), f"{half} = 0", f"{half} = 1"
    if config.weak_threshold is not None:
        value = float(config.weak_threshold)
    else:
        value = con.execute(f"SELECT quantile_cont({col}, {config.weak_percentile / 100!r}) "
                            f"FROM _ws_base WHERE {where} AND {col} IS NOT NULL").fetchone()[0]
        if value is None:
            raise AnalysisError(NO_SELECTION.format(metric=col.strip('"')))
    n_sel, n_judged = con.execute(
        f"SELECT count_if({where}), count_if({judged}) FROM _ws_base "
        f"WHERE {col} IS NOT NULL").fetchone()
    if not has_validation:
        notes.append(HALF_NOTE.format(metric=metric, n_selection=n_sel, n_judged=n_judged))
    return float(value), int(n_judged), judged


def _report(con, config: ScaleConfig, metric: str, dims: list[Dimension],
            where: str = "TRUE") -> SubgroupReport:
    """One dimension (or a crossed pair) summarised from its counts of the test metric."""
    m = _quote(metric)
    if len(dims) == 1:
        code, levels = _quote("code_" + dims[0].name), [[lab] for lab in dims[0].labels]
        code = dims[0].sql if dims[0].name == "weak" else code
    else:
        a, b = dims
        width = len(b.labels)
        code = f"{_quote('code_' + a.name)} * {width} + {_quote('code_' + b.name)}"
        levels = [[x, y] for x in a.labels for y in b.labels]
    counts = con.execute(
        f"SELECT {code} AS code, {m} AS value, count(*) AS n, count_if(weak) AS n_weak "
        f"FROM _ws_pu WHERE {m} IS NOT NULL AND {where} GROUP BY ALL").df()
    n_excluded = con.execute(f"SELECT count(*) FROM _ws_pu WHERE {m} IS NULL AND {where}"
                             ).fetchone()[0]
    dimension = dims[0].name if len(dims) == 1 else (dims[0].name, dims[1].name)
    return counted_report(counts, levels, dimension, metric, n_excluded=n_excluded,
                          n_boot=config.n_boot, ci=config.ci, seed=config.seed,
                          min_group_size=config.min_group_size)


def _write(r: ScaleAnalysis, out: Path) -> None:
    """``subgroups.csv``, ``tests.csv`` and ``summary.json`` next to the Parquet outputs."""
    rows = []
    for rep in [r.weak_vs_rest, *r.subgroups]:
        label = rep.dimension if isinstance(rep.dimension, str) else \
            INTERSECTION.join(rep.dimension)
        by = rep.by_group[["group", "size", "mean", "median", "ci_low", "ci_high",
                           "weak_share", "reliable"]]
        rows.append(by.assign(dimension=label))
    table = pd.concat(rows, ignore_index=True)
    table[["dimension", *table.columns[:-1]]].to_csv(out / "subgroups.csv", index=False)
    r.tests.to_csv(out / "tests.csv", index=False)
    wr = r.weak_vs_rest.by_group.set_index("group")
    est = r.bill.estimate

    def _num(x):
        return None if x is None or (isinstance(x, float) and not np.isfinite(x)) else x

    summary = {
        "kind": "imported_at_scale",
        "name": r.config.name,
        "config": asdict(r.config),
        "users": r.test.n_users,
        "evaluated": r.test.n_evaluated,
        "means": {m: _num(v) for m, v in r.test.means.items()},
        "std_errors": {m: _num(v) for m, v in r.test.std_errors.items()},
        "validation_means": None if r.validation is None else
        {m: _num(v) for m, v in r.validation.means.items()},
        "weak": {"threshold": r.threshold, "n_weak": r.n_weak, "n_judged": r.n_judged,
                 "share": r.n_weak / r.n_judged if r.n_judged else None,
                 "test_mean": {g: _num(float(wr.loc[g, "mean"])) for g in wr.index},
                 "test_ci": {g: [_num(float(wr.loc[g, "ci_low"])),
                                 _num(float(wr.loc[g, "ci_high"]))] for g in wr.index}},
        "llm_bill": {"model": est.model, "prompts": r.bill.n_prompts,
                     "weak_without_list": r.bill.n_without_list,
                     "mean_input_tokens": r.bill.mean_input_tokens,
                     "expected_usd": est.expected_usd, "upper_bound_usd": est.upper_bound_usd,
                     "history": r.bill.history, "note": est.note,
                     "tokens": "approximate: 3.5 characters a token"},
        "notes": r.notes,
        "seconds": {k: round(v, 3) for k, v in r.seconds.items()},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (out / "report.html").write_text(export_report(r))
