"""The synthetic catalogue: item popularity, genres, titles and the per-genre sampling tables.

Private helper of :mod:`analysis.ingest.synthetic`; each function is one planted structure,
drawn from the caller's generator in a fixed order (the order is part of the output: the
same seed gives the same frames).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.ingest._synth_words import GENRE_WORDS

#: all available genres, in order; the first ``n_genres`` are used
GENRES: tuple[str, ...] = tuple(GENRE_WORDS)


@dataclass(frozen=True)
class Catalog:
    """The items of a synthetic log and what the taste model samples them from.

    Attributes:
        pop_rank: ``(n_items,)`` popularity rank of each item, 0 = most popular.
        item_genres: ``(n_items, 3)`` genre ids, ``-1`` past the item's one to three genres.
        genres: ``(n_items,)`` ``|``-separated genre names.
        titles: ``(n_items,)`` unique readable titles.
        item_mask: ``(n_items,)`` bitmask of the item's genres (bit ``g`` for genre ``g``).
        genre_cdf: popularity CDFs of the genres' member items laid end to end: genre ``g``
            occupies ``(g, g + 1]``, so ``searchsorted(genre_cdf, g + u)`` draws an item of
            genre ``g`` with probability proportional to its popularity.
        member_item: the item of each entry of ``genre_cdf``.
        global_cdf: ``(n_items,)`` popularity CDF over all items.
        tail_items: the items outside the ``head_share`` most popular.
    """

    pop_rank: np.ndarray
    item_genres: np.ndarray
    genres: np.ndarray
    titles: np.ndarray
    item_mask: np.ndarray
    genre_cdf: np.ndarray
    member_item: np.ndarray
    global_cdf: np.ndarray
    tail_items: np.ndarray


def genre_log_weights(n_genres: int) -> np.ndarray:
    """Log weights of the genres, linear from 2.0 down to 0.6: some genres are more common."""
    return np.log(np.linspace(2.0, 0.6, n_genres))


def weighted_distinct(rng: np.random.Generator, logw: np.ndarray, n_rows: int, k: int):
    """k distinct columns per row, drawn without replacement with weights exp(logw) (Gumbel)."""
    g = logw[None, :] + rng.gumbel(size=(n_rows, len(logw)))
    top = np.argpartition(-g, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(g, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def draw_popularity(rng: np.random.Generator, n_items: int, zipf_exponent: float):
    """``(pop_rank, weight)``: a random popularity rank per item (0 = most popular) and its
    Zipf-like weight ``weight(rank) = (rank + 1) ** -zipf_exponent``."""
    pop_rank = rng.permutation(n_items)
    return pop_rank, (pop_rank + 1.0) ** -zipf_exponent


def draw_genres(rng: np.random.Generator, n_items: int, genre_logw: np.ndarray) -> np.ndarray:
    """``(n_items, 3)`` genre ids: one to three distinct genres per item (55/35/10%), the
    more common genres likelier; ``-1`` fills the unused slots."""
    n_item_genres = rng.choice(3, size=n_items, p=[0.55, 0.35, 0.10]) + 1
    item_genres = weighted_distinct(rng, genre_logw, n_items, 3).astype(np.int64)
    item_genres[np.arange(3)[None, :] >= n_item_genres[:, None]] = -1
    return item_genres


def genres_column(item_genres: np.ndarray, n_genres: int) -> np.ndarray:
    """Each item's genre names joined by ``|``, in slot order."""
    names = np.array(GENRES[:n_genres] + ("",), dtype=object)  # index -1 -> ""
    gstr = names[item_genres]
    return (
        gstr[:, 0]
        + np.where(item_genres[:, 1] >= 0, "|" + gstr[:, 1], "")
        + np.where(item_genres[:, 2] >= 0, "|" + gstr[:, 2], "")
    )


