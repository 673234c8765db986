"""Tests of analysis/report/_exports.py: the per-user results joined and exported."""

from __future__ import annotations

import io

import pandas as pd
import pytest

from analysis.report import per_user_results, to_csv_bytes, to_parquet_bytes


def test_per_user_results_join_and_round_trip(runs):
    df = per_user_results(runs.baseline, runs.rerank)
    base = pd.read_parquet(runs.baseline.path / "per_user.parquet")
    rr = pd.read_parquet(runs.rerank.path / "rerank_per_user.parquet")
    assert len(df) == len(base) and df["user_id"].tolist() == base["user_id"].tolist()
    assert int(df["sent_to_llm"].sum()) == len(rr)
    sent = df[df["sent_to_llm"]].set_index("user_id")
    assert sent.loc[rr["user_id"], "llm_gain_ndcg@10"].tolist() == rr["gain_ndcg@10"].tolist()
    assert df.loc[~df["sent_to_llm"], "llm_gain_ndcg@10"].isna().all()
    back = pd.read_parquet(io.BytesIO(to_parquet_bytes(df)))
    pd.testing.assert_frame_equal(back, df, check_dtype=False)
    csv = pd.read_csv(io.BytesIO(to_csv_bytes(df)))
    assert list(csv.columns) == list(df.columns) and len(csv) == len(df)
    assert csv["ndcg@10"].tolist() == pytest.approx(df["ndcg@10"].tolist(), nan_ok=True)
    assert per_user_results(runs.baseline).shape == base.shape
