"""Tests of analysis/rerank/parsing.py: every answer format, messy ones, counts exact."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import AnalysisError
from analysis.rerank.parsing import parse_ranking

SHOWN = [
    "Toy Story (1995) (Animation, Comedy)",  # id 1
    "2001: A Space Odyssey (1968) (Sci-Fi)",  # id 2
    "Se7en (1995) (Crime, Thriller)",  # id 3
    "Amélie (2001) (Comedy, Romance)",  # id 4
    "Usual Suspects, The (1995) (Crime)",  # id 5
    "12 Angry Men (1957) (Drama)",  # id 6
]
BASE = [2, 0, 5, 1, 4, 3]  # baseline positions of shown 0..5 -> baseline order 1, 3, 0, 5, 4, 2


def _p(text, **kw):
    return parse_ranking(text, SHOWN, BASE, **kw)


def _check(r, order, valid, halluc, dup, method, used=True):
    np.testing.assert_array_equal(r.order, order)
    assert (r.n_valid, r.n_hallucinated, r.n_duplicate) == (valid, halluc, dup)
    assert r.n_missing == len(SHOWN) - valid
    assert r.used is used and r.method == method
    assert sorted(r.order.tolist()) == list(range(len(SHOWN)))


# (answer, parse_ranking keywords, order, n_valid, n_hallucinated, n_duplicate, method, used)
ANSWERS = [
    pytest.param("[3] > [1] > [9] > [3]", {"id_style": "bracket"}, [2, 0, 1, 3, 5, 4], 2, 1, 1,
                 "identifiers", True, id="rankgpt-brackets-hallucination-missing-in-baseline"),
    pytest.param("3 > 1 > 7 > 2", {}, [2, 0, 1, 3, 5, 4], 3, 1, 0, "identifiers", True,
                 id="bare-chain"),
    pytest.param("Ranking: 6, 5, 4, 3, 2, 1", {}, [5, 4, 3, 2, 1, 0], 6, 0, 0, "identifiers",
                 True, id="commas"),
    pytest.param("Here is the ranking:\n\n4\n2\n#6\nitem 1\n\nI hope this helps!", {},
                 [3, 1, 5, 0, 4, 2], 4, 0, 0, "identifiers", True,
                 id="one-identifier-per-line-with-preamble"),
    # numbered list: the leading number is the rank
    pytest.param("1. [4] Amelie\n2. [2] 2001: A Space Odyssey\n3. [1] Toy Story", {},
                 [3, 1, 0, 5, 4, 2], 3, 0, 0, "identifiers", True, id="numbered-bracket-ids"),
    pytest.param("1) Se7en\n2) The Usual Suspects (1995)\n3) 12 Angry Men", {},
                 [2, 4, 5, 1, 3, 0], 3, 0, 0, "numbered", True, id="numbered-titles"),
    # "4. Title": the title decides, whatever the number
    pytest.param("4. Toy Story\n1. Amélie\n2. Se7en", {}, [0, 3, 2, 1, 5, 4], 3, 0, 0,
                 "numbered", True, id="numbered-title-decides"),
    # LLMRank answer format "<rank>. <id>"
    pytest.param("1. 5\n2. 6\n3. 2", {}, [4, 5, 1, 3, 0, 2], 3, 0, 0, "numbered", True,
                 id="numbered-llmrank-ids"),
    pytest.param("5.\n6.\n2.", {}, [4, 5, 1, 3, 0, 2], 3, 0, 0, "numbered", True,
                 id="numbered-identifiers-only"),
    # with content elsewhere, a bare trailing "3." is a rank cut off mid-answer
    pytest.param("1. 5\n2. 6\n3.", {}, [4, 5, 1, 3, 0, 2], 2, 0, 0, "numbered", True,
                 id="numbered-truncated-rank"),
    pytest.param("2001: A Space Odyssey\nSe7en\n12 Angry Men (1957)\nToy Story", {},
                 [1, 2, 5, 0, 3, 4], 4, 0, 0, "titles", True, id="titles-containing-numbers"),
    pytest.param(
        "Sure! Based on the user's taste, **here is the ranking**:\n\n"
        "1. **Se7en** - a dark thriller like the ones they rated highly\n"
        "2. *The Usual Suspects* – twisty crime\n"
        "3. `Amelie`\n\n"
        "These choices reflect the user's preference for crime films.",
        {}, [2, 4, 3, 1, 0, 5], 3, 0, 0, "numbered", True,
        id="markdown-preamble-and-trailing-explanations"),
    pytest.param("- Amélie\n- The Matrix\n- toy story\n- Se7en (1995)", {}, [3, 0, 2, 1, 5, 4],
                 3, 1, 0, "titles", True,
                 id="bulleted-titles-with-unicode-and-hallucination-inside-list"),
    pytest.param("Toy Story\nThe Godfather\nSe7en\nThanks!", {}, [0, 2, 1, 3, 5, 4], 2, 1, 0,
                 "titles", True, id="unmarked-garbage-between-titles-counts-as-hallucinated"),
    pytest.param("Usual Suspect\nToy Stori", {}, [4, 0, 1, 3, 5, 2], 2, 0, 0, "titles", True,
                 id="fuzzy-titles"),
    pytest.param("Usual Suspect\nToy Stori", {"fuzzy_cutoff": 0.99}, [1, 3, 0, 5, 4, 2], 0, 0,
                 0, "none", False, id="fuzzy-cutoff"),
    pytest.param("```json\n[3, 1, 7]\n```", {}, [2, 0, 1, 3, 5, 4], 2, 1, 0, "json", True,
                 id="json-numbers"),
    pytest.param('["Se7en", "Toy Story (1995)", "Nope"]', {}, [2, 0, 1, 3, 5, 4], 2, 1, 0,
                 "json", True, id="json-titles"),
    pytest.param(
        'Result: {"ranking": [{"id": 4, "title": "x"}, {"title": "12 Angry Men"}, "[2]"]}',
        {}, [3, 5, 1, 0, 4, 2], 3, 0, 0, "json", True, id="json-objects"),
    pytest.param("[2] 2001\n[6] 12 Angry Men\nToy Story\n[4]", {}, [1, 5, 0, 3, 4, 2], 4, 0, 0,
                 "titles", True, id="mixed-ids-and-titles"),
    # truncated answers keep their valid prefix
    pytest.param("[5] > [3] > [", {"id_style": "bracket"}, [4, 2, 1, 3, 0, 5], 2, 0, 0,
                 "identifiers", True, id="truncated-brackets"),
    pytest.param("1. Se7en\n2. Toy Story\n3. Amé", {}, [2, 0, 1, 3, 5, 4], 2, 1, 0, "numbered",
                 True, id="truncated-numbered"),
    # all hallucinated: the baseline order, with the counts
    pytest.param("[9] > [12] > [0]", {}, [1, 3, 0, 5, 4, 2], 0, 3, 0, "none", False,
                 id="all-hallucinated-identifiers"),
    pytest.param("1. The Matrix\n2. Heat", {}, [1, 3, 0, 5, 4, 2], 0, 2, 0, "none", False,
                 id="all-hallucinated-titles"),
]


@pytest.mark.parametrize(("text", "kw", "order", "valid", "halluc", "dup", "method", "used"),
                         ANSWERS)
def test_answer_formats(text, kw, order, valid, halluc, dup, method, used):
    _check(_p(text, **kw), order, valid, halluc, dup, method, used=used)


def test_duplicates_and_remakes_prefer_unused():
    shown = ["Sabrina (1954)", "Sabrina (1995)", "Heat (1995)"]
    r = parse_ranking("Sabrina\nSabrina\nSabrina\nHeat", shown, [0, 1, 2])
    assert r.order.tolist() == [0, 1, 2] and (r.n_valid, r.n_duplicate) == (3, 1)
    r = parse_ranking("Sabrina (1995)\nSabrina (1954)", shown, [0, 1, 2])
    assert r.order.tolist() == [1, 0, 2]


@pytest.mark.parametrize("text", ["", "   \n", "I cannot help with ranking these.", None])
def test_empty_and_garbage_fall_back_to_baseline(text):
    _check(_p(text), [1, 3, 0, 5, 4, 2], 0, 0, 0, "none", used=False)


def test_no_candidates_and_errors():
    r = parse_ranking("[1]", [], [])
    assert r.order.shape == (0,) and not r.used and r.n_missing == 0
    with pytest.raises(AnalysisError, match="baseline_rank has 2 entries for 6"):
        parse_ranking("[1]", SHOWN, [0, 1])
    with pytest.raises(AnalysisError, match="fuzzy_cutoff"):
        parse_ranking("[1]", SHOWN, BASE, fuzzy_cutoff=0)


def test_long_answer_is_fast():
    shown = [f"Movie number {j} (19{j % 100:02d})" for j in range(100)]
    text = "\n".join(f"{k + 1}. Movie number {j}" for k, j in enumerate(range(99, -1, -1)))
    r = parse_ranking(text, shown, list(range(100)))
    assert r.order.tolist() == list(range(99, -1, -1)) and r.n_valid == 100
