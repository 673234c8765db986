"""The draw of a stratified user sample: its settings, the allocation to strata, the seeded
simple random samples, and the split whose unsampled users are no longer evaluated."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError, surface_hints
from analysis.split import TEST, VALIDATION, Split
from analysis.subgroups._checks import check_columns, check_count
from analysis.subgroups._grouping import INTERSECTION, group_codes

__all__ = [
    "DEFAULT_MIN_PER_STRATUM",
    "DEFAULT_SAMPLE_BY",
    "UNSAMPLED",
    "SampleConfig",
    "UserSample",
    "allocate",
    "evaluation_frame",
    "sample_users",
    "sampled_split",
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

    @property
    def stratum_labels(self) -> pd.Categorical:
        """Each user's stratum label (NaN outside the frame): ``per_user``'s
        ``sample_stratum``, from which :meth:`from_columns` rebuilds the sample."""
        return pd.Categorical.from_codes(self.stratum, categories=self.strata["stratum"])

    @classmethod
    def from_columns(
        cls, stratum: pd.Series, sampled: np.ndarray, config: SampleConfig
    ) -> UserSample:
        """The sample recorded in a run's per-user table (``sample_stratum``, ``sampled``):
        ``N_h`` and ``n_h`` are counted back, so a loaded run projects like a fresh one."""
        cat = pd.Categorical(stratum)
        codes = np.asarray(cat.codes, dtype=np.int64)
        flags = np.asarray(sampled, dtype=bool)
        n_strata = len(cat.categories)
        inside = codes >= 0
        pop = np.bincount(codes[inside], minlength=n_strata)
        n_h = np.bincount(codes[inside & flags], minlength=n_strata)
        strata = pd.DataFrame(
            {
                "stratum": [str(c) for c in cat.categories],
                "population": pop,
                "sampled": n_h,
                "weight": pop / np.maximum(n_h, 1),
            }
        )
        return cls(config=config, stratum=codes, sampled=flags & inside, strata=strata)


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
        raise AnalysisError(
            TOO_SMALL.format(size=size, n_strata=len(pop), m=m, needed=int(lo.sum()))
        )
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
    strata = pd.DataFrame(
        {"stratum": labels, "population": pop, "sampled": n_h, "weight": pop / np.maximum(n_h, 1)}
    )
    return UserSample(config=config, stratum=stratum, sampled=sampled, strata=strata)


def sampled_split(split: Split, sample: UserSample) -> Split:
    """The split with the validation and test interactions of unsampled users moved to fold
    :data:`UNSAMPLED`: the evaluation scores only sampled users; training is untouched."""
    fold = np.asarray(split.fold).copy()
    drop = ~sample.sampled[split.dataset.user_idx] & ((fold == VALIDATION) | (fold == TEST))
    fold[drop] = UNSAMPLED
    return dataclasses.replace(split, fold=fold.astype(np.int8))
