"""Quantile binning with readable, ordered labels (shared by the feature builders)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

UNKNOWN = "unknown"


def format_number(value: float) -> str:
    """``12`` for integral values, three significant digits otherwise (``0.312``)."""
    if np.isfinite(value) and float(value).is_integer():
        return str(int(value))
    return f"{value:.3g}"


def _range_label(lo: float, hi: float) -> str:
    a, b = format_number(lo), format_number(hi)
    if a == b:
        return a
    return f"{a} to {b}" if lo < 0 else f"{a}-{b}"


def quantile_codes(values: np.ndarray, n_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Assign each finite value to a quantile bin.

    Edges are the ``inverted_cdf`` quantiles (actual data values) at ``0, 1/n, ..., 1``; duplicate
    edges are dropped, so heavy ties give fewer, never empty, bins. Bins are right-closed
    ``(e_i, e_{i+1}]``, the first one also holding the minimum.

    Args:
        values: float array, NaN for missing.
        n_bins: wanted number of bins (>= 1).

    Returns:
        ``(codes, edges)``: int64 codes ``0..m-1`` (``-1`` for NaN) and the ``m + 1`` unique edges
        (empty when every value is NaN).
    """
    x = np.asarray(values, dtype=np.float64)
    finite = ~np.isnan(x)
    codes = np.full(len(x), -1, dtype=np.int64)
    if not finite.any():
        return codes, np.empty(0)
    qs = np.linspace(0.0, 1.0, int(n_bins) + 1)
    edges = np.unique(np.quantile(x[finite], qs, method="inverted_cdf"))
    codes[finite] = np.searchsorted(edges[1:-1], x[finite], side="left")
    return codes, edges


def quantile_bins(
    values: np.ndarray, n_bins: int, names: Callable[[int], list[str]] | None = None
) -> pd.Categorical:
    """Ordered categorical of quantile bins, labelled ``"Q1 (3-8)"`` by the members' range.

    Args:
        values: numeric values, NaN for missing (labelled ``"unknown"``, the last category).
        n_bins: wanted number of bins; ties may give fewer (see :func:`quantile_codes`).
        names: optional ``m -> labels`` for the ``m`` bins actually formed (e.g. ``niche``,
            ``mid``, ``mainstream``), used verbatim; default ``Q1..Qm`` plus the members' range.

    Returns:
        An ordered :class:`pandas.Categorical` aligned with ``values``.
    """
    x = np.asarray(values, dtype=np.float64)
    codes, _ = quantile_codes(x, n_bins)
    m = int(codes.max()) + 1 if len(codes) else 0
    labels: list[str] = []
    if m:
        finite = codes >= 0
        lo = np.full(m, np.inf)
        hi = np.full(m, -np.inf)
        np.minimum.at(lo, codes[finite], x[finite])
        np.maximum.at(hi, codes[finite], x[finite])
        if names is not None:
            labels = list(names(m))
        else:
            labels = [f"Q{j + 1} ({_range_label(lo[j], hi[j])})" for j in range(m)]
    has_missing = bool((codes < 0).any())
    categories = labels + ([UNKNOWN] if has_missing else [])
    codes = np.where(codes < 0, len(labels), codes) if has_missing else codes
    return pd.Categorical.from_codes(codes, categories=categories, ordered=True)


def ordered_names(m: int, low: str, mid: str, high: str) -> list[str]:
    """Names for ``m`` ordered bins: ``[mid]``, ``[low, high]``, ``[low, mid, high]``,
    ``[low, mid 1, mid 2, high]`` ..."""
    if m <= 1:
        return [mid][:m]
    if m == 2:
        return [low, high]
    if m == 3:
        return [low, mid, high]
    return [low] + [f"{mid} {j}" for j in range(1, m - 1)] + [high]
