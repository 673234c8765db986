"""Weak users against everyone: who they are (composition) and how they score (validation)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.subgroups._checks import check_columns
from analysis.weak_users import WeakUsers

__all__ = ["ValidationFigures", "validation_figures", "weak_composition"]


def weak_composition(weak: WeakUsers) -> pd.DataFrame:
    """Who the weak users are against everyone: each group's share of both, per dimension.

    For group ``g`` of a dimension: ``share_all = n_users_g / sum_h n_users_h`` (users with a
    validation value, the population the rule chooses from) and ``share_weak = n_weak_g /
    n_weak`` (NaN when nobody is weak); ``over_representation = share_weak / share_all``
    (> 1: the group is over-represented among the weak users; NaN when ``share_all`` is 0).

    Args:
        weak: a selection made with breakdown dimensions
            (:class:`~analysis.weak_users.WeakUserSelector` built with ``dimensions``).

    Returns:
        DataFrame with ``dimension``, ``group``, ``n_users``, ``n_weak``, ``share_all``,
        ``share_weak``, ``over_representation``, dimensions in the selector's order and
        groups in category order; empty when the selection has no breakdown.
    """
    frames = []
    for dim, b in weak.breakdown.items():
        n_users = b["n_users"].to_numpy(dtype=np.float64)
        total = n_users.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            share_all = n_users / total if total else np.full(len(b), np.nan)
            share_weak = b["share_of_weak"].to_numpy(dtype=np.float64)
            over = np.where(share_all > 0, share_weak / share_all, np.nan)
        frames.append(
            pd.DataFrame(
                {
                    "dimension": dim,
                    "group": b["group"].astype(str).to_numpy(),
                    "n_users": b["n_users"].to_numpy(dtype=np.int64),
                    "n_weak": b["n_weak"].to_numpy(dtype=np.int64),
                    "share_all": share_all,
                    "share_weak": share_weak,
                    "over_representation": over,
                }
            )
        )
    if not frames:
        return pd.DataFrame(
            columns=["dimension", "group", "n_users", "n_weak", "share_all", "share_weak",
                     "over_representation"]
        )
    return pd.concat(frames, ignore_index=True)


@dataclass(frozen=True)
class ValidationFigures:
    """What a weak-user rule does on the split it is chosen on (validation): the figures to
    tune a threshold by. The test split's figures are the held-out verdict, read separately.

    Attributes:
        column: the validation column, ``val_<metric>``.
        mean_weak: mean of ``column`` over the weak users (NaN when nobody is weak).
        mean_rest: mean of ``column`` over every other user with a value (NaN when none).
        n_weak: weak users (all have a validation value).
        n_rest: other users with a validation value.
    """

    column: str
    mean_weak: float
    mean_rest: float
    n_weak: int
    n_rest: int


def validation_figures(table: pd.DataFrame, weak: WeakUsers) -> ValidationFigures:
    """Validation means of the weak users and of the rest, for tuning the rule.

    ``mean_weak = mean(val_u : u weak)``, ``mean_rest = mean(val_u : u not weak, val_u not
    NaN)``, with ``val = table["val_<metric>"]`` and ``metric = weak.rule.metric``: two
    masked sums over the column, no loop over users.

    Args:
        table: the per-user table the selection was made on (rows aligned with ``weak.mask``).
        weak: a selection (:class:`~analysis.weak_users.WeakUsers`).

    Returns:
        A :class:`ValidationFigures`.

    Raises:
        AnalysisError: the table has no ``val_<metric>`` column.
    """
    column = f"val_{weak.rule.metric}"
    check_columns(table, [column])
    val = table[column].to_numpy(dtype=np.float64, na_value=np.nan)
    has = ~np.isnan(val)
    w = np.asarray(weak.mask, dtype=bool) & has
    rest = has & ~w
    n_w, n_r = int(w.sum()), int(rest.sum())
    return ValidationFigures(
        column=column,
        mean_weak=float(val[w].sum() / n_w) if n_w else float("nan"),
        mean_rest=float(val[rest].sum() / n_r) if n_r else float("nan"),
        n_weak=n_w,
        n_rest=n_r,
    )
