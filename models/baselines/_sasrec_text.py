"""SASRec's item table from item text (LLMEmb, Liu et al. 2024): the definitions.

``SASRec.fit(train, sequences=..., item_vectors=V, text_table="frozen")`` with ``V`` one text
embedding per item (``(n_items, d_text)``, any encoder of :mod:`analysis.embeddings`)
replaces the random item table of :mod:`models.baselines._sasrec`:

* PCA. ``V`` is reduced to ``factors`` dims (:func:`pca_reduce`): numpy SVD of the
  column-centred matrix in float64, each component's sign fixed so that its largest ``|U|``
  entry is positive, as scikit-learn's ``svd_flip``; dims beyond the rank are 0.
* Scale. The reduction is divided by one number so that the root mean square of its entries
  is 1, the spread of the random table's N(0, 1) init (:func:`text_table`, float32).
* Adapter. Item ``i``'s embedding is ``adapter(t_i) = W t_i + b``, a linear
  ``factors -> factors`` map initialised to the identity (``W = I``, ``b = 0``, no random
  draw) and trained; the padding row (table row 0) stays zero (:func:`text_items`).
* ``text_table``. ``"frozen"``: the table ``t`` is a fixed buffer, only the adapter trains;
  ``"trainable"``: ``t`` is a trained parameter too, initialised from the PCA table (an item
  never a training input, target or negative gets no gradient, so it keeps ``adapter(t_i)``
  with its PCA row).

The rest of the network is drawn exactly as for a random table (the random table is drawn
first, then replaced), so the text and random models of one seed differ only in the item
table. The fitted ``item_factors`` are ``adapter(t)``, so saving, loading and scoring are
unchanged; the table and adapter are kept on the model as ``SASRec.text_state``
(:class:`TextState`, not saved), and the model's ``params`` do not record the text init (the
caller records it with the encoder).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from analysis.errors import AnalysisError

__all__ = ["BAD_ITEM_VECTORS", "BAD_TEXT_TABLE", "TEXT_TABLES", "TextState", "check_text",
           "pca_reduce", "text_items", "text_state", "text_table"]

#: how a text-initialised item table trains (see the module docstring)
TEXT_TABLES = ("frozen", "trainable")
BAD_TEXT_TABLE = "text_table must be 'frozen' or 'trainable'; got {value!r}."
BAD_ITEM_VECTORS = (
    "item_vectors must be a finite (n_items, d) matrix with one row per item of the train "
    "matrix ({n_items:,}); got shape {shape}: embed this dataset's items."
)


@dataclass(frozen=True)
class TextState:
    """The text-initialised item table of a fitted SASRec (see the module docstring).

    Attributes:
        text_table: ``"frozen"`` or ``"trainable"``.
        table: float32 ``(n_items, factors)``: the PCA table after training (equal to
            :func:`text_table` of the vectors when frozen).
        adapter_weight, adapter_bias: the trained adapter ``W`` ``(factors, factors)`` and
            ``b`` ``(factors,)``; item factors are ``table @ W.T + b``.
        explained: the share of the text vectors' variance the PCA kept.
    """

    text_table: str
    table: np.ndarray
    adapter_weight: np.ndarray
    adapter_bias: np.ndarray
    explained: float


def check_text(item_vectors: Any, table: str, n_items: int) -> np.ndarray | None:
    """float64 ``item_vectors`` checked against ``n_items`` (None stays None: the random
    table), after checking ``table`` is one of :data:`TEXT_TABLES`.

    Raises:
        AnalysisError: :data:`BAD_TEXT_TABLE`, :data:`BAD_ITEM_VECTORS`.
    """
    if table not in TEXT_TABLES:
        raise AnalysisError(BAD_TEXT_TABLE.format(value=table))
    if item_vectors is None:
        return None
    text = np.asarray(item_vectors, dtype=np.float64)
    if text.ndim != 2 or len(text) != n_items or not np.isfinite(text).all():
        raise AnalysisError(BAD_ITEM_VECTORS.format(n_items=n_items, shape=text.shape))
    return text


def pca_reduce(vectors: np.ndarray, dims: int) -> tuple[np.ndarray, float]:
    """PCA of ``vectors`` (n, d) to ``dims`` coordinates, deterministic.

    ``X = vectors - column means`` (float64); ``X = U S V^T`` (numpy's thin SVD); the
    coordinates are ``U[:, :dims] * S[:dims]``, each column's sign flipped so that its
    largest-magnitude ``U`` entry (the first, on ties) is positive. Columns beyond the
    rank (singular values ``<= S[0] * max(n, d) * eps``) are 0.

    Returns:
        ``(coords, explained)``: float64 ``(n, dims)`` and the share of the total variance
        the kept components carry (``sum S[:dims]^2 / sum S^2``; 0 when X is all zero).
    """
    x = np.asarray(vectors, dtype=np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    u, s, _ = np.linalg.svd(x, full_matrices=False)
    tol = (s[0] if len(s) else 0.0) * max(x.shape) * np.finfo(np.float64).eps
    keep = min(int(dims), int((s > tol).sum()))  # a zero singular value: no direction
    u, top = u[:, :keep], s[:keep]
    lead = np.abs(u).argmax(axis=0)
    signs = np.where(u[lead, np.arange(keep)] < 0, -1.0, 1.0)
    coords = np.zeros((len(x), int(dims)))
    coords[:, :keep] = u * (top * signs)[None, :]
    total = float((s**2).sum())
    return coords, float((top**2).sum() / total) if total > 0 else 0.0


def text_table(vectors: np.ndarray, dims: int) -> np.ndarray:
    """float32 ``(n, dims)``: :func:`pca_reduce` of ``vectors``, scaled by one number so that
    the root mean square of its entries is 1 (the random table's N(0, 1) spread); an all-zero
    reduction stays zero."""
    return unit_rms(pca_reduce(vectors, dims)[0])


def unit_rms(coords: np.ndarray) -> np.ndarray:
    """float32 ``coords`` divided by the root mean square of its entries (0: unchanged)."""
    rms = float(np.sqrt((coords**2).mean())) if coords.size else 0.0
    return (coords / rms if rms > 0 else coords).astype(np.float32)


def text_items(torch: Any, table: np.ndarray, trainable: bool) -> Any:
    """The item table module ``adapter(t)`` over ``table`` (float32 ``(n_items, d)``,
    :func:`text_table`): called with item rows (0 = padding) it gives their embeddings, and
    its ``weight`` is the ``(n_items + 1, d)`` table with the zero padding row first, as an
    ``nn.Embedding``'s. Draws nothing from torch's random state."""
    nn = torch.nn
    n_items, d = table.shape

    class _TextItems(nn.Module):
        """``adapter(t_i) = W t_i + b`` (W = I, b = 0 at first); row 0 (padding) is zero."""

        def __init__(self) -> None:
            super().__init__()
            rows = torch.zeros(n_items + 1, d)
            rows[1:] = torch.from_numpy(np.asarray(table, dtype=np.float32))
            if trainable:
                self.table = nn.Parameter(rows)
            else:
                self.register_buffer("table", rows)
            self.adapter_weight = nn.Parameter(torch.eye(d))  # no random draw: same dropout
            self.adapter_bias = nn.Parameter(torch.zeros(d))

        def forward(self, idx):
            out = self.table[idx] @ self.adapter_weight.T + self.adapter_bias
            return out * (idx > 0).unsqueeze(-1).to(out.dtype)

        @property
        def weight(self):
            rows = self.table[1:] @ self.adapter_weight.T + self.adapter_bias
            return torch.cat([torch.zeros_like(rows[:1]), rows])

    return _TextItems()


def text_state(items: Any, table: str, explained: float) -> TextState:
    """The fitted :class:`TextState` of a :func:`text_items` module, as numpy float32."""

    def out(t):
        return t.detach().float().cpu().numpy()

    return TextState(table, out(items.table[1:]), out(items.adapter_weight),
                     out(items.adapter_bias), float(explained))
