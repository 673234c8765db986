"""Tests of analysis/rerank/title_match.py: normalized titles and the title matcher."""

from __future__ import annotations

from analysis.rerank.title_match import TitleMatcher, normalize_title


def test_normalize_title():
    assert normalize_title("Usual Suspects, The (1995)") == "usual suspects"
    assert normalize_title("The Usual Suspects") == "usual suspects"
    assert normalize_title("Amélie (2001) (Comedy)") == "amelie"
    assert normalize_title("2001: A Space Odyssey") == "2001 space odyssey"
    assert normalize_title("The") == "the"


def test_matcher_exact_normalized_fuzzy_and_unused_first():
    shown = ["Sabrina (1954)", "Sabrina (1995)", "Usual Suspects, The (1995) (Crime)"]
    m = TitleMatcher(shown, 0.85)
    assert m.resolve("Sabrina (1995)", set()) == 1  # exact, casefolded
    assert m.resolve("sabrina", set()) == 0 and m.resolve("sabrina", {0}) == 1  # unused first
    assert m.resolve("The Usual Suspects - a twisty crime film", set()) == 2  # explanation cut
    assert m.resolve("Usual Suspect", set()) == 2  # fuzzy
    assert m.resolve("The Matrix", set()) is None and m.resolve("  ** ", set()) is None
