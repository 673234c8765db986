"""Scenario by user subgroup: the mean pair NDCG of every (scenario, group) cell."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.scenarios._pairs import ScenarioPairs
from analysis.subgroups import MIN_GROUP_SIZE, group_codes

__all__ = ["UNKNOWN_BY", "ScenarioHeatmap", "scenario_heatmap"]

UNKNOWN_BY = "Heat map dimension {by!r} is not a column of the per-user table; available: {available}."


@dataclass(frozen=True)
class ScenarioHeatmap:
    """Mean pair ``ndcg@k`` per (scenario, group of ``by``).

    Attributes:
        table: one row per cell (scenarios in code order, groups in category order):
            ``scenario``, ``group`` (str), ``size`` (pairs with a test value), ``mean`` (NaN
            when empty) and ``reliable`` (``size >= min_group_size``; a smaller cell is shown
            greyed and never named worst).
        by: the per-user dimension.
        metric: the pair metric.
        min_group_size: the reliability threshold.
    """

    table: pd.DataFrame
    by: str
    metric: str
    min_group_size: int

    @property
    def worst(self) -> tuple[str, str] | None:
        """(scenario, group) of the reliable cell with the lowest mean, None without one."""
        ok = self.table[self.table["reliable"]]
        if not len(ok):
            return None
        row = ok.iloc[int(np.argmin(ok["mean"].to_numpy()))]
        return str(row["scenario"]), str(row["group"])

    def grid(self, values: str = "mean") -> pd.DataFrame:
        """``values`` as a scenario x group grid; unreliable cells NaN for ``mean``."""
        t = self.table.assign(mean=self.table["mean"].where(self.table["reliable"]))
        return t.pivot(index="scenario", columns="group", values=values)


def scenario_heatmap(pairs: ScenarioPairs, per_user: pd.DataFrame, by: str = "activity", *,
                     min_group_size: int = MIN_GROUP_SIZE) -> ScenarioHeatmap:
    """Cross the pair table's scenarios with a per-user dimension (``by``, a column of
    ``per_user``, index user_idx); means over the pairs with a test value.

    Raises:
        AnalysisError: ``by`` is not a column of ``per_user``.
    """
    if by not in per_user.columns:
        raise AnalysisError(UNKNOWN_BY.format(by=by, available=", ".join(map(str, per_user.columns))))
    metric = pairs.metric
    t = pairs.table
    codes, labels = group_codes(per_user[by])
    row = per_user.index.get_indexer(t["user_idx"].to_numpy())
    g = np.where(row >= 0, codes[np.maximum(row, 0)], len(labels))
    if (row < 0).any():
        labels = [*labels, "unknown"]
    x = t[metric].to_numpy(np.float64)
    ok = ~np.isnan(x)
    n_s, n_g = len(pairs.scenario_names), len(labels)
    cell = t["scenario_code"].to_numpy(np.int64) * n_g + g
    size = np.bincount(cell[ok], minlength=n_s * n_g)
    total = np.bincount(cell[ok], weights=x[ok], minlength=n_s * n_g)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(size > 0, total / np.maximum(size, 1), np.nan)
    table = pd.DataFrame({
        "scenario": np.repeat(np.asarray(pairs.scenario_names, dtype=object), n_g),
        "group": np.tile(np.asarray(labels, dtype=object), n_s),
        "size": size.astype(np.int64), "mean": mean,
        "reliable": size >= min_group_size,
    })
    return ScenarioHeatmap(table=table, by=by, metric=metric, min_group_size=int(min_group_size))
