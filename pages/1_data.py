"""Work in progress."""
import streamlit as st

from pages._shared import sidebar

sidebar()
st.info("This page is being built.")
