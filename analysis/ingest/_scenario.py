"""The optional scenario column at ingest: its check and how duplicate pairs merge it.

Private helper of :mod:`analysis.ingest`. A scenario is the surface, domain or category an
interaction happened in (``home``, ``search``, ``books``); it is stored as text in the
workspace's interactions table (column ``scenario``, absent for a dataset without one, so a
workspace written before scenarios existed loads unchanged), and
:func:`analysis.ingest.load_dataset` turns it into int16 codes in sorted name order.

Duplicate (user, item) rows keep the scenario of their latest interaction; ties on the
timestamp go to the smallest scenario name. Without timestamps no row is "latest" (DuckDB
gives no input order to rely on), so the pair keeps the smallest scenario name among its rows.
Either way the pairs seen in more than one scenario are counted
(``IngestReport.pairs_in_several_scenarios``).
"""

from __future__ import annotations

import duckdb

from analysis.errors import AnalysisError, surface_hints
from analysis.ingest._columns import ColumnMapping
from analysis.ingest._formats import Source

#: the most distinct scenarios a dataset may have; more is an id column, not a scenario
MAX_SCENARIOS = 1000
TOO_MANY_SCENARIOS = surface_hints(
    "{file}: the scenario column {column!r} holds {n:,} distinct values (at most {limit:,}); it "
    "looks like an id, not a scenario; pick another column.",
    app="Choose another column under Scenario on the Data page, or (none).",
    cli='Name another column with --scenario-col NAME, or pass --scenario-col "" for none.',
)


def check_scenarios(con: duckdb.DuckDBPyConnection, src: Source, m: ColumnMapping) -> int:
    """The number of distinct scenarios in ``_ws_stage`` (0 without a scenario column).

    Raises:
        AnalysisError: more than :data:`MAX_SCENARIOS` (:data:`TOO_MANY_SCENARIOS`).
    """
    if not m.scenario:
        return 0
    n = con.execute("SELECT count(DISTINCT scenario) FROM _ws_stage").fetchall()[0][0]
    if n > MAX_SCENARIOS:
        raise AnalysisError(
            TOO_MANY_SCENARIOS.format(file=src.label, column=m.scenario, n=n, limit=MAX_SCENARIOS)
        )
    return int(n)


def scenario_merge_sql(m: ColumnMapping) -> tuple[str, str]:
    """``(inner column, aggregates)`` SQL merging a pair's scenarios (module docstring): the
    aggregates give ``scenario`` and ``several_scenarios`` (whether the rows disagree)."""
    if not m.scenario:
        return "", ""
    latest = "arg_min(scenario, (-ts, scenario))" if m.timestamp else "min(scenario)"
    return (
        ", scenario",
        f", {latest} AS scenario, min(scenario) <> max(scenario) AS several_scenarios",
    )
