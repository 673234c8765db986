"""Tests of analysis/rerank/parsing.py: every answer format, messy ones, counts exact."""

from __future__ import annotations

import numpy as np
import pytest

from analysis.errors import AnalysisError
from analysis.rerank.parsing import normalize_title, parse_ranking

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


def test_rankgpt_brackets_with_hallucination_and_missing_in_baseline_order():
    r = _p("[3] > [1] > [9] > [3]", id_style="bracket")
    _check(r, [2, 0, 1, 3, 5, 4], 2, 1, 1, "identifiers")


def test_bare_chain_and_commas():
    _check(_p("3 > 1 > 7 > 2"), [2, 0, 1, 3, 5, 4], 3, 1, 0, "identifiers")
    _check(_p("Ranking: 6, 5, 4, 3, 2, 1"), [5, 4, 3, 2, 1, 0], 6, 0, 0, "identifiers")


def test_one_identifier_per_line_with_preamble():
    text = "Here is the ranking:\n\n4\n2\n#6\nitem 1\n\nI hope this helps!"
    _check(_p(text), [3, 1, 5, 0, 4, 2], 4, 0, 0, "identifiers")


def test_numbered_list_leading_number_is_rank():
    text = "1. [4] Amelie\n2. [2] 2001: A Space Odyssey\n3. [1] Toy Story"
    _check(_p(text), [3, 1, 0, 5, 4, 2], 3, 0, 0, "identifiers")
    text = "1) Se7en\n2) The Usual Suspects (1995)\n3) 12 Angry Men"
    _check(_p(text), [2, 4, 5, 1, 3, 0], 3, 0, 0, "numbered")
    # "4. Title": the title decides, whatever the number
    text = "4. Toy Story\n1. Amélie\n2. Se7en"
    _check(_p(text), [0, 3, 2, 1, 5, 4], 3, 0, 0, "numbered")
    # LLMRank answer format "<rank>. <id>"
    _check(_p("1. 5\n2. 6\n3. 2"), [4, 5, 1, 3, 0, 2], 3, 0, 0, "numbered")


def test_numbered_identifiers_only_and_truncated_rank():
    _check(_p("5.\n6.\n2."), [4, 5, 1, 3, 0, 2], 3, 0, 0, "numbered")
    # with content elsewhere, a bare trailing "3." is a rank cut off mid-answer
    _check(_p("1. 5\n2. 6\n3."), [4, 5, 1, 3, 0, 2], 2, 0, 0, "numbered")


def test_titles_containing_numbers():
    text = "2001: A Space Odyssey\nSe7en\n12 Angry Men (1957)\nToy Story"
    _check(_p(text), [1, 2, 5, 0, 3, 4], 4, 0, 0, "titles")


def test_markdown_preamble_and_trailing_explanations():
    text = (
        "Sure! Based on the user's taste, **here is the ranking**:\n\n"
        "1. **Se7en** - a dark thriller like the ones they rated highly\n"
        "2. *The Usual Suspects* – twisty crime\n"
        "3. `Amelie`\n\n"
        "These choices reflect the user's preference for crime films."
    )
    _check(_p(text), [2, 4, 3, 1, 0, 5], 3, 0, 0, "numbered")


def test_bulleted_titles_with_unicode_and_hallucination_inside_list():
    text = "- Amélie\n- The Matrix\n- toy story\n- Se7en (1995)"
    _check(_p(text), [3, 0, 2, 1, 5, 4], 3, 1, 0, "titles")


def test_unmarked_garbage_between_titles_counts_as_hallucinated():
    text = "Toy Story\nThe Godfather\nSe7en\nThanks!"
    _check(_p(text), [0, 2, 1, 3, 5, 4], 2, 1, 0, "titles")


def test_fuzzy_titles_and_cutoff():
    _check(_p("Usual Suspect\nToy Stori"), [4, 0, 1, 3, 5, 2], 2, 0, 0, "titles")
    r = _p("Usual Suspect\nToy Stori", fuzzy_cutoff=0.99)
    _check(r, [1, 3, 0, 5, 4, 2], 0, 0, 0, "none", used=False)


def test_json_numbers_titles_and_objects():
    _check(_p("```json\n[3, 1, 7]\n```"), [2, 0, 1, 3, 5, 4], 2, 1, 0, "json")
    _check(_p('["Se7en", "Toy Story (1995)", "Nope"]'), [2, 0, 1, 3, 5, 4], 2, 1, 0, "json")
    text = 'Result: {"ranking": [{"id": 4, "title": "x"}, {"title": "12 Angry Men"}, "[2]"]}'
    _check(_p(text), [3, 5, 1, 0, 4, 2], 3, 0, 0, "json")


def test_mixed_ids_and_titles():
    text = "[2] 2001\n[6] 12 Angry Men\nToy Story\n[4]"
    _check(_p(text), [1, 5, 0, 3, 4, 2], 4, 0, 0, "titles")


def test_duplicates_and_remakes_prefer_unused():
    shown = ["Sabrina (1954)", "Sabrina (1995)", "Heat (1995)"]
    r = parse_ranking("Sabrina\nSabrina\nSabrina\nHeat", shown, [0, 1, 2])
    assert r.order.tolist() == [0, 1, 2] and (r.n_valid, r.n_duplicate) == (3, 1)
    r = parse_ranking("Sabrina (1995)\nSabrina (1954)", shown, [0, 1, 2])
    assert r.order.tolist() == [1, 0, 2]


def test_truncated_answers_keep_valid_prefix():
    _check(_p("[5] > [3] > [", id_style="bracket"), [4, 2, 1, 3, 0, 5], 2, 0, 0,
           "identifiers")
    _check(_p("1. Se7en\n2. Toy Story\n3. Amé"), [2, 0, 1, 3, 5, 4], 2, 1, 0, "numbered")


@pytest.mark.parametrize("text", ["", "   \n", "I cannot help with ranking these.", None])
def test_empty_and_garbage_fall_back_to_baseline(text):
    _check(_p(text), [1, 3, 0, 5, 4, 2], 0, 0, 0, "none", used=False)


def test_all_hallucinated_falls_back_with_counts():
    _check(_p("[9] > [12] > [0]"), [1, 3, 0, 5, 4, 2], 0, 3, 0, "none", used=False)
    _check(_p("1. The Matrix\n2. Heat"), [1, 3, 0, 5, 4, 2], 0, 2, 0, "none", used=False)


def test_no_candidates_and_errors():
    r = parse_ranking("[1]", [], [])
    assert r.order.shape == (0,) and not r.used and r.n_missing == 0
    with pytest.raises(AnalysisError, match="baseline_rank has 2 entries for 6"):
        parse_ranking("[1]", SHOWN, [0, 1])
    with pytest.raises(AnalysisError, match="fuzzy_cutoff"):
        parse_ranking("[1]", SHOWN, BASE, fuzzy_cutoff=0)


def test_normalize_title():
    assert normalize_title("Usual Suspects, The (1995)") == "usual suspects"
    assert normalize_title("The Usual Suspects") == "usual suspects"
    assert normalize_title("Amélie (2001) (Comedy)") == "amelie"
    assert normalize_title("2001: A Space Odyssey") == "2001 space odyssey"
    assert normalize_title("The") == "the"


def test_long_answer_is_fast():
    shown = [f"Movie number {j} (19{j % 100:02d})" for j in range(100)]
    text = "\n".join(f"{k + 1}. Movie number {j}" for k, j in enumerate(range(99, -1, -1)))
    r = parse_ranking(text, shown, list(range(100)))
    assert r.order.tolist() == list(range(99, -1, -1)) and r.n_valid == 100
