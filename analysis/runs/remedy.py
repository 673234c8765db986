"""A remedy other than LLM reranking, run for a baseline run's target users (its weak users,
say), as one typed object, and its folder.

Remedies (:mod:`analysis.remedies`) give some users of a baseline run a different top-k list
and keep the baseline's for everyone else. Whatever the remedy, it leaves the same thing: per
target user the test metrics before (the baseline's) and after, the list shown after, and
what it cost (once per catalogue, and per user served). That is what the comparison of
remedies (:mod:`analysis.gains.remedies`) reads, beside the rerank runs.

Files (``remedy_per_user.parquet`` holds no wall-clock time, so the same inputs and seed
give the same bytes; ``remedy_summary.json`` records ``wall_s`` too):

* ``remedy_per_user.parquet``: one row per target user with test items: ``user_id``,
  ``before_<m>``, ``after_<m>``, ``gain_<m>`` for each list metric ``m`` at k, and ``topk``
  (the item ids shown after, best first);
* ``remedy_summary.json``: :class:`RemedySummary`.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.errors import AnalysisError, surface_hints
from analysis.runs.files import atomic_folder, item_lists, item_rows, jsonable

if TYPE_CHECKING:
    from analysis.dataset import Dataset

__all__ = [
    "NOT_A_REMEDY_RUN",
    "RemedyRun",
    "RemedySummary",
    "load_remedy_run",
    "remedies_of_run",
    "write_remedy_outputs",
]

NOT_A_REMEDY_RUN = surface_hints(
    "The folder {folder!r} is not a remedy run folder (no {missing}).",
    app="Run a remedy on the Remedies page.",
    cli="Write one with `python -m analysis blend ... --out DIR` first and give that folder.",
)

SUMMARY_FILE = "remedy_summary.json"
PER_USER_FILE = "remedy_per_user.parquet"


@dataclass(frozen=True)
class RemedySummary:
    """``remedy_summary.json``: what the remedy was and what it cost.

    Attributes:
        kind: ``content_blend``, ``sasrec_text`` (SASRec with its item table initialised from
            text embeddings), ``sasrec_random`` (the same SASRec, random initialisation),
            ``msr_rescorer`` (the scenario-aware re-scorer fed by frozen-LLM scenario and user
            knowledge, :mod:`analysis.remedies.msr`) or ``msr_ids`` (the same head with learned
            scenario and user ids instead).
        label: a short human label (kind, encoder, target).
        uses_llm: whether an LLM (or an LLM encoder) produced any of its inputs.
        control: the ``kind`` of the no-LLM remedy its gain is measured against (None: it is
            a control itself, or has none).
        target: which users got it (``weak``, ``inactive``, ``weak_or_inactive``).
        k: the list length.
        n_target: target users (with or without test items).
        n_evaluated: users of the baseline run with test items ("everyone").
        one_off_usd: what it costs once per catalogue (item embeddings), in dollars.
        per_user_usd: what it costs per user served per refresh (0: no per-request call).
        encoder: the encoder id of its item vectors (None: none used).
        settings: its parameters (weight chosen on validation, model parameters, ...).
        validation: what was chosen on validation and how it scored.
        seed: the seed of any draw or fit.
        wall_s: seconds it took (not part of any figure).
    """

    kind: str
    label: str
    uses_llm: bool
    control: str | None
    target: str
    k: int
    n_target: int
    n_evaluated: int
    one_off_usd: float = 0.0
    per_user_usd: float = 0.0
    encoder: str | None = None
    settings: dict = field(default_factory=dict)
    validation: dict = field(default_factory=dict)
    seed: int = 0
    wall_s: float | None = None

    def to_json(self) -> dict:
        return jsonable(asdict(self))

    def unproven_note(self) -> str | None:
        """A sentence when the choice made on validation (a blend weight, a head's epoch)
        scored higher there without an established gain, so the remedy kept the baseline's
        lists; None otherwise."""
        weight = self.validation.get("unproven_weight")
        epoch = self.validation.get("unproven_epoch")
        if weight is not None:
            return (f"{self.label}: weight {weight:g} scored best on validation, but its gain "
                    "over the baseline was not established, so it keeps the baseline's lists.")
        if epoch is not None:
            return (f"{self.label}: its best epoch on validation ({epoch}) did not establish a "
                    "gain over the baseline, so it keeps the baseline's order.")
        return None

    @classmethod
    def from_json(cls, d: dict) -> RemedySummary:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in names})


@dataclass(frozen=True)
class RemedyRun:
    """A finished remedy: the same type whether just computed or read back.

    Attributes:
        summary: :class:`RemedySummary`.
        per_user: one row per target user with test items: ``user_idx`` (the baseline
            run's table row; absent when read back without the dataset), ``user_id`` (read
            back only), ``before_<m>``, ``after_<m>``, ``gain_<m>``.
        topk: int ``(len(per_user), k)``: item_idx shown after, best first, ``-1`` padded
            (``None`` when read back: the folder stores item ids, see :func:`load_remedy_run`).
        path: the folder (None: not written).
    """

    summary: RemedySummary
    per_user: pd.DataFrame
    topk: np.ndarray | None = None
    path: Path | None = None

    @property
    def k(self) -> int:
        return self.summary.k

    def mean_gain(self, metric: str = "ndcg") -> float:
        """Mean test gain over the target users with test items."""
        return float(self.per_user[f"gain_{metric}@{self.k}"].mean())


def write_remedy_outputs(run: RemedyRun, out: str | Path, dataset: Dataset) -> Path:
    """Write the remedy's files into ``out`` (replaced whole, never half-written); users and
    items are stored by their raw ids in ``dataset``."""
    per = run.per_user.copy()
    if "user_idx" in per:
        per.insert(0, "user_id", np.asarray(dataset.user_ids)[per.pop("user_idx").to_numpy()])
    if run.topk is not None:
        per["topk"] = item_lists(run.topk, dataset.item_ids)
    with atomic_folder(out) as tmp:
        per.to_parquet(tmp / PER_USER_FILE, index=False)
        (tmp / SUMMARY_FILE).write_text(json.dumps(run.summary.to_json(), indent=2))
    return Path(out)


def load_remedy_run(path: str | Path, dataset: Dataset | None = None) -> RemedyRun:
    """Read a remedy folder back.

    Args:
        dataset: the baseline run's dataset; given, the table gets ``user_idx`` again and
            :attr:`RemedyRun.topk` is rebuilt.

    Raises:
        AnalysisError: not a remedy folder (:data:`NOT_A_REMEDY_RUN`).
    """
    folder = Path(path)
    for name in (SUMMARY_FILE, PER_USER_FILE):
        if not (folder / name).is_file():
            raise AnalysisError(NOT_A_REMEDY_RUN.format(folder=folder.name, missing=name))
    summary = RemedySummary.from_json(json.loads((folder / SUMMARY_FILE).read_text()))
    per = pd.read_parquet(folder / PER_USER_FILE)
    topk = None
    if dataset is not None:
        where = pd.Index(np.asarray(dataset.user_ids).astype(str)).get_indexer(
            per["user_id"].astype(str))
        per.insert(0, "user_idx", where.astype(np.int64))
        if "topk" in per:
            topk = item_rows(per["topk"], dataset.item_ids, summary.k)
    return RemedyRun(summary=summary, per_user=per.drop(columns=["topk"], errors="ignore"),
                     topk=topk, path=folder)


def remedies_of_run(store, run_id: str, dataset: Dataset) -> tuple[list, list[RemedyRun]]:
    """The rerank runs and remedy runs ``store`` (a :class:`~analysis.runs.store.RunStore`)
    lists under baseline run ``run_id``, newest first, read back with the run's ``dataset``.

    Returns:
        ``(reranks, remedies)``: :class:`~analysis.runs.rerank.RerankRun` and
        :class:`RemedyRun` lists.
    """
    from analysis.runs.rerank import load_rerank_run

    runs = store.list_runs()
    runs = runs[runs["parent_run_id"] == run_id]
    reranks = [load_rerank_run(p) for p in runs.loc[runs["kind"] == "rerank", "path"]]
    remedies = [load_remedy_run(p, dataset) for p in runs.loc[runs["kind"] == "remedy", "path"]]
    return reranks, remedies
