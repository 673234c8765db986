"""The synthetic interactions: (user, item) pairs from each user's taste, then ratings and
timestamps.

Private helper of :mod:`analysis.ingest.synthetic`; the draws come from the caller's
generator in a fixed order (the order is part of the output).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from analysis.ingest._synth_catalog import Catalog
from analysis.ingest._synth_users import NicheClusters, Tastes

T0 = 1_640_995_200  # 2022-01-01 00:00:00 UTC
SPAN = 730 * 86_400  # two years
#: taste-model rounds of topping up users who lost picks to duplicates; later rounds are uniform
TASTE_ROUNDS = 4
TOP_UP_ROUNDS = 10


@dataclass(frozen=True)
class TasteModel:
    """How one pick of a user is drawn.

    A mainstream pick takes a liked genre (by the user's Dirichlet weights), then an item of
    that genre by popularity; a share ``background_share`` of mainstream picks is drawn from
    global popularity instead. A niche user's pick is mainstream with probability
    ``niche_mainstream_share``; otherwise half fall in the user's niche cluster and half
    uniformly in the tail.
    """

    catalog: Catalog
    tastes: Tastes
    clusters: NicheClusters
    is_niche: np.ndarray
    background_share: float
    niche_mainstream_share: float
    niche_cluster_items: int

    def draw(self, rng: np.random.Generator, users: np.ndarray) -> np.ndarray:
        """One item per entry of ``users``, from that user's taste model."""
        cat, nm, bgs = self.catalog, self.niche_mainstream_share, self.background_share
        s = len(users)
        u1, u2, u3 = rng.random(s), rng.random(s), rng.random(s)
        niche = self.is_niche[users]
        # mode: 0 liked genre, 1 global popularity, 2 own niche cluster, 3 any tail item
        v = np.where(niche, u3 / nm if nm > 0 else 1.0, u3)  # < 1: a mainstream pick
        mode = np.where(v < 1, np.where(v < bgs, 1, 0), np.where(u3 < nm + (1 - nm) / 2, 2, 3))
        item = np.empty(s, dtype=np.int64)
        m = np.nonzero(mode == 0)[0]
        um, x = users[m], u1[m]
        liked_cdf = self.tastes.liked_cdf
        slot = (x > liked_cdf[um, 0]).astype(np.int64) + (x > liked_cdf[um, 1])
        pos = np.searchsorted(
            cat.genre_cdf, self.tastes.liked[um, slot] + u2[m] * (1 - 1e-12), side="left"
        )
        item[m] = cat.member_item[np.minimum(pos, len(cat.member_item) - 1)]
        m = np.nonzero(mode == 1)[0]
        item[m] = np.searchsorted(cat.global_cdf, u2[m] * (1 - 1e-12), side="left").clip(
            0, len(cat.pop_rank) - 1
        )
        m = np.nonzero(mode == 2)[0]
        item[m] = self.clusters.cluster_items[
            self.clusters.cluster_of[users[m]], (u1[m] * self.niche_cluster_items).astype(np.int64)
        ]
        m = np.nonzero(mode == 3)[0]
        item[m] = cat.tail_items[(u2[m] * len(cat.tail_items)).astype(np.int64)]
        return item


def _distinct(keys: np.ndarray) -> np.ndarray:
    """``keys`` sorted in place, repeats removed."""
    keys.sort()
    return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys


def draw_pairs(
    rng: np.random.Generator, model: TasteModel, want: np.ndarray, n_items: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(user_idx, item_idx)``: ``want[u]`` distinct items per user where the catalogue allows.

    Every user draws ``want[u]`` picks; picks repeating a (user, item) pair are dropped and
    the users short of their count draw again, from their taste for :data:`TASTE_ROUNDS`
    rounds, then uniformly, for at most :data:`TOP_UP_ROUNDS` rounds in all. The pairs come
    sorted by key for the first draw, then each top-up round's pairs (the caller sorts).
    """
    n_users = len(want)
    users = np.repeat(np.arange(n_users, dtype=np.int64), want)
    keys = _distinct(users * n_items + model.draw(rng, users))  # sorted, unique pair keys
    extra = np.zeros(0, dtype=np.int64)  # sorted, unique, disjoint from keys
    for round_ in range(TOP_UP_ROUNDS):  # top up users who lost picks to duplicates
        short = want - np.bincount(keys // n_items, minlength=n_users)
        short -= np.bincount(extra // n_items, minlength=n_users)
        if not short.any():
            break
        users = np.repeat(np.arange(n_users, dtype=np.int64), short)
        # taste model first; later rounds draw uniformly (tiny or very concentrated catalogs)
        picks = (model.draw(rng, users) if round_ < TASTE_ROUNDS
                 else rng.integers(0, n_items, len(users)))  # fmt: skip
        new = _distinct(users * n_items + picks)  # <= short[u] new pairs per user
        for old in (keys, extra):
            if len(old):
                pos = np.searchsorted(old, new).clip(0, len(old) - 1)
                new = new[old[pos] != new]
        extra = np.sort(np.concatenate((extra, new)))
    keys = np.concatenate((keys, extra))  # unsorted now; the final sort is by user and time
    return keys // n_items, keys % n_items


def draw_ratings(
    rng: np.random.Generator,
    model: TasteModel,
    u_idx: np.ndarray,
    i_idx: np.ndarray,
    user_bias: np.ndarray,
    head_share: float,
) -> np.ndarray:
    """float32 ratings 1-5: ``rint(2.8 + 1.1 * taste + user bias + item quality + noise)``,
    where ``taste`` is a liked genre, or a tail item for a niche user."""
    cat, n_items = model.catalog, len(model.catalog.pop_rank)
    taste = ((cat.item_mask[i_idx] & model.tastes.user_mask[u_idx]) != 0) | model.is_niche[
        u_idx
    ] & (cat.pop_rank[i_idx] >= head_share * n_items)
    quality = rng.normal(0.0, 0.35, n_items)
    latent = (
        2.8 + 1.1 * taste + user_bias[u_idx] + quality[i_idx] + rng.normal(0.0, 0.75, len(u_idx))
    )
    return np.clip(np.rint(latent), 1, 5).astype(np.float32)


def draw_timestamps(
    rng: np.random.Generator, u_idx: np.ndarray, n_users: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(order, ts)``: each user is active in a window inside the two-year span (longer for
    heavier users) and their interactions fall at random in it. ``order`` sorts the pairs by
    user then time; ``ts`` (int64 Unix seconds) is already in that order."""
    have = np.bincount(u_idx, minlength=n_users)
    frac = np.clip(
        0.03 + 0.97 * rng.beta(0.9, 1.6, n_users) * np.minimum(1, have / 40) ** 0.3, 0.01, 1.0
    )
    dur = (frac * SPAN).astype(np.int64)
    start = T0 + (rng.random(n_users) * (SPAN - dur)).astype(np.int64)
    off = rng.integers(0, 1 << 31, len(u_idx), dtype=np.int64)
    order = np.argsort((u_idx << 31) | off, kind="stable")  # by user, then random offset
    u_sorted, off = u_idx[order], off[order]
    ts = start[u_sorted] + (off * dur[u_sorted]) // (1 << 31)
    return order, ts.astype(np.int64)
