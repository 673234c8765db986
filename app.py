"""Weakspot: which users does our recommender fail, and what would fixing them cost?

``streamlit run app.py``. Pages in the order of the work; every computation is a call into
``analysis/`` and ``models/``.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(page_title="Weakspot", page_icon=":material/target:", layout="wide")

pages = [
    st.Page("pages/0_overview.py", title="Overview", icon=":material/home:", default=True),
    st.Page("pages/1_data.py", title="Data", icon=":material/database:"),
    st.Page("pages/2_baseline.py", title="Baseline", icon=":material/model_training:"),
    st.Page("pages/3_subgroups.py", title="Subgroups", icon=":material/groups:"),
    st.Page("pages/4_weak_users.py", title="Weak users", icon=":material/person_alert:"),
    st.Page("pages/5_llm_rerank.py", title="LLM rerank", icon=":material/auto_awesome:"),
    st.Page("pages/6_report.py", title="Report", icon=":material/summarize:"),
]
st.navigation(pages).run()
