"""Taste categories, P2Rec's preference parsing without fine-tuning: k-means over item vectors
gives latent item categories, and each user's training items give a distribution over them.

Definitions (``X`` the binary training matrix, users x items; ``K`` categories):

* **item category**: rows of the item vectors are L2-normalised, then k-means
  (scikit-learn ``KMeans``, ``n_init=10``, ``random_state=seed``) clusters the items whose
  vector is not zero; an item with a zero vector gets category ``-1`` and is ignored
  everywhere. Clusters are renumbered by training popularity (the number of training
  interactions of their items), most popular first, ties to the cluster holding the lower
  item index, so category 0 is the most interacted-with one whatever k-means' numbering.
* **distribution** of user ``u``: ``p_uc = #{i in I_u : cat(i) = c} / #{i in I_u : cat(i) >= 0}``
  over the user's distinct training items ``I_u`` (one product ``X @ M`` with ``M`` the
  item-category indicator); a user without a categorised training item has all zeros.
* **dominant** category: ``argmax_c p_uc`` (ties to the lower index), ``-1`` for the all-zero
  users.
* **focus**: the dominant category's share ``max_c p_uc`` in ``[1/K, 1]`` (1: every item in
  one category); NaN for the all-zero users. Binned at fixed cut-offs (:data:`FOCUS_BINS`):
  ``focused`` (focus >= 0.5: most of the user's items in one category), ``mixed``
  (0.3 <= focus < 0.5), ``broad`` (focus < 0.3), ``none`` (no categorised item).
* **names**: a category is named after its three items with the most training interactions
  (ties to the lower index), ``"Star Wars (1977), Fargo (1996), Return of the Jedi (1983)"``,
  followed by its two most frequent genres over its items when the items table has a
  ``genres`` column (``" [Drama, Comedy]"``); its **short name** is ``"T<c+1> <first title>"``.

:func:`add_taste_columns` turns a :class:`TasteCategories` into two subgroup dimensions of a
per-user table (``taste_category``, ``taste_focus``) that :func:`taste_subgroups` reports like
any other dimension (:func:`~analysis.subgroups.subgroup_report`,
:func:`~analysis.subgroups.kruskal_family`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import scipy.sparse as sp

from analysis.errors import AnalysisError, surface_hints
from analysis.subgroups._checks import check_count
from analysis.subgroups._multiple import kruskal_family
from analysis.subgroups._report import MIN_GROUP_SIZE, SubgroupReport, subgroup_report

if TYPE_CHECKING:
    from analysis.runs.baseline import BaselineRun

__all__ = [
    "FOCUS_BINS",
    "NO_CATEGORY",
    "SOURCE_NAMES",
    "TASTE_DIMENSIONS",
    "TASTE_DIMENSIONS_NOTE",
    "TASTE_SOURCES",
    "TasteCategories",
    "TasteSubgroups",
    "add_taste_columns",
    "run_item_vectors",
    "taste_categories",
    "taste_sources",
    "taste_subgroups",
    "taste_table",
]

#: the label of users without a categorised training item
NO_CATEGORY = "none"
#: (label, lowest focus) from the most concentrated down; below the last cut-off: ``broad``
FOCUS_BINS = (("focused", 0.5), ("mixed", 0.3))
#: the two subgroup dimensions :func:`add_taste_columns` adds
TASTE_DIMENSIONS = ("taste_category", "taste_focus")
#: where a run's item vectors come from without an embedding store (:func:`run_item_vectors`)
TASTE_SOURCES = ("tfidf", "factors")
#: each source in words (for a page or a report)
SOURCE_NAMES = {"factors": "the run's item factors", "tfidf": "TF-IDF of the item texts"}
#: what the two dimensions are, in one paragraph (for a page or a report)
TASTE_DIMENSIONS_NOTE = (
    "Two more dimensions: each user's dominant taste category (k-means over the items' "
    "vectors, named after its most popular items) and how focused the user's taste is "
    "(focused: half or more of the training items in one category; mixed: 30-50%; broad: "
    "less)."
)
#: titles and genres in a category's name
N_NAME_ITEMS, N_NAME_GENRES = 3, 2
_SHORT_TITLE_CHARS = 40

BAD_CATEGORIES = "The number of taste categories must be an integer >= 2, got {value!r}."
BAD_SHAPES = (
    "The item vectors have {rows:,} rows for a training matrix of {n_items:,} items: give one "
    "vector per item."
)
TOO_FEW_ITEMS = (
    "Only {n:,} items have a non-zero vector, fewer than the {k} taste categories asked for; "
    "ask for fewer categories."
)
UNKNOWN_SOURCE = "Unknown taste vector source {source!r}: use tfidf or factors."
NO_FACTORS = surface_hints(
    "The run's {model!r} baseline has no item factors to cluster.",
    app="Choose TF-IDF as the source, or a run of a factor model (ALS, BPR, LMF, SASRec).",
    cli="Use --encoder tfidf, or a run of a factor model such as als.",
)


@dataclass(frozen=True)
class TasteCategories:
    """Latent item categories and every user's taste over them (see the module docstring).

    Attributes:
        item_category: int64 (n_items,) category of each item, ``-1`` for a zero vector.
        distribution: float64 (n_users, K) share of the user's categorised training items in
            each category; rows sum to 1, or are all zero.
        dominant: int64 (n_users,) argmax of the distribution (ties to the lower index),
            ``-1`` for an all-zero row.
        focus: float64 (n_users,) the dominant category's share, NaN for an all-zero row.
        names: K readable names (top titles, then genres).
        short_names: K short names ``"T1 Star Wars (1977)"``.
        popularity: int64 (K,) training interactions of each category's items.
        seed: the k-means seed.
    """

    item_category: np.ndarray
    distribution: np.ndarray
    dominant: np.ndarray
    focus: np.ndarray
    names: list[str]
    short_names: list[str]
    popularity: np.ndarray
    seed: int

    @property
    def n_categories(self) -> int:
        return len(self.names)

    @property
    def n_items(self) -> np.ndarray:
        """int64 (K,) items in each category."""
        cats = self.item_category[self.item_category >= 0]
        return np.bincount(cats, minlength=self.n_categories).astype(np.int64)

    @property
    def n_dominant(self) -> np.ndarray:
        """int64 (K,) users whose dominant category each is."""
        dom = self.dominant[self.dominant >= 0]
        return np.bincount(dom, minlength=self.n_categories).astype(np.int64)

    def table(self) -> pd.DataFrame:
        """One row per category: ``category`` (int), ``short_name``, ``name``, ``n_items``,
        ``popularity`` (training interactions), ``n_users_dominant``."""
        return pd.DataFrame({
            "category": np.arange(self.n_categories, dtype=np.int64),
            "short_name": self.short_names,
            "name": self.names,
            "n_items": self.n_items,
            "popularity": self.popularity,
            "n_users_dominant": self.n_dominant,
        })


def _kmeans(vectors: np.ndarray, k: int, seed: int) -> np.ndarray:
    from sklearn.cluster import KMeans

    km = KMeans(n_clusters=k, n_init=10, random_state=int(seed))
    return km.fit_predict(vectors).astype(np.int64)


def _title_of(items: pd.DataFrame | None, item_ids: np.ndarray | None, idx: np.ndarray) -> list:
    """Each item's title (one line), ``"item <raw id>"`` without one."""
    ids = np.asarray(idx) if item_ids is None else np.asarray(item_ids)[idx]
    fallback = ["item " + str(x) for x in ids]
    if items is None or "title" not in items.columns or not len(idx):
        return fallback
    titles = items["title"].iloc[idx].astype(object).to_numpy()
    return [" ".join(str(t).split()) if isinstance(t, str) and t.strip() else f
            for t, f in zip(titles, fallback)]


