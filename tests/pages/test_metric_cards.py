"""Metric cards never truncate what they name: on every page, labels are short and values
are figures (a group or metric name goes into the help text or a caption instead).

A card in a row of four to six columns has room for about 24 characters of label and 14 of
value at the app's default width; longer ones are cut with an ellipsis ("homema…")."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

APP = str(Path(__file__).resolve().parents[2] / "app.py")
MAX_LABEL = 24
MAX_VALUE = 14


def _cards(at) -> list[tuple[str, str]]:
    return [(m.label, m.value) for m in at.metric]


@pytest.mark.parametrize(
    "page",
    ["pages/0_overview.py", "pages/3_subgroups.py", "pages/4_weak_users.py",
     "pages/5_llm_rerank.py"],
)
def test_cards_are_short_on_every_page(demo, page):
    at = AppTest.from_file(APP, default_timeout=180).run()
    at.switch_page(page).run()
    assert not at.exception, at.exception
    if page == "pages/5_llm_rerank.py":  # the dry run's cards too (offline token counts)
        at.button(key="rr_dry_run").click().run()
        assert not at.exception, at.exception
    if page == "pages/3_subgroups.py":  # the widest grouping: two dimensions crossed
        at.session_state["sg_dims"] = ["activity", "mainstream"]
        at.run()
    cards = _cards(at)
    assert cards, "no metric card on the page"
    long = [(label, value) for label, value in cards
            if len(label) > MAX_LABEL or len(value) > MAX_VALUE]
    assert not long, long
