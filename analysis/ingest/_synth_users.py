"""The synthetic users: the niche group, attributes, tastes, niche clusters and activity.

Private helper of :mod:`analysis.ingest.synthetic`; each function is one planted structure,
drawn from the caller's generator in a fixed order (the order is part of the output).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analysis.ingest._synth_catalog import weighted_distinct

AGE_BANDS: tuple[str, ...] = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
AGE_SHARES = np.array([0.17, 0.30, 0.22, 0.15, 0.10, 0.06])
GENDERS: tuple[str, ...] = ("F", "M", "X")
GENDER_SHARES = np.array([0.48, 0.48, 0.04])
COUNTRIES: tuple[str, ...] = (
    "US",
    "GB",
    "DE",
    "IN",
    "BR",
    "FR",
    "CA",
    "JP",
    "ES",
    "MX",
    "AU",
    "NL",
)
COUNTRY_SHARES = np.array([0.30, 0.11, 0.09, 0.09, 0.07, 0.07, 0.06, 0.06, 0.05, 0.04, 0.03, 0.03])
#: the attribute values the niche group over-represents, and how strongly (tilt share)
NICHE_COUNTRY, NICHE_COUNTRY_TILT = "BR", 0.35
NICHE_AGE, NICHE_AGE_TILT = "18-24", 0.30


@dataclass(frozen=True)
class Attributes:
    """One value per user of each demographic attribute (``str`` arrays)."""

    age_band: np.ndarray
    gender: np.ndarray
    country: np.ndarray


@dataclass(frozen=True)
class Tastes:
    """Each user's liked genres.

    Attributes:
        liked: ``(n_users, 3)`` distinct genre ids.
        liked_cdf: ``(n_users, 3)`` cumulative Dirichlet weights of the three genres.
        user_mask: bitmask of the liked genres whose weight exceeds 0.15.
    """

    liked: np.ndarray
    liked_cdf: np.ndarray
    user_mask: np.ndarray


@dataclass(frozen=True)
class NicheClusters:
    """Small clusters of tail items, each shared by about ``niche_cluster_users`` users.

    Attributes:
        n_clusters: how many clusters.
        cluster_of: ``(n_users,)`` each user's cluster (used by niche users only).
        cluster_items: ``(n_clusters, niche_cluster_items)`` tail item ids per cluster.
    """

    n_clusters: int
    cluster_of: np.ndarray
    cluster_items: np.ndarray


def row_choice(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """One categorical draw per row of the probability matrix ``p`` (rows sum to 1)."""
    c = np.cumsum(p, axis=1)
    u = rng.random(len(p))[:, None] * c[:, -1:]
    return (u >= c).sum(axis=1).clip(0, p.shape[1] - 1)


def draw_niche_group(rng: np.random.Generator, n_users: int, niche_share: float) -> np.ndarray:
    """``(n_users,)`` bool: ``round(niche_share * n_users)`` users picked uniformly."""
    n_niche = round(niche_share * n_users)
    is_niche = np.zeros(n_users, dtype=bool)
    is_niche[rng.choice(n_users, size=n_niche, replace=False)] = True
    return is_niche


def _tilted(shares: np.ndarray, values: tuple[str, ...], value: str, tilt: float) -> np.ndarray:
    """``shares`` scaled by ``1 - tilt`` with ``tilt`` added to ``value``'s share."""
    out = shares * (1 - tilt)
    out[values.index(value)] += tilt
    return out


def draw_attributes(rng: np.random.Generator, is_niche: np.ndarray) -> Attributes:
    """Country, age band and gender with skewed shares; niche users' country and age shares
    tilt towards :data:`NICHE_COUNTRY` and :data:`NICHE_AGE` (over-represented, not
    exclusive)."""
    c_niche = _tilted(COUNTRY_SHARES, COUNTRIES, NICHE_COUNTRY, NICHE_COUNTRY_TILT)
    a_niche = _tilted(AGE_SHARES, AGE_BANDS, NICHE_AGE, NICHE_AGE_TILT)
    country_p = np.where(is_niche[:, None], c_niche[None, :], COUNTRY_SHARES[None, :])
    age_p = np.where(is_niche[:, None], a_niche[None, :], AGE_SHARES[None, :])
    country = np.array(COUNTRIES)[row_choice(rng, country_p)]
    age_band = np.array(AGE_BANDS)[row_choice(rng, age_p)]
    gender = np.array(GENDERS)[rng.choice(3, size=len(is_niche), p=GENDER_SHARES)]
    return Attributes(age_band=age_band, gender=gender, country=country)


def draw_tastes(rng: np.random.Generator, n_users: int, genre_logw: np.ndarray) -> Tastes:
    """Three distinct liked genres per user with Dirichlet(0.5) weights (the low-rank
    mainstream taste)."""
    liked = weighted_distinct(rng, genre_logw, n_users, 3)  # (n_users, 3) genre ids
    liked_w = rng.dirichlet(np.full(3, 0.5), size=n_users)
    user_mask = np.zeros(n_users, dtype=np.int64)
    for j in range(3):
        user_mask |= np.left_shift(1, liked[:, j]) * (liked_w[:, j] > 0.15)
    return Tastes(liked=liked, liked_cdf=np.cumsum(liked_w, axis=1), user_mask=user_mask)


def draw_niche_clusters(
    rng: np.random.Generator,
    n_users: int,
    n_niche: int,
    tail_items: np.ndarray,
    niche_cluster_users: int,
    niche_cluster_items: int,
) -> NicheClusters:
    """``round(n_niche / niche_cluster_users)`` clusters (at least one) of
    ``niche_cluster_items`` tail items each, and a cluster per user."""
    n_clusters = max(1, round(n_niche / niche_cluster_users))
    cluster_of = rng.integers(0, n_clusters, n_users)
    cluster_items = tail_items[rng.integers(0, len(tail_items), (n_clusters, niche_cluster_items))]
    return NicheClusters(n_clusters=n_clusters, cluster_of=cluster_of, cluster_items=cluster_items)


def draw_activity(
    rng: np.random.Generator,
    n_users: int,
    n_items: int,
    mean_interactions: float,
    min_interactions: int,
    activity_sigma: float,
) -> np.ndarray:
    """``(n_users,)`` int64 interactions wanted per user: ``min_interactions`` plus a
    lognormal extra of mean ``mean_interactions - min_interactions`` (rounded at random),
    capped at ``max(min_interactions, n_items // 3)``."""
    sigma = float(activity_sigma)
    mu = math.log(max(mean_interactions - min_interactions, 1e-9)) - sigma**2 / 2
    extra = rng.lognormal(mu, sigma, n_users) if mean_interactions > min_interactions else 0.0
    cap = min(max(min_interactions, n_items // 3), n_items)
    want = np.minimum(min_interactions + np.floor(extra + rng.random(n_users)), cap)
    return want.astype(np.int64)
