"""The stratified estimators of a user sample: totals, domain means, and the projections
of the weak users and their LLM cost (formulas in :mod:`analysis.subgroups.sampling`)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy import stats

from analysis.errors import AnalysisError
from analysis.subgroups.sampling._draw import UserSample

__all__ = [
    "DomainMeans",
    "Estimate",
    "domain_means",
    "estimate_total",
    "project_llm_cost",
    "project_weak_users",
]

BAD_VALUES = "The values to estimate from must be one number per user ({n}); got shape {shape}."


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