def _genre_names(items: pd.DataFrame | None, item_category: np.ndarray, k: int) -> list[str]:
    """The ``N_NAME_GENRES`` most frequent genres of each category's items (ties in name
    order), ``""`` without a genres column."""
    if items is None or "genres" not in items.columns:
        return [""] * k
    g = items["genres"].astype(object).where(items["genres"].notna(), "").astype(str)
    frame = pd.DataFrame({"category": item_category, "genre": g.str.split("|").to_numpy()})
    frame = frame[frame["category"] >= 0].explode("genre")
    frame["genre"] = frame["genre"].str.strip()
    frame = frame[frame["genre"] != ""]
    counts = frame.groupby(["category", "genre"]).size().rename("n").reset_index()
    counts = counts.sort_values(["category", "n", "genre"], ascending=[True, False, True])
    top = counts.groupby("category").head(N_NAME_GENRES).groupby("category")["genre"]
    joined = top.agg(", ".join)
    return [str(joined.get(c, "")) for c in range(k)]


def _names(item_category: np.ndarray, item_pop: np.ndarray, k: int,
           items: pd.DataFrame | None, item_ids: np.ndarray | None) -> tuple[list, list]:
    valid = np.flatnonzero(item_category >= 0)
    # within each category: most popular first, ties to the lower index
    order = valid[np.lexsort((valid, -item_pop[valid], item_category[valid]))]
    cats = item_category[order]
    starts = np.searchsorted(cats, np.arange(k))
    rank = np.arange(len(order)) - starts[cats]
    top = order[rank < N_NAME_ITEMS]
    titles = _title_of(items, item_ids, top)
    by_cat: list[list[str]] = [[] for _ in range(k)]
    for c, t in zip(item_category[top], titles):  # at most 3 per category
        by_cat[int(c)].append(t)
    genres = _genre_names(items, item_category, k)
    names = [", ".join(by_cat[c]) + (f" [{genres[c]}]" if genres[c] else "") for c in range(k)]
    short = []
    for c in range(k):
        first = by_cat[c][0] if by_cat[c] else ""
        if len(first) > _SHORT_TITLE_CHARS:
            first = first[: _SHORT_TITLE_CHARS - 1].rstrip() + "…"
        short.append(f"T{c + 1} {first}".strip())
    return names, short


