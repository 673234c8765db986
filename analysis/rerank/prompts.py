"""One user's prompt: the text of items, the history and candidate lines, the filled template.

A :class:`PromptTemplate` has a ``system`` part, identical for every user of a job (no user
data, no per-user counts: providers cache it), and a ``user`` part with named placeholders
(:data:`PLACEHOLDERS`) filled by :func:`render_prompt`:

* ``{history}``: one line per history item, ``Title: 5/5`` when a rating is known, else
  ``Title``;
* ``{candidates}``: one line per candidate in SHOWN order, identified by a short number
  ``1..C``, ``1. Title`` (``id_style="number"``) or ``[1] Title`` (``"bracket"``, RankGPT).
  Internal ids never appear;
  when the job shows the user's taste categories (``RerankConfig.taste``), their one-line
  summary (:func:`format_taste`) ends the block, after the history lines;
* ``{n_candidates}``, ``{n_history}``: the counts;
* ``{history_order}``: how the history was chosen and ordered, in words (e.g. ``most recent
  first``, ``a random sample of up to 20 items, best rated first``), given by the history
  strategy (``History.description`` in ``analysis.rerank.history``). It is the same for
  every user of a job, so it is the one placeholder the system part may hold too.

Templates (the builtins, template files, validation) live in
:mod:`~analysis.rerank.templates`; their names stay importable from here.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.rerank.templates import (
    BAD_FORMAT_SPEC,
    BAD_ID_STYLE,
    BAD_TEMPLATE_KEYS,
    BAD_TEMPLATE_TYPE,
    BUILTIN_TEMPLATES,
    MISSING_CANDIDATES,
    PLACEHOLDERS,
    SYSTEM_PLACEHOLDER,
    SYSTEM_PLACEHOLDERS,
    UNBALANCED_BRACES,
    UNKNOWN_PLACEHOLDER,
    UNKNOWN_TEMPLATE,
    UNREADABLE_TEMPLATE,
    IdStyle,
    PromptTemplate,
    check_template,
    load_template,
)
from models.llm.protocol import LLMRequest

# the template names stay importable from here (re-exported from analysis.rerank.templates)
__all__ = [
    "BAD_FORMAT_SPEC",
    "BAD_ID_STYLE",
    "BAD_TEMPLATE_KEYS",
    "BAD_TEMPLATE_TYPE",
    "BUILTIN_TEMPLATES",
    "DEFAULT_HISTORY_ORDER",
    "ITEM_TABLE_MISMATCH",
    "MISSING_CANDIDATES",
    "NO_CANDIDATE_TEXTS",
    "PLACEHOLDERS",
    "RATINGS_MISMATCH",
    "SYSTEM_PLACEHOLDER",
    "SYSTEM_PLACEHOLDERS",
    "TASTE_PREFIX",
    "TASTE_TOP",
    "UNBALANCED_BRACES",
    "UNKNOWN_PLACEHOLDER",
    "UNKNOWN_TEMPLATE",
    "UNREADABLE_TEMPLATE",
    "IdStyle",
    "PromptTemplate",
    "approx_tokens",
    "check_template",
    "clean_text",
    "format_candidates",
    "format_history",
    "format_taste",
    "item_texts",
    "load_template",
    "render_prompt",
]

# what {history_order} says when the caller does not tell how the history was ordered
DEFAULT_HISTORY_ORDER = "in no stated order"

# --- user-facing messages -------------------------------------------------------------------
NO_CANDIDATE_TEXTS = "A prompt needs at least one candidate item; this user has none."
RATINGS_MISMATCH = (
    "history_ratings has {n_ratings} values for {n_history} history items; pass one rating "
    "per item (NaN when unknown) or None."
)
ITEM_TABLE_MISMATCH = (
    "The items table has {n_rows} rows but there are {n_items} items; pass dataset.items "
    "(one row per item_idx) with dataset.item_ids."
)


_WS = re.compile(r"\s+")


def clean_text(text: str) -> str:
    """One line: whitespace runs (newlines included) become one space."""
    return _WS.sub(" ", text).strip()


_clean = clean_text


def _truncate(text: str, max_chars: int) -> str:
    return text if len(text) <= max_chars else text[: max(max_chars - 1, 0)].rstrip() + "…"


def item_texts(
    items: pd.DataFrame | None, item_ids: np.ndarray, item_idx: np.ndarray, *,
    max_chars: int = 80,
) -> np.ndarray:
    """Display text of items: ``"Title (Genre1, Genre2)"``, at most ``max_chars`` characters.

    Titles and genres are put on one line (whitespace runs become one space); ``|``-separated
    genres are joined with ``", "``; no parentheses when there are no genres. Text longer than
    ``max_chars`` is cut and ends with ``"…"``. Items without a table, a ``title`` column or a
    title get ``"item <raw id>"``. Padding (``-1``) gets ``""``.

    Args:
        items: ``Dataset.items`` (one row per item_idx, columns ``title``, ``genres``) or None.
        item_ids: raw id per item_idx (``Dataset.item_ids``).
        item_idx: int array of any shape (e.g. (n, C) candidates), ``-1`` padded.
        max_chars: longest text (>= 1).

    Returns:
        object array of str, the shape of ``item_idx``.

    Raises:
        AnalysisError: the table's length differs from ``item_ids`` (:data:`ITEM_TABLE_MISMATCH`).
    """
    idx = np.asarray(item_idx, dtype=np.int64)
    ids = np.asarray(item_ids)
    if items is not None and len(items) != len(ids):
        raise AnalysisError(ITEM_TABLE_MISMATCH.format(n_rows=len(items), n_items=len(ids)))
    uniq, inv = np.unique(idx, return_inverse=True)
    valid = uniq >= 0
    u = uniq[valid]
    fallback = pd.Series(["item " + str(x) for x in ids[u]], dtype=object)
    if items is not None and "title" in items.columns and len(u):
        title = items["title"].iloc[u].astype(object).reset_index(drop=True)
        has_title = title.notna() & (title.astype(str).str.strip() != "")
        text = title.where(has_title, fallback).astype(str).map(_clean)
        if "genres" in items.columns:
            g = items["genres"].iloc[u].astype(object).reset_index(drop=True)
            g = g.where(g.notna(), "").astype(str).map(
                lambda s: ", ".join(p.strip() for p in s.split("|") if p.strip()))
            text = text.where(~has_title | (g == ""), text + " (" + g + ")")
    else:
        text = fallback
    text = text.map(lambda s: _truncate(_clean(s), max_chars))
    out_u = np.full(len(uniq), "", dtype=object)
    out_u[valid] = text.to_numpy(dtype=object)
    return out_u[inv].reshape(idx.shape)


def _format_rating(r: float, rating_max: float) -> str:
    return f"{float(r):g}/{float(rating_max):g}"


def format_history(
    history_texts: Sequence[str], history_ratings: Sequence[float] | None = None, *,
    rating_max: float = 5.0, cleaned: bool = False,
) -> str:
    """History lines: ``Title: 4/5`` when the rating is finite, else ``Title``
    (``cleaned``: the texts are already one-line, :func:`clean_text` output)."""
    texts = list(history_texts) if cleaned else [_clean(str(t)) for t in history_texts]
    if history_ratings is None:
        return "\n".join(texts)
    ratings = list(history_ratings)
    if len(ratings) != len(texts):
        raise AnalysisError(RATINGS_MISMATCH.format(
            n_ratings=len(ratings), n_history=len(texts)))
    return "\n".join(
        f"{t}: {_format_rating(r, rating_max)}" if r is not None and math.isfinite(r) else t
        for t, r in zip(texts, ratings)
    )


#: how the taste line starts; :data:`TASTE_TOP` categories at most follow it
TASTE_PREFIX = "Preferred kinds of items: "
TASTE_TOP = 3


def format_taste(shares: np.ndarray, names: Sequence[str], top: int = TASTE_TOP) -> str:
    """The user's taste in one line: ``"Preferred kinds of items: 60% like <name>; 25% like
    <name>; 15% like <name>"``, the ``top`` categories with the largest share (ties to the
    lower index, zero shares left out), each share a whole percent (``f"{100 s:.0f}%"``);
    ``""`` when every share is zero.

    Args:
        shares: (K,) the user's distribution over the categories
            (:attr:`analysis.subgroups.taste.TasteCategories.distribution`).
        names: K category names (already one line each).
        top: categories shown at most.
    """
    s = np.asarray(shares, dtype=np.float64)
    order = np.argsort(-s, kind="stable")[:top]
    parts = [f"{100 * s[c]:.0f}% like {names[c]}" for c in order if s[c] > 0]
    return TASTE_PREFIX + "; ".join(parts) if parts else ""


def _with_taste(history: str, taste: str) -> str:
    """The history block with the taste line after it (unchanged without one)."""
    if not taste:
        return history
    return f"{history}\n{taste}" if history else taste


def format_candidates(
    candidate_texts: Sequence[str], id_style: IdStyle = "number", *, cleaned: bool = False
) -> str:
    """Candidate lines in shown order: ``1. Title`` or ``[1] Title`` (``cleaned``: the
    texts are already :func:`clean_text` output)."""
    texts = candidate_texts if cleaned else [_clean(str(t)) for t in candidate_texts]
    if id_style == "bracket":
        return "\n".join(f"[{i}] {t}" for i, t in enumerate(texts, 1))
    return "\n".join(f"{i}. {t}" for i, t in enumerate(texts, 1))


def render_prompt(
    template: PromptTemplate, history_texts: Sequence[str],
    history_ratings: Sequence[float] | None, candidate_texts: Sequence[str], *,
    max_tokens: int = 512, temperature: float = 0.0, rating_max: float = 5.0,
    history_order: str | None = None, cleaned: bool = False, taste: str = "",
) -> LLMRequest:
    """Fill a template for one user.

    Args:
        template: a validated template (builtins and :func:`load_template` results are).
        history_texts: the user's history items' texts, in prompt order.
        history_ratings: their ratings (NaN = unknown), or None.
        candidate_texts: candidate texts in SHOWN order; identifiers ``1..C`` follow it.
        max_tokens: answer budget of the request.
        temperature: sampling temperature of the request.
        rating_max: top of the rating scale, shown as ``r/rating_max``.
        history_order: how the history was chosen and ordered, for ``{history_order}``
            (``History.description``); it must not depend on the user. None:
            :data:`DEFAULT_HISTORY_ORDER`, which claims no order.
        cleaned: the item texts are already :func:`clean_text` output (as
            :func:`item_texts` returns them), so they are not cleaned again; the prompt is
            the same either way.
        taste: the user's taste line (:func:`format_taste`), appended to the ``{history}``
            block on a line of its own; ``""`` (the default) leaves the prompt unchanged.

    Returns:
        An :class:`LLMRequest` whose ``system`` is the template's system part with
        ``{history_order}`` filled (``{{``/``}}`` unescaped), identical for every user of a
        job; ``key`` is left empty.

    Raises:
        AnalysisError: no candidates (:data:`NO_CANDIDATE_TEXTS`), ratings of another length
            (:data:`RATINGS_MISMATCH`).
    """
    if len(candidate_texts) == 0:
        raise AnalysisError(NO_CANDIDATE_TEXTS)
    order = _clean(DEFAULT_HISTORY_ORDER if history_order is None else str(history_order))
    values = {
        "history": _with_taste(format_history(history_texts, history_ratings,
                                              rating_max=rating_max, cleaned=cleaned),
                               _clean(taste)),
        "candidates": format_candidates(candidate_texts, template.id_style, cleaned=cleaned),
        "n_candidates": len(candidate_texts),
        "n_history": len(history_texts),
        "history_order": order,
    }
    return LLMRequest(
        system=template.system.format(history_order=order),
        user=template.user.format(**values),
        max_tokens=int(max_tokens),
        temperature=float(temperature),
    )


def approx_tokens(text: str) -> int:
    """Cheap token estimate: ``ceil(len(text) / 3.5)`` (0 for empty text)."""
    return math.ceil(len(text) / 3.5)
