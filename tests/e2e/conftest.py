"""Registers the ``e2e`` marker (``pytest -m e2e`` runs the browser test alone)."""

from __future__ import annotations


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "e2e: end-to-end test in a real browser (chromium)")