def taste_categories(
    train: sp.csr_matrix,
    vectors: np.ndarray,
    *,
    n_categories: int = 8,
    seed: int = 0,
    items: pd.DataFrame | None = None,
    item_ids: np.ndarray | None = None,
) -> TasteCategories:
    """Cluster the items into taste categories and read each user's taste off its training
    items (definitions in the module docstring).

    Args:
        train: (n_users, n_items) training interactions; any stored entry counts as one.
        vectors: (n_items, d) item vectors (any encoder of :mod:`analysis.embeddings`, or a
            factor model's ``item_factors``).
        n_categories: K (>= 2).
        seed: k-means' ``random_state``; the same seed gives the same bytes.
        items: the dataset's items table (one row per item_idx; ``title``, ``genres``) for the
            names, or None (names ``"item <id>"``).
        item_ids: raw id per item_idx, for the names of items without a title.

    Returns:
        A :class:`TasteCategories`.

    Raises:
        AnalysisError: K < 2, a vector matrix of another length than the catalogue, or fewer
            items with a non-zero vector than K.
    """
    k = check_count(n_categories, 2, BAD_CATEGORIES)
    x = sp.csr_matrix(train)
    n_items = x.shape[1]
    v = np.asarray(vectors, dtype=np.float64)
    if v.ndim != 2 or v.shape[0] != n_items:
        raise AnalysisError(BAD_SHAPES.format(rows=v.shape[0] if v.ndim else 0, n_items=n_items))
    norms = np.linalg.norm(v, axis=1)
    valid = norms > 0
    if int(valid.sum()) < k:
        raise AnalysisError(TOO_FEW_ITEMS.format(n=int(valid.sum()), k=k))
    raw = _kmeans(v[valid] / norms[valid, None], k, seed)

    binary = sp.csr_matrix((np.ones(x.nnz), x.indices, x.indptr), shape=x.shape)
    item_pop = np.asarray(binary.sum(axis=0)).ravel().astype(np.int64)
    valid_idx = np.flatnonzero(valid)
    pop_raw = np.bincount(raw, weights=item_pop[valid_idx], minlength=k)
    first_raw = np.full(k, n_items, dtype=np.int64)
    np.minimum.at(first_raw, raw, valid_idx)
    order = np.lexsort((first_raw, -pop_raw))  # new category j is raw cluster order[j]
    relabel = np.empty(k, dtype=np.int64)
    relabel[order] = np.arange(k)
    item_category = np.full(n_items, -1, dtype=np.int64)
    item_category[valid] = relabel[raw]

    onehot = sp.csr_matrix(
        (np.ones(len(valid_idx)), (valid_idx, item_category[valid])), shape=(n_items, k)
    )
    counts = np.asarray((binary @ onehot).todense(), dtype=np.float64)
    totals = counts.sum(axis=1)
    has = totals > 0
    dist = np.zeros_like(counts)
    dist[has] = counts[has] / totals[has, None]
    dominant = np.where(has, np.argmax(dist, axis=1), -1).astype(np.int64)
    focus = np.where(has, dist.max(axis=1, initial=0.0), np.nan)
    names, short = _names(item_category, item_pop, k, items, item_ids)
    popularity = np.bincount(item_category[valid], weights=item_pop[valid], minlength=k)
    return TasteCategories(item_category, dist, dominant, focus, names, short,
                           popularity.astype(np.int64), int(seed))


def focus_bins(focus: np.ndarray) -> pd.Categorical:
    """Ordered ``focused`` / ``mixed`` / ``broad`` / ``none`` at the cut-offs of
    :data:`FOCUS_BINS` (NaN: ``none``)."""
    f = np.asarray(focus, dtype=np.float64)
    labels = [name for name, _ in FOCUS_BINS] + ["broad", NO_CATEGORY]
    codes = np.full(len(f), len(FOCUS_BINS), dtype=np.int64)  # broad
    for j, (_, low) in reversed(list(enumerate(FOCUS_BINS))):
        codes[f >= low] = j
    codes[np.isnan(f)] = len(labels) - 1
    return pd.Categorical.from_codes(codes, categories=labels, ordered=True)


