"""What one user's prompt is built from, the same for the dry run, the job and the per-user
explanation: candidates (:func:`build_candidates`), history (:func:`build_history`), the
items' display texts (:class:`ItemTexts`) and the prompts' parts and sizes
(:class:`PromptBook`). Each is seeded per user, so one user's prompt is rebuilt exactly
without planning the whole job.

With ``RerankConfig.taste`` on, each prompt also shows the user's taste categories
(:mod:`analysis.subgroups.taste`, computed once per :class:`ItemTexts` from the run's
training fold) as one line after the history (:func:`~analysis.rerank.prompts.format_taste`);
``instead`` also drops the second half of every history in prompt order
(:func:`build_history`), so the line stands in for it."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from analysis.errors import AnalysisError
from analysis.rerank.candidates import CandidateSet, paper_candidates, realistic_candidates
from analysis.rerank.config import TASTE_MODES, RerankConfig
from analysis.rerank.history import History, select_history
from analysis.rerank.prompt_size import PromptSizes, prompt_sizes, text_lengths
from analysis.rerank.prompts import (
    PromptTemplate,
    clean_text,
    format_taste,
    item_texts,
    render_prompt,
)
from analysis.runs.baseline import BaselineRun
from models.llm.protocol import LLMRequest

__all__ = [
    "BAD_PROTOCOL",
    "ItemTexts",
    "PromptBook",
    "build_candidates",
    "build_history",
    "build_prompt_book",
    "taste_settings",
]

BAD_PROTOCOL = "Unknown candidate protocol {protocol!r}: use realistic or paper."
BAD_TASTE = "Unknown taste setting {taste!r}: use off, beside or instead."
BAD_TASTE_PARAMS = (
    "Unknown taste parameter(s) {keys}: use n_categories (an integer >= 2) and source "
    "(tfidf or factors)."
)
#: ``RerankConfig.taste_params`` defaults
TASTE_DEFAULTS = {"n_categories": 8, "source": "tfidf"}


@dataclass(frozen=True)
class PromptBook:
    """What every prompt of a job is built from, and its exact size, without building it.

    Attributes:
        template: the prompt template.
        texts: object (n_items,) one-line display text of each item a prompt of this job
            shows (None for the others).
        candidates: the users' candidate lists; ``history``: their histories.
        sizes: exact characters of each user's prompt (:mod:`analysis.rerank.prompt_size`).
        max_tokens: answer bound of every request; ``temperature``: its sampling temperature.
        taste: object (n,) each prompt's taste line (``""``: none), or None (taste off).
    """

    template: PromptTemplate
    texts: np.ndarray
    candidates: CandidateSet
    history: History
    sizes: PromptSizes
    max_tokens: int
    temperature: float
    taste: np.ndarray | None = None

    @property
    def system(self) -> str:
        """The system part, the same for every prompt of the job."""
        return self.template.system.format(history_order=clean_text(self.history.description))

    def shown_texts(self, row: int) -> list[str]:
        """The candidate texts of prompt ``row``, in shown order."""
        return [self.texts[i] for i in self.candidates.shown_items[row] if i >= 0]

    def render(self, rows) -> list[LLMRequest]:
        """The prompts of ``rows`` (string building; texts already clean)."""
        hist = self.history
        out = []
        for row in rows:
            hi = hist.items[row]
            keep = hi >= 0
            ratings = hist.ratings[row][keep]
            out.append(render_prompt(
                self.template,
                [self.texts[i] for i in hi[keep]],
                None if np.isnan(ratings).all() else ratings.tolist(),
                self.shown_texts(row),
                max_tokens=self.max_tokens,
                temperature=self.temperature,
                history_order=hist.description,
                cleaned=True,
                taste="" if self.taste is None else self.taste[row],
            ))
        return out


def build_candidates(run: BaselineRun, users: np.ndarray, config: RerankConfig) -> CandidateSet:
    """The candidate lists of ``users`` under the config's protocol: the baseline's top C
    (``realistic``) or held-out items plus sampled negatives (``paper``).

    Raises:
        AnalysisError: unknown protocol (:data:`BAD_PROTOCOL`).
    """
    if config.protocol == "realistic":
        return realistic_candidates(run.rankings, users, run.split.test,
                                    n_candidates=config.n_candidates, seed=config.seed)
    if config.protocol == "paper":
        return paper_candidates(run.split, run.model.score, users,
                                n_candidates=config.n_candidates, seed=config.seed,
                                negatives=config.negatives)
    raise AnalysisError(BAD_PROTOCOL.format(protocol=config.protocol))


def build_history(run: BaselineRun, users: np.ndarray, cands: CandidateSet, config: RerankConfig,
                  strategy: str | None = None) -> History:
    """The histories the prompts of ``users`` show (``strategy``: the config's by default).

    With ``config.taste == "instead"``, each history keeps only its first ``ceil(h / 2)``
    items in prompt order (for the ``recent`` history, the most recent half): the taste
    line replaces the rest.

    Raises:
        AnalysisError: an unknown taste setting (:data:`BAD_TASTE`), or the strategy's errors.
    """
    if config.taste not in TASTE_MODES:
        raise AnalysisError(BAD_TASTE.format(taste=config.taste))
    hist = select_history(
        run.split,
        users,
        strategy or config.history,
        item_factors=run.item_factors,
        candidates=cands,
        seed=config.seed,
        **config.history_params,
    )
    if config.taste != "instead":
        return hist
    keep = (hist.n_items + 1) // 2
    drop = np.arange(hist.items.shape[1])[None, :] >= keep[:, None]
    return replace(hist, items=np.where(drop, -1, hist.items).astype(hist.items.dtype),
                   ratings=np.where(drop, np.nan, hist.ratings).astype(hist.ratings.dtype))


def taste_settings(config: RerankConfig) -> dict:
    """``config.taste_params`` over :data:`TASTE_DEFAULTS`.

    Raises:
        AnalysisError: an unknown key (:data:`BAD_TASTE_PARAMS`).
    """
    unknown = sorted(set(config.taste_params) - set(TASTE_DEFAULTS))
    if unknown:
        raise AnalysisError(BAD_TASTE_PARAMS.format(keys=", ".join(map(repr, unknown))))
    return {**TASTE_DEFAULTS, **config.taste_params}


class ItemTexts:
    """The one-line display text of the items prompts show, computed once per item as
    prompts of any history strategy need them (:func:`~analysis.rerank.prompts.item_texts`,
    then :func:`~analysis.rerank.prompts.clean_text`)."""

    def __init__(self, run: BaselineRun, config: RerankConfig) -> None:
        ds = run.dataset
        self._run, self._config = run, config
        self._taste = None
        self._items, self._ids, self._chars = ds.items, ds.item_ids, config.item_chars
        self.texts = np.full(ds.n_items, None, dtype=object)
        self.lengths = np.zeros(ds.n_items, dtype=np.int64)
        self._done = np.zeros(ds.n_items, dtype=bool)

    def need(self, *item_arrays: np.ndarray) -> None:
        idx = np.unique(np.concatenate([np.asarray(a).ravel() for a in item_arrays]))
        idx = idx[idx >= 0]
        idx = idx[~self._done[idx]]
        if len(idx):
            raw = item_texts(self._items, self._ids, idx, max_chars=self._chars)
            clean = np.array([clean_text(t) for t in raw] + [None], dtype=object)[:-1]
            self.texts[idx] = clean
            self.lengths[idx] = text_lengths(clean)
            self._done[idx] = True

    def taste(self):
        """The run's :class:`~analysis.subgroups.taste.TasteCategories` under the config's
        ``taste_params`` and seed (computed on first use, then kept)."""
        if self._taste is None:
            from analysis.subgroups.taste import run_item_vectors, taste_categories

            params, run = taste_settings(self._config), self._run
            seed = int(self._config.seed)
            vectors = run_item_vectors(run, params["source"], seed=seed)
            ds = run.dataset
            self._taste = taste_categories(run.split.train, vectors,
                                           n_categories=params["n_categories"], seed=seed,
                                           items=ds.items, item_ids=ds.item_ids)
        return self._taste

    def taste_lines(self, users: np.ndarray) -> np.ndarray:
        """object (n,) the taste line of each of ``users`` (``""`` for a user without a
        categorised training item)."""
        t = self.taste()
        names = [clean_text(n) for n in t.names]
        dist = t.distribution[np.asarray(users, dtype=np.int64)]
        return np.array([format_taste(row, names) for row in dist] + [None],
                        dtype=object)[:-1]  # one string per user


def build_prompt_book(texts: ItemTexts, config: RerankConfig, template: PromptTemplate,
                      cands: CandidateSet, history: History) -> PromptBook:
    """The :class:`PromptBook` of ``cands`` and ``history``: every prompt's parts and exact
    size (the texts it needs are computed into ``texts`` first), with each user's taste line
    when ``config.taste`` is on.

    Raises:
        AnalysisError: an unknown taste setting or parameter, or item vectors the taste
            categories cannot be built from (:mod:`analysis.subgroups.taste`).
    """
    if config.taste not in TASTE_MODES:
        raise AnalysisError(BAD_TASTE.format(taste=config.taste))
    shown = cands.shown_items
    texts.need(shown, history.items)
    taste = None if config.taste == "off" else texts.taste_lines(history.user_idx)
    sizes = prompt_sizes(template, texts.lengths, shown, history.items, history.ratings,
                         history_order=history.description,
                         taste_len=None if taste is None else text_lengths(taste))
    return PromptBook(template=template, texts=texts.texts, candidates=cands, history=history,
                      sizes=sizes, max_tokens=config.resolved_max_tokens,
                      temperature=config.temperature, taste=taste)
