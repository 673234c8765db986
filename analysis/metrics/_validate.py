"""Input checks shared by the metric functions; message templates are module constants."""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp

from analysis.errors import AnalysisError

BAD_K = "{name} must be a positive integer list length, got {value!r}; pass e.g. {name}=10."
BAD_RECOMMENDATIONS = (
    "recommendations must be a 2-D integer array of item_idx (one row per user, -1 for padding), "
    "got shape {shape} and dtype {dtype}; pass the item array returned by recommend()."
)
BAD_TRUTH = (
    "truth must be a scipy.sparse matrix of held-out gains (users x items), got {kind}; "
    "pass e.g. split.test[user_idx]."
)
ROW_MISMATCH = (
    "{what} has {n_left} rows but truth has {n_right}; "
    "build both for the same users in the same order."
)
ITEM_OUT_OF_RANGE = (
    "recommendations hold item_idx {value} at row {row}, column {col}, outside 0..{max_item} "
    "(-1 marks padding); recommend with a model trained on this dataset's items."
)
NONPOSITIVE_GAIN = (
    "truth holds gain {value} at row {row}, item_idx {item}; keep only relevant held-out "
    "interactions (gain > 0) in the truth matrix."
)
BAD_SCORES = (
    "scores must be a 2-D real-valued array (users x items), got shape {shape} and dtype "
    "{dtype}; pass the dense score block of the batch."
)
SHAPE_MISMATCH = (
    "scores have shape {left} but truth has shape {right}; "
    "slice truth with the same user batch as the scores."
)


def check_k(value: object, name: str = "k") -> int:
    """Return ``value`` as an int >= 1 or raise :class:`AnalysisError`."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or int(value) < 1:
        raise AnalysisError(BAD_K.format(name=name, value=value))
    return int(value)


def check_truth(truth: object, n_rows: int, what: str) -> sp.csr_matrix:
    """Canonical CSR copy-if-needed of ``truth``: sorted indices, no duplicates, gains > 0."""
    if not sp.issparse(truth):
        raise AnalysisError(BAD_TRUTH.format(kind=type(truth).__name__))
    m = sp.csr_matrix(truth)  # no copy when already a csr_matrix
    if m.shape[0] != n_rows:
        raise AnalysisError(ROW_MISMATCH.format(what=what, n_left=n_rows, n_right=m.shape[0]))
    if not m.has_canonical_format:
        m = m.copy()
        m.sum_duplicates()  # also sorts the indices
    if m.nnz and not (m.data > 0).all():
        bad = int(np.flatnonzero(~(m.data > 0))[0])
        row = int(np.searchsorted(m.indptr, bad, side="right") - 1)
        raise AnalysisError(
            NONPOSITIVE_GAIN.format(value=m.data[bad], row=row, item=int(m.indices[bad]))
        )
    return m


def check_recommendations(recommendations: object, k: int) -> np.ndarray:
    """The first ``k`` columns of ``recommendations`` as an int64 (n, k) array, -1 padded."""
    recs = np.asarray(recommendations)
    if recs.ndim != 2 or not (np.issubdtype(recs.dtype, np.integer) or recs.size == 0):
        raise AnalysisError(BAD_RECOMMENDATIONS.format(shape=recs.shape, dtype=recs.dtype))
    out = np.full((recs.shape[0], k), -1, dtype=np.int64)
    width = min(k, recs.shape[1])
    out[:, :width] = recs[:, :width]
    return out


def check_item_range(recs: np.ndarray, n_items: int) -> None:
    """Raise when a cell of ``recs`` is neither -1 nor a valid item_idx."""
    if recs.size == 0:
        return
    if recs.min() >= -1 and recs.max() < n_items:
        return
    bad = (recs < -1) | (recs >= n_items)
    row, col = (int(i) for i in np.argwhere(bad)[0])
    raise AnalysisError(
        ITEM_OUT_OF_RANGE.format(
            value=int(recs[row, col]), row=row, col=col, max_item=n_items - 1
        )
    )


def check_scores(scores: object) -> np.ndarray:
    """``scores`` as a 2-D float32/float64 array (ints and float16 are widened)."""
    arr = np.asarray(scores)
    if arr.ndim != 2 or not (
        np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)
    ) or np.issubdtype(arr.dtype, np.bool_):
        raise AnalysisError(BAD_SCORES.format(shape=arr.shape, dtype=arr.dtype))
    if arr.dtype not in (np.float32, np.float64):
        arr = arr.astype(np.float32 if arr.dtype == np.float16 else np.float64)
    return arr
