"""How values appear in the report: the template, escaped tables, JSON blocks, timestamps.

The template ``analysis/templates/report.html.j2`` is autoescaped; only what these helpers
return as :class:`~markupsafe.Markup` (pandas' escaped tables, escaped JSON) and the charts
enter it unescaped.
"""

from __future__ import annotations

import html
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import pandas as pd
from markupsafe import Markup

from analysis.formatting import fmt_int, fmt_metric, fmt_num, round_sig

TEMPLATES = Path(__file__).parents[1] / "templates"
#: the report's Jinja environment: autoescaped, an undefined name is an error
ENVIRONMENT = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=False,
)
#: how the report names the LLM and each no-LLM control ordering
CONTROL_NAMES = {"llm": "LLM", "baseline": "baseline order", "shuffled": "shuffled (as shown)",
                 "popularity": "popularity", "oracle": "ceiling (oracle)"}


def render(**context: Any) -> str:
    """The whole HTML document: ``report.html.j2`` rendered with ``context``."""
    return ENVIRONMENT.get_template("report.html.j2").render(**context)


def table(df: pd.DataFrame, formats: dict[str, Any] | None = None) -> Markup:
    """An escaped HTML table; float columns as metrics (4 decimals) unless ``formats`` says."""
    shown = df.copy()
    formats = formats or {}
    for col in shown.columns:
        fmt = formats.get(col)
        if fmt is None and pd.api.types.is_float_dtype(shown[col]):
            fmt = fmt_metric
        elif fmt is None and pd.api.types.is_integer_dtype(shown[col]):
            fmt = fmt_int
        if fmt is not None:
            shown[col] = [fmt(value) for value in shown[col]]
    return Markup(shown.to_html(index=False, border=0, na_rep="n/a", escape=True))


def rounded(value: Any) -> Any:
    """JSON-able ``value`` with every float at 4 significant digits (settings, prices)."""
    if isinstance(value, dict):
        return {key: rounded(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [rounded(item) for item in value]
    if isinstance(value, float) and np.isfinite(value):
        return round_sig(value)
    return value


def json_block(value: Any) -> Markup:
    """``value`` as indented, sorted, escaped JSON (floats rounded), for a ``<pre>`` block."""
    text = json.dumps(rounded(value), indent=2, sort_keys=True, default=str)
    return Markup(html.escape(text))


def stat_text(value: Any) -> str:
    """A statistic or parameter as shown: numbers formatted, texts, flags and None as is."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return str(value)
    return fmt_num(value)


def stamp(when: Any) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM:SS`` (`` UTC`` when naive or at UTC)."""
    if isinstance(when, datetime):
        at_utc = when.tzinfo is None or when.utcoffset().total_seconds() == 0
        return when.strftime("%Y-%m-%d %H:%M:%S") + (" UTC" if at_utc else "")
    return str(when)


def mapping_table(mapping: dict, key_column: str) -> Markup:
    """A table of ``mapping``: its keys in ``key_column``, its values (:func:`stat_text`) in
    ``value``."""
    return table(pd.DataFrame({key_column: list(mapping),
                               "value": [stat_text(value) for value in mapping.values()]}))
