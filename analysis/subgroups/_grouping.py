"""Which group each user is in: integer codes and text labels of one dimension or a pair."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.subgroups._binning import UNKNOWN

__all__ = ["INTERSECTION", "crossed_codes", "group_codes"]

#: joins the two levels (and the two dimension names) of a pair: ``"F × Q1 (3-8)"``
INTERSECTION = " × "


def group_codes(col: pd.Series) -> tuple[np.ndarray, list[str]]:
    """Integer codes (``0..g-1``) and string labels, in category order (NaN -> "unknown")."""
    if isinstance(col.dtype, pd.CategoricalDtype):
        codes = col.cat.codes.to_numpy().astype(np.int64)
        labels = [str(c) for c in col.cat.categories]
    else:
        codes, uniques = pd.factorize(col, sort=True, use_na_sentinel=True)
        codes = codes.astype(np.int64)
        labels = [str(u) for u in uniques]
    if (codes < 0).any():
        if UNKNOWN in labels:
            codes = np.where(codes < 0, labels.index(UNKNOWN), codes)
        else:
            codes = np.where(codes < 0, len(labels), codes)
            labels = labels + [UNKNOWN]
    return codes, labels


def crossed_codes(table: pd.DataFrame, dims: Sequence[str]) -> tuple[np.ndarray, list[list[str]]]:
    """Group codes of one dimension, or of two crossed, for every row of ``table``.

    A pair gets the mixed-radix code ``c0 * g1 + c1`` (``g1`` levels in the second dimension),
    so the first dimension varies slowest and every combination has a code, empty or not.

    Args:
        table: the per-user table.
        dims: one or two columns of ``table``.

    Returns:
        ``(codes, levels)``: int64 codes ``0..G-1`` aligned with the rows, and for each of the
        ``G`` codes its level labels (one per dimension, as :func:`group_codes` names them).
    """
    codes, labels = group_codes(table[dims[0]])
    if len(dims) == 1:
        return codes, [[a] for a in labels]
    codes1, labels1 = group_codes(table[dims[1]])
    return codes * len(labels1) + codes1, [[a, b] for a in labels for b in labels1]
