"""A sampled run's subgroup reports with design-based means and intervals, and its summary."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.subgroups._grouping import INTERSECTION, crossed_codes
from analysis.subgroups._report import SubgroupReport
from analysis.subgroups.sampling._draw import SampleConfig, UserSample
from analysis.subgroups.sampling._estimate import Estimate, domain_means, project_weak_users

__all__ = ["SampleSummary", "design_report", "report_of_table", "sample_of_table",
           "summarise_sample"]


def sample_of_table(table: pd.DataFrame) -> UserSample | None:
    """The sample a run's per-user table records (``sample_stratum``, ``sampled``), or None
    for a run over every user."""
    if "sample_stratum" not in table or "sampled" not in table:
        return None
    return UserSample.from_columns(table["sample_stratum"], table["sampled"].to_numpy(bool),
                                   SampleConfig())


def report_of_table(table: pd.DataFrame, metric: str, grouping, *, weak: np.ndarray,
                    min_group_size: int, seed: int = 0) -> SubgroupReport:
    """:func:`analysis.subgroups.subgroup_report` of a run's per-user table, design-based
    (:func:`design_report`) when the run evaluated a sample: what a page shows of any run."""
    from analysis.subgroups import subgroup_report

    report = subgroup_report(table, metric, grouping, weak=weak, seed=seed,
                             min_group_size=min_group_size)
    sample = sample_of_table(table)
    return report if sample is None else design_report(report, table, sample, weak=weak)


def design_report(
    report: SubgroupReport,
    table: pd.DataFrame,
    sample: UserSample,
    *,
    weak: np.ndarray | None = None,
    ci: float = 0.95,
) -> SubgroupReport:
    """The report of a sampled run with every mean, interval and weak share design-based.

    ``mean`` becomes the stratified domain mean, ``ci_low``/``ci_high`` its normal interval
    with the finite population correction (replacing the bootstrap, which ignores the
    sampling), ``weak_share`` the weighted share; ``population`` (estimated evaluated users
    of the group in the frame) and ``ci_half_width`` are added. ``size``, ``median``,
    ``reliable``, the Gini and the test stay those of the sampled users; the extremes, worst
    group, difference and ratio are recomputed from the new means.
    """
    dims = (report.dimension,) if isinstance(report.dimension, str) else report.dimension
    codes, levels = crossed_codes(table, dims)
    y = table[report.metric].to_numpy(np.float64, na_value=np.nan)
    est = domain_means(sample, y, codes, len(levels), ci)
    zero = np.zeros(len(y), dtype=np.int64)
    overall = domain_means(sample, y, zero, 1, ci)
    by_group = report.by_group.copy()
    index = {INTERSECTION.join(lv): i for i, lv in enumerate(levels)}
    rows = by_group["group"].map(index).to_numpy(np.int64)
    by_group["mean"], by_group["ci_low"], by_group["ci_high"] = (
        est.mean[rows],
        est.low[rows],
        est.high[rows],
    )
    by_group["population"] = est.population[rows]
    by_group["ci_half_width"] = (est.high[rows] - est.low[rows]) / 2.0
    summary = report.overall.copy()
    summary[["mean", "ci_low", "ci_high"]] = [overall.mean[0], overall.low[0], overall.high[0]]
    if weak is not None:
        flags = np.where(np.isnan(y), np.nan, np.asarray(weak, np.float64))
        by_group["weak_share"] = domain_means(sample, flags, codes, len(levels), ci).mean[rows]
        summary["weak_share"] = domain_means(sample, flags, zero, 1, ci).mean[0]
    reliable = by_group[by_group["reliable"]]
    if len(reliable):
        means = reliable["mean"].to_numpy()
        worst, gmin, gmax = (
            str(reliable["group"].iloc[int(np.argmin(means))]),
            means.min(),
            means.max(),
        )
    else:
        worst, gmin, gmax = None, float("nan"), float("nan")
    return dataclasses.replace(
        report,
        overall=summary,
        by_group=by_group,
        worst_group=worst,
        group_min=float(gmin),
        group_max=float(gmax),
        difference=float(gmax - gmin),
        ratio=float(gmin / gmax) if gmax != 0 else float("nan"),
    )


@dataclass(frozen=True)
class SampleSummary:
    """What a sampled run tells the analyst about its sample and its precision.

    Attributes:
        sample: the drawn sample.
        metric: the reported metric (``ndcg@k``).
        overall: the metric's stratified mean over the frame's evaluated users.
        weak_users: the projected weak users of the frame (:func:`project_weak_users`).
        n_weak_sampled: weak users in the sample.
        group_half_width_median, group_half_width_max: the median and widest half-width of
            the design intervals over every reported group (NaN without one).
    """

    sample: UserSample
    metric: str
    overall: Estimate
    weak_users: Estimate
    n_weak_sampled: int
    group_half_width_median: float
    group_half_width_max: float

    def to_json(self) -> dict:
        """The ``sample`` block of a run's summary (plain numbers and strings)."""
        cfg = self.sample.config
        return {
            "n_frame": self.sample.n_frame,
            "n_sampled": self.sample.n_sampled,
            "fraction": self.sample.n_sampled / max(self.sample.n_frame, 1),
            "by": list(cfg.by),
            "seed": int(cfg.seed),
            "min_per_stratum": int(cfg.min_per_stratum),
            "n_strata": len(self.sample.strata),
            "interval": "stratified design-based, normal, finite population correction",
            "metric": self.metric,
            "overall": dataclasses.asdict(self.overall),
            "weak_users_projected": dataclasses.asdict(self.weak_users),
            "n_weak_sampled": int(self.n_weak_sampled),
            "group_half_width_median": self.group_half_width_median,
            "group_half_width_max": self.group_half_width_max,
            "strata": [
                {"stratum": str(h), "population": int(big), "sampled": int(n), "weight": float(w)}
                for h, big, n, w in self.sample.strata.itertuples(index=False)
            ],
        }


def summarise_sample(
    sample: UserSample,
    table: pd.DataFrame,
    metric: str,
    weak: np.ndarray,
    reports: list[SubgroupReport],
    ci: float = 0.95,
) -> SampleSummary:
    """The :class:`SampleSummary` of a sampled run from its per-user table, weak mask and
    design-based reports (:func:`design_report`)."""
    y = table[metric].to_numpy(np.float64, na_value=np.nan)
    m = domain_means(sample, y, np.zeros(len(y), dtype=np.int64), 1, ci)
    halves = np.concatenate(
        [r.by_group["ci_half_width"].to_numpy(np.float64) for r in reports] or [np.zeros(0)]
    )
    halves = halves[np.isfinite(halves)]
    return SampleSummary(
        sample=sample,
        metric=metric,
        overall=Estimate(float(m.mean[0]), float(m.se[0]), float(m.low[0]), float(m.high[0]), ci),
        weak_users=project_weak_users(sample, weak, ci),
        n_weak_sampled=int((np.asarray(weak, bool) & sample.sampled).sum()),
        group_half_width_median=float(np.median(halves)) if len(halves) else float("nan"),
        group_half_width_max=float(halves.max()) if len(halves) else float("nan"),
    )
