"""Tests of analysis/subgroups/_binning.py: quantile bins and their labels, by hand."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.subgroups._binning import (
    UNKNOWN,
    format_number,
    ordered_names,
    quantile_bins,
    quantile_codes,
)


@pytest.mark.parametrize(("value", "text"), [(12.0, "12"), (0.31234, "0.312"), (-3.0, "-3")])
def test_format_number(value, text):
    assert format_number(value) == text


def test_quantile_codes_by_hand():
    # inverted_cdf quantiles of [1, 2, 3, 4] at 0, 1/2, 1: 1, 2, 4; bins (1, 2], (2, 4]
    codes, edges = quantile_codes(np.array([1.0, 2.0, 3.0, 4.0, np.nan]), 2)
    np.testing.assert_array_equal(codes, [0, 0, 1, 1, -1])
    np.testing.assert_array_equal(edges, [1.0, 2.0, 4.0])


def test_quantile_codes_ties_and_nothing_finite():
    codes, edges = quantile_codes(np.full(4, 5.0), 4)  # every edge 5: one bin, never empty
    np.testing.assert_array_equal(codes, [0, 0, 0, 0])
    np.testing.assert_array_equal(edges, [5.0])
    codes, edges = quantile_codes(np.array([np.nan, np.nan]), 3)
    np.testing.assert_array_equal(codes, [-1, -1])
    assert edges.size == 0


def test_quantile_bins_labels_by_members_range():
    bins = quantile_bins(np.array([1.0, 2.0, 3.0, 4.0, np.nan]), 2)
    assert bins.ordered
    assert list(bins.categories) == ["Q1 (1-2)", "Q2 (3-4)", UNKNOWN]
    assert list(bins.astype(str)) == ["Q1 (1-2)", "Q1 (1-2)", "Q2 (3-4)", "Q2 (3-4)", UNKNOWN]
    assert list(quantile_bins(np.array([-2.0, -1.0]), 1).categories) == ["Q1 (-2 to -1)"]


def test_quantile_bins_custom_names():
    # edges 1, 2, 4, 6 (inverted_cdf at 0, 1/3, 2/3, 1): three bins, named in order
    bins = quantile_bins(
        np.arange(1.0, 7.0), 3, names=lambda m: ordered_names(m, "lo", "mid", "hi")
    )
    assert list(bins.astype(str)) == ["lo", "lo", "mid", "mid", "hi", "hi"]
    # ties leave two bins: the two outer names
    tied = quantile_bins(
        np.array([0.1, 0.5, 0.9]), 3, names=lambda m: ordered_names(m, "lo", "mid", "hi")
    )
    assert list(tied.astype(str)) == ["lo", "lo", "hi"]


def test_ordered_names():
    assert ordered_names(0, "lo", "mid", "hi") == []
    assert ordered_names(1, "lo", "mid", "hi") == ["mid"]
    assert ordered_names(2, "lo", "mid", "hi") == ["lo", "hi"]
    assert ordered_names(3, "lo", "mid", "hi") == ["lo", "mid", "hi"]
    assert ordered_names(4, "lo", "mid", "hi") == ["lo", "mid 1", "mid 2", "hi"]
