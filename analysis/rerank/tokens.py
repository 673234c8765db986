"""Input tokens of a plan's prompts: counted exactly by the backend on a seeded sample of at
most 200 prompts (the only ones rendered), scaled to the rest from their exact character
counts (:mod:`analysis.rerank.prompt_size`), with the calibration error of that scaling; and
what each history strategy would spend."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError
from analysis.rerank.candidates import CandidateSet
from analysis.rerank.config import RerankConfig
from analysis.rerank.history import HISTORY_STRATEGIES
from analysis.rerank.prompt_book import ItemTexts, PromptBook, build_history, build_prompt_book
from analysis.rerank.prompt_size import calibrate_tokens
from analysis.rerank.prompts import approx_tokens
from analysis.runs.baseline import BaselineRun
from models.llm.protocol import LLMBackend, LLMRequest

__all__ = ["ApproxTokenCounter", "compare_history_tokens", "count_tokens", "render_into"]


class ApproxTokenCounter:
    """Stands in for a backend in a dry run without credentials: counts ~3.5 chars/token
    (:func:`analysis.rerank.prompts.approx_tokens` of the system and the user part), which
    :func:`count_tokens` computes for every prompt from its exact length, without rendering
    it, so the same users get the same count whichever plan they are in."""

    last_count_exact = False

    def __init__(self, name: str, model: str) -> None:
        self.name, self.model = name, model

    def count_tokens(self, requests: list[LLMRequest]) -> list[int]:
        return [approx_tokens(r.system) + approx_tokens(r.user) for r in requests]

    def complete(self, requests, *, on_result=None):  # pragma: no cover - never called
        raise AnalysisError("A dry-run estimator cannot answer prompts.")


def count_tokens(backend: LLMBackend, book: PromptBook, rows: np.ndarray, rendered: dict,
                  max_exact: int = 200):
    """Input tokens of the prompts ``rows``; exact for up to ``max_exact`` prompts (a seeded
    sample, the only ones rendered), the rest scaled from their exact character counts by
    the sample's tokens per character. Returns the counts, whether they are all exact, the
    backend's one-line note on why it estimated offline (or "") and the calibration (None
    when every prompt was counted or the counts are the offline heuristic).

    The offline heuristic (:class:`ApproxTokenCounter`) is a function of a prompt's length
    alone, so it is applied to every prompt from its exact size, with no sample."""
    if isinstance(backend, ApproxTokenCounter):
        return book.sizes.approx_tokens()[rows], False, "", None
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64), True, "", None
    chars = book.sizes.chars[rows].astype(np.float64)
    if len(rows) <= max_exact:
        sample = np.arange(len(rows))
    else:
        rng = np.random.default_rng(0)
        sample = np.sort(rng.choice(len(rows), size=max_exact, replace=False))
    render_into(book, rows[sample], rendered)
    counted = np.asarray(backend.count_tokens([rendered[int(rows[i])] for i in sample]),
                         dtype=np.int64)
    exact = bool(getattr(backend, "last_count_exact", True))
    note = getattr(backend, "last_count_note", None) or ""
    if len(rows) <= max_exact:
        return counted, exact, note, None
    ratio = counted.sum() / max(chars[sample].sum(), 1.0)
    counts = np.ceil(chars * ratio).astype(np.int64)
    counts[sample] = counted
    calibration = calibrate_tokens(chars[sample], counted) if exact else None
    return counts, False, note, calibration


def render_into(book: PromptBook, rows, rendered: dict) -> None:
    """Render the prompts of ``rows`` not rendered yet into ``rendered`` (row -> request)."""
    todo = [int(r) for r in rows if int(r) not in rendered]
    for row, req in zip(todo, book.render(todo), strict=True):
        rendered[row] = req


def compare_history_tokens(
    run: BaselineRun,
    config: RerankConfig,
    cands: CandidateSet,
    chosen: PromptBook,
    texts: ItemTexts,
    strategies: tuple[str, ...] = HISTORY_STRATEGIES,
) -> pd.DataFrame:
    """Prompt tokens each history strategy would spend for these users (approximate:
    ~3.5 characters per token, :meth:`PromptSizes.approx_tokens`, from the prompts' exact
    lengths), so the analyst sees what a shorter history saves.

    Returns:
        DataFrame ``strategy``, ``history_items`` (mean per prompt), ``prompt_tokens``
        (mean per prompt), ``total_tokens``, ``chosen``; strategies this data cannot use
        (no timestamps, no item factors) are left out.
    """
    rows = []
    for strategy in strategies:
        if strategy == config.history:
            book = chosen
        else:
            try:
                hist = build_history(run, cands.user_idx, cands, config, strategy)
            except AnalysisError:
                continue
            book = build_prompt_book(texts, config, chosen.template, cands, hist)
        tokens = book.sizes.approx_tokens()
        rows.append(
            {
                "strategy": strategy,
                "history_items": float((book.history.items >= 0).sum(axis=1).mean()),
                "prompt_tokens": float(tokens.mean()),
                "total_tokens": int(tokens.sum()),
                "chosen": strategy == config.history,
            }
        )
    return pd.DataFrame(rows)
