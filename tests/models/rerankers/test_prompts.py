"""Tests of models/rerankers/prompts.py: builtin and custom templates, item texts."""

from __future__ import annotations

import json
import re

import numpy as np
import pandas as pd
import pytest

from analysis.errors import AnalysisError
from models.rerankers.base import LLMRequest
from models.rerankers.prompts import (
    BUILTIN_TEMPLATES,
    MISSING_CANDIDATES,
    UNKNOWN_TEMPLATE,
    PromptTemplate,
    approx_tokens,
    check_template,
    item_texts,
    load_template,
    render_prompt,
)

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


def test_load_txt_json_toml(tmp_path):
    txt = tmp_path / "mine.txt"
    txt.write_text("You rank movies.\n---\nHistory:\n{history}\nRank:\n{candidates}\n")
    t = load_template(str(txt))
    assert (t.name, t.system, t.id_style) == ("mine", "You rank movies.", "number")
    assert t.user == "History:\n{history}\nRank:\n{candidates}"
    only_user = tmp_path / "u.txt"
    only_user.write_text("{candidates}")
    assert load_template(only_user).system == ""
    js = tmp_path / "g.json"
    js.write_text(json.dumps({"system": "S", "user": "[{n_candidates}] {candidates}",
                              "id_style": "bracket"}))
    t = load_template(str(js))
    assert (t.name, t.id_style) == ("g", "bracket")
    assert render_prompt(t, [], None, ["a"]).user == "[1] [1] a"
    tm = tmp_path / "h.toml"
    tm.write_text('name = "custom"\nuser = "{history}\\n{candidates}"\n')
    assert load_template(tm).name == "custom"


@pytest.mark.parametrize(
    "body, needle",
    [
        ("{candidates} {user_id}", "unknown placeholder {user_id}"),
        ("{history}", "no {candidates} placeholder"),
        ("{candidates} {history", "unbalanced braces"),
        ("{candidates} }", "unbalanced braces"),
        ("{candidates!r}", "format spec"),
        ("{candidates.x}", "unknown placeholder {candidates.x}"),
        ("{n_history} ---\n", "no {candidates}"),
    ],
)
def test_custom_template_validation_names_file_and_placeholder(tmp_path, body, needle):
    p = tmp_path / "bad.txt"
    p.write_text(body)
    with pytest.raises(AnalysisError) as err:
        load_template(str(p))
    assert needle in str(err.value) and str(p) in str(err.value)
    assert "\n" not in str(err.value)


def test_system_placeholder_and_bad_files(tmp_path):
    p = tmp_path / "sys.txt"
    p.write_text("Rank {n_candidates} items\n---\n{candidates}")
    with pytest.raises(AnalysisError, match=r"placeholder \{n_candidates\} in the system part"):
        load_template(p)
    with pytest.raises(AnalysisError) as err:
        load_template("nope")
    assert str(err.value) == UNKNOWN_TEMPLATE.format(name="nope")
    y = tmp_path / "t.yaml"
    y.write_text("user: x")
    with pytest.raises(AnalysisError, match="unsupported type"):
        load_template(y)
    j = tmp_path / "broken.json"
    j.write_text("{not json")
    with pytest.raises(AnalysisError, match="could not be read"):
        load_template(j)
    j.write_text(json.dumps({"user": "{candidates}", "extra": 1}))
    with pytest.raises(AnalysisError, match="unknown key"):
        load_template(j)
    j.write_text(json.dumps({"system": "x"}))
    with pytest.raises(AnalysisError, match="no string 'user' key"):
        load_template(j)
    j.write_text(json.dumps({"user": "{candidates}", "id_style": "roman"}))
    with pytest.raises(AnalysisError, match="id_style"):
        load_template(j)
    assert MISSING_CANDIDATES.format(source="x").startswith("Prompt template x")


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
