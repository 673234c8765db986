"""One text per item, the input of every encoder.

The text is the rerank prompt's item line (:func:`analysis.rerank.prompts.item_texts`:
``"Title (Genre1, Genre2)"``, or ``"item <raw id>"`` without a title), followed by the item's
description when the items table has a description column, as ``"Title (Genres). <description>"``.
Whitespace runs become one space; the whole text is cut at ``max_chars`` (ending ``…``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.dataset import Dataset
from analysis.errors import AnalysisError
from analysis.rerank.prompts import clean_text, item_texts

__all__ = ["DESCRIPTION_COLUMNS", "build_item_texts", "description_column"]

#: columns read as an item's description, first match wins (case-insensitive)
DESCRIPTION_COLUMNS = ("description", "overview", "plot", "synopsis", "summary", "text")
BAD_MAX_CHARS = "Bad item text length {max_chars!r}: give an integer >= 16."


def description_column(items: pd.DataFrame | None) -> str | None:
    """The items table's description column (see :data:`DESCRIPTION_COLUMNS`), or None."""
    if items is None:
        return None
    by_lower = {str(c).lower(): str(c) for c in items.columns}
    return next((by_lower[c] for c in DESCRIPTION_COLUMNS if c in by_lower), None)


def build_item_texts(dataset: Dataset, *, max_chars: int = 1000) -> np.ndarray:
    """The encoder input of every item, in ``item_idx`` order.

    Args:
        dataset: the dataset (its ``items`` table may be None).
        max_chars: longest text (>= 16).

    Returns:
        object array of str, length ``n_items``.

    Raises:
        AnalysisError: a bad ``max_chars``, or an items table whose length differs from the
            catalogue.
    """
    if not isinstance(max_chars, int) or isinstance(max_chars, bool) or max_chars < 16:
        raise AnalysisError(BAD_MAX_CHARS.format(max_chars=max_chars))
    idx = np.arange(dataset.n_items)
    head = item_texts(dataset.items, dataset.item_ids, idx, max_chars=max_chars)
    col = description_column(dataset.items)
    if col is None:
        return head
    desc = dataset.items[col].astype(object)
    desc = desc.where(desc.notna(), "").astype(str).map(clean_text).to_numpy(dtype=object)
    out = np.where(desc != "", head + ". " + desc, head).astype(object)
    too_long = np.fromiter((len(t) > max_chars for t in out), bool, len(out))
    out[too_long] = [t[: max_chars - 1].rstrip() + "…" for t in out[too_long]]
    return out
