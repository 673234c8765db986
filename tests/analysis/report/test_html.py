"""Tests of analysis/report/_html.py: the template is found and autoescapes."""

from __future__ import annotations

from pathlib import Path

from analysis.report._html import ENVIRONMENT


def test_report_template_autoescapes():
    assert (Path(__file__).parents[3] / "analysis" / "templates" / "report.html.j2").is_file()
    assert ENVIRONMENT.autoescape is True
    out = ENVIRONMENT.from_string("{{ x }}").render(x="<b>gold</b>")
    assert out == "&lt;b&gt;gold&lt;/b&gt;"
