"""Per-user features that define subgroups: activity, inactivity, mainstreamness, attributes."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.split import Split
from analysis.subgroups._binning import UNKNOWN, ordered_names, quantile_bins
from analysis.subgroups._checks import check_count

__all__ = ["FEATURE_COLUMNS", "UserFeatures", "compute_user_features"]

#: Columns computed from the split (attribute columns come after them).
FEATURE_COLUMNS = (
    "n_train",
    "activity",
    "inactive",
    "inactive_pct",
    "mainstreamness",
    "mainstream",
)
# Names an attribute may not take (it would shadow a computed or per-user-table column);
# such an attribute is renamed ``attr_<name>``.
_RESERVED = frozenset(FEATURE_COLUMNS) | {"user_idx", "user_id", "n_validation", "n_test"}

BAD_BINS = "{name} must be an integer >= 1, got {value!r}; pick a number of bins such as 4."
BAD_PERCENTILE = "inactive_percentile must lie in [0, 100], got {value!r}."
BAD_USERS_TABLE = (
    "The user attributes table has {n_rows} rows but the dataset has {n_users} users; "
    "it must hold one row per user_idx in order (re-run ingest)."
)


@dataclass(frozen=True)
class UserFeatures:
    """Subgroup-defining features, one row per user.

    Attributes:
        table: index ``user_idx`` (``0..n_users-1``), columns
            ``n_train`` (int64, training interactions), ``activity`` (ordered Categorical of
            n_train quantile bins, ``"Q1 (3-8)"``...), ``inactive`` (bool, ``n_train`` below the
            dataset mean, Kaur & Shah's definition), ``inactive_pct`` (bool, ``n_train`` at or
            below the chosen percentile), ``mainstreamness`` (float64 in ``[0, 1]``, NaN without
            training items), ``mainstream`` (ordered Categorical ``niche``/``mid``/``mainstream``,
            ``unknown`` when mainstreamness is NaN), then every user attribute: categorical
            ones as Categorical (missing -> ``"unknown"``), numeric ones kept raw (float64) plus
            ``<col>_bin`` quantile bins.
        dimensions: subgroup dimension (a column of ``table``) -> kind, one of ``"activity"``,
            ``"inactive"``, ``"mainstream"``, ``"attribute"``, ``"numeric_binned"``; in display
            order. These are the choices the app offers for "group by".
    """

    table: pd.DataFrame
    dimensions: dict[str, str]


def _check_bins(name: str, value: object) -> int:
    return check_count(value, 1, BAD_BINS, name=name)


def _item_popularity_percentile(train_cols: np.ndarray, n_items: int) -> np.ndarray:
    """Empirical CDF of item popularity, over items with at least one training user.

    ``pct[i] = #{j : pop_j > 0 and pop_j <= pop_i} / #{j : pop_j > 0}``; the most popular item
    gets 1, ties share the value, items absent from training get 0 (never used).
    """
    pop = np.bincount(train_cols, minlength=n_items)
    seen = pop > 0
    pct = np.zeros(n_items, dtype=np.float64)
    n_seen = int(seen.sum())
    if n_seen:
        sorted_pop = np.sort(pop[seen])
        pct[seen] = np.searchsorted(sorted_pop, pop[seen], side="right") / n_seen
    return pct


def _attribute_columns(users: pd.DataFrame, numeric_bins: int) -> tuple[dict, dict[str, str]]:
    columns: dict[str, object] = {}
    dims: dict[str, str] = {}
    for col in users.columns:
        if col == "user_id":
            continue
        name = f"attr_{col}" if col in _RESERVED else str(col)
        s = users[col]
        if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
            raw = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
            columns[name] = raw
            columns[f"{name}_bin"] = quantile_bins(raw, numeric_bins)
            dims[f"{name}_bin"] = "numeric_binned"
        else:
            if isinstance(s.dtype, pd.CategoricalDtype):
                cats = [str(c) for c in s.cat.categories]
            else:
                cats = sorted({str(v) for v in s.dropna().unique()})
            text = s.astype(object).where(s.notna(), UNKNOWN).map(str)
            if (text == UNKNOWN).any() and UNKNOWN not in cats:
                cats.append(UNKNOWN)
            columns[name] = pd.Categorical(text.to_numpy(), categories=cats)
            dims[name] = "attribute"
    return columns, dims


def compute_user_features(
    split: Split,
    *,
    activity_bins: int = 4,
    inactive_percentile: float = 20.0,
    mainstream_bins: int = 3,
    numeric_bins: int = 4,
) -> UserFeatures:
    """Compute the per-user subgroup features of a split (training interactions only).

    Definitions (``n`` users, ``N_u`` = training interactions of user ``u``):
        * ``inactive``: ``N_u < mean_u N_u`` (strict, Kaur & Shah 2024).
        * ``inactive_pct``: ``N_u <= P_p(N)``, numpy's linear-interpolated ``p``-th percentile.
        * ``activity``: quantile bins of ``N_u`` (``inverted_cdf`` edges, right-closed, tied
          edges merged so there may be fewer than ``activity_bins``), labelled by the range of
          ``N_u`` inside the bin, e.g. ``"Q1 (3-8)"``.
        * ``mainstreamness``: mean over the user's training items of the item's popularity
          percentile, where popularity is the number of training users of the item and the
          percentile is the empirical CDF over items with any training user
          (``#{j: pop_j <= pop_i} / #{j: pop_j > 0}``, so 1 = most popular). One sparse
          matrix-vector product; NaN for users without training items.
        * ``mainstream``: quantile bins of mainstreamness named ``niche``/``mid``/``mainstream``
          (``mainstream_bins`` may differ from 3; ties may merge bins).

    Args:
        split: the train/validation/test split; only its training fold is read.
        activity_bins: number of activity quantile bins.
        inactive_percentile: percentile in ``[0, 100]`` for ``inactive_pct``.
        mainstream_bins: number of mainstreamness bins.
        numeric_bins: number of quantile bins for numeric user attributes.

    Returns:
        A :class:`UserFeatures` (see its attributes for the columns).

    Raises:
        AnalysisError: a bin count < 1, a percentile outside ``[0, 100]``, or a users table whose
            length differs from the number of users.
    """
    activity_bins = _check_bins("activity_bins", activity_bins)
    mainstream_bins = _check_bins("mainstream_bins", mainstream_bins)
    numeric_bins = _check_bins("numeric_bins", numeric_bins)
    p = float(inactive_percentile)
    if not 0.0 <= p <= 100.0:
        raise AnalysisError(BAD_PERCENTILE.format(value=inactive_percentile))

    ds = split.dataset
    n_users = ds.n_users
    train = split.train
    n_train = np.asarray(split.n_train, dtype=np.int64)
    n_items_u = np.diff(train.indptr)  # distinct training items per user
    pct = _item_popularity_percentile(train.indices, ds.n_items)
    sums = train @ pct  # each stored entry is 1.0: sum of the user's item percentiles
    with np.errstate(invalid="ignore", divide="ignore"):
        mainstreamness = np.where(n_items_u > 0, sums / np.maximum(n_items_u, 1), np.nan)

    if n_users:
        inactive = n_train < n_train.mean()
        inactive_pct = n_train <= np.percentile(n_train, p)
    else:
        inactive = inactive_pct = np.zeros(0, dtype=bool)

    columns: dict[str, object] = {
        "n_train": n_train,
        "activity": quantile_bins(n_train.astype(np.float64), activity_bins),
        "inactive": inactive,
        "inactive_pct": inactive_pct,
        "mainstreamness": mainstreamness,
        "mainstream": quantile_bins(
            mainstreamness,
            mainstream_bins,
            names=lambda m: ordered_names(m, "niche", "mid", "mainstream"),
        ),
    }
    dims = {
        "activity": "activity",
        "inactive": "inactive",
        "inactive_pct": "inactive",
        "mainstream": "mainstream",
    }
    if ds.users is not None:
        if len(ds.users) != n_users:
            raise AnalysisError(BAD_USERS_TABLE.format(n_rows=len(ds.users), n_users=n_users))
        attr_cols, attr_dims = _attribute_columns(ds.users.reset_index(drop=True), numeric_bins)
        columns.update(attr_cols)
        dims.update(attr_dims)
    table = pd.DataFrame(columns, index=pd.RangeIndex(n_users, name="user_idx"))
    return UserFeatures(table=table, dimensions=dims)
