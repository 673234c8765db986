"""Weakspot: which users does our recommender fail, and what would fixing them cost?

``streamlit run app.py``. Pages in the order of the work; every computation is a call into
``analysis/`` and ``models/``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from pages._shared import page_guard

# a file of the app's own: a material icon or an emoji as page_icon makes the browser fetch
# the favicon from Google's or a CDN's servers, which fails offline
FAVICON = Path(__file__).resolve().parent / "assets" / "favicon.png"

st.set_page_config(page_title="Weakspot", page_icon=str(FAVICON), layout="wide")

pages = [
    st.Page("pages/0_overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page("pages/1_data.py", title="Data", icon=":material/database:"),
    st.Page("pages/2_baseline.py", title="Baseline", icon=":material/model_training:"),
    st.Page("pages/3_subgroups.py", title="Subgroups", icon=":material/groups:"),
    st.Page("pages/4_weak_users.py", title="Weak users", icon=":material/person_alert:"),
    st.Page("pages/5_llm_rerank.py", title="LLM rerank", icon=":material/auto_awesome:"),
    st.Page("pages/6_remedies.py", title="Remedies", icon=":material/healing:"),
    st.Page("pages/7_report.py", title="Report", icon=":material/summarize:"),
]
with page_guard():  # no traceback reaches a page: one line, the traceback in the server log
    st.navigation(pages).run()
