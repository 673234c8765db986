"""A stratified sample of users when even streaming is too slow, with its sampling error stated.

Only users the evaluation would score (the *frame*: a relevant validation or test interaction)
are sampled; the model is still fitted on every user's training data. The frame is split into
strata by the subgroup dimensions the analyst picks (their levels crossed), the sample size is
allocated to strata proportionally with at least ``m`` users each, and each stratum is a seeded
simple random sample without replacement. A sampled user of stratum ``h`` carries the weight
``w_h = N_h / n_h`` (``N_h`` frame users, ``n_h`` sampled).

Estimators (stratified SRSWOR, ``f_h = n_h / N_h``, ``s^2`` with ``ddof = 1``, normal interval
``value +- z_{(1+ci)/2} * se``):

* total of ``y``: ``T = sum_h N_h ybar_h``, ``V(T) = sum_h N_h^2 (1 - f_h) s_h^2(y) / n_h``;
* mean of ``y`` over a domain ``d`` (a subgroup's evaluated users, whose membership is random
  in each stratum): the ratio ``ybar_d = sum_i w_i d_i y_i / N_d`` with ``N_d = sum_i w_i d_i``
  and the linearised variance ``V = sum_h N_h^2 (1 - f_h) s_h^2(z) / n_h`` of
  ``z_i = d_i (y_i - ybar_d) / N_d`` over all sampled users of ``h`` (zero outside ``d``).

A census stratum (``n_h = N_h``) adds no variance (the finite population correction is 0).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from analysis.errors import AnalysisError, surface_hints
from analysis.split import TEST, VALIDATION, Split
from analysis.subgroups._checks import check_columns, check_count
from analysis.subgroups._grouping import INTERSECTION, crossed_codes, group_codes
from analysis.subgroups._report import SubgroupReport

__all__ = [
    "DEFAULT_MIN_PER_STRATUM",
    "DEFAULT_SAMPLE_BY",
    "UNSAMPLED",
    "DomainMeans",
    "Estimate",
    "SampleConfig",
    "SampleSummary",
    "UserSample",
    "allocate",
    "design_report",
    "domain_means",
    "estimate_total",
    "evaluation_frame",
    "project_llm_cost",
    "project_weak_users",
    "sample_users",
    "sampled_split",
    "summarise_sample",
]

#: fold code of the held-out interactions of frame users left out of the sample (never scored)
UNSAMPLED = 3
#: smallest stratum sample (2: a stratum's variance needs two users); smaller strata in full
DEFAULT_MIN_PER_STRATUM = 2
DEFAULT_SAMPLE_BY = ("activity",)

SIZE_OR_FRACTION = surface_hints(
    "A user sample needs exactly one of a size or a fraction; got size {size!r} and "
    "fraction {fraction!r}.",
    cli="Give --sample-size N or --sample-fraction F, not both.",
)
BAD_FRACTION = "The sample fraction must lie in (0, 1], got {value!r}."
BAD_SIZE = "The sample size must be a whole number >= 1, got {value!r}."
BAD_MIN = "The smallest stratum sample must be a whole number >= 2, got {value!r}."
TOO_SMALL = surface_hints(
    "A sample of {size:,} users cannot give each of the {n_strata} strata its {m} users "
    "(at least {needed:,} needed).",
    cli="Raise --sample-size to {needed} or sample by fewer dimensions (--sample-by).",
)
EMPTY_FRAME = "No user has a validation or test interaction to sample; check the split."
BAD_VALUES = "The values to estimate from must be one number per user ({n}); got shape {shape}."


@dataclass(frozen=True)
class SampleConfig:
    """How to sample users (JSON-able).

    Attributes:
        size: users to sample (exclusive with ``fraction``).
        fraction: share of the frame to sample, in ``(0, 1]``; ``round(fraction * N)`` users.
        by: subgroup dimensions (feature columns) whose crossed levels are the strata.
        seed: the draw's seed.
        min_per_stratum: ``m``, the smallest sample of a stratum (a stratum of fewer users
            is taken whole).
    """

    size: int | None = None
    fraction: float | None = None
    by: tuple[str, ...] = DEFAULT_SAMPLE_BY
    seed: int = 0
    min_per_stratum: int = DEFAULT_MIN_PER_STRATUM

    def target(self, n_frame: int) -> int:
        """Users to sample from a frame of ``n_frame`` (at most ``n_frame``)."""
        if (self.size is None) == (self.fraction is None):
            raise AnalysisError(SIZE_OR_FRACTION.format(size=self.size, fraction=self.fraction))
        if self.fraction is not None:
            if not 0.0 < float(self.fraction) <= 1.0:
                raise AnalysisError(BAD_FRACTION.format(value=self.fraction))
            return max(1, min(n_frame, round(float(self.fraction) * n_frame)))
        return min(n_frame, check_count(self.size, 1, BAD_SIZE))


@dataclass(frozen=True)
class UserSample:
    """A drawn stratified sample of users.

    Attributes:
        config: how it was drawn.
        stratum: int64 per user (``user_idx`` order): stratum code, -1 outside the frame.
        sampled: bool per user.
        strata: one row per stratum (code order): ``stratum`` (label, levels joined by
            ``" × "``), ``population`` (``N_h``), ``sampled`` (``n_h``), ``weight``
            (``N_h / n_h``).
    """

    config: SampleConfig
    stratum: np.ndarray
    sampled: np.ndarray
    strata: pd.DataFrame

    @property
    def n_frame(self) -> int:
        return int(self.strata["population"].sum())

    @property
    def n_sampled(self) -> int:
        return int(self.sampled.sum())

    @property
    def weight(self) -> np.ndarray:
        """float64 per user: ``N_h / n_h`` for a sampled user, 0 otherwise."""
        w = self.strata["weight"].to_numpy(np.float64)
        return np.where(self.sampled, w[np.maximum(self.stratum, 0)], 0.0)


@dataclass(frozen=True)
class Estimate:
    """A design-based estimate: ``value``, its standard error and its ``ci`` interval."""

    value: float
    se: float
    low: float
    high: float
    ci: float = 0.95

    @property
    def half_width(self) -> float:
        return (self.high - self.low) / 2.0


@dataclass(frozen=True)
class DomainMeans:
    """Stratified domain means of ``G`` domains (arrays of length ``G``).

    Attributes:
        mean, se, low, high: the ratio estimator, its linearised standard error, its interval.
        n: sampled users in the domain; population: its estimated size ``N_d``.
    """

    mean: np.ndarray
    se: np.ndarray
    low: np.ndarray
    high: np.ndarray
    n: np.ndarray
    population: np.ndarray


def allocate(population: np.ndarray, size: int, m: int = DEFAULT_MIN_PER_STRATUM) -> np.ndarray:
    """Proportional allocation of ``size`` users to strata of ``population`` users, each at
    least ``min(m, N_h)`` and at most ``N_h``.

    Strata whose proportional share ``size * N_h / N`` falls below their minimum (or above
    ``N_h``) are fixed there and the rest of the size is shared again among the others, until
    nothing changes; shares are rounded by largest remainder (ties to the lower stratum code),
    so the allocation sums to ``size`` exactly. ``[50, 30, 20]`` with 10 -> ``[5, 3, 2]``;
    ``[97, 2, 1]`` with 10 and ``m = 2`` -> ``[7, 2, 1]``.

    Raises:
        AnalysisError: ``size`` is below ``sum_h min(m, N_h)``.
    """
    pop = np.asarray(population, dtype=np.int64)
    lo = np.minimum(m, pop)
    if size < lo.sum():
        raise AnalysisError(TOO_SMALL.format(size=size, n_strata=len(pop), m=m,
                                             needed=int(lo.sum())))
    fixed = np.zeros(len(pop), dtype=bool)
    alloc = lo.copy()
    for _ in range(len(pop) + 1):  # each pass fixes at least one more stratum or stops
        free = ~fixed
        left = size - alloc[fixed].sum()
        share = left * pop[free] / max(pop[free].sum(), 1)
        below, above = share < lo[free], share > pop[free]
        if not (below.any() or above.any()):
            base = np.floor(share).astype(np.int64)
            rest = int(left - base.sum())
            order = np.lexsort((np.arange(len(share)), -(share - base)))
            base[order[:rest]] += 1
            alloc[free] = base
            return alloc
        idx = np.flatnonzero(free)
        alloc[idx[below]], alloc[idx[above]] = lo[idx[below]], pop[idx[above]]
        fixed[idx[below | above]] = True
    return alloc  # pragma: no cover - the loop always returns


def evaluation_frame(split: Split) -> np.ndarray:
    """bool per user: a relevant validation or test interaction (the users the evaluation
    scores, the frame a sample is drawn from)."""
    return (np.diff(split.validation.indptr) > 0) | (np.diff(split.test.indptr) > 0)


def _strata_codes(table: pd.DataFrame, by: tuple[str, ...]) -> tuple[np.ndarray, list[str]]:
    """Codes ``0..H-1`` of the non-empty crossed levels (mixed radix, first dimension slowest)
    and their labels."""
    parts = [group_codes(table[d]) for d in by]
    mixed = np.zeros(len(table), dtype=np.int64)
    for c, labels in parts:
        mixed = mixed * max(len(labels), 1) + c
    uniq, codes = np.unique(mixed, return_inverse=True)
    names = []
    for u in uniq.tolist():  # one label per stratum, never per user
        levels = []
        for _, labels in reversed(parts):
            u, c = divmod(u, max(len(labels), 1))
            levels.append(labels[c])
        names.append(INTERSECTION.join(reversed(levels)))
    return codes.reshape(-1).astype(np.int64), names


def sample_users(table: pd.DataFrame, frame: np.ndarray, config: SampleConfig) -> UserSample:
    """Draw a stratified sample of the frame's users.

    Strata are the non-empty crossed levels of ``config.by`` among frame users (NaN levels
    are ``"unknown"``). Within each stratum the first ``n_h`` users by a seeded uniform key
    (``default_rng(config.seed)``, one key per frame user, in ``user_idx`` order) are taken:
    a simple random sample without replacement, the same for the same seed.

    Args:
        table: one row per user (``user_idx`` order) holding the ``by`` columns, e.g.
            :attr:`~analysis.subgroups.UserFeatures.table`.
        frame: bool per user, the users that may be sampled (:func:`evaluation_frame`).
        config: size or fraction, dimensions, seed, minimum per stratum.

    Returns:
        A :class:`UserSample`.

    Raises:
        AnalysisError: unknown dimension, bad size/fraction/minimum, an empty frame, or a
            size too small for the strata.
    """
    check_columns(table, config.by)
    m = check_count(config.min_per_stratum, 2, BAD_MIN)
    frame = np.asarray(frame, dtype=bool)
    users = np.flatnonzero(frame)
    if not len(users):
        raise AnalysisError(EMPTY_FRAME)
    size = config.target(len(users))
    codes, labels = _strata_codes(table.iloc[users], tuple(config.by))
    pop = np.bincount(codes, minlength=len(labels))
    n_h = allocate(pop, size, m)
    key = np.random.default_rng(config.seed).random(len(users))
    order = np.lexsort((key, codes))
    starts = np.concatenate([[0], np.cumsum(pop)])[:-1]
    rank = np.empty(len(users), dtype=np.int64)
    rank[order] = np.arange(len(users)) - starts[codes[order]]
    stratum = np.full(len(frame), -1, dtype=np.int64)
    stratum[users] = codes
    sampled = np.zeros(len(frame), dtype=bool)
    sampled[users] = rank < n_h[codes]
    strata = pd.DataFrame({"stratum": labels, "population": pop, "sampled": n_h,
                           "weight": pop / np.maximum(n_h, 1)})
    return UserSample(config=config, stratum=stratum, sampled=sampled, strata=strata)


def sampled_split(split: Split, sample: UserSample) -> Split:
    """The split with the validation and test interactions of unsampled users moved to fold
    :data:`UNSAMPLED`: the evaluation scores only sampled users; training is untouched."""
    fold = np.asarray(split.fold).copy()
    drop = ~sample.sampled[split.dataset.user_idx] & ((fold == VALIDATION) | (fold == TEST))
    fold[drop] = UNSAMPLED
    return dataclasses.replace(split, fold=fold.astype(np.int8))


def _z(ci: float) -> float:
    return float(stats.norm.ppf(0.5 + ci / 2.0))


def _values(sample: UserSample, y: np.ndarray) -> np.ndarray:
    v = np.asarray(y, dtype=np.float64)
    if v.shape != sample.sampled.shape:
        raise AnalysisError(BAD_VALUES.format(n=len(sample.sampled), shape=v.shape))
    return v


def _stratum_terms(sample: UserSample) -> tuple[np.ndarray, np.ndarray]:
    """``(N_h, n_h)`` as float arrays and the per-stratum factor ``N_h^2 (1 - f_h) / n_h``."""
    pop = sample.strata["population"].to_numpy(np.float64)
    n = sample.strata["sampled"].to_numpy(np.float64)
    return n, pop**2 * (1.0 - n / pop) / np.maximum(n, 1)


def estimate_total(sample: UserSample, y: np.ndarray, ci: float = 0.95) -> Estimate:
    """Stratified estimate of ``sum_frame y`` from the sampled users' ``y`` (formula in the
    module docstring); ``y`` is one value per user (read only where sampled, finite)."""
    v = _values(sample, y)
    s, h = sample.sampled, sample.stratum[sample.sampled]
    n_strata = len(sample.strata)
    n, factor = _stratum_terms(sample)
    s1 = np.bincount(h, weights=v[s], minlength=n_strata)
    s2 = np.bincount(h, weights=v[s] ** 2, minlength=n_strata)
    var_h = np.where(n > 1, (s2 - s1**2 / np.maximum(n, 1)) / np.maximum(n - 1, 1), 0.0)
    total = float((sample.strata["weight"].to_numpy(np.float64) * s1).sum())
    se = float(np.sqrt(max((factor * var_h).sum(), 0.0)))
    half = _z(ci) * se
    return Estimate(total, se, total - half, total + half, ci)


def domain_means(
    sample: UserSample, y: np.ndarray, groups: np.ndarray, n_groups: int, ci: float = 0.95
) -> DomainMeans:
    """Stratified ratio estimates of the mean of ``y`` in each domain ``g`` (the sampled
    users with ``groups == g`` and a finite ``y``), with linearised variances (module
    docstring). A domain without a sampled user gets NaN; one whose users all sit in census
    strata gets ``se = 0``.

    Args:
        sample: the drawn sample.
        y: one value per user (NaN: outside every domain, e.g. not evaluated).
        groups: int64 group code per user (``0..n_groups-1``).
        n_groups: number of domains.
        ci: interval coverage.
    """
    v = _values(sample, y)
    inside = sample.sampled & np.isfinite(v) & (np.asarray(groups) >= 0)
    h, g = sample.stratum[inside], np.asarray(groups, dtype=np.int64)[inside]
    x, w = v[inside], sample.weight[inside]
    n_d = np.bincount(g, minlength=n_groups).astype(np.int64)
    pop_d = np.bincount(g, weights=w, minlength=n_groups)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(g, weights=w * x, minlength=n_groups) / pop_d
    n, factor = _stratum_terms(sample)
    cell = h * n_groups + g
    size = len(sample.strata) * n_groups
    e = x - mean[g]
    s1 = np.bincount(cell, weights=e, minlength=size).reshape(-1, n_groups)
    s2 = np.bincount(cell, weights=e**2, minlength=size).reshape(-1, n_groups)
    nh = n[:, None]
    var_h = np.where(nh > 1, (s2 - s1**2 / np.maximum(nh, 1)) / np.maximum(nh - 1, 1), 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        se = np.sqrt(np.maximum((factor[:, None] * var_h).sum(axis=0), 0.0)) / pop_d
    half = _z(ci) * se
    return DomainMeans(mean, se, mean - half, mean + half, n_d, pop_d)


def project_weak_users(sample: UserSample, weak: np.ndarray, ci: float = 0.95) -> Estimate:
    """Weak users of the whole frame: the stratified total of the weak flag (the rule's
    threshold taken as given), interval clipped below at the sampled weak count."""
    est = estimate_total(sample, np.asarray(weak, dtype=np.float64), ci)
    floor = float((np.asarray(weak, bool) & sample.sampled).sum())
    return dataclasses.replace(est, low=max(est.low, floor))


def project_llm_cost(
    sample: UserSample,
    weak: np.ndarray,
    usd: np.ndarray | float,
    *,
    usd_se: float = 0.0,
    ci: float = 0.95,
) -> Estimate:
    """LLM cost of reranking every weak user of the frame, in dollars.

    With a per-user cost (e.g. :attr:`analysis.gains.per_user_cost.PerUserCost.usd` of the
    sampled run's dry run), the projection is the stratified total of ``weak_u * usd_u``: it
    equals the projected weak users times their weighted mean cost, and its variance holds
    both sources (who is weak and what each costs). With one cost per user ``c`` of standard
    error ``usd_se`` (a pilot's mean), it is ``c * W`` for the projected weak users ``W``,
    ``V = c^2 V(W) + W^2 se^2 + V(W) se^2`` (the two estimates independent).
    """
    w = np.asarray(weak, dtype=np.float64)
    if np.ndim(usd) == 0:
        weak_est = estimate_total(sample, w, ci)
        c, big_w = float(usd), weak_est.value
        var = c**2 * weak_est.se**2 + big_w**2 * usd_se**2 + weak_est.se**2 * usd_se**2
        se = float(np.sqrt(var))
        half = _z(ci) * se
        return Estimate(c * big_w, se, max(c * big_w - half, 0.0), c * big_w + half, ci)
    est = estimate_total(sample, w * _values(sample, usd), ci)
    return dataclasses.replace(est, low=max(est.low, 0.0))


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
        est.mean[rows], est.low[rows], est.high[rows])
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
        worst, gmin, gmax = str(reliable["group"].iloc[int(np.argmin(means))]), means.min(), means.max()
    else:
        worst, gmin, gmax = None, float("nan"), float("nan")
    return dataclasses.replace(
        report, overall=summary, by_group=by_group, worst_group=worst, group_min=float(gmin),
        group_max=float(gmax), difference=float(gmax - gmin),
        ratio=float(gmin / gmax) if gmax != 0 else float("nan"))


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
            "strata": self.sample.strata.to_dict(orient="records"),
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
        [r.by_group["ci_half_width"].to_numpy(np.float64) for r in reports]
        or [np.zeros(0)])
    halves = halves[np.isfinite(halves)]
    return SampleSummary(
        sample=sample,
        metric=metric,
        overall=Estimate(float(m.mean[0]), float(m.se[0]), float(m.low[0]), float(m.high[0]),
                         ci),
        weak_users=project_weak_users(sample, weak, ci),
        n_weak_sampled=int((np.asarray(weak, bool) & sample.sampled).sum()),
        group_half_width_median=float(np.median(halves)) if len(halves) else float("nan"),
        group_half_width_max=float(halves.max()) if len(halves) else float("nan"),
    )
