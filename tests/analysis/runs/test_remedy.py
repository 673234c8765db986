"""Tests of analysis/runs/remedy.py and the list helpers of analysis/runs/files.py: a remedy
folder round trip keeps every figure and list; a folder that is not one is refused."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.runs.files import item_lists, item_rows
from analysis.runs.remedy import RemedyRun, RemedySummary, load_remedy_run, write_remedy_outputs


def test_item_lists_round_trip():
    ids = np.array(["a", "b", "c", "d"])
    rows = np.array([[2, 0, -1], [-1, -1, -1], [3, 1, 0]])
    lists = item_lists(rows, ids)
    assert lists == [["c", "a"], [], ["d", "b", "a"]]
    np.testing.assert_array_equal(item_rows(pd.Series(lists), ids, 3), rows)
    np.testing.assert_array_equal(item_rows(pd.Series(lists), ids, 2), rows[:, :2])
    assert item_lists(np.zeros((0, 3), np.int64), ids) == []


def test_remedy_folder_round_trip(tmp_path):
    summary = RemedySummary(kind="content_blend", label="blend", uses_llm=False, control=None,
                            target="weak", k=2, n_target=3, n_evaluated=10, one_off_usd=0.25,
                            settings={"weight": 0.3}, seed=4)
    per = pd.DataFrame({"user_idx": [2, 0],
                        "before_ndcg@2": [0.0, 0.5], "after_ndcg@2": [1.0, 0.5],
                        "gain_ndcg@2": [1.0, 0.0]})
    run = RemedyRun(summary, per, topk=np.array([[1, 0], [2, -1]]))
    dataset = SimpleNamespace(user_ids=np.array(["u0", "u1", "u2"]),
                              item_ids=np.array([10, 11, 12]))
    write_remedy_outputs(run, tmp_path / "r", dataset)
    back = load_remedy_run(tmp_path / "r", dataset)
    assert back.summary == summary
    assert back.per_user["user_id"].tolist() == ["u2", "u0"]
    pd.testing.assert_frame_equal(back.per_user.drop(columns="user_id"), per)
    np.testing.assert_array_equal(back.topk, run.topk)
    assert back.mean_gain() == 0.5


def test_a_folder_that_is_not_a_remedy_is_refused(tmp_path):
    with pytest.raises(AnalysisError, match="is not a remedy run folder .no remedy_summary"):
        load_remedy_run(tmp_path)
