"""Tests of analysis/formatting.py: numbers as people read them."""

from __future__ import annotations

import numpy as np

from analysis.formatting import (
    fmt_int,
    fmt_metric,
    fmt_num,
    fmt_pct,
    fmt_signed,
    fmt_usd,
    round_sig,
)


def test_fmt_num_keeps_four_significant_digits():
    assert fmt_num(0.9369533063577546) == "0.937"
    assert fmt_num(0.9830511111111111) == "0.9831"
    assert fmt_num(12.3456) == "12.35"
    assert fmt_num(1234.56) == "1,235"
    assert fmt_num(25.423333333333332) == "25.42"
    assert fmt_num(2.0) == "2"
    assert fmt_num(0.0004080281690140845) == "0.000408"
    assert fmt_num(1.1449348005610767e-29) == "1.145e-29"
    assert fmt_num(np.int64(76270)) == "76,270" and fmt_num(3000) == "3,000"
    assert fmt_num(0.0) == "0" and fmt_num(None) == "n/a" and fmt_num(float("nan")) == "n/a"


def test_metric_pct_usd_int():
    assert fmt_metric(0.18273296350117438) == "0.1827"
    assert fmt_metric(0.18273296350117438, 3) == "0.183"
    assert fmt_signed(-0.04073318758918226) == "-0.0407"
    assert fmt_signed(0.004965391474146014) == "+0.0050"
    assert fmt_pct(0.20032639738882088) == "20.0%"
    assert fmt_usd(1234.5) == "$1,234.50" and fmt_usd(0.02897) == "$0.02897"
    assert fmt_usd(0.06608408450704226) == "$0.06608" and fmt_usd(None) == "n/a"
    assert fmt_usd(0) == "$0"
    assert fmt_int(1493.0) == "1,493" and fmt_int(float("inf")) == "n/a"
    assert round_sig(0.9369533063577546) == 0.937 and round_sig(3.0) == 3.0
