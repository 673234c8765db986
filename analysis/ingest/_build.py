"""Build a dataset's tables from its opened inputs: stage, check, merge duplicates, k-core,
side tables; and the report of what they hold.

Private helper of :mod:`analysis.ingest`, run on the ingest's private database (see
:mod:`analysis.ingest._ingest`). Duplicate (user, item) rows merge: explicit ratings keep the
latest rating by timestamp (ties: the higher rating; no timestamps: the mean), counts are
summed, the timestamp is the latest, the scenario that of the latest row (see
:mod:`analysis.ingest._scenario`). The optional k-core filter repeats until every user and
item has at least k interactions.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import duckdb

from analysis.dataset import FeedbackKind
from analysis.errors import AnalysisError, surface_hints
from analysis.ingest._columns import ColumnMapping
from analysis.ingest._formats import NO_DATA_ROWS, Source
from analysis.ingest._scenario import check_scenarios, scenario_merge_sql
from analysis.ingest._side import store_side
from analysis.ingest._stage import decide_id_type, raise_problem, staged_select
from analysis.ingest._text_rows import diagnose_text_failure
from analysis.ingest._timestamps import checked_ts_scale

KCORE_EMPTY = (
    "{file}: the {k}-core filter removed all {n} interactions (no set of users and items has "
    "{k} interactions each); lower kcore or use 0 to switch it off."
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

#: how duplicate (user, item) rows merge their values, per feedback kind
_VALUE_MERGE = {"explicit": "avg(value)", "count": "sum(value)", "implicit": "CAST(NULL AS DOUBLE)"}
#: relevant interactions per feedback kind (bound parameter: the threshold)
_RELEVANT = {
    "explicit": "count(*) FILTER (WHERE rating >= ?)",
    "count": "count(*) FILTER (WHERE rating > 0 OR ? IS NULL)",
    "implicit": "count(*) FILTER (WHERE ? IS NOT NULL)",
}


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
        n_scenarios: distinct scenarios stored (0 without a scenario column).
        pairs_in_several_scenarios: stored (user, item) pairs whose rows were in more than
            one scenario (they keep the latest one's).
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
    n_scenarios: int = 0
    pairs_in_several_scenarios: int = 0

    @property
    def has_scenarios(self) -> bool:
        return self.mapping.scenario is not None


def check_relevant(
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


def _stage_rows(
    con: duckdb.DuckDBPyConnection, src: Source, m: ColumnMapping, types: dict[str, str]
) -> tuple[int, float | None]:
    """Stage the interactions as ``_ws_stage``; ``(rows read, largest |numeric timestamp|)``.

    Raises:
        AnalysisError: no data rows, or a row with a problem (the first, with its row).
    """
    try:
        con.execute(f"CREATE TEMP TABLE _ws_stage AS {staged_select(src.from_sql, m, types)}")
    except duckdb.Error as exc:
        raise diagnose_text_failure(src, exc) from exc
    n_read, problem, max_ts = con.execute(
        "SELECT count(*), min(problem) FILTER (WHERE problem > 0), "
        "max(abs(ts_num)) FILTER (WHERE isfinite(ts_num)) FROM _ws_stage"
    ).fetchall()[0]
    if n_read == 0:
        raise AnalysisError(NO_DATA_ROWS.format(file=src.label))
    if problem:
        raise_problem(con, src, m, types, int(problem))
    return n_read, max_ts


def _merge_duplicates(
    con: duckdb.DuckDBPyConnection, m: ColumnMapping, scale: float, ucast: str, icast: str
) -> int:
    """Merge ``_ws_stage`` into one row per (user, item) as ``_ws_agg``; the rows left."""
    if m.value_kind == "explicit" and m.timestamp:
        value_agg = "arg_max(value, (ts, value))"
    else:
        value_agg = _VALUE_MERGE[m.value_kind]
    ts_sql = (
        f"coalesce(CAST(floor(ts_num / {scale!r}) AS BIGINT), ts_dt)"
        if m.timestamp
        else "CAST(NULL AS BIGINT)"
    )
    scen_col, scen_agg = scenario_merge_sql(m)
    con.execute(
        f"CREATE TEMP TABLE _ws_agg AS SELECT user_id, item_id, {value_agg} AS rating, "
        f"max(ts) AS ts{scen_agg} FROM (SELECT {ucast} AS user_id, {icast} AS item_id, value, "
        f"{ts_sql} AS ts{scen_col} FROM _ws_stage) GROUP BY user_id, item_id"
    )
    con.execute("DROP TABLE _ws_stage")
    return con.execute("SELECT count(*) FROM _ws_agg").fetchall()[0][0]


def _kcore(con: duckdb.DuckDBPyConnection, kcore: int, n_groups: int, label: str) -> int:
    """Delete from ``_ws_agg`` until every user and item has ``kcore`` rows; rows removed.

    Raises:
        AnalysisError: the filter removed every row (:data:`KCORE_EMPTY`).
    """
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
            raise AnalysisError(KCORE_EMPTY.format(file=label, k=kcore, n=n_groups))
    return n_removed


def build_tables(
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
    n_read, max_ts = _stage_rows(con, src, m, types)
    user_type, ucast = decide_id_type(con, "user_id", src)
    item_type, icast = decide_id_type(con, "item_id", src)
    scale = checked_ts_scale(con, src, m, types, max_ts)
    if scale != 1.0:
        unit = {1e3: "milliseconds", 1e6: "microseconds", 1e9: "nanoseconds"}[scale]
        warnings.append(f"{src.label}: timestamps in {m.timestamp!r} read as {unit}")
    check_scenarios(con, src, m)
    kind: FeedbackKind = m.value_kind  # type: ignore[assignment]
    n_groups = _merge_duplicates(con, m, scale, ucast, icast)
    n_removed = _kcore(con, kcore, n_groups, src.label)
    n_users, n_items, n_inter, n_relevant = con.execute(
        f"SELECT count(DISTINCT user_id), count(DISTINCT item_id), count(*), {_RELEVANT[kind]} "
        f"FROM _ws_agg",
        [threshold],
    ).fetchall()[0]
    check_relevant(con, src, m, threshold, n_relevant)
    n_scen = n_several = 0
    if m.scenario:
        n_scen, n_several = con.execute(
            "SELECT count(DISTINCT scenario), count(*) FILTER (WHERE several_scenarios) "
            "FROM _ws_agg"
        ).fetchall()[0]
    con.execute(
        "CREATE TABLE interactions AS SELECT user_id, item_id, "
        "CAST(rating AS DOUBLE) AS rating, CAST(ts AS BIGINT) AS ts"
        f"{', scenario' if m.scenario else ''} FROM _ws_agg"
    )
    if side_users is not None:
        store_side(con, side_users, "user", user_type, "users", warnings)
    if side_items is not None:
        store_side(con, side_items, "item", item_type, "items", warnings)
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
        n_scenarios=int(n_scen),
        pairs_in_several_scenarios=int(n_several),
    )
