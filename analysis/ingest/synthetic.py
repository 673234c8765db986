"""A synthetic interaction log with planted weak users: the zero-setup demo dataset.

:func:`generate_synthetic` draws a MovieLens-like log whose structure is known, so that every
later step (baseline, per-user metrics, subgroups, weak users) has something real to find:

* **Items** have Zipf-like popularity (``weight(rank) = rank ** -zipf_exponent``), one to three
  genres, and a readable, unique title built from per-genre word lists ("The Silent Harbor";
  repeats become sequels: "Neon Heist 2").
* **Users** have ``age_band``, ``gender`` and ``country`` with skewed shares, and a heavy-tailed
  (lognormal) number of interactions with a floor of ``min_interactions``, so most users are
  light and a few are very heavy.
* **Mainstream taste** (a low-rank model): each user likes up to three genres with Dirichlet
  weights; an interaction picks a liked genre, then an item of that genre with probability
  proportional to its popularity (a share ``background_share`` is drawn from global popularity).
  Collaborative filtering learns this well.
* **Niche taste** (the planted weak users, ``niche_share`` of users): most choices fall in the
  long tail (items outside the ``head_share`` most popular), half from a small cluster of tail
  items shared by only ~``niche_cluster_users`` users, half uniformly at random from the tail,
  so the structure is weakly shared and idiosyncratic. ALS serves these users far worse. The
  niche group is over-represented in one country (``"BR"``) and age band (``"18-24"``), but not
  exclusively, so subgroup analysis has a signal to find.
* **Ratings** are 1-5 (stored as float32), higher for items matching the user's taste (about
  55% are >= 4). **Timestamps** are Unix seconds: each user is active in a window inside a
  two-year span, and their interactions are spread over it.
* No (user, item) pair repeats. Users and items get ids ``1..n``.

Everything is drawn from one ``numpy.random.Generator`` seeded by ``seed``, with whole-array
operations only (no loop per user or item), so the same seed gives identical frames and 1M
users x 20M interactions take well under a minute.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError, surface_hints
from analysis.ingest._synth_words import GENRE_WORDS as _GENRE_WORDS

__all__ = [
    "AGE_BANDS",
    "COUNTRIES",
    "GENRES",
    "SyntheticData",
    "generate_synthetic",
    "write_synthetic",
]

# --- user-facing messages -------------------------------------------------------------------
BAD_PARAM = "Synthetic data: {name} must be {rule}, got {value!r}; pick a value in that range."
OUT_IS_FILE = surface_hints(
    "Synthetic data: the output folder {name!r} is an existing file.",
    cli="Give a folder path to --out (it is created if missing).",
)
OUT_NOT_WRITABLE = surface_hints(
    "Synthetic data: cannot write to the folder {name!r} ({reason}).",
    cli="Give another folder to --out.",
)

#: all available genres, in order; the first ``n_genres`` are used
GENRES: tuple[str, ...] = tuple(_GENRE_WORDS)

AGE_BANDS: tuple[str, ...] = ("18-24", "25-34", "35-44", "45-54", "55-64", "65+")
_AGE_SHARES = np.array([0.17, 0.30, 0.22, 0.15, 0.10, 0.06])
_GENDERS: tuple[str, ...] = ("F", "M", "X")
_GENDER_SHARES = np.array([0.48, 0.48, 0.04])
COUNTRIES: tuple[str, ...] = (
    "US", "GB", "DE", "IN", "BR", "FR", "CA", "JP", "ES", "MX", "AU", "NL",
)
_COUNTRY_SHARES = np.array(
    [0.30, 0.11, 0.09, 0.09, 0.07, 0.07, 0.06, 0.06, 0.05, 0.04, 0.03, 0.03]
)
#: the attribute values the niche group over-represents, and how strongly (tilt share)
_NICHE_COUNTRY, _NICHE_COUNTRY_TILT = "BR", 0.35
_NICHE_AGE, _NICHE_AGE_TILT = "18-24", 0.30

_T0 = 1_640_995_200  # 2022-01-01 00:00:00 UTC
_SPAN = 730 * 86_400  # two years


@dataclass(frozen=True)
class SyntheticData:
    """A generated log with its side tables and the planted ground truth.

    Attributes:
        interactions: one row per (user, item), sorted by ``user_id`` then ``timestamp``;
            columns ``user_id`` (int64), ``item_id`` (int64), ``rating`` (float32, 1-5),
            ``timestamp`` (int64, Unix seconds).
        users: one row per user; ``user_id`` (int64), ``age_band``, ``gender``, ``country`` (str).
        items: one row per item; ``item_id`` (int64), ``title`` (str, unique), ``genres``
            (str, ``|``-separated).
        niche_user_ids: sorted int64 ids of the planted niche users (ground truth; deliberately
            not a column of ``users``).
        params: the generator's parameters and a few realised statistics, JSON-able.
    """

    interactions: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame
    niche_user_ids: np.ndarray
    params: dict = field(default_factory=dict)


def _check(ok: bool, name: str, rule: str, value: object) -> None:
    if not ok:
        raise AnalysisError(BAD_PARAM.format(name=name, rule=rule, value=value))


def _weighted_distinct(rng: np.random.Generator, logw: np.ndarray, n_rows: int, k: int):
    """k distinct columns per row, drawn without replacement with weights exp(logw) (Gumbel)."""
    g = logw[None, :] + rng.gumbel(size=(n_rows, len(logw)))
    top = np.argpartition(-g, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(g, top, axis=1), axis=1)
    return np.take_along_axis(top, order, axis=1)


def _titles(
    rng: np.random.Generator, item_genres: np.ndarray, n_genres: int
) -> np.ndarray:
    """Unique readable titles: "[The ]<adjective of genre 1> <noun of genre 2>[ n]"."""
    names = GENRES[:n_genres]
    n_adj = len(_GENRE_WORDS[names[0]][0])
    n_noun = len(_GENRE_WORDS[names[0]][1])
    adjs = np.array([w for g in names for w in _GENRE_WORDS[g][0]], dtype=object)
    nouns = np.array([w for g in names for w in _GENRE_WORDS[g][1]], dtype=object)
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


def generate_synthetic(
    n_users: int = 5000,
    n_items: int = 2000,
    *,
    seed: int = 0,
    mean_interactions: float = 20.0,
    niche_share: float = 0.1,
    zipf_exponent: float = 1.0,
    n_genres: int = 16,
    min_interactions: int = 3,
    activity_sigma: float = 1.1,
    background_share: float = 0.05,
    head_share: float = 0.2,
    niche_cluster_users: int = 10,
    niche_cluster_items: int = 40,
    niche_mainstream_share: float = 0.25,
) -> SyntheticData:
    """Draw a synthetic log with planted mainstream and niche users (see module docstring).

    Args:
        n_users: number of users (ids ``1..n_users``).
        n_items: number of items (ids ``1..n_items``), at least 10.
        seed: seed of the single random generator; same seed -> identical frames.
        mean_interactions: target mean interactions per user (>= ``min_interactions``).
            Picks that repeat a (user, item) pair are redrawn (four rounds from the user's
            taste, then up to six uniform rounds), so the realised mean is at most slightly
            lower; a user never asks for more than ``max(min_interactions, n_items // 3)``.
        niche_share: share of users with niche taste, in [0, 1).
        zipf_exponent: popularity exponent ``a`` in ``weight(rank) = rank ** -a`` (>= 0).
        n_genres: number of genres used, 2..18.
        min_interactions: floor of the per-user count (>= 1).
        activity_sigma: sigma of the lognormal activity (larger: heavier tail).
        background_share: share of a mainstream user's picks drawn from global popularity.
        head_share: share of most popular items that niche users' tail picks avoid.
        niche_cluster_users: about how many niche users share one cluster of tail items.
        niche_cluster_items: items per niche cluster.
        niche_mainstream_share: share of a niche user's picks that follow the mainstream model.

    Returns:
        A :class:`SyntheticData`.

    Raises:
        AnalysisError: when a parameter is out of range (message :data:`BAD_PARAM`).
    """
    _check(isinstance(n_users, (int, np.integer)) and n_users >= 1, "n_users", "an integer >= 1",
           n_users)
    _check(isinstance(n_items, (int, np.integer)) and n_items >= 10, "n_items",
           "an integer >= 10", n_items)
    _check(1 <= min_interactions, "min_interactions", ">= 1", min_interactions)
    _check(math.isfinite(mean_interactions) and mean_interactions >= min_interactions,
           "mean_interactions", f">= min_interactions ({min_interactions})", mean_interactions)
    _check(0 <= niche_share < 1, "niche_share", "in [0, 1)", niche_share)
    _check(zipf_exponent >= 0, "zipf_exponent", ">= 0", zipf_exponent)
    _check(2 <= n_genres <= len(GENRES), "n_genres", f"between 2 and {len(GENRES)}", n_genres)
    _check(activity_sigma >= 0, "activity_sigma", ">= 0", activity_sigma)
    for name, v in (("background_share", background_share), ("head_share", head_share),
                    ("niche_mainstream_share", niche_mainstream_share)):
        _check(0 <= v < 1, name, "in [0, 1)", v)
    _check(niche_cluster_users >= 1, "niche_cluster_users", ">= 1", niche_cluster_users)
    _check(niche_cluster_items >= 1, "niche_cluster_items", ">= 1", niche_cluster_items)
    n_users, n_items, n_genres = int(n_users), int(n_items), int(n_genres)
    params = {
        "n_users": n_users, "n_items": n_items, "seed": int(seed),
        "mean_interactions": float(mean_interactions), "niche_share": float(niche_share),
        "zipf_exponent": float(zipf_exponent), "n_genres": n_genres,
        "min_interactions": int(min_interactions), "activity_sigma": float(activity_sigma),
        "background_share": float(background_share), "head_share": float(head_share),
        "niche_cluster_users": int(niche_cluster_users),
        "niche_cluster_items": int(niche_cluster_items),
        "niche_mainstream_share": float(niche_mainstream_share),
    }
    rng = np.random.default_rng(seed)

    # ---- items: popularity, genres, titles -------------------------------------------------
    pop_rank = rng.permutation(n_items)  # 0 = most popular
    pop_w = (pop_rank + 1.0) ** -zipf_exponent
    genre_logw = np.log(np.linspace(2.0, 0.6, n_genres))  # some genres are more common
    n_item_genres = rng.choice(3, size=n_items, p=[0.55, 0.35, 0.10]) + 1
    item_genres = _weighted_distinct(rng, genre_logw, n_items, 3).astype(np.int64)
    item_genres[np.arange(3)[None, :] >= n_item_genres[:, None]] = -1
    names = np.array(GENRES[:n_genres] + ("",), dtype=object)  # index -1 -> ""
    gstr = names[item_genres]
    genres_col = gstr[:, 0] + np.where(item_genres[:, 1] >= 0, "|" + gstr[:, 1], "") + np.where(
        item_genres[:, 2] >= 0, "|" + gstr[:, 2], "")
    titles = _titles(rng, item_genres, n_genres)
    item_mask = np.zeros(n_items, dtype=np.int64)
    for j in range(3):  # genre bitmask per item
        g = item_genres[:, j]
        item_mask |= np.where(g >= 0, np.left_shift(1, np.maximum(g, 0)), 0)

    # per-genre popularity CDFs laid end to end: genre g occupies (g, g + 1]
    mem_item = np.nonzero(item_genres.ravel() >= 0)[0]
    mem_genre, mem_item = item_genres.ravel()[mem_item], mem_item // 3
    order = np.lexsort((mem_item, mem_genre))
    mem_genre, mem_item = mem_genre[order], mem_item[order]
    w = pop_w[mem_item]
    cw = np.cumsum(w)
    gtot = np.bincount(mem_genre, weights=w, minlength=n_genres)
    gstart = np.concatenate(([0.0], np.cumsum(gtot)[:-1]))
    genre_cdf = mem_genre + (cw - gstart[mem_genre]) / np.maximum(gtot[mem_genre], 1e-300)
    global_cdf = np.cumsum(pop_w) / pop_w.sum()
    tail_items = np.nonzero(pop_rank >= min(int(math.ceil(head_share * n_items)), n_items - 1))[0]

    # ---- users: attributes, niche membership, tastes, activity -----------------------------
    n_niche = int(round(niche_share * n_users))
    is_niche = np.zeros(n_users, dtype=bool)
    is_niche[rng.choice(n_users, size=n_niche, replace=False)] = True
    c_niche = _COUNTRY_SHARES * (1 - _NICHE_COUNTRY_TILT)
    c_niche[COUNTRIES.index(_NICHE_COUNTRY)] += _NICHE_COUNTRY_TILT
    a_niche = _AGE_SHARES * (1 - _NICHE_AGE_TILT)
    a_niche[AGE_BANDS.index(_NICHE_AGE)] += _NICHE_AGE_TILT
    country_p = np.where(is_niche[:, None], c_niche[None, :], _COUNTRY_SHARES[None, :])
    age_p = np.where(is_niche[:, None], a_niche[None, :], _AGE_SHARES[None, :])
    country = np.array(COUNTRIES)[_row_choice(rng, country_p)]
    age_band = np.array(AGE_BANDS)[_row_choice(rng, age_p)]
    gender = np.array(_GENDERS)[rng.choice(3, size=n_users, p=_GENDER_SHARES)]

    liked = _weighted_distinct(rng, genre_logw, n_users, 3)  # (n_users, 3) genre ids
    liked_w = rng.dirichlet(np.full(3, 0.5), size=n_users)
    liked_cdf = np.cumsum(liked_w, axis=1)
    user_mask = np.zeros(n_users, dtype=np.int64)
    for j in range(3):
        user_mask |= np.left_shift(1, liked[:, j]) * (liked_w[:, j] > 0.15)
    n_clusters = max(1, int(round(n_niche / niche_cluster_users)))
    cluster_of = rng.integers(0, n_clusters, n_users)
    cluster_items = tail_items[rng.integers(0, len(tail_items), (n_clusters, niche_cluster_items))]

    sigma = float(activity_sigma)
    mu = math.log(max(mean_interactions - min_interactions, 1e-9)) - sigma**2 / 2
    extra = rng.lognormal(mu, sigma, n_users) if mean_interactions > min_interactions else 0.0
    cap = min(max(min_interactions, n_items // 3), n_items)
    want = np.minimum(min_interactions + np.floor(extra + rng.random(n_users)), cap)
    want = want.astype(np.int64)
    user_bias = rng.normal(0.0, 0.35, n_users)

    # ---- interactions: draw, remove duplicate pairs, top up a few rounds -------------------
    nm, bgs = niche_mainstream_share, background_share
    n_tail = len(tail_items)

    def draw(users: np.ndarray) -> np.ndarray:
        """One item per entry of ``users``, from that user's taste model."""
        s = len(users)
        u1, u2, u3 = rng.random(s), rng.random(s), rng.random(s)
        niche = is_niche[users]
        # mode: 0 liked genre, 1 global popularity, 2 own niche cluster, 3 any tail item
        v = np.where(niche, u3 / nm if nm > 0 else 1.0, u3)  # < 1: a mainstream pick
        mode = np.where(v < 1, np.where(v < bgs, 1, 0), np.where(u3 < nm + (1 - nm) / 2, 2, 3))
        item = np.empty(s, dtype=np.int64)
        m = np.nonzero(mode == 0)[0]
        um, x = users[m], u1[m]
        slot = (x > liked_cdf[um, 0]).astype(np.int64) + (x > liked_cdf[um, 1])
        pos = np.searchsorted(genre_cdf, liked[um, slot] + u2[m] * (1 - 1e-12), side="left")
        item[m] = mem_item[np.minimum(pos, len(mem_item) - 1)]
        m = np.nonzero(mode == 1)[0]
        item[m] = np.searchsorted(global_cdf, u2[m] * (1 - 1e-12), side="left").clip(
            0, n_items - 1)
        m = np.nonzero(mode == 2)[0]
        item[m] = cluster_items[cluster_of[users[m]],
                                (u1[m] * niche_cluster_items).astype(np.int64)]
        m = np.nonzero(mode == 3)[0]
        item[m] = tail_items[(u2[m] * n_tail).astype(np.int64)]
        return item

    def distinct(keys: np.ndarray) -> np.ndarray:
        keys.sort()
        return keys[np.concatenate(([True], keys[1:] != keys[:-1]))] if len(keys) else keys

    users = np.repeat(np.arange(n_users, dtype=np.int64), want)
    keys = distinct(users * n_items + draw(users))  # sorted, unique (user, item) keys
    extra = np.zeros(0, dtype=np.int64)  # sorted, unique, disjoint from keys
    for round_ in range(10):  # top up users who lost picks to duplicates
        short = want - np.bincount(keys // n_items, minlength=n_users)
        short -= np.bincount(extra // n_items, minlength=n_users)
        if not short.any():
            break
        users = np.repeat(np.arange(n_users, dtype=np.int64), short)
        # taste model first; later rounds draw uniformly (tiny or very concentrated catalogs)
        picks = draw(users) if round_ < 4 else rng.integers(0, n_items, len(users))
        new = distinct(users * n_items + picks)  # <= short[u] new pairs per user
        for old in (keys, extra):
            if len(old):
                pos = np.searchsorted(old, new).clip(0, len(old) - 1)
                new = new[old[pos] != new]
        extra = np.sort(np.concatenate((extra, new)))
    keys = np.concatenate((keys, extra))  # unsorted now; the final sort is by user and time
    u_idx, i_idx = keys // n_items, keys % n_items
    del keys, users, extra

    # ---- ratings and timestamps ------------------------------------------------------------
    n = len(u_idx)
    taste = ((item_mask[i_idx] & user_mask[u_idx]) != 0) | is_niche[u_idx] & (
        pop_rank[i_idx] >= head_share * n_items
    )
    quality = rng.normal(0.0, 0.35, n_items)
    latent = 2.8 + 1.1 * taste + user_bias[u_idx] + quality[i_idx] + rng.normal(0.0, 0.75, n)
    rating = np.clip(np.rint(latent), 1, 5).astype(np.float32)
    have = np.bincount(u_idx, minlength=n_users)
    frac = np.clip(0.03 + 0.97 * rng.beta(0.9, 1.6, n_users) * np.minimum(1, have / 40) ** 0.3,
                   0.01, 1.0)
    dur = (frac * _SPAN).astype(np.int64)
    start = _T0 + (rng.random(n_users) * (_SPAN - dur)).astype(np.int64)
    off = rng.integers(0, 1 << 31, n, dtype=np.int64)
    order = np.argsort((u_idx << 31) | off, kind="stable")  # by user, then random offset
    u_idx, i_idx, rating, off = u_idx[order], i_idx[order], rating[order], off[order]
    del order
    ts = start[u_idx] + (off * dur[u_idx]) // (1 << 31)

    interactions = pd.DataFrame({
        "user_id": u_idx + 1,
        "item_id": i_idx + 1,
        "rating": rating,
        "timestamp": ts.astype(np.int64),
    })
    users_df = pd.DataFrame({
        "user_id": np.arange(1, n_users + 1, dtype=np.int64),
        "age_band": pd.array(age_band, dtype="str"),
        "gender": pd.array(gender, dtype="str"),
        "country": pd.array(country, dtype="str"),
    })
    items_df = pd.DataFrame({
        "item_id": np.arange(1, n_items + 1, dtype=np.int64),
        "title": pd.array(titles, dtype="str"),
        "genres": pd.array(genres_col, dtype="str"),
    })
    params["realised"] = {
        "n_interactions": int(n),
        "n_niche_users": int(n_niche),
        "n_niche_clusters": int(n_clusters),
        "share_rating_ge_4": float((rating >= 4).mean()) if n else 0.0,
        "niche_over_represented": {"country": _NICHE_COUNTRY, "age_band": _NICHE_AGE},
    }
    return SyntheticData(
        interactions=interactions,
        users=users_df,
        items=items_df,
        niche_user_ids=(np.nonzero(is_niche)[0] + 1).astype(np.int64),
        params=params,
    )


def _row_choice(rng: np.random.Generator, p: np.ndarray) -> np.ndarray:
    """One categorical draw per row of the probability matrix ``p`` (rows sum to 1)."""
    c = np.cumsum(p, axis=1)
    u = rng.random(len(p))[:, None] * c[:, -1:]
    return (u >= c).sum(axis=1).clip(0, p.shape[1] - 1)


_README = (
    "Synthetic recommender log generated by weakspot (analysis/ingest/synthetic.py). interactions.parquet: "
    "user_id, item_id, rating (1-5), timestamp (Unix s). users.parquet: user_id, age_band, "
    "gender, country. items.parquet: item_id, title, genres ('|'-separated). planted.parquet: "
    "user_id, is_niche (the planted weak users; ground truth, not an input attribute)."
)


def write_synthetic(data: SyntheticData, out: str | Path) -> dict[str, Path]:
    """Write the frames as Parquet plus ``params.json`` into folder ``out`` (created if needed).

    Existing files of the same names are overwritten.

    Args:
        data: output of :func:`generate_synthetic`.
        out: destination folder.

    Returns:
        ``{"interactions", "users", "items", "planted", "params"}`` -> written path.

    Raises:
        AnalysisError: ``out`` is an existing file, or the folder cannot be written.
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise AnalysisError(OUT_IS_FILE.format(name=out.name))
    planted = pd.DataFrame({
        "user_id": data.users["user_id"].to_numpy(dtype=np.int64),
        "is_niche": np.isin(data.users["user_id"].to_numpy(), data.niche_user_ids),
    })
    paths = {name: out / f"{name}.parquet" for name in ("interactions", "users", "items",
                                                        "planted")}
    paths["params"] = out / "params.json"
    try:
        out.mkdir(parents=True, exist_ok=True)
        data.interactions.to_parquet(paths["interactions"], index=False)
        data.users.to_parquet(paths["users"], index=False)
        data.items.to_parquet(paths["items"], index=False)
        planted.to_parquet(paths["planted"], index=False)
        paths["params"].write_text(
            json.dumps({"readme": _README, "params": data.params}, indent=2) + "\n",
            encoding="utf-8",
        )
    except OSError as exc:
        raise AnalysisError(
            OUT_NOT_WRITABLE.format(name=out.name, reason=exc.strerror or exc)
        ) from exc
    return paths
