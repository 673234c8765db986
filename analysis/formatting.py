"""Numbers for people: one place for how figures are written in the report (and anywhere else
that shows them as text).

Every function takes any number (Python, numpy) or None/NaN and returns a string; missing or
non-finite values read ``n/a``.
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["fmt_int", "fmt_metric", "fmt_num", "fmt_pct", "fmt_signed", "fmt_usd", "round_sig"]

NA = "n/a"


def _finite(x: Any) -> float | None:
    if x is None or isinstance(x, bool):
        return None
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def round_sig(x: float, digits: int = 4) -> float:
    """``x`` rounded to ``digits`` significant digits (0 stays 0)."""
    return 0.0 if x == 0 else round(x, digits - 1 - math.floor(math.log10(abs(x))))


def fmt_num(x: Any, digits: int = 4) -> str:
    """4 significant digits with thousands separators, no trailing zeros: ``0.937``,
    ``12.35``, ``1,235``, ``2``;
    integers in full (``76,270``); very small values in scientific notation (``1.14e-29``)."""
    if isinstance(x, int) and not isinstance(x, bool) or type(x).__name__.startswith("int"):
        return fmt_int(x)
    v = _finite(x)
    if v is None:
        return NA
    if v == 0:
        return "0"
    mag = math.floor(math.log10(abs(v)))
    if mag < -4:
        return f"{v:.{digits - 1}e}"
    if mag >= digits - 1:
        return f"{round(v):,}"
    return f"{v:,.{digits - 1 - mag}f}".rstrip("0").rstrip(".")


def fmt_metric(x: Any, decimals: int = 4) -> str:
    """A metric in [0, 1] (NDCG, recall, AUC) at a fixed ``decimals``: ``0.1827``."""
    v = _finite(x)
    return NA if v is None else f"{v:,.{decimals}f}"


def fmt_signed(x: Any, decimals: int = 4) -> str:
    """A gain with its sign: ``+0.0123``, ``-0.0407``."""
    v = _finite(x)
    return NA if v is None else f"{v:+,.{decimals}f}"


def fmt_pct(x: Any, decimals: int = 1) -> str:
    """A share as a percentage: ``0.2003`` -> ``20.0%``."""
    v = _finite(x)
    return NA if v is None else f"{v:.{decimals}%}"


def fmt_usd(x: Any) -> str:
    """Dollars: cents from $1 up (``$1,234.50``), 4 significant digits below (``$0.02897``)."""
    v = _finite(x)
    if v is None:
        return NA
    if abs(v) >= 1:
        return f"${v:,.2f}"
    return "$0" if v == 0 else "$" + fmt_num(v)


def fmt_int(x: Any) -> str:
    """A count with thousands separators: ``3,000``."""
    v = _finite(x)
    return NA if v is None else f"{round(v):,}"
