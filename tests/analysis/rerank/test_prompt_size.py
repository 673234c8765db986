"""Tests of analysis/rerank/prompt_size.py: prompt lengths without building prompts.

The reference is the prompt itself: ``render_prompt`` builds it and ``len`` counts it."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analysis.errors import AnalysisError
from analysis.rerank.prompt_size import (
    _digit_sums,
    _digits,
    calibrate_tokens,
    prompt_sizes,
    text_lengths,
)
from analysis.rerank.prompts import approx_tokens, render_prompt
from analysis.rerank.templates import BUILTIN_TEMPLATES, PromptTemplate, check_template

# one-line texts, as item_texts returns them: accents, an emoji, CJK, digits, braces
TEXTS = np.array(
    ["Amélie (Comedy, Romance)", "🎬 Film", "千と千尋の神隠し", "Item {x} 42", "A", "Ünïcödé…",
     "The Matrix (Action, Sci-Fi)", "x" * 80, "Brace }{ pair", "ok"],
    dtype=object,
)


def _rendered_lengths(template, shown, hist, ratings, order):
    out = []
    for row in range(shown.shape[0]):
        keep = hist[row] >= 0
        r = ratings[row][keep]
        req = render_prompt(
            template,
            [TEXTS[i] for i in hist[row][keep]],
            None if np.isnan(r).all() else r.tolist(),
            [TEXTS[i] for i in shown[row] if i >= 0],
            history_order=order,
        )
        out.append((len(req.system), len(req.user)))
    return np.array(out)


def _random_rows(seed, n=40, c=12, h=15):
    rng = np.random.default_rng(seed)
    shown = rng.integers(0, len(TEXTS), size=(n, c))
    shown[rng.random((n, c)) < 0.2] = -1  # padding anywhere in the row
    shown[:, 0] = rng.integers(0, len(TEXTS), size=n)  # at least one candidate
    hist = rng.integers(0, len(TEXTS), size=(n, h))
    hist[rng.random((n, h)) < 0.3] = -1
    hist[0] = -1  # a user with no history
    values = np.array([1, 2.5, 3, 4.2, 5, np.nan, 0.1, 100], dtype=np.float32)
    ratings = values[rng.integers(0, len(values), size=(n, h))]
    ratings[1] = np.nan  # a user without any rating
    return shown, hist, ratings


@pytest.mark.parametrize("name", sorted(BUILTIN_TEMPLATES))
@pytest.mark.parametrize("seed", [0, 1])
def test_lengths_equal_the_rendered_prompts(name, seed):
    template = BUILTIN_TEMPLATES[name]
    shown, hist, ratings = _random_rows(seed)
    order = "a random sample of up to 20 items,\n best   rated first"  # cleaned like render
    sizes = prompt_sizes(template, text_lengths(TEXTS), shown, hist, ratings,
                         history_order=order)
    ref = _rendered_lengths(template, shown, hist, ratings, order)
    assert (ref[:, 0] == sizes.system_chars).all()
    np.testing.assert_array_equal(sizes.user_chars, ref[:, 1])
    np.testing.assert_array_equal(sizes.chars, ref.sum(axis=1))
    expected_tokens = [math.ceil(s / 3.5) + math.ceil(u / 3.5) for s, u in ref]
    np.testing.assert_array_equal(sizes.approx_tokens(), expected_tokens)


def test_custom_template_with_repeated_placeholders_and_literal_braces():
    template = check_template(PromptTemplate(
        name="custom",
        system="Rank {{items}} ({history_order}).",
        user="{{json}} {n_candidates}/{n_candidates} of {n_history}: {history}\n"
             "{candidates}\n{candidates} {history_order} {history_order}",
        id_style="bracket",
    ))
    shown, hist, ratings = _random_rows(3, n=30, c=11)
    sizes = prompt_sizes(template, text_lengths(TEXTS), shown, hist, ratings,
                         history_order="most recent first")
    ref = _rendered_lengths(template, shown, hist, ratings, "most recent first")
    assert sizes.system_chars == ref[0, 0]
    np.testing.assert_array_equal(sizes.user_chars, ref[:, 1])


def test_one_prompt_counted_by_hand():
    template = PromptTemplate(name="t", system="S", user="{history}|{candidates}|{n_candidates}")
    texts = np.array(["ab", "cde"], dtype=object)
    # history: "ab: 4/5\ncde" = 7 + 1 + 3 = 11; candidates "1. cde\n2. ab" = 6 + 1 + 5 = 12
    sizes = prompt_sizes(template, text_lengths(texts), np.array([[1, -1, 0]]),
                         np.array([[0, 1]]), np.array([[4.0, np.nan]], dtype=np.float32),
                         history_order="x")
    assert sizes.system_chars == 1
    assert sizes.user_chars.tolist() == [11 + 1 + 12 + 1 + 1]


def test_a_row_without_candidates_is_refused_like_render_prompt():
    with pytest.raises(AnalysisError, match="at least one candidate"):
        prompt_sizes(BUILTIN_TEMPLATES["paper"], text_lengths(TEXTS), np.array([[-1, -1]]),
                     np.array([[0]]), np.array([[np.nan]]), history_order="x")


def test_no_rows_gives_no_sizes():
    sizes = prompt_sizes(BUILTIN_TEMPLATES["paper"], text_lengths(TEXTS),
                         np.zeros((0, 5), dtype=np.int64), np.zeros((0, 3), dtype=np.int64),
                         np.zeros((0, 3), dtype=np.float32), history_order="x")
    assert sizes.user_chars.shape == (0,) and sizes.approx_tokens().shape == (0,)


def test_digit_helpers_match_str():
    n = np.array([0, 1, 9, 10, 99, 100, 999, 1000, 123456])
    assert _digits(n).tolist() == [len(str(x)) for x in n]
    assert _digit_sums(120).tolist() == [sum(len(str(i)) for i in range(1, m + 1))
                                          for m in range(121)]


def test_approx_tokens_matches_the_heuristic_on_any_length():
    template = PromptTemplate(name="t", system="", user="{candidates}")
    texts = np.array(["x" * n for n in range(1, 60)], dtype=object)
    shown = np.arange(len(texts))[:, None]
    sizes = prompt_sizes(template, text_lengths(texts), shown, np.full((len(texts), 1), -1),
                         np.full((len(texts), 1), np.nan), history_order="x")
    expected = [approx_tokens(f"1. {t}") for t in texts]
    np.testing.assert_array_equal(sizes.approx_tokens(), expected)


def test_calibration_by_hand():
    chars = np.array([100, 200, 100, 200])
    counted = np.array([20, 50, 30, 40])
    cal = calibrate_tokens(chars, counted)
    assert cal.n_exact == 4
    assert cal.tokens_per_char == pytest.approx(140 / 600)
    # fitted on rows 0 and 2 (50 tokens / 200 chars = 0.25), predicting rows 1 and 3 (200
    # chars each: 50 tokens) against 50 and 40: total 100 vs 90, per prompt 0% and 25%
    assert cal.total_error == pytest.approx(10 / 90)
    assert cal.prompt_error_p90 == pytest.approx(0.9 * 0.25)
    assert "4 prompts counted exactly" in cal.describe()
