"""The per-user results of a run (and of its rerank) as one table, as CSV or Parquet bytes."""

from __future__ import annotations

import io

import pandas as pd

from analysis.report._inputs import check_runs, run_file
from analysis.runs.baseline import read_per_user
from analysis.runs.rerank import read_rerank_per_user
from analysis.runs.store import RunInfo


def per_user_results(baseline: RunInfo, rerank: RunInfo | None = None) -> pd.DataFrame:
    """One row per user of the baseline run, with the rerank's figures where it sent them.

    Columns: the baseline's ``per_user.parquet`` (``user_id``, every metric on test and
    validation, ``weak``, the subgroup columns...), then with a rerank ``sent_to_llm`` (bool)
    and the rerank's per-user columns prefixed ``llm_`` (``llm_before_ndcg@10``,
    ``llm_after_ndcg@10``, ``llm_gain_ndcg@10``, ``llm_fallback_reason``, ``llm_cost_usd``...;
    missing for users not sent; flags are nullable booleans).

    Raises:
        AnalysisError: a run file is missing, or the rerank is not from this baseline.
    """
    check_runs(baseline, rerank)
    run_file(baseline, "per_user.parquet")
    base = read_per_user(baseline.path)
    if rerank is None:
        return base
    run_file(rerank, "rerank_per_user.parquet")
    sent = read_rerank_per_user(rerank.path)
    sent = sent.rename(columns={col: f"llm_{col}" for col in sent.columns if col != "user_id"})
    sent.insert(1, "sent_to_llm", True)
    for col in sent.columns[sent.dtypes == object]:  # texts (fallback reason, error): str dtype
        sent[col] = sent[col].astype("str")
    flags = [col for col in sent.columns if sent[col].dtype == bool and col != "sent_to_llm"]
    merged = base.merge(sent, on="user_id", how="left")
    merged[flags] = merged[flags].astype("boolean")  # missing (not sent) stays <NA>, not object
    merged["sent_to_llm"] = merged["sent_to_llm"].fillna(False).astype(bool)
    return merged


def to_csv_bytes(df: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a header, no index."""
    return df.to_csv(index=False).encode("utf-8")


def to_parquet_bytes(df: pd.DataFrame) -> bytes:
    """A Parquet file in memory, no index."""
    buffer = io.BytesIO()
    df.to_parquet(buffer, index=False)
    return buffer.getvalue()
