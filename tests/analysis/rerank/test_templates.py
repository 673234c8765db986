"""Tests of analysis/rerank/templates.py: template files and their validation."""

from __future__ import annotations

import json

import pytest

from analysis.errors import AnalysisError
from analysis.rerank.prompts import render_prompt
from analysis.rerank.templates import MISSING_CANDIDATES, UNKNOWN_TEMPLATE, load_template


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
    # the file by its name, never its server path
    assert needle in str(err.value) and "Prompt template 'bad.txt': " in str(err.value)
    assert str(tmp_path) not in err.value.render("cli") and "\n" not in str(err.value)


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
