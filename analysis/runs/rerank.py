"""The files a rerank job leaves for the analyst, written atomically into one folder.

* ``rerank_per_user.parquet``: one row per weak user sent to the LLM: ``user_id``, before
  and after metrics (``before_ndcg@10``, ``after_ndcg@10``, ``gain_ndcg@10``, ... ``auc``),
  parse counts (``n_valid``, ``n_hallucinated``, ``n_duplicate``, ``n_missing``),
  ``reranked`` and ``fallback_reason`` (``error``, ``unparsable``, ``budget``,
  ``cancelled``), tokens, ``cost_usd`` (paid in this run), ``paid_usd`` (including answers
  reused from the cache), ``latency_s``, ``candidate_recall``.
* ``calls.parquet``: one row per LLM call: cache key, backend, model, cached, tokens, cost,
  latency, stop reason, error (never a prompt's secret: there are none in prompts, and the
  key is never stored).
* ``rerank_summary.json``: the job's settings, totals (tokens and dollars), the estimate it
  started from, the prices used, wall time, and the gains (see :mod:`analysis.gains.gain_report`).
* ``gains_by_group.csv`` and ``cost_curve.csv``: per-subgroup gains and the cost-benefit
  curve over thresholds.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from analysis.errors import AnalysisError, surface_hints
from analysis.runs.files import atomic_folder
from analysis.runs.summary import RerankSummary

if TYPE_CHECKING:
    from analysis.gains.gain_report import GainReport
    from analysis.rerank.config import RerankConfig
    from analysis.rerank.plan import RerankPlan

__all__ = [
    "NOT_A_RERANK_RUN",
    "RerankRun",
    "load_rerank_run",
    "read_rerank_per_user",
    "write_rerank_outputs",
]

NOT_A_RERANK_RUN = surface_hints(
    "The folder {folder!r} is not a rerank run folder (no {missing}).",
    app="Launch a rerank on the LLM rerank page.",
    cli="Run `python -m analysis rerank ... --out DIR` first and give that folder.",
)

_FILES = (
    "rerank_summary.json",
    "rerank_per_user.parquet",
    "calls.parquet",
    "gains_by_group.csv",
    "cost_curve.csv",
)


@dataclass(frozen=True)
class RerankRun:
    """A rerank run: the same type whether just finished (:func:`analysis.rerank.execute.
    execute_rerank`) or read back from its folder (:func:`load_rerank_run`).

    Attributes:
        summary: settings, totals, prices, gains (``rerank_summary.json``).
        per_user: one row per weak user sent to the LLM (``rerank_per_user.parquet``; the
            finished job's table also has ``user_idx``).
        calls: one row per call, with its cache ``key`` (``calls.parquet``).
        by_group: ``gains_by_group.csv``: ``dimension``, ``group`` (str), ``n_users``,
            ``n_selected``, ``mean_before``, ``mean_after``, ``mean_gain``,
            ``mean_gain_selected``.
        curve: ``cost_curve.csv``: ``threshold``, ``n_users``, ``share``, ``mean_ndcg``,
            ``gain``, ``cost_usd``, ``usd_per_0.01``.
        path: the run folder (None: not written).
        plan: the dry run it executed (a finished job only).
        gains: the full gain report, per-user table included (a finished job only).
    """

    summary: RerankSummary
    per_user: pd.DataFrame
    calls: pd.DataFrame
    by_group: pd.DataFrame
    curve: pd.DataFrame
    path: Path | None = None
    plan: RerankPlan | None = field(default=None, repr=False, compare=False)
    gains: GainReport | None = field(default=None, repr=False, compare=False)

    @property
    def k(self) -> int:
        return self.summary.k

    @property
    def config(self) -> RerankConfig:
        return self.summary.config


def write_rerank_outputs(run: RerankRun, out: str | Path) -> dict[str, Path]:
    """Write the job's files into ``out`` (replaced whole, never half-written)."""
    with atomic_folder(out) as tmp:
        run.per_user.drop(columns=["user_idx"], errors="ignore").to_parquet(
            tmp / "rerank_per_user.parquet", index=False
        )
        run.calls.to_parquet(tmp / "calls.parquet", index=False)
        run.by_group.to_csv(tmp / "gains_by_group.csv", index=False)
        run.curve.to_csv(tmp / "cost_curve.csv", index=False)
        (tmp / "rerank_summary.json").write_text(json.dumps(run.summary.to_json(), indent=2))
    return {p.name: p for p in sorted(Path(out).iterdir())}


def load_rerank_run(path: str | Path) -> RerankRun:
    """Read a rerank run folder.

    Raises:
        AnalysisError: a file is missing (:data:`NOT_A_RERANK_RUN`).
    """
    p = Path(path)
    for name in _FILES:
        if not (p / name).is_file():
            raise AnalysisError(NOT_A_RERANK_RUN.format(folder=p.name, missing=name))
    return RerankRun(
        summary=RerankSummary.from_json(json.loads((p / "rerank_summary.json").read_text())),
        per_user=pd.read_parquet(p / "rerank_per_user.parquet"),
        calls=pd.read_parquet(p / "calls.parquet"),
        by_group=pd.read_csv(p / "gains_by_group.csv", dtype={"group": str, "dimension": str}),
        curve=pd.read_csv(p / "cost_curve.csv"),
        path=p,
    )


def read_rerank_per_user(folder: str | Path) -> pd.DataFrame:
    """A rerank run folder's ``rerank_per_user.parquet`` alone (the report's per-user export
    needs no other file)."""
    return pd.read_parquet(Path(folder) / "rerank_per_user.parquet")
