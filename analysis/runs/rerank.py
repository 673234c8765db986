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
from pathlib import Path

from analysis.rerank.execute import RerankResult
from analysis.runs.files import atomic_folder, jsonable

__all__ = ["write_rerank_outputs"]


def write_rerank_outputs(result: RerankResult, out: str | Path) -> dict[str, Path]:
    """Write the job's files into ``out`` (replaced whole, never half-written)."""
    with atomic_folder(out) as tmp:
        result.per_user.drop(columns=["user_idx"]).to_parquet(
            tmp / "rerank_per_user.parquet", index=False
        )
        result.calls.to_parquet(tmp / "calls.parquet", index=False)
        result.gains.by_group.to_csv(tmp / "gains_by_group.csv", index=False)
        result.gains.curve.to_csv(tmp / "cost_curve.csv", index=False)
        (tmp / "rerank_summary.json").write_text(json.dumps(jsonable(result.summary), indent=2))
    return {p.name: p for p in sorted(Path(out).iterdir())}
