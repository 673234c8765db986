"""Tests of analysis/rerank/prompts.py: builtin and custom templates, item texts."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from analysis.rerank.candidates import CandidateSet
from analysis.rerank.history import HISTORY_STRATEGIES, select_history
from analysis.rerank.prompts import DEFAULT_HISTORY_ORDER, approx_tokens, item_texts, render_prompt
from analysis.rerank.templates import (
    BUILTIN_TEMPLATES,
    PromptTemplate,
    check_template,
    load_template,
)
from analysis.split import Split
from models.llm.protocol import LLMRequest
from tests.datasets import make_dataset

CANDS = ["Alien (1979) (Horror)", "Toy Story (1995) (Animation)", "Se7en (1995) (Crime)"]


@pytest.mark.parametrize("name", ["paper", "llmrank", "rankgpt"])
def test_builtins_render_ids_in_shown_order(name):
    t = load_template(name)
    assert t is BUILTIN_TEMPLATES[name]
    req = render_prompt(t, ["Heat (1995)", "Fargo (1996)"], [5.0, 4.0], CANDS, max_tokens=99)
    assert isinstance(req, LLMRequest) and req.max_tokens == 99 and req.temperature == 0.0
    if t.id_style == "bracket":
        lines = [f"[{j}] {c}" for j, c in enumerate(CANDS, 1)]
    else:
        lines = [f"{j}. {c}" for j, c in enumerate(CANDS, 1)]
    assert "\n".join(lines) in req.user
    assert "Heat (1995): 5/5\nFargo (1996): 4/5" in req.user
    assert "{" not in req.user.replace("[] > [] > []", "")  # every placeholder filled
    assert str(len(CANDS)) in req.user


@pytest.mark.parametrize("name", ["paper", "llmrank", "rankgpt"])
def test_system_identical_across_users_and_free_of_user_data(name):
    t = load_template(name)
    a = render_prompt(t, ["Heat"], [5], CANDS)
    b = render_prompt(t, ["Casino", "Big"], None, CANDS[:2])
    assert a.system == b.system == t.system
    assert "Heat" not in a.system and not re.search(r"\d", a.system.replace("[1]", "")
                                                           .replace("[2]", "")
                                                           .replace("[3]", ""))
    check_template(t)


def test_paper_template_wording():
    req = render_prompt(load_template("paper"), ["Heat"], [5], CANDS)
    assert "Rank the following 3 items" in req.user
    assert "Do not generate any item outside this list." in req.user


def test_history_without_ratings_and_nan_ratings():
    t = PromptTemplate("t", "", "{history}|{candidates}|{n_history}|{n_candidates}")
    assert render_prompt(t, ["A", "B"], None, ["C"]).user == "A\nB|1. C|2|1"
    assert render_prompt(t, ["A", "B"], [float("nan"), 3.5], ["C"]).user == "A\nB: 3.5/5|1. C|2|1"
    assert render_prompt(t, ["A"], [8], ["C"], rating_max=10).user == "A: 8/10|1. C|1|1"
    # newlines inside texts cannot break the list structure
    assert render_prompt(t, ["A\nB"], None, ["x\n\ny"]).user == "A B|1. x y|1|1"


def test_render_errors():
    t = load_template("paper")
    with pytest.raises(AnalysisError, match="at least one candidate"):
        render_prompt(t, ["A"], [5], [])
    with pytest.raises(AnalysisError, match="history_ratings has 1 values for 2"):
        render_prompt(t, ["A", "B"], [5], CANDS)


def test_literal_braces_and_titles_with_braces():
    t = check_template(PromptTemplate("t", "Answer as {{json}}", "{{x}} {candidates}"))
    req = render_prompt(t, [], None, ["{history} movie"])
    assert req.system == "Answer as {json}"
    assert req.user == "{x} 1. {history} movie"


def test_item_texts():
    items = pd.DataFrame({
        "item_id": [10, 11, 12, 13],
        "title": ["Toy Story (1995)", None, "Amélie\n(2001)", "A" * 100],
        "genres": ["Animation|Children's|Comedy", "Drama", None, "Drama"],
    })
    ids = np.array([10, 11, 12, 13])
    out = item_texts(items, ids, np.array([[0, 1, -1], [2, 3, 0]]), max_chars=40)
    assert out.shape == (2, 3)
    assert out[0, 0] == "Toy Story (1995) (Animation, Children's, Comedy)"[:39] + "…"
    assert out[0, 1] == "item 11"
    assert out[0, 2] == ""
    assert out[1, 0] == "Amélie (2001)"
    assert out[1, 1] == "A" * 39 + "…" and len(out[1, 1]) == 40
    assert out[1, 2] == out[0, 0]
    short = item_texts(items, ids, np.array([0]), max_chars=80)
    assert short[0] == "Toy Story (1995) (Animation, Children's, Comedy)"
    assert list(item_texts(None, ids, np.array([3, 0]))) == ["item 13", "item 10"]
    no_title = items.drop(columns=["title"])
    assert item_texts(no_title, ids, np.array([1]))[0] == "item 11"
    with pytest.raises(AnalysisError, match="items table has 4 rows"):
        item_texts(items, ids[:2], np.array([0]))


def test_approx_tokens():
    assert approx_tokens("") == 0
    assert approx_tokens("abc") == 1
    assert approx_tokens("a" * 7) == 2
    assert approx_tokens("a" * 8) == 3


# --- every template tells the truth about every history -----------------------------------
# user 0's train items 0-7 (rating @ time), so that recency, rating and similarity orders
# all differ; item 8 is its test item, item 9 its validation item.
_R = [2, 5, 3, 4, 1, 5, 3, 4, 5, 5]
_T = [80, 10, 70, 20, 60, 30, 50, 40, 90, 85]
# words that describe a history's order or selection; "most likely first" and "most
# preferred first" order the answer, not the history
_ORDER_WORDS = re.compile(r"best|rated|recent|newest|oldest|similar|random|sample|\bfirst\b",
                          re.IGNORECASE)
_ANSWER_ORDER = re.compile(r"most (likely|preferred) first")


def _truth_split(ratings: bool = True) -> Split:
    ds = make_dataset([0] * 10, list(range(10)), _R if ratings else None, _T, n_items=12)
    return Split(ds, np.array([0] * 8 + [2, 1], np.int8), "t", 0, {})


def _truth_factors() -> np.ndarray:
    return np.random.default_rng(3).normal(size=(12, 2))


def _histories():
    """(label, History, anchor) for every strategy and every way it can be built."""
    split, factors = _truth_split(), _truth_factors()
    u = np.array([0])
    real = CandidateSet(u, np.array([[10, 11]], np.int32), np.array([[1, 0]], np.int16),
                        "realistic", 0, np.array([np.nan]))
    paper = CandidateSet(u, np.array([[8, 10]], np.int32), np.array([[1, 0]], np.int16),
                         "paper", 0, np.array([1.0]))
    out = [
        ("recent", select_history(split, u, "recent", n_recent=5), None),
        ("paper", select_history(split, u, "paper", n_paper=6, seed=2), None),
        ("paper-no-ratings", select_history(_truth_split(False), u, "paper", n_paper=6, seed=2),
         None),
        ("long-short-realistic", select_history(
            split, u, "long-short", n_short=2, n_long=4, item_factors=factors, candidates=real),
         factors[[10, 11]].mean(axis=0)),
        ("long-short-paper", select_history(
            split, u, "long-short", n_short=2, n_long=4, item_factors=factors, candidates=paper),
         factors[[0, 2]].mean(axis=0)),  # the 2 most recent train items: 0 @80, 2 @70
    ]
    assert {h.strategy for _, h, _ in out} == set(HISTORY_STRATEGIES)
    return out


def _listed_history(user: str, n: int) -> tuple[list[int], list[float]]:
    """Item idx and shown rating (NaN when none) of the history lines of a rendered prompt."""
    lines = [ln for ln in user.splitlines() if re.fullmatch(r"Film \d+(: \d+/5)?", ln)]
    assert len(lines) == n
    items = [int(re.search(r"Film (\d+)", ln).group(1)) for ln in lines]
    ratings = [float(m.group(1)) if (m := re.search(r": (\d+)/5", ln)) else np.nan
               for ln in lines]
    return items, ratings


def _cos(factors: np.ndarray, items: list[int], anchor: np.ndarray) -> np.ndarray:
    f = factors[items]
    return f @ anchor / (np.linalg.norm(f, axis=1) * np.linalg.norm(anchor))


@pytest.mark.parametrize("name", sorted(BUILTIN_TEMPLATES))
@pytest.mark.parametrize("case", range(5), ids=["recent", "paper", "paper-no-ratings",
                                               "long-short-realistic", "long-short-paper"])
def test_every_template_states_the_order_its_history_has(name, case):
    label, hist, anchor = _histories()[case]
    t = load_template(name)
    keep = hist.items[0] >= 0
    items = hist.items[0][keep].tolist()
    ratings = hist.ratings[0][keep]
    req = render_prompt(t, [f"Film {i}" for i in items],
                        None if np.isnan(ratings).all() else ratings.tolist(), CANDS,
                        history_order=hist.description)
    phrase = hist.description
    # the template quotes the strategy's own phrase, and says nothing about order besides it
    assert f"({phrase})" in req.user or f", {phrase})" in req.user
    rest = _ANSWER_ORDER.sub("", (req.system + "\n" + req.user).replace(phrase, ""))
    assert not _ORDER_WORDS.search(rest)
    shown, shown_ratings = _listed_history(req.user, len(items))
    assert shown == items  # listed in the history's order
    assert not set(shown) & {8, 9}  # never a held-out item
    ts, r = np.array(_T)[shown], np.array(_R, float)[shown]
    if label == "recent":
        assert phrase == "most recent first" and "rated" not in phrase
        assert (np.diff(ts) < 0).all()
    elif label == "paper":
        assert phrase.endswith("best rated first") and "recent" not in phrase
        np.testing.assert_array_equal(shown_ratings, r)  # the ratings are on the lines
        assert (np.diff(r) <= 0).all() and not (np.diff(ts) < 0).all()
    elif label == "paper-no-ratings":
        assert phrase.endswith("most recent first") and "rated" not in phrase
        assert np.isnan(shown_ratings).all() and (np.diff(ts) < 0).all()
    else:
        target = "the candidates" if label.endswith("realistic") else "those recent items"
        assert phrase == ("up to 2 most recent items, most recent first, then up to 4 earlier "
                          f"items most similar to {target}, most similar first")
        assert "rated" not in phrase
        assert (np.diff(ts[:2]) < 0).all() and ts[:2].min() > ts[2:].max()
        sim = _cos(_truth_factors(), shown[2:], anchor)
        assert (np.diff(sim) <= 0).all()
        rest = sorted(set(range(8)) - set(shown[:2]), key=lambda i: -_cos(
            _truth_factors(), [i], anchor)[0])
        assert shown[2:] == rest[:4]  # the most similar of the earlier items


def test_history_order_placeholder_in_custom_templates(tmp_path):
    p = tmp_path / "mine.txt"
    p.write_text("Histories are given {history_order}.\n---\n{history}\n{candidates}")
    t = load_template(p)
    a = render_prompt(t, ["Heat"], None, CANDS, history_order="most recent first")
    b = render_prompt(t, ["Big", "Casino"], [3, 4], CANDS[:1], history_order="most recent first")
    assert a.system == b.system == "Histories are given most recent first."
    # templates without it keep working, and no order is claimed when none is passed
    old = PromptTemplate("t", "", "{history}|{candidates}|{n_history}|{n_candidates}")
    assert render_prompt(old, ["A"], None, ["C"], history_order="x").user == "A|1. C|1|1"
    assert render_prompt(load_template("llmrank"), ["A"], None, ["C"]).user.startswith(
        f"I've interacted with the following items ({DEFAULT_HISTORY_ORDER}):\nA\n")
    p.write_text("{history_order!r}\n---\n{candidates}")
    with pytest.raises(AnalysisError, match="format spec"):
        load_template(p)
