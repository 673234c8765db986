"""Step 7c: the exact length of every user's prompt, without building a single prompt.

A prompt is its template with five placeholders filled (:func:`analysis.rerank.prompts.
render_prompt`), so its length in characters is a sum over parts whose lengths are known
per item and per user::

    len(system) = len(template.system with {history_order} filled)          (one per job)
    len(user)   = L0                                   literal text of the user part
                + n{history}       * history_block_u
                + n{candidates}    * candidate_block_u
                + n{n_candidates}  * digits(c_u)
                + n{n_history}     * digits(h_u)
                + n{history_order} * len(history_order)

    history_block_u   = sum over the u's h_u history items of len(text_i) + rating_i
                        + (h_u - 1) newlines; rating_i = len(": " + f"{r:g}/{5:g}") when the
                        item's rating is finite, else 0; plus, when the user has a taste
                        line of t_u > 0 characters, t_u + 1 (its newline; t_u alone when
                        h_u = 0)
    candidate_block_u = sum over the c_u shown candidates (numbered 1..c_u) of
                        len(text_i) + digits(position) + 2 ("1. ") or 3 ("[1] ")
                        + (c_u - 1) newlines

where ``n{x}`` counts the placeholder's occurrences in the user part and ``text_i`` is the
item's one-line display text. Every term is a gather or a row sum over the (users x slots)
arrays of the candidates and histories, so pricing a million users takes a second where
rendering their prompts took minutes. ``tests/analysis/rerank/test_prompt_size.py`` checks the
lengths against the rendered prompts character for character.

Token counts follow from the lengths: :meth:`PromptSizes.approx_tokens` is the offline
heuristic ``ceil(len(system) / 3.5) + ceil(len(user) / 3.5)``, equal to
:func:`~analysis.rerank.prompts.approx_tokens` of the rendered parts; a backend's exact
counts on a sample calibrate a tokens-per-character ratio (:func:`calibrate_tokens`).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

import numpy as np

from analysis.errors import AnalysisError
from analysis.rerank.prompts import NO_CANDIDATE_TEXTS, PromptTemplate, clean_text

__all__ = [
    "PromptSizes",
    "TokenCalibration",
    "calibrate_tokens",
    "prompt_sizes",
    "sizes_from_totals",
    "text_lengths",
]

#: the rating scale's top as prompts show it (``4/5``): ``render_prompt``'s default
RATING_MAX = 5.0
#: characters per token of the offline heuristic (``approx_tokens``)
CHARS_PER_TOKEN = 3.5


@dataclass(frozen=True)
class PromptSizes:
    """Character counts of one job's prompts (one per user, in the candidates' row order).

    Attributes:
        system_chars: length of the system part, the same for every prompt.
        user_chars: int64 (n,) length of each prompt's user part.
    """

    system_chars: int
    user_chars: np.ndarray

    @property
    def chars(self) -> np.ndarray:
        """int64 (n,) ``len(system) + len(user)`` per prompt."""
        return self.user_chars + self.system_chars

    def approx_tokens(self) -> np.ndarray:
        """int64 (n,) the offline estimate ``ceil(len(system)/3.5) + ceil(len(user)/3.5)``."""
        sys_tokens = int(np.ceil(self.system_chars / CHARS_PER_TOKEN))
        return np.ceil(self.user_chars / CHARS_PER_TOKEN).astype(np.int64) + sys_tokens


def text_lengths(texts: np.ndarray) -> np.ndarray:
    """int64 lengths (characters) of an object array of display texts, ``""`` counting 0."""
    flat = np.asarray(texts, dtype=object).ravel()
    return np.fromiter((len(t) for t in flat), dtype=np.int64, count=len(flat)).reshape(
        np.shape(texts)
    )


def _digits(n: np.ndarray) -> np.ndarray:
    """Number of decimal digits of each non-negative integer (``len(str(n))``)."""
    n = np.asarray(n, dtype=np.int64)
    out = np.ones(n.shape, dtype=np.int64)
    p = 10
    while (n >= p).any():
        out += n >= p
        p *= 10
    return out


def _digit_sums(max_n: int) -> np.ndarray:
    """``s[n] = sum(len(str(i)) for i in 1..n)``, for n in 0..max_n."""
    return np.concatenate(([0], np.cumsum(_digits(np.arange(1, max_n + 1))))).astype(np.int64)


def _rating_lengths(ratings: np.ndarray) -> np.ndarray:
    """Characters a rating adds to its history line (``": 4/5"``), 0 where not finite.

    ``format_history`` writes ``f"{t}: {float(r):g}/{5.0:g}"``; the few distinct rating
    values are formatted once each."""
    r = np.asarray(ratings)
    finite = np.isfinite(r)
    out = np.zeros(r.shape, dtype=np.int64)
    if finite.any():
        values, inv = np.unique(r[finite], return_inverse=True)
        suffix = f"/{RATING_MAX:g}"
        lens = np.array([2 + len(f"{float(v):g}") + len(suffix) for v in values], dtype=np.int64)
        out[finite] = lens[inv.ravel()]
    return out


def _placeholder_counts(text: str) -> tuple[int, dict[str, int]]:
    """(characters of literal text, occurrences of each placeholder) of a template part."""
    literal, counts = 0, {}
    for lit, field, _, _ in string.Formatter().parse(text):
        literal += len(lit)
        if field is not None:
            counts[field] = counts.get(field, 0) + 1
    return literal, counts


def prompt_sizes(
    template: PromptTemplate,
    text_len: np.ndarray,
    shown_items: np.ndarray,
    history_items: np.ndarray,
    history_ratings: np.ndarray,
    *,
    history_order: str,
    taste_len: np.ndarray | None = None,
) -> PromptSizes:
    """Exact character counts of the prompts ``render_prompt`` would build.

    The prompt of row ``u`` shows the valid (``>= 0``) entries of ``shown_items[u]`` as its
    candidates, numbered in that order, and the valid entries of ``history_items[u]`` with
    ``history_ratings[u]`` (NaN: no rating shown) as its history, as the rerank job does.

    Args:
        template: a validated template (no format specs; builtins and
            :func:`~analysis.rerank.prompts.load_template` results are).
        text_len: int (n_items,) length of each item's display text once cleaned (the text
            the prompt shows; any value for items no row uses).
        shown_items: int (n, C) candidates in shown order, ``-1`` padded.
        history_items: int (n, H) history in prompt order, ``-1`` padded.
        history_ratings: float (n, H) rating per history slot, NaN when unknown.
        history_order: ``History.description`` (cleaned like ``render_prompt`` does).
        taste_len: int (n,) length of each row's taste line (0: none), or None (no row has
            one).

    Returns:
        :class:`PromptSizes` with one entry per row.

    Raises:
        AnalysisError: a row without a valid candidate (:data:`NO_CANDIDATE_TEXTS`), as
            ``render_prompt`` would.
    """
    text_len = np.asarray(text_len, dtype=np.int64)
    shown = np.asarray(shown_items)
    hist = np.asarray(history_items)
    cand_ok = shown >= 0
    hist_ok = hist >= 0
    return sizes_from_totals(
        template,
        history_order=history_order,
        n_candidates=cand_ok.sum(axis=1),
        candidate_chars=np.where(cand_ok, text_len[np.where(cand_ok, shown, 0)], 0).sum(axis=1),
        n_history=hist_ok.sum(axis=1),
        history_chars=np.where(hist_ok, text_len[np.where(hist_ok, hist, 0)], 0).sum(axis=1)
        + np.where(hist_ok, _rating_lengths(history_ratings), 0).sum(axis=1),
        taste_len=taste_len,
    )


def sizes_from_totals(
    template: PromptTemplate,
    *,
    history_order: str,
    n_candidates: np.ndarray,
    candidate_chars: np.ndarray,
    n_history: np.ndarray,
    history_chars: np.ndarray,
    taste_len: np.ndarray | None = None,
) -> PromptSizes:
    """:func:`prompt_sizes` from each row's totals (what a SQL ``GROUP BY`` gives at scale).

    Args:
        template, history_order, taste_len: as :func:`prompt_sizes`.
        n_candidates: int (n,) candidates shown; ``candidate_chars`` the sum of their texts'
            lengths.
        n_history: int (n,) history items; ``history_chars`` the sum of their texts' lengths
            plus their ratings' (``len(": 4/5")``, 0 without a rating).
    """
    n_cand = np.asarray(n_candidates, dtype=np.int64)
    n_hist = np.asarray(n_history, dtype=np.int64)
    n = n_cand.shape[0]
    order = clean_text(history_order)
    system_chars = len(template.system.format(history_order=order))
    if n and (n_cand == 0).any():
        raise AnalysisError(NO_CANDIDATE_TEXTS)
    per_line = 3 if template.id_style == "bracket" else 2  # "[i] " or "i. "
    digit_sums = _digit_sums(int(n_cand.max(initial=0)))
    cand_block = (np.asarray(candidate_chars, dtype=np.int64) + digit_sums[n_cand]
                  + per_line * n_cand + np.maximum(n_cand - 1, 0))
    hist_block = np.asarray(history_chars, dtype=np.int64) + np.maximum(n_hist - 1, 0)
    if taste_len is not None:
        t = np.asarray(taste_len, dtype=np.int64)
        hist_block = hist_block + np.where(t > 0, t + (n_hist > 0), 0)

    literal, counts = _placeholder_counts(template.user)
    parts = {
        "history": hist_block,
        "candidates": cand_block,
        "n_candidates": _digits(n_cand),
        "n_history": _digits(n_hist),
        "history_order": np.full(n, len(order), dtype=np.int64),
    }
    user_chars = np.full(n, literal, dtype=np.int64)
    for field, count in counts.items():
        user_chars += count * parts[field]
    return PromptSizes(system_chars=system_chars, user_chars=user_chars)


@dataclass(frozen=True)
class TokenCalibration:
    """How input tokens were estimated from prompt lengths.

    Attributes:
        n_exact: prompts counted exactly by the backend (the sample).
        tokens_per_char: the sample's tokens per character, applied to the other prompts.
        total_error: relative error of the estimated total of a held-out half of the sample,
            the ratio fitted on the other half (``|estimate - exact| / exact``).
        prompt_error_p90: 90th percentile of the per-prompt relative error on that half.
    """

    n_exact: int
    tokens_per_char: float
    total_error: float
    prompt_error_p90: float

    def describe(self) -> str:
        """One line for the dry run: the sample, the ratio and the error."""
        return (
            f"{self.n_exact} prompts counted exactly, the rest scaled by their "
            f"{self.tokens_per_char:.4f} tokens per character (calibration error on a held-out "
            f"half: total {self.total_error:.1%}, 90% of prompts within "
            f"{self.prompt_error_p90:.1%})"
        )


def calibrate_tokens(chars: np.ndarray, counted: np.ndarray) -> TokenCalibration:
    """Calibration of the tokens-per-character ratio on a sample of exact counts.

    The ratio is ``sum(counted) / sum(chars)`` over the whole sample; its error is measured
    by fitting it on the even-numbered half of the sample and predicting the odd half.

    Args:
        chars: characters of the sampled prompts.
        counted: their exact token counts.
    """
    chars = np.asarray(chars, dtype=np.float64)
    counted = np.asarray(counted, dtype=np.float64)
    ratio = float(counted.sum() / max(chars.sum(), 1.0))
    fit, held = np.arange(0, len(chars), 2), np.arange(1, len(chars), 2)
    if len(held) == 0 or counted[held].sum() <= 0:
        return TokenCalibration(len(chars), ratio, 0.0, 0.0)
    half = counted[fit].sum() / max(chars[fit].sum(), 1.0)
    pred = np.ceil(chars[held] * half)
    total = abs(pred.sum() - counted[held].sum()) / counted[held].sum()
    per = np.abs(pred - counted[held]) / np.maximum(counted[held], 1.0)
    return TokenCalibration(len(chars), ratio, float(total), float(np.quantile(per, 0.9)))