def draw_titles(rng: np.random.Generator, item_genres: np.ndarray, n_genres: int) -> np.ndarray:
    """Unique readable titles: "[The ]<adjective of genre 1> <noun of genre 2>[ n]"."""
    names = GENRES[:n_genres]
    n_adj = len(GENRE_WORDS[names[0]][0])
    n_noun = len(GENRE_WORDS[names[0]][1])
    adjs = np.array([w for g in names for w in GENRE_WORDS[g][0]], dtype=object)
    nouns = np.array([w for g in names for w in GENRE_WORDS[g][1]], dtype=object)
    n = len(item_genres)
    g1 = item_genres[:, 0]
    g2 = np.where(item_genres[:, 1] >= 0, item_genres[:, 1], g1)
    swap = rng.random(n) < 0.5
    ga, gn = np.where(swap, g2, g1), np.where(swap, g1, g2)
    adj = adjs[ga * n_adj + rng.integers(0, n_adj, n)]
    noun = nouns[gn * n_noun + rng.integers(0, n_noun, n)]
    the = np.where(rng.random(n) < 0.4, "The ", "").astype(object)
    base = the + adj + " " + noun
    # repeats become sequels: 2nd "X" -> "X 2", 3rd -> "X 3" (base titles never end in a digit)
    k = pd.Series(base).groupby(base, sort=False).cumcount().to_numpy()
    seq = np.where(k > 0, " " + (k + 1).astype(str).astype(object), "").astype(object)
    return (base + seq).astype(object)


def genre_mask(item_genres: np.ndarray) -> np.ndarray:
    """Bitmask of each item's genres (bit ``g`` set for genre ``g``)."""
    item_mask = np.zeros(len(item_genres), dtype=np.int64)
    for j in range(3):
        g = item_genres[:, j]
        item_mask |= np.where(g >= 0, np.left_shift(1, np.maximum(g, 0)), 0)
    return item_mask


def genre_cdf(item_genres: np.ndarray, pop_w: np.ndarray, n_genres: int):
    """``(cdf, member_item)``: the per-genre popularity CDFs laid end to end (genre ``g``
    occupies ``(g, g + 1]``) and the item of each entry; see :class:`Catalog`."""
    mem_item = np.nonzero(item_genres.ravel() >= 0)[0]
    mem_genre, mem_item = item_genres.ravel()[mem_item], mem_item // 3
    order = np.lexsort((mem_item, mem_genre))
    mem_genre, mem_item = mem_genre[order], mem_item[order]
    w = pop_w[mem_item]
    cw = np.cumsum(w)
    gtot = np.bincount(mem_genre, weights=w, minlength=n_genres)
    gstart = np.concatenate(([0.0], np.cumsum(gtot)[:-1]))
    cdf = mem_genre + (cw - gstart[mem_genre]) / np.maximum(gtot[mem_genre], 1e-300)
    return cdf, mem_item


def draw_catalog(
    rng: np.random.Generator,
    n_items: int,
    n_genres: int,
    zipf_exponent: float,
    head_share: float,
    genre_logw: np.ndarray,
) -> Catalog:
    """The items: popularity, then genres, then titles (in that order from ``rng``), and the
    sampling tables derived from them."""
    pop_rank, pop_w = draw_popularity(rng, n_items, zipf_exponent)
    item_genres = draw_genres(rng, n_items, genre_logw)
    genres = genres_column(item_genres, n_genres)
    titles = draw_titles(rng, item_genres, n_genres)
    cdf, member_item = genre_cdf(item_genres, pop_w, n_genres)
    n_head = min(math.ceil(head_share * n_items), n_items - 1)
    return Catalog(
        pop_rank=pop_rank,
        item_genres=item_genres,
        genres=genres,
        titles=titles,
        item_mask=genre_mask(item_genres),
        genre_cdf=cdf,
        member_item=member_item,
        global_cdf=np.cumsum(pop_w) / pop_w.sum(),
        tail_items=np.nonzero(pop_rank >= n_head)[0],
    )
