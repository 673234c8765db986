"""Tests of analysis/subgroups/_grouping.py: group codes and labels of one dimension or a pair."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import subgroups
from analysis.subgroups._grouping import INTERSECTION, crossed_codes, group_codes


def test_group_codes_sorted_values_and_unknown_last():
    codes, labels = group_codes(pd.Series(["b", "a", None]))
    np.testing.assert_array_equal(codes, [1, 0, 2])
    assert labels == ["a", "b", "unknown"]


def test_group_codes_keep_category_order_and_an_existing_unknown():
    codes, labels = group_codes(pd.Series(pd.Categorical(["y", None], categories=["y", "x"])))
    np.testing.assert_array_equal(codes, [0, 2])
    assert labels == ["y", "x", "unknown"]
    codes, labels = group_codes(pd.Series(["unknown", None, "a"]))
    np.testing.assert_array_equal(codes, [1, 1, 0])  # NaN joins the existing "unknown"
    assert labels == ["a", "unknown"]


def test_crossed_codes_first_dimension_varies_slowest():
    t = pd.DataFrame({"g": ["a", "b", "a"], "h": [True, False, False]})
    codes, levels = crossed_codes(t, ["g", "h"])
    np.testing.assert_array_equal(codes, [1, 2, 0])  # code = g * 2 + h
    assert levels == [["a", "False"], ["a", "True"], ["b", "False"], ["b", "True"]]
    codes, levels = crossed_codes(t, ["g"])
    np.testing.assert_array_equal(codes, [0, 1, 0])
    assert levels == [["a"], ["b"]]


def test_intersection_is_public_from_the_package():
    assert subgroups.INTERSECTION == INTERSECTION == " × "
