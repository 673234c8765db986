"""The server configuration and the app's page config: nothing a viewer does not need (no
"Deploy" button), nothing fetched from the internet (the favicon), no file watcher that floods
the log ("Inotify queue overflowed" for the .venv inside the app's folder)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def _config() -> dict:
    return tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))


def test_toolbar_shows_no_developer_options():
    # "auto" (the default) shows "Deploy" and the developer menu to every viewer
    assert _config()["client"]["toolbarMode"] in {"minimal", "viewer"}


def test_no_file_watcher_over_the_app_folder():
    # Streamlit watches the folder of app.py recursively, .venv and data/ included
    assert _config()["server"]["fileWatcherType"] == "none"


def test_streamlit_accepts_the_config_options():
    from streamlit import config

    options = config.get_config_options()
    for section, values in _config().items():
        for name in values:
            assert f"{section}.{name}" in options, f"unknown option {section}.{name}"


def test_page_icon_is_a_local_file(monkeypatch):
    seen: dict = {}

    def record(**kwargs):
        seen.update(kwargs)
        st.stop()  # the pages are not needed here

    monkeypatch.setattr(st, "set_page_config", record)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=30).run()
    assert not at.exception, at.exception
    icon = seen["page_icon"]
    # a ":material/...:" icon or an emoji is fetched from fonts.gstatic.com or a CDN
    assert isinstance(icon, str) and not icon.startswith((":", "http")), icon
    path = Path(icon)
    assert path.is_file() and ROOT in path.resolve().parents
    with Image.open(path) as img:
        assert img.size[0] >= 32 and img.size[0] == img.size[1]