def add_taste_columns(per_user: pd.DataFrame, taste: TasteCategories) -> pd.DataFrame:
    """The per-user table with the taste dimensions added (a copy).

    Rows are matched by ``user_idx``: the index of a run's per-user table
    (:attr:`~analysis.runs.baseline.BaselineRun.per_user`).

    Added columns: ``taste_category`` (Categorical of the dominant category's short name in
    category order, then ``"none"``), ``taste_focus`` (ordered Categorical, :func:`focus_bins`)
    and ``taste_share`` (float64, the focus itself; NaN for ``none``).
    """
    out = per_user.copy()
    u = out.index.to_numpy(dtype=np.int64)
    dom = taste.dominant[u]
    labels = [*taste.short_names, NO_CATEGORY]
    out["taste_category"] = pd.Categorical.from_codes(
        np.where(dom >= 0, dom, len(labels) - 1), categories=labels)
    out["taste_focus"] = focus_bins(taste.focus[u])
    out["taste_share"] = taste.focus[u]
    return out


@dataclass(frozen=True)
class TasteSubgroups:
    """The subgroup reports of the taste dimensions.

    Attributes:
        table: the per-user table with the taste columns (:func:`add_taste_columns`).
        reports: one :class:`SubgroupReport` per dimension of :data:`TASTE_DIMENSIONS`.
        p_tests: :func:`~analysis.subgroups.kruskal_family` over the two dimensions and their
            pair (Holm- and BH-adjusted p-values).
    """

    table: pd.DataFrame
    reports: list[SubgroupReport]
    p_tests: pd.DataFrame


def taste_subgroups(
    per_user: pd.DataFrame, taste: TasteCategories, metric: str, *,
    weak: np.ndarray | None = None, n_boot: int = 1000, seed: int = 0,
    min_group_size: int = MIN_GROUP_SIZE,
) -> TasteSubgroups:
    """Report ``metric`` across the taste dimensions with the project's subgroup machinery
    (bootstrap CIs, the small-group rule, adjusted p-values).

    Raises:
        AnalysisError: as :func:`~analysis.subgroups.subgroup_report`.
    """
    table = add_taste_columns(per_user, taste)
    reports = [subgroup_report(table, metric, d, weak=weak, n_boot=n_boot, seed=seed,
                               min_group_size=min_group_size) for d in TASTE_DIMENSIONS]
    p_tests = kruskal_family(table, metric, TASTE_DIMENSIONS, min_group_size=min_group_size)
    return TasteSubgroups(table, reports, p_tests)


def run_item_vectors(run: BaselineRun, source: str, *, seed: int = 0, dim: int = 64,
                     item_chars: int = 1000) -> np.ndarray:
    """Item vectors of a run without an embedding store: ``"factors"``, the baseline's
    ``item_factors``; ``"tfidf"``, the TF-IDF + SVD encoder (``dim``, ``seed``) fitted on the
    catalogue's item texts (:func:`~analysis.embeddings.build_item_texts`).

    Raises:
        AnalysisError: an unknown source, or ``factors`` for a baseline without them.
    """
    if source == "factors":
        if run.item_factors is None:
            raise AnalysisError(NO_FACTORS.format(model=run.model_name))
        return np.asarray(run.item_factors, dtype=np.float64)
    if source != "tfidf":
        raise AnalysisError(UNKNOWN_SOURCE.format(source=source))
    from analysis.embeddings import build_item_texts
    from models.encoders import make_encoder

    texts = [str(t) for t in build_item_texts(run.dataset, max_chars=item_chars)]
    encoder = make_encoder("tfidf", dim=dim, seed=seed)
    encoder.fit(texts)
    return np.asarray(encoder.encode(texts), dtype=np.float64)


def taste_sources(run: BaselineRun) -> list[str]:
    """The item-vector sources of :func:`run_item_vectors` a run offers, the preferred first:
    ``factors`` when its baseline has item factors, then ``tfidf`` (always)."""
    return (["factors"] if run.item_factors is not None else []) + ["tfidf"]


def taste_table(run: BaselineRun, source: str, *, n_categories: int = 8,
                seed: int = 0) -> pd.DataFrame:
    """The run's per-user table with the taste dimensions (:func:`add_taste_columns`) of the
    taste categories of its training fold over the item vectors of ``source``
    (:func:`run_item_vectors`; the same ``seed`` for the TF-IDF reduction and k-means).

    Raises:
        AnalysisError: as :func:`run_item_vectors` and :func:`taste_categories`.
    """
    vectors = run_item_vectors(run, source, seed=seed)
    ds = run.dataset
    taste = taste_categories(run.split.train, vectors, n_categories=n_categories, seed=seed,
                             items=ds.items, item_ids=ds.item_ids)
    return add_taste_columns(run.per_user, taste)
